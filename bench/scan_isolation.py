#!/usr/bin/env python3
"""Latency of /healthz and of point reads while clients run full-scan queries, against the
same figures with no scans, in one run (projd runs long work on a pool of its own).

usage: scan_isolation.py PORT VIEW KEY_FORMAT ROWS SCAN_QUERY [CLIENTS] [SAMPLES]
KEY_FORMAT is a %-format for a row number, e.g. 'e-%08d'.
"""
import http.client
import random
import sys
import threading
import time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def probe(port, view, key_format, rows, samples):
    """Sequential probes, 10 ms apart: (healthz ms, point read ms) lists."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    rng = random.Random(5)
    health, reads = [], []
    for _ in range(samples):
        t0 = time.perf_counter()
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        t1 = time.perf_counter()
        conn.request("GET", "/v1/views/%s/rows/%s" % (view, key_format % rng.randrange(rows)))
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        t2 = time.perf_counter()
        health.append((t1 - t0) * 1000)
        reads.append((t2 - t1) * 1000)
        time.sleep(0.01)
    return health, reads


def main():
    port, view, key_format, rows, query = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                           int(sys.argv[4]), sys.argv[5])
    clients = int(sys.argv[6]) if len(sys.argv) > 6 else 16
    samples = int(sys.argv[7]) if len(sys.argv) > 7 else 300
    h0, r0 = probe(port, view, key_format, rows, samples)
    stop = threading.Event()
    done = [0, 0]  # scans answered, answered busy (503)

    def scanner():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while not stop.is_set():
            conn.request("POST", "/v1/query", body=query)
            r = conn.getresponse()
            r.read()
            done[0 if r.status == 200 else 1] += 1

    threads = [threading.Thread(target=scanner, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1)
    h1, r1 = probe(port, view, key_format, rows, samples)
    stop.set()
    for t in threads:
        t.join()
    for name, quiet, loaded in (("/healthz", h0, h1), ("point read", r0, r1)):
        print("%-44s p50 %6.2f ms  p99 %6.2f ms   with %d clients scanning: p50 %6.2f ms  "
              "p99 %6.2f ms" % (name + " latency", pct(quiet, 50), pct(quiet, 99), clients,
                                pct(loaded, 50), pct(loaded, 99)))
    print("%-44s %d full scans answered, %d answered 503 (pool full)" %
          ("scans during the probe", done[0], done[1]))


if __name__ == "__main__":
    main()
