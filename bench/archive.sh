#!/usr/bin/env bash
# Rebuild past Kafka's retention: a new view of the same 1,000,000 events built once with half of
# each partition read from the archive (Kafka Connect S3 sink layout; Kafka's copies deleted,
# as retention would) and the other half from Kafka, and once with all of them from Kafka, in the
# same run, alternating. With PROJD_S3_ENDPOINT set (scripts/s3.sh start), also from s3://.
#
# Uses the real broker at $PROJD_KAFKA_BROKERS (or starts one), the events of bench/run.sh
# ($PROJD_BENCH_DIR/events-N.jsonl, generated when missing) and the binaries in build/ (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${PROJD_BENCH_EVENTS:-1000000}
work=${PROJD_BENCH_DIR:-/tmp/projd-bench}
mkdir -p "$work"
events=$work/events-$EVENTS.jsonl
if [[ ! -s $events ]]; then
  echo "generating $EVENTS events..." >&2
  python3 scripts/gen_events.py --events "$EVENTS" --accounts 10000 --seed 11 --envelope > "$events"
fi
own_broker=0
if [[ -z ${PROJD_KAFKA_BROKERS:-} ]]; then
  export PROJD_KAFKA_DIR=$work/kafka
  PROJD_KAFKA_BROKERS=$(scripts/kafka.sh start | sed -n 's/^PROJD_KAFKA_BROKERS=//p' | tail -n 1)
  own_broker=1
fi
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
  if [[ $own_broker == 1 ]]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

run=$$-$(date +%s)
kafka_topic=arch-kafka-$run
archived_topic=arch-half-$run
echo "== $EVENTS events to two topics (4 partitions each)"
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$kafka_topic" "$events" 4
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$archived_topic" "$events" 4
rm -rf "$work/archive"
build/bench/projd_bench archive "$PROJD_KAFKA_BROKERS" "$archived_topic" "file://$work/archive"
s3_topic=""
if [[ -n ${PROJD_S3_ENDPOINT:-} ]]; then
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-projd-test}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-projd-test-secret}
  s3_topic=arch-s3-$run
  build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$s3_topic" "$events" 4
  build/bench/projd_bench archive "$PROJD_KAFKA_BROKERS" "$s3_topic" "s3://projd-bench/$run"
fi

# build_view TOPIC NAME [ARGS...]: a fresh projd with account_balance over TOPIC; seconds until it
# has applied every event (what a rebuild from offset 0 does, without the swap).
build_view() {
  local topic=$1 name=$2
  shift 2
  local slug=${name//[^A-Za-z0-9]/_}
  local proj=$work/arch-proj-$slug data=$work/arch-data-$slug log=$work/arch-$slug.log
  rm -rf "$proj" "$data" && mkdir -p "$proj"
  sed "s/\"account-events\"/\"$topic\"/" projections/account_balance.proj > "$proj/account_balance.proj"
  build/cmd/projd --projections "$proj" --data "$data" --brokers "$PROJD_KAFKA_BROKERS" \
    --listen 127.0.0.1:0 "$@" > "$log" 2>&1 &
  pid=$!
  local port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*HTTP API listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  local t0 applied=0
  t0=$(date +%s.%N)
  while [[ $applied -lt $EVENTS ]]; do
    sleep 0.2
    applied=$(curl -s "127.0.0.1:$port/v1/views/account_balance" |
      grep -o '"position":[0-9][0-9]*' | awk -F: '{s += $2} END {print s + 0}')
  done
  local t1
  t1=$(date +%s.%N)
  local from_archive
  from_archive=$(curl -s "127.0.0.1:$port/v1/views/account_balance" |
    grep -o '"archive":{[^}]*}' || echo "-")
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  python3 -c "print('%-34s %8.2f s %10.0f events/s   %s' % ('$name', $t1 - $t0, $EVENTS / ($t1 - $t0), '$from_archive'))"
}

echo "== a new view from offset 0 (alternating; each line: time to apply all $EVENTS events)"
for round in 1 2; do
  build_view "$kafka_topic" "all from Kafka ($round)"
  build_view "$archived_topic" "half file:// + half Kafka ($round)" --archive "file://$work/archive"
  if [[ -n $s3_topic ]]; then
    build_view "$s3_topic" "half s3:// + half Kafka ($round)" --archive "s3://projd-bench/$run" \
      --s3-endpoint "$PROJD_S3_ENDPOINT"
  fi
done
