#!/usr/bin/env bash
# Every test: install what is missing, build, run the whole suite (unit, MPI at 1, 2, 3, 4 and
# 8 ranks, integration), and print a closing "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
. scripts/mpi-env.sh
BUILD_DIR=${BUILD_DIR:-build}
status=0
meson test -C "$BUILD_DIR" --print-errorlogs "$@" || status=$?
python3 - "$BUILD_DIR/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {}
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    counts[r] = counts.get(r, 0) + 1
passed = counts.pop("OK", 0) + counts.pop("EXPECTEDFAIL", 0)
skipped = counts.pop("SKIP", 0)
print(f"{passed} passed, {sum(counts.values())} failed, {skipped} skipped")
PY
exit $status
