#!/usr/bin/env bash
# Builds projd and runs every test: unit and golden tests, then the end-to-end tests against
# projd's embedded broker and against a real Apache Kafka broker started here (and stopped at
# the end, also when tests fail).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
# CI (CI set) builds with warnings as errors (PROJD_WERROR); the ASan and fuzz builds do not.
werror=OFF
if [[ -n ${CI:-} ]]; then werror=ON; fi
PROJD_CMAKE_ARGS="${PROJD_CMAKE_ARGS:-} -DPROJD_WERROR=$werror" scripts/build.sh

status=0
# ctest_in DIR ARGS...: ctest in DIR, its output kept in DIR/ctest-output.log for the summary of
# failures printed last (a failure early in a long run is otherwise far above the end of the log).
failed_dirs=()
ctest_in() {
  local dir=$1 rc=0
  shift
  ctest --test-dir "$dir" --output-on-failure --timeout 1500 "$@" 2>&1 | tee "$dir/ctest-output.log" ||
    rc=$?
  if ((rc != 0)); then failed_dirs+=("$dir"); fi
  return "$rc"
}
# clang-format and clang-tidy on the C++ files changed in the last 10 commits (scripts/lint.sh;
# PROJD_LINT_COMMITS changes the count, PROJD_SKIP_LINT=1 skips it). Findings fail the run, after
# the tests have run.
if [[ -z ${PROJD_SKIP_LINT:-} ]]; then
  echo "test.sh: lint (scripts/lint.sh)"
  scripts/lint.sh || status=$?
fi

export PROJD_KAFKA_DIR=${PROJD_KAFKA_DIR:-/tmp/projd-kafka-test}
export PROJD_KAFKA_SCRIPT=$root/scripts/kafka.sh
export PROJD_REGISTRY_DIR=${PROJD_REGISTRY_DIR:-/tmp/projd-registry-test}
export PROJD_REGISTRY_SCRIPT=$root/scripts/registry.sh
export PROJD_S3_DIR=${PROJD_S3_DIR:-/tmp/projd-s3-test}
export PROJD_S3_SCRIPT=$root/scripts/s3.sh
stop_kafka() { "$PROJD_KAFKA_SCRIPT" stop >/dev/null 2>&1 || true; }
stop_registry() { "$PROJD_REGISTRY_SCRIPT" stop >/dev/null 2>&1 || true; }
stop_s3() { "$PROJD_S3_SCRIPT" stop >/dev/null 2>&1 || true; }
trap 'stop_kafka; stop_registry; stop_s3' EXIT
started=$(date +%s)
brokers=$("$PROJD_KAFKA_SCRIPT" start | sed -n 's/^PROJD_KAFKA_BROKERS=//p' | tail -n 1)
echo "test.sh: Kafka broker at $brokers (ready in $(( $(date +%s) - started )) s)"
export PROJD_KAFKA_BROKERS=$brokers
# A Confluent-compatible schema registry (Apicurio, in memory) for the Avro tests.
started=$(date +%s)
registry=$("$PROJD_REGISTRY_SCRIPT" start | sed -n 's/^PROJD_SCHEMA_REGISTRY=//p' | tail -n 1)
echo "test.sh: schema registry at $registry (ready in $(( $(date +%s) - started )) s)"
export PROJD_SCHEMA_REGISTRY=$registry
# An S3-compatible server (s3proxy over a fresh folder) for the S3 client tests.
started=$(date +%s)
s3=$("$PROJD_S3_SCRIPT" start | sed -n 's/^PROJD_S3_ENDPOINT=//p' | tail -n 1)
echo "test.sh: S3 (s3proxy) at $s3 (ready in $(( $(date +%s) - started )) s)"
export PROJD_S3_ENDPOINT=$s3
export PROJD_KAFKA_REQUIRED=1

ctest_in build "$@" || status=$?

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer (skip with
# PROJD_SKIP_SANITIZERS=1).
if [[ -z ${PROJD_SKIP_SANITIZERS:-} ]]; then
  echo "test.sh: the whole suite again, with ASan + UBSan (build-asan/)"
  PROJD_BUILD_DIR=build-asan PROJD_BUILD_TYPE=Debug PROJD_CMAKE_ARGS=-DPROJD_SANITIZE=ON \
    scripts/build.sh
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest_in build-asan "$@" || status=$?
fi

# The unit tests of the threaded parts — the engine (views reading polls ahead, the replay's
# reader, the committer, reused read transactions) and the HTTP server (I/O threads, answers
# delivered from other threads) — built with ThreadSanitizer (build-tsan/; skip with
# PROJD_SKIP_TSAN=1). A data race fails the run.
if [[ -z ${PROJD_SKIP_TSAN:-} ]]; then
  echo "test.sh: the engine and HTTP unit tests with ThreadSanitizer (build-tsan/)"
  tsan_rc=0
  PROJD_BUILD_DIR=build-tsan PROJD_BUILD_TYPE=RelWithDebInfo PROJD_CMAKE_ARGS=-DPROJD_TSAN=ON \
    PROJD_BUILD_TARGETS=projd_unit_tests scripts/build.sh || tsan_rc=$?
  if ((tsan_rc == 0)); then
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      build-tsan/tests/projd_unit_tests "[engine],[http]" 2>&1 | tee build-tsan/tsan-output.log |
      tail -n 4 || tsan_rc=$?
  fi
  if ((tsan_rc != 0)); then
    status=1
    echo "test.sh: FAILED: the ThreadSanitizer run (build-tsan/tsan-output.log)"
    grep -n -A30 "WARNING: ThreadSanitizer" build-tsan/tsan-output.log | head -n 80 || true
  fi
fi

# The libFuzzer targets (clang-14, ASan + UBSan, build-fuzz/), each for a short bounded time,
# and every kept crasher replayed (skip with PROJD_SKIP_FUZZ=1).
if [[ -z ${PROJD_SKIP_FUZZ:-} ]]; then
  echo "test.sh: fuzz smoke run (build-fuzz/)"
  scripts/fuzz.sh smoke || status=$?
fi
if ((${#failed_dirs[@]} > 0)); then
  for dir in "${failed_dirs[@]}"; do
    echo "test.sh: FAILED in $dir: $(tr '\n' ' ' <"$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null)"
    grep -n -E -B3 -A8 'FAILED:|failed with|runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|\*\*\*(Failed|Timeout|Exception)' \
      "$dir/ctest-output.log" | head -n 150 || true
  done
fi
exit $status
