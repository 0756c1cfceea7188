#!/usr/bin/env python3
"""launch() against a bare MPI_Init_thread + MPI_Finalize program, side by side in one run.

For each rank count, runs `mpirun -np N bench_launch bare` and `... launch` alternately, REPEAT
times each, and prints medians: the slowest rank's start-up time inside the program (MPI_Init_thread
alone, or the whole launch()), the whole mpirun wall time, and launch/bare ratios. Alternating
keeps machine noise out of the ratios."""
import argparse
import os
import re
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--nodes", type=int, default=1,
                    help="fake nodes (scripts/cluster/fake-ssh, one UTS namespace each) the ranks are spread over")
    ap.add_argument("--yield-when-idle", action="store_true",
                    help="OMPI_MCA_mpi_yield_when_idle=1: oversubscribed ranks yield instead of busy-polling "
                         "(fake nodes put several nodes' ranks on the same cores)")
    args = ap.parse_args()
    exe = os.path.join(args.build, "test", "bench", "bench_launch")
    env = dict(os.environ)
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.setdefault("OMPI_MCA_btl_tcp_if_include", "lo")
    env.setdefault("OMPI_MCA_oob_tcp_if_include", "lo")

    if args.yield_when_idle:
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    hosts = []
    if args.nodes > 1:
        import tempfile
        env["OMPI_MCA_plm_rsh_agent"] = os.path.join(ROOT, "scripts", "cluster", "fake-ssh")
        hostfile = tempfile.NamedTemporaryFile("w", prefix="mpinit-bench-hosts-", delete=False)
        for n in range(1, args.nodes + 1):
            hostfile.write(f"node{n} slots=64\n")
        hostfile.close()
        import atexit
        atexit.register(os.unlink, hostfile.name)
        hosts = ["--hostfile", hostfile.name, "--map-by", "node"]

    def once(np, mode):
        t0 = time.perf_counter()
        out = subprocess.run([args.mpiexec, "--oversubscribe", *hosts, "-np", str(np), exe, mode],
                             capture_output=True, text=True, env=env, check=True).stdout
        wall = time.perf_counter() - t0
        m = re.search(rf"BENCH {mode} {np} ([0-9.]+)", out)
        if not m:
            raise SystemExit(f"no BENCH line from {mode} at {np} ranks:\n{out}")
        return float(m.group(1)) / 1e3, wall * 1e3  # ms

    print(f"launch() vs bare MPI_Init_thread+MPI_Finalize, median of {args.repeat} alternating runs, "
          f"times in ms (init: slowest rank inside the program; wall: whole mpirun), "
          f"{args.nodes} node(s)")
    print(f"{'ranks':>5} {'bare init':>10} {'launch':>10} {'ratio':>6} {'added':>7} "
          f"{'bare wall':>10} {'launch wall':>12} {'ratio':>6} {'init+1 allreduce':>17}")
    for np in args.ranks:
        once(np, "bare"), once(np, "launch")  # warm the page cache
        b_init, l_init, b_wall, l_wall, c_init = [], [], [], [], []
        for _ in range(args.repeat):
            bi, bw = once(np, "bare")
            li, lw = once(np, "launch")
            c_init.append(once(np, "connected")[0])  # what the first message between ranks costs
            b_init.append(bi), b_wall.append(bw), l_init.append(li), l_wall.append(lw)
        bi, li = statistics.median(b_init), statistics.median(l_init)
        bw, lw = statistics.median(b_wall), statistics.median(l_wall)
        print(f"{np:>5} {bi:>10.1f} {li:>10.1f} {li / bi:>6.2f} {li - bi:>7.1f} {bw:>10.1f} {lw:>12.1f} {lw / bw:>6.2f} "
              f"{statistics.median(c_init):>17.1f}")


if __name__ == "__main__":
    main()
