#!/usr/bin/env bash
# The speed goals' figures, each next to its reference, as min / median / max over ROUNDS
# interleaved rounds (PROJD_BENCH_ROUNDS, default 3) on the same 1,000,000 events:
#   - in-memory replay (projctl test's path) against JSON parsing alone;
#   - catch-up of the plain balance view against the raw consume of the same topic (and of
#     the same view without dedupe: the issue's "plain" and "dedupe" views were two);
#   - catch-up of the history + index + dedupe view against the same view without history
#     (events/s and peak RSS);
#   - account_balance against Kafka Streams at_least_once and exactly_once_v2
#     (bench/peers/kstreams.sh, which interleaves its own rounds);
#   - point reads against Redis GET with the same bodies (bench/peers/redis.sh).
# Same settings as bench/run.sh (PROJD_BENCH_EVENTS, PROJD_BENCH_DIR, PROJD_BENCH_NO_BUILD,
# PROJD_KAFKA_BROKERS).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${PROJD_BENCH_EVENTS:-1000000}
ROUNDS=${PROJD_BENCH_ROUNDS:-3}
work=${PROJD_BENCH_DIR:-/tmp/projd-bench}
mkdir -p "$work"
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup

# mmm NAME VALUES...: min / median / max of the values.
mmm() {
  python3 - "$@" <<'PY'
import statistics, sys
xs = [float(x) for x in sys.argv[2:]]
print("%-44s %s" % (sys.argv[1], " / ".join("%.0f" % x for x in (min(xs), statistics.median(xs), max(xs)))))
PY
}
median() { python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio() { python3 -c 'import sys; print("%.1f" % (100 * float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }

echo "== in-memory replay against JSON parsing alone ($ROUNDS rounds; events/s)"
# Each round runs the two in turns (3 pairs) and gives the median of its pairs' ratios: this
# machine's speed drifts within seconds, so a replay is set against the parse right before it.
parse=() memory=() paired=()
for _ in $(seq 1 "$ROUNDS"); do
  out=$(build/bench/projd_bench replay projections/account_balance.proj "$events" 2>/dev/null)
  parse+=("$(sed -n 's/^JSON parse only (baseline) *\([0-9]*\) events.*/\1/p' <<< "$out")")
  memory+=("$(sed -n 's/^replay in memory (projctl test) *\([0-9]*\) events.*/\1/p' <<< "$out")")
  paired+=("$(sed -n "s/^replay in memory \/ JSON parse, pairs' median *\([0-9.]*\)%.*/\1/p" <<< "$out")")
done
mmm "JSON parse only (min / median / max)" "${parse[@]}"
mmm "replay in memory" "${memory[@]}"
echo "replay in memory, medians: $(ratio "$(median "${memory[@]}")" "$(median "${parse[@]}")") % of JSON parsing"
echo "replay in memory, paired: $(python3 -c 'import statistics, sys; print("%.1f" % statistics.median(float(x) for x in sys.argv[1:]))' "${paired[@]}") % of JSON parsing (median of the rounds' paired ratios: ${paired[*]}; goal >= 75 %)"

bench_broker
topic=rounds-$$-$(date +%s)
echo "== Kafka ($PROJD_KAFKA_BROKERS, topic $topic, 4 partitions; catch-up from offset 0, events/s"
echo "   from the first event applied, as the raw consume counts from its first message)"
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$topic" "$events" 4
sed '/^ *history all/d' bench/account_balance_history.proj > "$work/account_balance_nohistory.proj"
sed -e '/^ *id event.event_id/d' -e '/^ *dedupe/d' bench/account_balance_plain.proj \
  > "$work/account_balance_nodedupe.proj"
raw=() plain=() plain_start=() nodedupe=() hist=() hist_rss=() nohist=() nohist_rss=()
for round in $(seq 1 "$ROUNDS"); do
  raw+=("$(build/bench/projd_bench consume "$PROJD_KAFKA_BROKERS" "$topic" "$EVENTS" |
    sed -n 's/.*s: \([0-9]*\) msgs\/s/\1/p')")
  read -r rate _ from_start <<< "$(catch_up bench/account_balance_plain.proj plain)"
  plain+=("$rate") plain_start+=("$from_start")
  read -r rate _ <<< "$(catch_up "$work/account_balance_nodedupe.proj" nodedupe)"
  nodedupe+=("$rate")
  read -r rate rss _ <<< "$(catch_up bench/account_balance_history.proj history)"
  hist+=("$rate") hist_rss+=("$rss")
  read -r rate rss _ <<< "$(catch_up "$work/account_balance_nohistory.proj" nohistory)"
  nohist+=("$rate") nohist_rss+=("$rss")
  echo "round $round: raw ${raw[-1]}, plain ${plain[-1]}, without dedupe ${nodedupe[-1]}, history ${hist[-1]}, without history ${nohist[-1]}"
done
mmm "raw consume (min / median / max)" "${raw[@]}"
mmm "plain balance view" "${plain[@]}"
mmm "  the same from projd's start (listening)" "${plain_start[@]}"
mmm "  the same without dedupe" "${nodedupe[@]}"
mmm "history + index + dedupe" "${hist[@]}"
mmm "  its peak RSS, KiB" "${hist_rss[@]}"
mmm "the same without history" "${nohist[@]}"
mmm "  its peak RSS, KiB" "${nohist_rss[@]}"
echo "plain catch-up, medians: $(ratio "$(median "${plain[@]}")" "$(median "${raw[@]}")") % of raw consume (goal >= 40 %); without dedupe $(ratio "$(median "${nodedupe[@]}")" "$(median "${raw[@]}")") %"
echo "history catch-up, medians: $(ratio "$(median "${hist[@]}")" "$(median "${nohist[@]}")") % of without (goal >= 70 %); peak RSS $(ratio "$(median "${hist_rss[@]}")" "$(median "${nohist_rss[@]}")") % of without (goal <= 200 %)"

echo "== Kafka Streams against projd's account_balance (goal: projd >= 5x at_least_once)"
PROJD_BENCH_DIR=$work bench/peers/kstreams.sh "$PROJD_KAFKA_BROKERS" "$topic" "$EVENTS" "$ROUNDS" ||
  echo "Kafka Streams peer: its rows differ from projd's, or the run failed"

echo "== point reads (wrk -t1 -c64 -d10s) against Redis GET (redis-benchmark -c64 -P1), same bodies"
start_projd bench/by_event.proj "$topic" rounds-reads
while true; do
  rows=$(curl -s "127.0.0.1:$port/v1/views/by_event" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"])' 2>/dev/null || echo 0)
  [[ $rows -ge $EVENTS ]] && break
  sleep 0.5
done
PROJD_PID=$pid bench/peers/redis.sh "$port" "$EVENTS" "" "$ROUNDS" ||
  echo "Redis peer: its answers differ from projd's, or the run failed"
kill -TERM "$pid"; wait "$pid" || true
