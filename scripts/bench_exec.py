#!/usr/bin/env python3
"""`mpirun -np N mpinit exec -- python3 script` against a static start of N workers with
torchrun's variables, to a ready PyTorch (gloo) world on the same script, side by side.

Debian's torchrun (PyTorch 1.13 on Python 3.11) fails before starting any worker (an enum error
in its redirect handling), so the baseline does what torchrun --nproc_per_node N does for a
static world without its agent: start N python processes with RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT, and wait for all. The script is
test/integration/torch_allreduce.py (import torch, init_process_group("env://"), all-reduce).
Runs alternate; medians of whole wall times, and of the slowest rank's import+init time."""
import argparse
import json
import os
import socket
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "test", "integration", "torch_allreduce.py")
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slowest_init(outputs):
    recs = [json.loads(l) for o in outputs for l in o.splitlines() if l.startswith("{")]
    assert all(r["ok"] for r in recs), recs
    return max(r["import_and_init_s"] for r in recs), len(recs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    tool = os.path.join(args.build, "tools", "mpinit")
    env = dict(os.environ)
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.update(OMPI_MCA_btl_tcp_if_include="lo", OMPI_MCA_oob_tcp_if_include="lo", OMPI_MCA_rmaps_base_oversubscribe="1")

    def mpinit_exec(np):
        t0 = time.perf_counter()
        p = subprocess.run(["mpirun", "-np", str(np), tool, "exec", "--", PYTHON, SCRIPT], capture_output=True,
                           text=True, env=env, check=True, timeout=300)
        wall = time.perf_counter() - t0
        init, n = slowest_init([p.stdout])
        assert n == np, p.stdout
        return wall, init

    def static_start(np):
        port = str(free_port())
        t0 = time.perf_counter()
        procs = []
        for r in range(np):
            e = dict(env, RANK=str(r), WORLD_SIZE=str(np), LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(np),
                     GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
            procs.append(subprocess.Popen([PYTHON, SCRIPT], stdout=subprocess.PIPE, text=True, env=e))
        outs = [p.communicate(timeout=300)[0] for p in procs]
        wall = time.perf_counter() - t0
        assert all(p.returncode == 0 for p in procs)
        init, n = slowest_init(outs)
        assert n == np
        return wall, init

    print(f"to a ready PyTorch world and an all-reduce: mpirun + mpinit exec vs a static torchrun-style start, "
          f"median of {args.repeat} alternating runs, seconds")
    print(f"{'ranks':>5} {'static wall':>12} {'exec wall':>10} {'ratio':>6} {'added':>7} "
          f"{'static init':>12} {'exec init':>10}")
    for np in args.ranks:
        static_start(np), mpinit_exec(np)  # warm the page cache
        s_wall, e_wall, s_init, e_init = [], [], [], []
        for _ in range(args.repeat):
            w, i = static_start(np)
            s_wall.append(w), s_init.append(i)
            w, i = mpinit_exec(np)
            e_wall.append(w), e_init.append(i)
        sw, ew = statistics.median(s_wall), statistics.median(e_wall)
        print(f"{np:>5} {sw:>12.2f} {ew:>10.2f} {ew / sw:>6.2f} {ew - sw:>7.2f} "
              f"{statistics.median(s_init):>12.2f} {statistics.median(e_init):>10.2f}")


if __name__ == "__main__":
    main()
