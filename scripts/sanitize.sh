#!/usr/bin/env bash
# The sanitizer build: configures (once) and builds the library, the tool and the tests with
# AddressSanitizer + UndefinedBehaviorSanitizer (GCC) in SANITIZE_BUILD_DIR (default build-asan),
# then runs the unit, MPI and fuzz-replay suites under them. Any ASan/UBSan report, or a leak
# outside Open MPI (test/sanitize/lsan.supp), fails the test it happens in. Extra arguments go to
# `meson test` (e.g. --suite unit, or a test name).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SANITIZE_BUILD_DIR:-build-asan}
rm -f "$BUILD_DIR/meson-logs/testlog.json"  # a build that fails must not count an old run
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # -O0 (buildtype=debug): a third of the -O2 compile time, and the tests are small.
  meson setup "$BUILD_DIR" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
fi
ninja -C "$BUILD_DIR"
# Keeps Open MPI's components mapped until exit so that their leaks are named (see the .c file).
${CC:-cc} -shared -fPIC -O2 -o "$BUILD_DIR/nodlclose.so" test/sanitize/nodlclose.c

. scripts/mpi-env.sh
supp=$PWD/test/sanitize/lsan.supp
export LD_PRELOAD=$(cd "$BUILD_DIR" && pwd)/nodlclose.so${LD_PRELOAD:+:$LD_PRELOAD}
# verify_asan_link_order=0: nodlclose.so is preloaded ahead of libasan (it allocates nothing).
# fast_unwind_on_malloc=0: whole allocation stacks, through Open MPI's frame-pointer-less code,
# so that lsan.supp can match them.
export ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:verify_asan_link_order=0:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1
# use_tls=0: GCC 12's LeakSanitizer crashes ("Tracer caught signal 11") reading the dynamic TLS
# of an Open MPI rank on glibc 2.36. Not scanning TLS can only add reports, never hide a leak.
export LSAN_OPTIONS=suppressions=$supp:use_tls=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ $# -eq 0 ]; then
  set -- --suite unit --suite mpi --suite fuzz
fi
exec meson test -C "$BUILD_DIR" --no-rebuild --print-errorlogs "$@"
