#!/usr/bin/env bash
# Configures and builds projd (Release) in ./build, with ccache when available.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${PROJD_BUILD_TYPE:-Release}" "${launcher[@]}" >/dev/null
cmake --build build -j "${PROJD_JOBS:-2}"
