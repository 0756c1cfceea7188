#!/usr/bin/env bash
# Configures (once) and builds mpinit in BUILD_DIR (default: build). Extra arguments go to
# `meson setup` on the first configuration, e.g. -Dnccl=disabled.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" "$@"
fi
ninja -C "$BUILD_DIR"
