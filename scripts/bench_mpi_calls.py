#!/usr/bin/env python3
"""MPI calls and bytes per rank during launch(), counted by PMPI interposition
(test/bench/bench_mpi_calls), at several rank counts on one node: the default path must be
constant in the number of ranks, with no O(P) buffer at rank 0. Prints one row per rank count
and the per-function breakdown of the largest. `--case nccl-ids` counts one nccl_unique_ids()
instead (after an uncounted launch()), with `--ranks-per-root` ranks per NCCL root."""
import argparse
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(exe, np, env, extra=(), case=()):
    out = subprocess.run(["mpirun", "-np", str(np), *extra, exe, *case], capture_output=True, text=True, env=env,
                         check=True, timeout=600).stdout
    calls = {l.split()[1]: tuple(map(int, l.split()[2:])) for l in out.splitlines() if l.startswith("CALLS ")}
    total = next(tuple(map(int, l.split()[2:])) for l in out.splitlines() if l.startswith("TOTAL "))
    return total, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--case", choices=["launch", "nccl-ids"], default="launch")
    ap.add_argument("--ranks-per-root", type=int, default=2, help="with --case nccl-ids")
    args = ap.parse_args()
    exe = os.path.join(args.build, "test", "bench", "bench_mpi_calls")
    env = dict(os.environ, OMPI_MCA_btl_tcp_if_include="lo", OMPI_MCA_oob_tcp_if_include="lo",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    case = ()
    if args.case == "nccl-ids":
        case = ("nccl-ids",)
        env.update(MPINIT_NCCL_RANKS_PER_ROOT=str(args.ranks_per_root), NCCL_SOCKET_IFNAME="lo")
        print(f"nccl_unique_ids, {args.ranks_per_root} ranks per root")
    print(f"{'ranks':>5} {'calls/rank':>10} {'bytes/rank':>10} {'largest buffer':>15}")
    calls = {}
    for np in args.ranks:
        (c, b, big), calls = measure(exe, np, env, case=case)
        print(f"{np:>5} {c:>10} {b:>10} {big:>15}")
    print("\nper function at the largest rank count (max over ranks): calls, bytes, largest buffer")
    for fn, (c, b, big) in calls.items():
        print(f"  {fn:<20} {c:>4} {b:>8} {big:>8}")


if __name__ == "__main__":
    main()
