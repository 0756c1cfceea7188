#!/usr/bin/env bash
# Installs every Debian package mpinit needs to build, run and test. Idempotent: installs only
# what is missing, and does nothing (no apt-get update) when everything is there.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config python3
  openmpi-bin libopenmpi-dev           # the MPI the library is built against by default
  libhwloc-dev hwloc                   # topology (optional feature, on by default)
  libgtest-dev                         # tests
  libcli11-dev nlohmann-json3-dev libfmt-dev   # the mpinit tool
  hyperfine procps                     # benchmarks; pgrep in tests
  python3-torch                        # the torchrun bridge (mpinit exec) is tested with real PyTorch
  python3-dev pybind11-dev python3-pybind11 python3-mpi4py   # the Python package (python/), its tests with mpi4py
  cmake gfortran                       # install tests: a CMake consumer; the Fortran module's test
  mpich libmpich-dev                   # the second MPI (scripts/test-mpich.sh)
  slurmctld slurmd slurm-client munge  # a local Slurm cluster for the launcher tests (scripts/cluster)
  clang libclang-rt-dev                # the fuzz targets: clang's libFuzzer and sanitizers (scripts/fuzz.sh)
  strace                               # the test that mpinit writes no file
  numactl                              # the MPI_Init probe's memory-policy test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
