#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (clang-14, with ASan + UBSan), built in ./build-fuzz.
#   scripts/fuzz.sh build                 builds the targets (fuzz_proj, fuzz_query, fuzz_events,
#                                         fuzz_http)
#   scripts/fuzz.sh smoke [SECONDS]       builds, runs each target for SECONDS (25) from its seed
#                                         corpus, then replays every kept crasher; fails on a crash
#   scripts/fuzz.sh run TARGET [SECONDS]  one longer run (600 s) of proj, query, events or http;
#                                         new inputs go to build-fuzz/corpus/TARGET, a crash to
#                                         build-fuzz/artifacts/TARGET/
#   scripts/fuzz.sh replay                replays the kept crashers (tests/fuzz/regression/TARGET)
# PROJD_JOBS sets the build's parallelism (2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=$root/build-fuzz
targets=(proj query events http)

build() {
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  # Cache hits across checkouts in other folders (CI's fresh clone): paths hashed relative to
  # the checkout, and the working directory left out of the hash despite -g.
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
  CXX=${PROJD_FUZZ_CXX:-clang++-14} cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPROJD_FUZZ=ON -DBUILD_TESTING=OFF "${launcher[@]}" >/dev/null
  cmake --build "$dir" -j "${PROJD_JOBS:-2}" --target fuzz_targets
}

# Sanitizer reports end the run with a crash (libFuzzer keeps the input in artifacts/).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# fuzz TARGET SECONDS: one bounded run; libFuzzer's exit status is the result.
fuzz() {
  local target=$1 seconds=$2
  local corpus=$dir/corpus/$target artifacts=$dir/artifacts/$target/
  mkdir -p "$corpus" "$artifacts"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -print_final_stats=1
    -artifact_prefix="$artifacts")
  if [[ -f tests/fuzz/$target.dict ]]; then args+=(-dict="tests/fuzz/$target.dict"); fi
  # The daemon's Kafka threads allocate and free concurrently with each input, so a check for
  # leaks after each input sees their objects in flight; LeakSanitizer still checks at exit.
  if [[ $target == http ]]; then args+=(-detect_leaks=0); fi
  echo "fuzz.sh: fuzz_$target for ${seconds} s"
  "$dir/tests/fuzz/fuzz_$target" "${args[@]}" "$corpus" "tests/fuzz/corpus/$target"
}

# Every kept crasher runs once; each must pass now.
replay() {
  local target files
  for target in "${targets[@]}"; do
    files=(tests/fuzz/regression/"$target"/*)
    [[ -e ${files[0]} ]] || continue
    echo "fuzz.sh: replaying ${#files[@]} regression input(s) of fuzz_$target"
    "$dir/tests/fuzz/fuzz_$target" -timeout=10 "${files[@]}"
  done
}

case ${1:-} in
  build) build ;;
  smoke)
    build
    seconds=${2:-25}
    for target in "${targets[@]}"; do fuzz "$target" "$seconds"; done
    replay
    echo "fuzz.sh: smoke run passed"
    ;;
  run)
    target=${2:?usage: scripts/fuzz.sh run TARGET [SECONDS]}
    [[ " ${targets[*]} " == *" $target "* ]] || { echo "unknown target $target" >&2; exit 2; }
    build
    fuzz "$target" "${3:-600}"
    ;;
  replay) replay ;;
  *)
    echo "usage: scripts/fuzz.sh build | smoke [SECONDS] | run TARGET [SECONDS] | replay" >&2
    exit 2
    ;;
esac
