#!/usr/bin/env python3
"""The topology phase, side by side in one run: launch()'s one discovery per node (the local
leader exports XML, the others import it) against every rank discovering on its own at once.
Prints medians of the slowest rank's time (ms) and how many discoveries ran, per rank count."""
import argparse
import os
import re
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    exe = os.path.join(args.build, "test", "bench", "bench_topology")
    env = dict(os.environ, OMPI_MCA_btl_tcp_if_include="lo", OMPI_MCA_oob_tcp_if_include="lo")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    def once(np, mode):
        out = subprocess.run(["mpirun", "--oversubscribe", "-np", str(np), exe, mode], capture_output=True,
                             text=True, env=env, check=True).stdout
        m = re.search(rf"BENCH {mode} {np} ([0-9.]+) ([0-9]+)", out)
        if not m:
            raise SystemExit(f"no BENCH line from {mode} at {np}:\n{out}")
        return float(m.group(1)), int(m.group(2))

    print(f"topology phase, slowest rank, median of {args.repeat} alternating runs (ms)")
    print(f"{'ranks':>5} {'shared':>9} {'discoveries':>11} {'each':>9} {'discoveries':>11} {'each/shared':>11}")
    for np in args.ranks:
        sh, ea = [], []
        for _ in range(args.repeat):
            sh.append(once(np, "shared"))
            ea.append(once(np, "each"))
        s, e = statistics.median(x[0] for x in sh), statistics.median(x[0] for x in ea)
        print(f"{np:>5} {s:>9.2f} {sh[0][1]:>11} {e:>9.2f} {ea[0][1]:>11} {e / s:>11.2f}")


if __name__ == "__main__":
    main()
