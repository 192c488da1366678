#!/usr/bin/env bash
# Builds projd and runs every test: unit and golden tests, then the end-to-end tests against
# projd's embedded broker and against a real Apache Kafka broker started here (and stopped at
# the end, also when tests fail).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
scripts/build.sh

export PROJD_KAFKA_DIR=${PROJD_KAFKA_DIR:-/tmp/projd-kafka-test}
export PROJD_KAFKA_SCRIPT=$root/scripts/kafka.sh
stop_kafka() { "$PROJD_KAFKA_SCRIPT" stop >/dev/null 2>&1 || true; }
trap stop_kafka EXIT
started=$(date +%s)
brokers=$("$PROJD_KAFKA_SCRIPT" start | sed -n 's/^PROJD_KAFKA_BROKERS=//p' | tail -n 1)
echo "test.sh: Kafka broker at $brokers (ready in $(( $(date +%s) - started )) s)"
export PROJD_KAFKA_BROKERS=$brokers
export PROJD_KAFKA_REQUIRED=1

ctest --test-dir build --output-on-failure --timeout 1500 "$@"
