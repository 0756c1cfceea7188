#!/usr/bin/env bash
# Every test: install what is missing, build, run the whole suite (unit, MPI at 1, 2, 3, 4 and
# 8 ranks, integration, and the real launchers: fake nodes under mpirun --hostfile, a local Slurm
# cluster), then the MPI and launcher suites of the MPICH build (scripts/test-mpich.sh), the
# sanitizer build (scripts/sanitize.sh) and short fuzz runs (scripts/fuzz.sh), and print one
# closing "N passed, N failed, N skipped" line summed over all builds. Arguments go to the first
# two builds' `meson test` (e.g. --suite launchers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
. scripts/mpi-env.sh
BUILD_DIR=${BUILD_DIR:-build}
MPICH_BUILD_DIR=${MPICH_BUILD_DIR:-build-mpich}
status=0
meson test -C "$BUILD_DIR" --print-errorlogs "$@" || status=$?
MPICH_BUILD_DIR=$MPICH_BUILD_DIR MPINIT_NO_SUMMARY=1 scripts/test-mpich.sh "$@" || status=$?
logs=("$BUILD_DIR/meson-logs/testlog.json" "$MPICH_BUILD_DIR/meson-logs/testlog.json")
# The ASan+UBSan build's unit, MPI and fuzz-replay suites, and a short run of every fuzz target
# (docs/reliability.md); MPINIT_NO_SANITIZE=1 and MPINIT_NO_FUZZ=1 leave them out.
if [ "${MPINIT_NO_SANITIZE:-0}" != 1 ]; then
  scripts/sanitize.sh || status=$?
  logs+=("${SANITIZE_BUILD_DIR:-build-asan}/meson-logs/testlog.json")
fi
if [ "${MPINIT_NO_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh || status=$?
  logs+=("${FUZZ_BUILD_DIR:-build-fuzz}/meson-logs/testlog.json")
fi
scripts/test-summary.py "${logs[@]}"
exit $status
