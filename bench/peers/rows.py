#!/usr/bin/env python3
"""Rows of a projd view for the peer benchmarks (bench/peers/), standard library only.

usage:
  rows.py fetch PORT VIEW OUT.jsonl        every row of VIEW ({"key", "row"} lines, key order)
  rows.py compare PROJD.jsonl PEER.jsonl   "same rows (N)" or the differences (exit 1)
  rows.py resp PORT VIEW                   RESP SET commands for redis-cli --pipe: the body
                                           of GET /v1/views/VIEW/rows/KEY under "key:%012d"
                                           (the number in the row's key: e-00000042 ->
                                           key:000000000042, what redis-benchmark's
                                           __rand_int__ names)
  rows.py verify PORT VIEW REDIS_PORT N SAMPLES
                                           GET SAMPLES random keys e-%08d (< N) from projd and
                                           key:%012d from Redis; exit 1 unless byte-identical
  rows.py rates WRK_OUT REDIS_CSV          one round of point reads: "projd_rps projd_p99_ms
                                           redis_rps redis_p99_ms" from wrk --latency's output
                                           and redis-benchmark --csv's
  rows.py rounds LINES                     min / median / max of such rounds, and the ratios of
                                           the medians

Decimals are compared exactly: 1590.70 and 1590.7 are the same number, 0.1 and 0.10000001
are not.
"""
import csv
import decimal
import http.client
import json
import random
import re
import socket
import statistics
import sys
import urllib.parse


def pages(port, view):
    """Yields the raw text of each row of the view's scan, page by page (limit 1000)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    decoder = json.JSONDecoder()
    cursor = None
    while True:
        path = "/v1/views/%s/rows?limit=1000" % urllib.parse.quote(view)
        if cursor:
            path += "&cursor=" + urllib.parse.quote(cursor)
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8")
        if resp.status != 200:
            sys.exit("GET %s: %d %s" % (path, resp.status, text[:200]))
        # The rows' own text, not re-encoded: the Redis bodies must keep projd's bytes.
        pos = text.index('"rows":[') + len('"rows":[')
        while text[pos] != "]":
            _, end = decoder.raw_decode(text, pos)
            yield text[pos:end]
            pos = end + 1 if text[end] == "," else end
        cursor = json.loads(text).get("next_cursor")
        if not cursor:
            break
    conn.close()


def fetch(port, view, out):
    n = 0
    with open(out, "w") as f:
        for raw in pages(port, view):
            row = json.loads(raw, parse_float=decimal.Decimal)
            f.write(json.dumps({"key": row["key"], "row": canonical(row["row"])}) + "\n")
            n += 1
    print("%d rows" % n, file=sys.stderr)


def canonical(value):
    """A form where equal JSON values are equal: numbers as normalised decimal text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, decimal.Decimal)):
        d = decimal.Decimal(value)
        return {"$number": "0" if d == 0 else format(d.normalize(), "f")}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return {k: canonical(v) for k, v in sorted(value.items())}


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line, parse_float=decimal.Decimal)
                rows[row["key"]] = canonical(row["row"])
    return rows


def compare(projd_path, peer_path):
    projd, peer = load(projd_path), load(peer_path)
    diffs = []
    for key in sorted(set(projd) | set(peer)):
        a, b = projd.get(key), peer.get(key)
        if a != b:
            diffs.append("  %s: projd %s, peer %s" % (key, json.dumps(a), json.dumps(b)))
    if not diffs:
        print("same rows (%d)" % len(projd))
        return 0
    print("DIFFERENT ROWS: %d of %d keys differ (projd %d rows, peer %d rows); first ones:"
          % (len(diffs), len(set(projd) | set(peer)), len(projd), len(peer)))
    print("\n".join(diffs[:10]))
    return 1


def redis_key(projd_key):
    return "key:%012d" % int(re.fullmatch(r"e-(\d+)", projd_key).group(1))


def resp(port, view):
    out = sys.stdout.buffer
    buf = []
    for raw in pages(port, view):
        key = json.loads(raw)["key"]
        # A point read is the scan's row with the key's dead-letter count added (keys sorted),
        # and a newline.
        body = ('{"dead_letters":0,' + raw[1:] + "\n").encode("utf-8")
        name = redis_key(key).encode()
        buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(body), body))
        if len(buf) >= 1000:
            out.write(b"".join(buf))
            buf = []
    out.write(b"".join(buf))
    out.flush()


def redis_get(sock_file, key):
    name = key.encode()
    sock_file.write(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(name), name))
    sock_file.flush()
    head = sock_file.readline()
    if not head.startswith(b"$") or head.startswith(b"$-1"):
        return None
    data = sock_file.read(int(head[1:]) + 2)
    return data[:-2]


def verify(port, view, redis_port, n, samples):
    rnd = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sock = socket.create_connection(("127.0.0.1", redis_port))
    f = sock.makefile("rwb")
    bad = []
    for i in rnd.sample(range(n), min(samples, n)):
        key = "e-%08d" % i
        conn.request("GET", "/v1/views/%s/rows/%s" % (view, key))
        r = conn.getresponse()
        body = r.read()
        got = redis_get(f, redis_key(key))
        if r.status != 200 or got != body:
            bad.append("  %s: projd %d %r, Redis %r" % (key, r.status, body[:120], (got or b"")[:120]))
    if bad:
        print("Redis answers differ from projd's for %d of %d keys:" % (len(bad), samples))
        print("\n".join(bad[:5]))
        return 1
    print("Redis holds projd's answers: %d random keys byte-identical" % min(samples, n))
    return 0


def wrk_rate(out):
    """req/s and p99 (ms) from wrk --latency's output."""
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    m = re.search(r"\s99%\s+([0-9.]+)(us|ms|s)", out)
    v, unit = float(m.group(1)), m.group(2)
    return rps, v / 1000 if unit == "us" else (v * 1000 if unit == "s" else v)


def rates(wrk_out, redis_csv):
    rps, p99 = wrk_rate(wrk_out)
    row = next(r for r in csv.DictReader(redis_csv.splitlines()) if r["test"].startswith("GET"))
    print("%.0f %.2f %.0f %.2f" % (rps, p99, float(row["rps"]), float(row["p99_latency_ms"])))


def rounds(lines):
    runs = [list(map(float, l.split())) for l in lines.splitlines() if l.strip()]
    cols = list(zip(*runs))

    def mmm(xs, fmt):
        return " / ".join(fmt % x for x in (min(xs), statistics.median(xs), max(xs)))

    med = [statistics.median(c) for c in cols]
    print("%-44s %s k req/s, p99 %s ms" % ("projd point reads (min / median / max)",
                                          mmm([x / 1e3 for x in cols[0]], "%.1f"), mmm(cols[1], "%.2f")))
    print("%-44s %s k req/s, p99 %s ms" % ("Redis GET, same bodies",
                                          mmm([x / 1e3 for x in cols[2]], "%.1f"), mmm(cols[3], "%.2f")))
    print("%-44s %.2f (goal >= 1.0); p99 %.2fx Redis's (goal <= 2)"
          % ("projd ÷ Redis, medians (%d rounds)" % len(runs), med[0] / med[2], med[1] / med[3]))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fetch":
        fetch(int(args[0]), args[1], args[2])
    elif cmd == "compare":
        sys.exit(compare(args[0], args[1]))
    elif cmd == "resp":
        resp(int(args[0]), args[1])
    elif cmd == "verify":
        sys.exit(verify(int(args[0]), args[1], int(args[2]), int(args[3]), int(args[4])))
    elif cmd == "rates":
        rates(args[0], args[1])
    elif cmd == "rounds":
        rounds(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
