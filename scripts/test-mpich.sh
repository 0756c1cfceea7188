#!/usr/bin/env bash
# The library built against MPICH in a second build directory (MPICH_BUILD_DIR, default
# build-mpich), and its MPI and launcher tests: the MPI gtest suite under mpiexec.hydra at 1, 2, 3,
# 4 and 8 ranks, then on fake nodes and under srun --mpi=pmi2 (docs/launchers.md). Only what those
# tests need is built. Arguments go to `meson test` instead of the default suites (and then the
# whole directory is built). Ends with an "N passed, N failed, N skipped" line unless
# MPINIT_NO_SUMMARY=1 (scripts/test.sh prints one line for every build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
dir=${MPICH_BUILD_DIR:-build-mpich}
rm -f "$dir/meson-logs/testlog.json"  # a build that fails must not count an old run
if [ -f "$dir/build.ninja" ]; then
  meson configure "$dir" -Dmpi=mpich >/dev/null  # a directory set up otherwise is switched over
else
  meson setup "$dir" -Dmpi=mpich
fi
if [ $# -gt 0 ]; then
  ninja -C "$dir"
else
  set -- --suite mpi --suite launchers
  # The files the tests of those suites depend on, from meson's own description of the tests.
  mapfile -t targets < <(meson introspect "$dir" --tests --targets | python3 -c '
import json, os, sys
info = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in info["targets"]}
want = {d for t in info["tests"] if {"mpi", "launchers"} & {s.split(":")[-1] for s in t["suite"]}
        for d in t["depends"]}
for d in sorted(want):
    for f in files[d]:
        print(os.path.relpath(f, sys.argv[1]))' "$dir")
  ninja -C "$dir" "${targets[@]}"
fi
. scripts/mpi-env.sh
status=0
meson test -C "$dir" --no-rebuild --print-errorlogs "$@" || status=$?
[ "${MPINIT_NO_SUMMARY:-0}" = 1 ] || scripts/test-summary.py "$dir/meson-logs/testlog.json"
exit $status
