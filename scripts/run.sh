#!/usr/bin/env bash
# The main job: install what is missing, build, and start NP ranks (default 4) on this machine
# with mpirun; every rank's identity is printed, one sorted line per rank.
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${1:-4}
scripts/install-deps.sh
scripts/build.sh >/dev/null
. scripts/mpi-env.sh
exec mpirun --oversubscribe -np "$NP" "${BUILD_DIR:-build}/tools/mpinit" info
