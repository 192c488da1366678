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

# catch_up PROJ_FILE NAME: projd with one projection (view account_balance) from offset 0 of
# $topic until caught up; prints "events/s peak-RSS-KiB".
catch_up() {
  start_projd "$1" "$topic" "$2"
  local t0 t1 applied
  t0=$(date +%s.%N)
  while true; do
    applied=$(curl -s "127.0.0.1:$port/v1/views/account_balance" |
      grep -o '"position":[0-9][0-9]*' | awk -F: '{s += $2} END {print s + 0}')
    [[ $applied -ge $EVENTS ]] && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  local rss
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM $pid; wait $pid || true
  python3 -c "print('%.0f %d' % ($EVENTS / ($t1 - $t0), $rss))"
}
