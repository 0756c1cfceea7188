#!/usr/bin/env python3
"""`mpirun -np N mpinit exec -- python3 script` and `mpirun -np N python3 script --mpinit` (the
Python package: mpinit.torch.init_process_group in the script) against a static start of N
workers with torchrun's variables, to a ready PyTorch (gloo) world on the same script, side by side.

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
    # mpirun forwards the ranks' output in chunks: two records may share a line.
    recs, dec = [], json.JSONDecoder()
    for o in outputs:
        at = o.find('{"rank"')
        while at >= 0:
            rec, end = dec.raw_decode(o, at)
            recs.append(rec)
            at = o.find('{"rank"', end)
    assert all(r["ok"] for r in recs), recs
    return max(r["import_and_init_s"] for r in recs), len(recs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    pkg = os.path.join(args.build, "python")
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

    def mpinit_python(np):
        t0 = time.perf_counter()
        p = subprocess.run(["mpirun", "-np", str(np), PYTHON, SCRIPT, "--mpinit"], capture_output=True,
                           text=True, env=dict(env, PYTHONPATH=pkg), check=True, timeout=300)
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

    print(f"to a ready PyTorch world and an all-reduce: a static torchrun-style start, mpirun + mpinit exec, "
          f"mpirun + mpinit.torch.init_process_group (python); median of {args.repeat} alternating runs, seconds")
    print(f"{'ranks':>5} {'static wall':>12} {'exec wall':>10} {'ratio':>6} {'python wall':>12} {'ratio':>6} "
          f"{'static init':>12} {'exec init':>10} {'python init':>12}")
    for np in args.ranks:
        static_start(np), mpinit_exec(np), mpinit_python(np)  # warm the page cache
        walls, inits = {"s": [], "e": [], "p": []}, {"s": [], "e": [], "p": []}
        for _ in range(args.repeat):
            for key, fn in (("s", static_start), ("e", mpinit_exec), ("p", mpinit_python)):
                w, i = fn(np)
                walls[key].append(w), inits[key].append(i)
        sw, ew, pw = (statistics.median(walls[k]) for k in "sep")
        si, ei, pi = (statistics.median(inits[k]) for k in "sep")
        print(f"{np:>5} {sw:>12.2f} {ew:>10.2f} {ew / sw:>6.2f} {pw:>12.2f} {pw / sw:>6.2f} "
              f"{si:>12.2f} {ei:>10.2f} {pi:>12.2f}", flush=True)

if __name__ == "__main__":
    main()
