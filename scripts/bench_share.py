#!/usr/bin/env python3
"""The topology phase without MPI (env-only mode: `mpinit info --env-only`), side by side in one
run: the node's one discovery shared through the node share (MPINIT_TOPOLOGY_SHARE=on, the
default) against every rank discovering on its own (off). Runs both alternately REPEAT times per
rank count and prints medians of the slowest rank's topology phase (from the debug log's phase
timings) and of mpirun's wall time, with the ratios: shared against each, and against 1 rank."""
import argparse
import os
import re
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASE = re.compile(r"mpinit DEBUG phase timings:.* topology=([0-9.]+)ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    tool = os.path.join(args.build, "tools", "mpinit")
    env = dict(os.environ, OMPI_MCA_btl_tcp_if_include="lo", OMPI_MCA_oob_tcp_if_include="lo",
               MPINIT_LOG_LEVEL="debug", MPINIT_LOG_RANKS="all")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    def once(np, share):
        t0 = time.monotonic()
        p = subprocess.run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(np), tool, "info",
                            "--env-only"], capture_output=True, text=True, check=True,
                           env=dict(env, MPINIT_TOPOLOGY_SHARE=share))
        wall = time.monotonic() - t0
        times = [float(m[1]) for m in PHASE.finditer(p.stderr)]
        if len(times) != np:
            raise SystemExit(f"{len(times)} phase timings from {np} ranks:\n{p.stderr[-2000:]}")
        return max(times), wall

    print(f"env-only topology phase, slowest rank (ms) and mpirun wall (s), median of {args.repeat} alternating runs")
    print(f"{'ranks':>5} {'shared ms':>10} {'each ms':>9} {'each/shared':>11} {'shared/1':>9} "
          f"{'shared wall':>11} {'each wall':>9} {'wall ratio':>10}")
    base = None
    for np in args.ranks:
        sh, ea = [], []
        for _ in range(args.repeat):
            sh.append(once(np, "on"))
            ea.append(once(np, "off"))
        s, e = statistics.median(x[0] for x in sh), statistics.median(x[0] for x in ea)
        sw, ew = statistics.median(x[1] for x in sh), statistics.median(x[1] for x in ea)
        base = base or s
        print(f"{np:>5} {s:>10.2f} {e:>9.2f} {e / s:>11.2f} {s / base:>9.2f} {sw:>11.2f} {ew:>9.2f} {ew / sw:>10.2f}")


if __name__ == "__main__":
    main()
