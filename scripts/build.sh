#!/usr/bin/env bash
# Configures and builds projd (Release) in ./build, with ccache when available.
# PROJD_BUILD_DIR, PROJD_BUILD_TYPE and PROJD_CMAKE_ARGS choose another build;
# PROJD_BUILD_TARGETS (space-separated) builds only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Cache hits across checkouts in other folders (CI builds a fresh clone): paths hashed
  # relative to the checkout, and the working directory left out of the hash despite -g.
  export CCACHE_BASEDIR=$(pwd) CCACHE_NOHASHDIR=1
fi
dir=${PROJD_BUILD_DIR:-build}
extra=()
if [[ -n ${PROJD_CMAKE_ARGS:-} ]]; then read -r -a extra <<<"$PROJD_CMAKE_ARGS"; fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="${PROJD_BUILD_TYPE:-Release}" "${launcher[@]}" \
  "${extra[@]+"${extra[@]}"}" >/dev/null
targets=()
if [[ -n ${PROJD_BUILD_TARGETS:-} ]]; then
  read -r -a names <<<"$PROJD_BUILD_TARGETS"
  targets=(--target "${names[@]}")
fi
cmake --build "$dir" -j "${PROJD_JOBS:-2}" "${targets[@]+"${targets[@]}"}"
