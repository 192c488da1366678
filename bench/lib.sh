# shellcheck shell=bash disable=SC2154,SC2153 # work, EVENTS and topic come from the sourcing script
# Shared by bench/run.sh and bench/rounds.sh (sourced, from the repository's root, with
# EVENTS and work set): the build, the events file, the broker, and projd started on a topic.

# Builds in Release (unless PROJD_BENCH_NO_BUILD=1: the binaries already in build/, which must
# be Release) and makes the events file $events.
bench_setup() {
  if [[ -z ${PROJD_BENCH_NO_BUILD:-} ]]; then
    scripts/install-deps.sh
    PROJD_BUILD_TYPE=Release scripts/build.sh >/dev/null
  fi

  events=$work/events-$EVENTS.jsonl
  if [[ ! -s $events ]]; then
    echo "generating $EVENTS events..." >&2
    python3 scripts/gen_events.py --events "$EVENTS" --accounts 10000 --seed 11 --envelope > "$events"
  fi
}

# The broker at $PROJD_KAFKA_BROKERS, or one started with scripts/kafka.sh (stopped at exit).
bench_broker() {
  own_broker=0
  if [[ -z ${PROJD_KAFKA_BROKERS:-} ]]; then
    export PROJD_KAFKA_DIR=$work/kafka
    PROJD_KAFKA_BROKERS=$(scripts/kafka.sh start | sed -n 's/^PROJD_KAFKA_BROKERS=//p' | tail -n 1)
    own_broker=1
  fi
  # shellcheck disable=SC2317 # run by the EXIT trap
  cleanup() { if [[ $own_broker == 1 ]]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi; }
  trap cleanup EXIT
}

proj=$work/projections
# start_projd PROJ_FILE TOPIC NAME: projd serving one projection (its topic replaced by TOPIC)
# from a fresh data folder; sets $pid and $port.
start_projd() {
  local file=$1 topic=$2 name=$3
  rm -rf "$proj" "$work/data-$name" && mkdir -p "$proj"
  sed "s/\"account-events\"/\"$topic\"/" "$file" > "$proj/$(basename "$file")"
  # shellcheck disable=SC2086 # PROJD_EXTRA_ARGS: extra flags, split on spaces
  build/cmd/projd --projections "$proj" --data "$work/data-$name" \
    --brokers "$PROJD_KAFKA_BROKERS" --listen 127.0.0.1:0 ${PROJD_EXTRA_ARGS:-} \
    > "$work/projd-$name.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*HTTP API listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/projd-$name.log" | head -n 1)
    [[ -n $port ]] && return 0
    sleep 0.1
  done
  echo "projd did not start: see $work/projd-$name.log" >&2
  return 1
}

# applied: the events the view account_balance has applied (the sum of its position).
# curl and awk, not a Python start per poll: the poller must not take CPU from projd.
applied() {
  curl -s "127.0.0.1:$port/v1/views/account_balance" |
    grep -o '"position":[0-9][0-9]*' | awk -F: '{s += $2} END {print s + 0}'
}

# wait_caught_up [CMD]: polls the started projd until it has applied $EVENTS events; sets
# t_start (the call), t_first and a_first (the first poll that saw an applied event, and how
# many it saw) and t_done. Polled every 20 ms while nothing is applied and in the last tenth,
# every 100 ms in between, so that the clock stops close to the events it brackets. CMD, when
# given, runs after each poll with the events applied as its argument.
# shellcheck disable=SC2120 # CMD is passed by bench/run.sh
wait_caught_up() {
  local n
  t_start=$(date +%s.%N) t_first="" a_first=0
  while true; do
    n=$(applied)
    if [[ $# -gt 0 ]]; then "$1" "$n"; fi
    if [[ -z $t_first && $n -gt 0 ]]; then t_first=$(date +%s.%N) a_first=$n; fi
    [[ $n -ge $EVENTS ]] && break
    if [[ -z $t_first || $n -ge $(( EVENTS * 9 / 10 )) ]]; then sleep 0.02; else sleep 0.1; fi
  done
  t_done=$(date +%s.%N)
}

# catch_up PROJ_FILE NAME: projd with one projection (view account_balance) from offset 0 of
# $topic until caught up; prints "events/s peak-RSS-KiB events/s-from-start". The first rate
# counts from the first applied event, as the raw consume (projd_bench consume) counts from its
# first message: the same stretch of the same topic, without the connection to the broker and
# the first fetch (~0.15-0.2 s, a tenth of a catch-up of 1,000,000 events here). The last
# counts from the moment projd listens.
catch_up() {
  start_projd "$1" "$topic" "$2"
  # shellcheck disable=SC2119 # no CMD: catch_up's own arguments are not the wait's
  wait_caught_up
  local rss
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM $pid; wait $pid || true
  python3 -c "print('%.0f %d %.0f' % (($EVENTS - $a_first) / ($t_done - $t_first), $rss, $EVENTS / ($t_done - $t_start)))"
}
