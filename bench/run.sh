#!/usr/bin/env bash
# Measures projd's ingest on 1,000,000 banking events, each figure next to a baseline measured
# in the same run:
#   - replay (projctl test path, and into LMDB) vs. JSON parsing alone / a minimal
#     parse + LMDB get/put loop;
#   - ingest through Kafka (projd, from offset 0 until caught up) vs. the raw consume rate of
#     the same topic through the same Kafka source with no apply.
# Uses the real broker at $PROJD_KAFKA_BROKERS, or starts one with scripts/kafka.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${PROJD_BENCH_EVENTS:-1000000}
work=${PROJD_BENCH_DIR:-/tmp/projd-bench}
mkdir -p "$work"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup

echo "== replay (one core)"
build/bench/projd_bench replay projections/account_balance.proj "$events"
echo "== replay with history all + index owner + dedupe (the cost of history and indexes)"
build/bench/projd_bench replay bench/account_balance_history.proj "$events" | grep -E "LMDB|memory"
echo "== the audit trail: audit values and a correlation on every event, against neither (same events)"
# (the daemon's apply path with its change log, which the correlation index is written from)
build/bench/projd_bench replay bench/account_balance_plain.proj "$events" 2>/dev/null |
  grep -F "change log (keep 1000000)" | sed 's/^same, with the change log (keep 1000000)/without audit or correlation            /'
build/bench/projd_bench replay bench/account_balance_audit.proj "$events" 2>/dev/null |
  grep -F "change log (keep 1000000)" | sed 's/^same, with the change log (keep 1000000)/with audit + correlation (every event)  /'
start=$(date +%s.%N)
build/cmd/projctl test projections/account_balance.proj --events "$events" >/dev/null 2>&1
end=$(date +%s.%N)
python3 -c "print('%-44s %10.0f events/s' % ('projctl test (whole command)', $EVENTS / ($end - $start)))"
echo "== format avro against JSON on the same events (decode only; decode + apply)"
build/bench/avro_bench projections/account_balance.proj "$events" 3

bench_broker

topic=bench-$$-$(date +%s)
echo "== Kafka ($PROJD_KAFKA_BROKERS, topic $topic, 4 partitions)"
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$topic" "$events" 4
raw=$(build/bench/projd_bench consume "$PROJD_KAFKA_BROKERS" "$topic" "$EVENTS")
echo "$raw"
raw_rate=$(echo "$raw" | sed -n 's/.*s: \([0-9]*\) msgs\/s/\1/p')

start_projd projections/account_balance.proj "$topic" ingest
# RSS as the ingest goes (bounded means it does not grow with the events applied), taken at
# each quarter of the events by the wait's own polls.
rss_marks="" next_mark=1
rss_mark() {
  while [[ $next_mark -le 4 && $1 -ge $(( EVENTS * next_mark / 4 )) ]]; do
    rss_marks+="$(( 25 * next_mark ))%: $(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 )) MiB  "
    next_mark=$(( next_mark + 1 ))
  done
}
wait_caught_up rss_mark
echo "projd RSS during the ingest (events applied): $rss_marks"
# Rebuild from offset 0 in a shadow store while the view serves: time until the swap.
r0=$(date +%s.%N)
curl -s -X POST "127.0.0.1:$port/v1/views/account_balance/rebuild" >/dev/null
while ! grep -q "rebuild done" "$work/projd-ingest.log"; do sleep 0.2; done
r1=$(date +%s.%N)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM $pid; wait $pid || true
python3 -c "print('%-44s %10.0f events/s' % ('rebuild from offset 0 (until the swap)', $EVENTS / ($r1 - $r0)))"
python3 - "$EVENTS" "$t_start" "$t_first" "$a_first" "$t_done" "$raw_rate" "$rss" <<'PY'
import sys
n, t_start, t_first, a_first, t_done = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
raw, rss = float(sys.argv[6] or 0), int(sys.argv[7])
rate = (n - a_first) / (t_done - t_first)
print("%-44s %10.0f events/s   %5.1f%% of raw consume" % ("projd ingest through Kafka (first event -> caught up)", rate, 100 * rate / raw if raw else 0))
print("%-44s %10.0f events/s" % ("  the same from projd's start (listening)", n / (t_done - t_start)))
print("%-44s %10d KiB" % ("projd peak RSS", rss))
PY

echo "== catch-up with history all + index owner + dedupe against the same view without history"
echo "   (bench/account_balance_history.proj with and without its history line; 3 rounds, interleaved)"
sed '/^ *history all/d' bench/account_balance_history.proj > "$work/account_balance_nohistory.proj"
hist_runs=""
plain_runs=""
for _ in 1 2 3; do
  hist_runs+="$(catch_up bench/account_balance_history.proj history),"
  plain_runs+="$(catch_up "$work/account_balance_nohistory.proj" nohistory),"
done
python3 - "$hist_runs" "$plain_runs" <<'PY'
import statistics, sys
def runs(arg):
    return [tuple(map(float, r.split()[:2])) for r in arg.split(",") if r]
h, p = runs(sys.argv[1]), runs(sys.argv[2])
def mmm(xs):
    return "%.0fk / %.0fk / %.0fk" % (min(xs) / 1e3, statistics.median(xs) / 1e3, max(xs) / 1e3)
hr, pr = [r for r, _ in h], [r for r, _ in p]
hm, pm = [m / 1024 for _, m in h], [m / 1024 for _, m in p]
print("%-44s %s events/s, peak RSS %.0f MiB (median)" % ("with history (min / median / max)", mmm(hr), statistics.median(hm)))
print("%-44s %s events/s, peak RSS %.0f MiB (median)" % ("without history", mmm(pr), statistics.median(pm)))
print("%-44s %5.1f%% of without (goal >= 70%%); peak RSS %.2fx (goal <= 2x)" % ("history catch-up, medians", 100 * statistics.median(hr) / statistics.median(pr), statistics.median(hm) / statistics.median(pm)))
PY

echo "== peer: Kafka Streams on the same topic, same balance logic (bench/peers/kstreams.sh:"
echo "   at_least_once and exactly_once_v2, each against a projd ingest of the topic in the section)"
PROJD_BENCH_DIR=$work bench/peers/kstreams.sh "$PROJD_KAFKA_BROKERS" "$topic" "$EVENTS" ||
  echo "Kafka Streams peer: its rows differ from projd's, or the run failed"

echo "== event -> visible latency at a steady 5,000 events/s (20 s, every 50th event timed)"
lat_topic=lat-$$-$(date +%s)
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$lat_topic" /dev/null 4 >/dev/null
start_projd projections/account_balance.proj "$lat_topic" latency
build/bench/projd_bench latency "$PROJD_KAFKA_BROKERS" "$lat_topic" "$events" "$port" \
  account_balance 5000 20 || echo "latency run reported timeouts or failures"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "projd peak RSS at 5,000 events/s: $(( rss / 1024 )) MiB"
kill -TERM $pid; wait $pid || true

echo "== change feeds: event -> subscriber at 5,000 events/s with 1, 100 and 1,000 subscribers"
echo "   (next to event -> visible for a polling reader in the same run; bench/feed_bench.cc)"
feed_topic=feed-$$-$(date +%s)
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$feed_topic" /dev/null 4 >/dev/null
PROJD_EXTRA_ARGS="--http-max-connections 3000" start_projd bench/feed.proj "$feed_topic" feed
for subscribers in 1 100 1000; do
  build/bench/feed_bench "$PROJD_KAFKA_BROKERS" "$feed_topic" "$port" feed_bench 5000 10 \
    "$subscribers" || echo "feed run with $subscribers subscribers reported failures"
done
kill -TERM $pid; wait $pid || true

echo "== HTTP reads (wrk -t1 -c64 -d10s, keep-alive) on a view of $EVENTS rows"
start_projd bench/by_event.proj "$topic" reads
while true; do
  rows=$(curl -s "127.0.0.1:$port/v1/views/by_event" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"])' 2>/dev/null || echo 0)
  [[ $rows -ge $EVENTS ]] && break
  sleep 0.5
done
wrk_run() {  # name, wrk args...
  local name=$1; shift
  local out
  out=$(wrk -t1 -c64 -d10s --latency "$@" 2>&1)
  python3 - "$name" <<PY2
import re, sys
out = """$out"""
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
def pct(p):
    m = re.search(r"\s%s%%\s+([0-9.]+)(us|ms|s)" % p, out)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else (v * 1000 if u == "s" else v)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print("%-44s %10.0f req/s   p50 %6.2f ms   p99 %6.2f ms%s" % (sys.argv[1], rps, pct(50), pct(99),
      ("   non-2xx: " + errors.group(1)) if errors else ""))
PY2
}
wrk_run "static answer GET /healthz (baseline)" "http://127.0.0.1:$port/healthz"
point_read=$(wrk_run "point read GET /v1/views/by_event/rows/KEY" -s bench/point_read.lua "http://127.0.0.1:$port")
echo "$point_read"
# Peer: Redis loaded with the same answers (bench/peers/redis.sh), right after projd's figure.
bench/peers/redis.sh "$port" "$EVENTS" "$point_read" ||
  echo "Redis peer: its answers differ from projd's, or the run failed"
wrk_run "index query POST /v1/query (owner ==, 10 rows)" -s bench/index_query.lua "http://127.0.0.1:$port"
echo "== long queries do not delay other requests (16 clients running full-scan queries)"
python3 bench/scan_isolation.py "$port" by_event 'e-%08d' "$EVENTS" \
  'from by_event where amount < 0 select count()' 16 300
echo "== checksum and snapshot of the $EVENTS-row view (baseline: a full-scan count() query)"
t0=$(date +%s.%N)
curl -s -G "127.0.0.1:$port/v1/query" --data-urlencode 'q=from by_event select count()' >/dev/null
t1=$(date +%s.%N)
curl -s "127.0.0.1:$port/v1/views/by_event/checksum" >/dev/null
t2=$(date +%s.%N)
build/cmd/projctl snapshot by_event -o "$work/by_event.mdb" --server "http://127.0.0.1:$port" >/dev/null
t3=$(date +%s.%N)
python3 -c "print('%-44s %8.2f s' % ('count() query, full scan (baseline)', $t1 - $t0)); print('%-44s %8.2f s' % ('GET /v1/views/by_event/checksum', $t2 - $t1)); print('%-44s %8.2f s  %d MiB' % ('projctl snapshot', $t3 - $t2, $(stat -c %s "$work/by_event.mdb") / 1048576))"
rm -f "$work/by_event.mdb"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "projd peak RSS with $EVENTS rows: $rss KiB"
kill -TERM $pid; wait $pid || true

echo "== full-text search: a $EVENTS-row transaction view (bench/text.proj) over HTTP next to"
echo "   SQLite FTS5 on the same rows and queries; ingest with and without the text index"
echo "   (bench/text_bench.cc: its own generated events, its own projd on the built view)"
build/bench/text_bench --events "$EVENTS" --work "$work/text" --proj bench/text.proj \
  --projd build/cmd/projd || echo "text_bench reported answers that differ from SQLite's"
rm -rf "$work/text"

echo "== rebuild past retention: half of each partition from the archive against all from Kafka"
echo "   (bench/archive.sh; s3:// too when PROJD_S3_ENDPOINT is set)"
PROJD_KAFKA_BROKERS=$PROJD_KAFKA_BROKERS PROJD_BENCH_DIR=$work PROJD_BENCH_EVENTS=$EVENTS \
  bash bench/archive.sh
