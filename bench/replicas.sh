#!/usr/bin/env bash
# Read throughput of projd replicas behind nginx (deploy/nginx/projd-replicas.conf), all in one
# run on the same data: point reads (wrk, random keys of the by_event view) against
#   - one replica, direct (the baseline);
#   - one replica through nginx;
#   - two replicas through nginx.
# Uses the real broker at $PROJD_KAFKA_BROKERS, or starts one with scripts/kafka.sh.
# PROJD_BENCH_ROWS (default 100000) events, one row each; PROJD_BENCH_NO_BUILD=1 measures the
# binaries already in build/ (which must be Release).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ROWS=${PROJD_BENCH_ROWS:-100000}
DURATION=${PROJD_BENCH_DURATION:-10s}
work=${PROJD_BENCH_DIR:-/tmp/projd-bench-replicas}
mkdir -p "$work"

if [[ -z ${PROJD_BENCH_NO_BUILD:-} ]]; then
  scripts/install-deps.sh
  PROJD_BUILD_TYPE=Release scripts/build.sh >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || { echo "nginx not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found (scripts/install-deps.sh installs it)" >&2; exit 1; }

events=$work/events-$ROWS.jsonl
if [[ ! -s $events ]]; then
  echo "generating $ROWS events..." >&2
  python3 scripts/gen_events.py --events "$ROWS" --accounts 10000 --seed 11 --envelope > "$events"
fi

own_broker=0
if [[ -z ${PROJD_KAFKA_BROKERS:-} ]]; then
  export PROJD_KAFKA_DIR=$work/kafka
  PROJD_KAFKA_BROKERS=$(scripts/kafka.sh start | sed -n 's/^PROJD_KAFKA_BROKERS=//p' | tail -n 1)
  own_broker=1
fi
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
  if [[ $own_broker == 1 ]]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

topic=bench-replicas-$$-$(date +%s)
build/bench/projd_bench produce "$PROJD_KAFKA_BROKERS" "$topic" "$events" 4 >/dev/null
rm -rf "$work/projections" && mkdir -p "$work/projections"
sed "s/\"account-events\"/\"$topic\"/" bench/by_event.proj > "$work/projections/by_event.proj"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_replica NAME PORT: a projd replica with its own data folder and consumer group.
start_replica() {
  local name=$1 port=$2
  rm -rf "$work/data-$name"
  build/cmd/projd --projections "$work/projections" --data "$work/data-$name" \
    --brokers "$PROJD_KAFKA_BROKERS" --group "$topic-$name" --listen "127.0.0.1:$port" \
    > "$work/projd-$name.log" 2>&1 &
  pids+=($!)
}

# caught_up PORT: every event applied (the sum of the partitions' positions).
caught_up() {
  local applied
  applied=$(curl -s "127.0.0.1:$1/v1/views/by_event" |
    grep -o '"position":[0-9][0-9]*' | awk -F: '{s += $2} END {print s + 0}')
  [[ $applied -ge $ROWS ]]
}

port_a=$(free_port)
port_b=$(free_port)
start_replica a "$port_a"
start_replica b "$port_b"
for _ in $(seq 1 1200); do
  if caught_up "$port_a" && caught_up "$port_b"; then break; fi
  sleep 0.5
done
caught_up "$port_a" && caught_up "$port_b" || { echo "replicas did not catch up" >&2; exit 1; }

# start_nginx NAME SERVERS...: nginx from deploy/nginx/projd-replicas.conf with these replica
# ports (one or two); sets $nginx_port.
start_nginx() {
  local name=$1; shift
  local prefix=$work/nginx-$name
  rm -rf "$prefix" && mkdir -p "$prefix"
  nginx_port=$(free_port)
  local second=${2:-}
  python3 - "$root/deploy/nginx/projd-replicas.conf" "$prefix/site.conf" "$nginx_port" \
    "$1" "$second" <<'PY'
import sys
src, dst, listen, a, b = sys.argv[1:6]
text = open(src).read()
text = text.replace("listen 8080;", "listen 127.0.0.1:%s;" % listen)
text = text.replace("127.0.0.1:8081", "127.0.0.1:" + a)
lines = text.splitlines(keepends=True)
if b:
    text = text.replace("127.0.0.1:8082", "127.0.0.1:" + b)
else:  # one replica: drop the second server of each group
    text = "".join(l for l in lines if "127.0.0.1:8082" not in l).replace("127.0.0.1:8081", "127.0.0.1:" + a)
open(dst, "w").write(text)
PY
  cat > "$prefix/nginx.conf" <<EOF
error_log $prefix/error.log warn;
worker_processes auto;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $prefix/client_body;
  proxy_temp_path $prefix/proxy;
  fastcgi_temp_path $prefix/fastcgi;
  uwsgi_temp_path $prefix/uwsgi;
  scgi_temp_path $prefix/scgi;
  include $prefix/site.conf;
}
EOF
  "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -g "daemon off; pid $prefix/nginx.pid;" \
    > "$prefix/nginx.out" 2>&1 &
  nginx_pid=$!
  pids+=($nginx_pid)
  for _ in $(seq 1 100); do
    curl -sf "127.0.0.1:$nginx_port/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "nginx did not start: $(cat "$prefix/nginx.out" "$prefix/error.log")" >&2
  return 1
}
stop_nginx() {
  kill -TERM "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
}

lua=$work/point_read.lua
cat > "$lua" <<EOF
-- wrk script: GET random rows of the by_event view (keys e-00000000 .. $(printf 'e-%08d' $((ROWS - 1)))).
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/v1/views/by_event/rows/e-%08d", math.random(0, $((ROWS - 1)))))
end
EOF

wrk_run() {  # name, URL
  local out
  out=$(wrk -t1 -c64 -d"$DURATION" --latency -s "$lua" "$2" 2>&1)
  WRK_OUT=$out python3 - "$1" <<'PY'
import os, re, sys
out = os.environ["WRK_OUT"]
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
def pct(p):
    m = re.search(r"\s%s%%\s+([0-9.]+)(us|ms|s)" % p, out)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else (v * 1000 if u == "s" else v)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs = re.search(r"Socket errors: (.*)", out)
print("%-40s %9.0f req/s   p50 %6.2f ms   p99 %6.2f ms%s%s" % (sys.argv[1], rps, pct(50), pct(99),
      ("   non-2xx: " + bad.group(1)) if bad else "", ("   socket errors: " + errs.group(1)) if errs else ""))
PY
}

echo "== point reads GET /v1/views/by_event/rows/KEY, $ROWS rows, wrk -t1 -c64 -d$DURATION"
wrk_run "one replica, direct (baseline)" "http://127.0.0.1:$port_a"
start_nginx one "$port_a"
wrk_run "one replica through nginx" "http://127.0.0.1:$nginx_port"
stop_nginx
start_nginx two "$port_a" "$port_b"
wrk_run "two replicas through nginx" "http://127.0.0.1:$nginx_port"
stop_nginx
