#!/usr/bin/env bash
# projd's point reads next to Redis serving the same answers: a Redis on loopback (no
# persistence) is loaded with the body projd returns for GET /v1/views/by_event/rows/KEY, for
# every row of projd's by_event view, checked byte for byte against projd on 1,000 random keys,
# then read with redis-benchmark at the concurrency of bench/run.sh's wrk run (64 connections,
# one request in flight on each, random keys).
#
# Usage: bench/peers/redis.sh PROJD_PORT ROWS [PROJD_LINE [ROUNDS]]
#   PROJD_PORT: a projd serving bench/by_event.proj, caught up, with ROWS rows keyed
#   e-00000000, e-00000001, ...
#   PROJD_LINE: projd's point-read line from bench/run.sh (wrk_run: "... N req/s   p50 X ms
#   p99 Y ms"); with it, the ratios projd ÷ Redis are printed too.
#   ROUNDS (> 1): instead, projd's point reads (wrk -t1 -c64 -d10s, bench/point_read.lua) and
#   Redis's GETs are measured in turn, ROUNDS times each, and min / median / max of both are
#   printed with the ratios of the medians. With PROJD_PID (projd's process), each round also
#   gives each server's CPU time per request (user + system, from /proc): what a read costs the
#   server whatever the load generator costs (wrk and redis-benchmark differ).
# Row e-%08d is stored under key:%012d, the names redis-benchmark's __rand_int__ produces for
# -r ROWS. Installs the Debian package redis-server when redis-server is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 2 ]]; then
  echo "usage: bench/peers/redis.sh PROJD_PORT ROWS [PROJD_LINE]" >&2
  exit 2
fi
projd_port=$1 rows=$2 projd_line=${3:-} rounds=${4:-1}
requests=${PROJD_REDIS_REQUESTS:-1000000}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "installing redis-server..." >&2
  apt-get install -y redis-server >/dev/null
fi

redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --logfile '' --daemonize no > /dev/null 2>&1 &
redis_pid=$!
cleanup() { kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

t0=$(date +%s.%N)
python3 bench/peers/rows.py resp "$projd_port" by_event | redis-cli -p "$redis_port" --pipe > /dev/null
t1=$(date +%s.%N)
loaded=$(redis-cli -p "$redis_port" dbsize)
python3 -c "print('Redis loaded with %d rows from projd\'s scan in %.1f s' % ($loaded, $t1 - $t0))"
if [[ $loaded != "$rows" ]]; then
  echo "Redis holds $loaded keys, not $rows" >&2
  exit 1
fi
python3 bench/peers/rows.py verify "$projd_port" by_event "$redis_port" "$rows" 1000

redis_get() {
  redis-benchmark -h 127.0.0.1 -p "$redis_port" -c 64 -P 1 -n "$requests" -r "$rows" --csv \
    GET 'key:__rand_int__'
}
# cpu_ticks PID: the process's user + system time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# per_request TICKS REQUESTS: microseconds of CPU per request.
per_request() {
  python3 -c 'import os, sys; print("%.1f" % (float(sys.argv[1]) * 1e6 / os.sysconf("SC_CLK_TCK") / float(sys.argv[2])))' "$1" "$2"
}
if [[ $rounds -gt 1 ]]; then
  runs="" cpu_projd=() cpu_redis=()
  for round in $(seq 1 "$rounds"); do
    c0=$([[ -n ${PROJD_PID:-} ]] && cpu_ticks "$PROJD_PID" || echo 0)
    projd_out=$(wrk -t1 -c64 -d10s --latency -s bench/point_read.lua "http://127.0.0.1:$projd_port")
    c1=$([[ -n ${PROJD_PID:-} ]] && cpu_ticks "$PROJD_PID" || echo 0)
    r0=$(cpu_ticks "$redis_pid")
    redis_out=$(redis_get)
    r1=$(cpu_ticks "$redis_pid")
    line=$(python3 bench/peers/rows.py rates "$projd_out" "$redis_out")
    runs+="$line"$'\n'
    read -r prps pp99 rrps rp99 <<< "$line"
    echo "round $round: projd $prps req/s p99 $pp99 ms, Redis $rrps req/s p99 $rp99 ms"
    if [[ -n ${PROJD_PID:-} ]]; then
      served=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' <<< "$projd_out")
      cpu_projd+=("$(per_request $((c1 - c0)) "$served")")
      cpu_redis+=("$(per_request $((r1 - r0)) "$requests")")
      echo "  server CPU per read: projd ${cpu_projd[-1]} us, Redis ${cpu_redis[-1]} us"
    fi
  done
  python3 bench/peers/rows.py rounds "$runs"
  if [[ -n ${PROJD_PID:-} ]]; then
    python3 - "${cpu_projd[*]}" "${cpu_redis[*]}" <<'PY'
import statistics, sys
p = [float(x) for x in sys.argv[1].split()]
r = [float(x) for x in sys.argv[2].split()]
print("server CPU per read (min / median / max): projd %.1f / %.1f / %.1f us, Redis %.1f / %.1f / %.1f us: %.2fx"
      % (min(p), statistics.median(p), max(p), min(r), statistics.median(r), max(r),
         statistics.median(p) / statistics.median(r)))
PY
  fi
  exit 0
fi
out=$(redis_get)
python3 - "$out" "$projd_line" <<'PY'
import csv, re, sys
out, projd_line = sys.argv[1], sys.argv[2]
row = next(r for r in csv.DictReader(out.splitlines()) if r["test"].startswith("GET"))
rps, p50, p99 = float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])
print("%-44s %10.0f req/s   p50 %6.2f ms   p99 %6.2f ms"
      % ("Redis GET (redis-benchmark -c64 -P1, same bodies)", rps, p50, p99))
m = re.search(r"([0-9.]+) req/s\s+p50\s+([0-9.]+) ms\s+p99\s+([0-9.]+) ms", projd_line)
if m:
    print("%-44s %10.2f            projd p99 ÷ Redis p99 %5.2f"
          % ("projd ÷ Redis req/s", float(m.group(1)) / rps, float(m.group(3)) / p99))
PY
