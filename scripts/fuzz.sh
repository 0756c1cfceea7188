#!/usr/bin/env bash
# The libFuzzer targets of test/fuzz (docs/reliability.md). Configures (once) and builds them with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer in FUZZ_BUILD_DIR (default build-fuzz),
# then runs them one at a time at nice 19 (suite fuzz-run):
#
#   scripts/fuzz.sh                       every target for -Dfuzz_seconds (3 s): what CI runs
#   scripts/fuzz.sh -t 600 env plan       the named targets, 600 s each
#   scripts/fuzz.sh -r 10000000 -t 3600   every target up to 10M executions (or 3600 s)
#
# New inputs are kept in FUZZ_BUILD_DIR/test/fuzz/corpus/<target> (the seeds in test/fuzz/corpus
# are only read); a crash, hang, leak or broken invariant leaves its input in
# FUZZ_BUILD_DIR/test/fuzz/artifacts/<target>/. Ends with executions and exec/s per target.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
seconds="" runs=""
while getopts "t:r:h" o; do
  case $o in
    t) seconds=$OPTARG ;;
    r) runs=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # CUDA and NCCL play no part in the parsers; leaving them out keeps this build small.
  CC=clang CXX=clang++ meson setup "$BUILD_DIR" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
    -Db_lundef=false -Dcuda=disabled -Dnccl=disabled -Dfortran=disabled
fi
rm -f "$BUILD_DIR/meson-logs/testlog.json"  # a build that fails must not count an old run
# Only the fuzzers (and what they link), from meson's own list of the fuzz-run tests.
mapfile -t targets < <(meson introspect "$BUILD_DIR" --tests | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if any(s.split(":")[-1] == "fuzz-run" for s in t["suite"]):
        print(os.path.relpath(t["cmd"][0], sys.argv[1]))' "$BUILD_DIR")
ninja -C "$BUILD_DIR" "${targets[@]}"

extra=()
[ -n "$seconds" ] && extra+=("-max_total_time=$seconds")
[ -n "$runs" ] && extra+=("-runs=$runs")
tests=()
for t in "$@"; do tests+=("fuzz_${t}_run"); done
[ ${#tests[@]} -eq 0 ] && tests=(--suite fuzz-run)
status=0
if [ ${#extra[@]} -gt 0 ]; then
  # libFuzzer takes the last of a repeated flag: these override the suite's -max_total_time.
  nice -n 19 meson test -C "$BUILD_DIR" --no-rebuild --print-errorlogs -t 0 --test-args="${extra[*]}" "${tests[@]}" ||
    status=$?
else
  nice -n 19 meson test -C "$BUILD_DIR" --no-rebuild --print-errorlogs "${tests[@]}" || status=$?
fi
python3 - "$BUILD_DIR/meson-logs/testlog.json" <<'PY'
import json, re, sys
print(f"{'target':<16} {'result':<8} {'executions':>12} {'exec/s':>8} {'seconds':>8}")
for line in open(sys.argv[1]):
    r = json.loads(line)
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", (r.get("stdout") or "") + (r.get("stderr") or "")))
    name = r["name"].split(" / ")[-1].removeprefix("fuzz_").removesuffix("_run")
    print(f"{name:<16} {r['result']:<8} {stats.get('number_of_executed_units', '-'):>12} "
          f"{stats.get('average_exec_per_sec', '-'):>8} {r['duration']:>8.0f}")
PY
exit $status
