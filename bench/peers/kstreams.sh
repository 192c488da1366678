#!/usr/bin/env bash
# projd's ingest next to Kafka Streams on the same topic: the balance logic of
# projections/account_balance.proj as a Kafka Streams program (bench/peers/kstreams/, RocksDB
# stores, BigDecimal money), run with processing.guarantee at_least_once and exactly_once_v2,
# each from offset 0 with a fresh application.id and state dir. After each run every row of its
# store is compared with projd's view of the same topic.
#
# Usage: bench/peers/kstreams.sh BROKERS TOPIC EVENTS [ROUNDS]
#   TOPIC must hold exactly EVENTS events (e.g. produced by build/bench/projd_bench produce).
#   ROUNDS (default 1) repeats projd, at_least_once, exactly_once_v2 in turn and prints
#   min / median / max of each.
# Needs build/cmd/projd, Java 17 and Maven (the build caches its jars in ~/.m2).
# Exits 1 when the Kafka Streams rows differ from projd's.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 3 ]]; then
  echo "usage: bench/peers/kstreams.sh BROKERS TOPIC EVENTS [ROUNDS]" >&2
  exit 2
fi
brokers=$1 topic=$2 events=$3 rounds=${4:-1}
work=${PROJD_BENCH_DIR:-/tmp/projd-bench}/peers-kstreams
rm -rf "$work" && mkdir -p "$work"

pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work/state" "$work/data" "$work/projections"
}
trap cleanup EXIT

echo "building bench/peers/kstreams (Maven, jars cached in ~/.m2)..." >&2
if ! (cd bench/peers/kstreams && mvn -q -B package) > "$work/mvn.log" 2>&1; then
  echo "Maven build failed: see $work/mvn.log" >&2
  exit 1
fi

# projd on TOPIC from a fresh data folder, timed from its HTTP API being up until the
# positions of all partitions sum to EVENTS (as bench/run.sh times projd's ingest).
projd_ingest() {
  rm -rf "$work/data" "$work/projections" && mkdir -p "$work/projections"
  sed "s/\"account-events\"/\"$topic\"/" projections/account_balance.proj \
    > "$work/projections/account_balance.proj"
  build/cmd/projd --projections "$work/projections" --data "$work/data" --brokers "$brokers" \
    --listen 127.0.0.1:0 > "$work/projd.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*HTTP API listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/projd.log" | head -n 1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "projd did not start: see $work/projd.log" >&2; return 1; }
  local t0 t1 applied
  t0=$(date +%s.%N)
  while true; do
    applied=$(curl -s "127.0.0.1:$port/v1/views/account_balance" |
      grep -o '"position":[0-9][0-9]*' | awk -F: '{s += $2} END {print s + 0}')
    [[ $applied -ge $events ]] && break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  projd_rate=$(python3 -c "print(round($events / ($t1 - $t0)))")
}

# One Kafka Streams run (GUARANTEE): prints its rate and sets ks_rate; its rows are left in
# $work/kstreams-rows.jsonl.
kstreams_run() {
  local guarantee=$1 out
  rm -rf "$work/state"
  java -jar bench/peers/kstreams/target/balance-streams.jar "$brokers" "$topic" "$guarantee" \
    "$work/state" "$work/kstreams-rows.jsonl" > "$work/kstreams.out" 2> "$work/kstreams.log" &
  pid=$!
  wait "$pid" || { pid=""; echo "Kafka Streams ($guarantee) failed: see $work/kstreams.log" >&2; return 1; }
  pid=""
  out=$(tail -n 1 "$work/kstreams.out")
  python3 - "$out" "$events" "$guarantee" "$projd_rate" "$work/rate" <<'PY'
import json, sys
r, events, guarantee, projd = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
if r["events"] != events or r["processed"] != events:
    sys.exit("Kafka Streams saw %d events on the topic and processed %d, not %d"
             % (r["events"], r["processed"], events))
rate = events / r["seconds"]
print("%-44s %10.0f events/s   projd ÷ it %5.2f"
      % ("Kafka Streams %s (start -> all processed)" % guarantee, rate, projd / rate))
print("  (first record %.2f s after start(), %.0f events/s from there; close (commit, flush) %.2f s)"
      % (r["seconds_to_first_record"], events / (r["seconds"] - r["seconds_to_first_record"]),
         r["close_seconds"]))
open(sys.argv[5], "w").write("%.0f" % rate)
PY
  ks_rate=$(cat "$work/rate")
}

echo "== Kafka Streams $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' bench/peers/kstreams/pom.xml) against projd: same topic ($topic, $events events), same balance logic"
status=0
declare -a projd_rates alos_rates eos_rates
for round in $(seq 1 "$rounds"); do
  [[ $rounds -gt 1 ]] && echo "round $round"
  projd_ingest
  printf '%-44s %10d events/s\n' "projd ingest (offset 0 -> caught up)" "$projd_rate"
  projd_rates+=("$projd_rate")
  if [[ $round == 1 ]]; then
    python3 bench/peers/rows.py fetch "$port" account_balance "$work/projd-rows.jsonl" 2>/dev/null
  fi
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  for guarantee in at_least_once exactly_once_v2; do
    kstreams_run "$guarantee"
    if [[ $guarantee == at_least_once ]]; then alos_rates+=("$ks_rate"); else eos_rates+=("$ks_rate"); fi
    if ! python3 bench/peers/rows.py compare "$work/projd-rows.jsonl" "$work/kstreams-rows.jsonl"; then
      status=1
    fi
  done
done
if [[ $rounds -gt 1 ]]; then
  python3 - "${projd_rates[*]}" "${alos_rates[*]}" "${eos_rates[*]}" <<'PY'
import statistics, sys
projd, alos, eos = ([float(x) for x in a.split()] for a in sys.argv[1:4])
for name, rates in (("projd", projd), ("Kafka Streams at_least_once", alos), ("Kafka Streams exactly_once_v2", eos)):
    print("%-32s min %8.0f  median %8.0f  max %8.0f events/s   projd median ÷ median %5.2f"
          % (name, min(rates), statistics.median(rates), max(rates), statistics.median(projd) / statistics.median(rates)))
PY
fi
exit $status
