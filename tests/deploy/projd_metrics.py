"""The metric names projd exports, read from a live `projd --demo`, and the metric names a
PromQL expression uses. Shared by the checks of deploy/grafana and deploy/prometheus."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

LISTENING = re.compile(r"HTTP API listening on (\S+):(\d+)")


def exported_metrics(projd, source_dir, timeout=60):
    """Starts projd --demo on a free loopback port with a scratch data folder, reads
    GET /metrics, stops it. Returns parse_exposition() of it: every metric name (a
    histogram also brings its _bucket, _sum and _count series) with its type and labels.

    A start that does not listen within `timeout` is a projd fault these checks are not
    about (they check metric names): every thread's stack is printed (gdb, when installed)
    with the log, for the fault's diagnosis, and projd is started once more."""
    try:
        return _exported_metrics_once(projd, source_dir, timeout)
    except StartStalled as stalled:
        sys.stderr.write("projd --demo did not listen within %d s; its log and threads:\n%s\n"
                         "starting it once more\n" % (timeout, stalled))
        return _exported_metrics_once(projd, source_dir, timeout)


class StartStalled(RuntimeError):
    """projd --demo is running but did not log 'HTTP API listening on' in time."""


def _thread_stacks(pid):
    """Every thread's stack of a running process, through gdb, or why there are none."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(gdb is not installed: no stacks)"
    try:
        out = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=120)
        return out.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return "(gdb failed: %s)" % e


def _exported_metrics_once(projd, source_dir, timeout):
    data = tempfile.mkdtemp(prefix="projd-metrics-")
    proc = subprocess.Popen(
        [projd, "--demo", "--data", data, "--listen", "127.0.0.1:0",
         "--projections", os.path.join(source_dir, "projections")],
        cwd=source_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    found = {}
    ready = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            log.append(line)
            m = LISTENING.search(line)
            if m and not ready.is_set():
                found["port"] = int(m.group(2))
                ready.set()
        ready.set()  # projd exited

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout) and proc.poll() is None:
            raise StartStalled("".join(log[-20:]) + _thread_stacks(proc.pid))
        if "port" not in found:
            raise RuntimeError("projd --demo did not log 'HTTP API listening on': " +
                               "".join(log[-20:]))
        url = "http://127.0.0.1:%d/metrics" % found["port"]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    text = r.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
        shutil.rmtree(data, ignore_errors=True)
    return parse_exposition(text)


def parse_exposition(text):
    """{name: {"type": TYPE, "labels": {label names}}} from Prometheus text: every # TYPE
    line (written even when a family has no sample, e.g. projd_rebuild_progress_ratio when
    no rebuild runs) and every sample."""
    metrics = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            kind = kind.strip()
            metrics.setdefault(name, {"type": kind, "labels": set()})
            if kind in ("histogram", "summary"):
                for suffix in ("_bucket", "_sum", "_count"):
                    metrics.setdefault(name + suffix, {"type": kind + suffix, "labels": set()})
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?", line)
            entry = metrics.setdefault(m.group(1), {"type": "untyped", "labels": set()})
            entry["labels"] |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", m.group(2) or ""))
    # A histogram's family carries the labels of its series.
    for name, entry in metrics.items():
        if entry["type"] in ("histogram", "summary"):
            for suffix in ("_bucket", "_sum", "_count"):
                entry["labels"] |= metrics[name + suffix]["labels"] - {"le", "quantile"}
    return metrics


# PromQL words that are not metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "atan2", "start", "end",
}


def metric_names(expr):
    """The metric names a PromQL expression selects. Grafana variables ($view, ${view},
    $__rate_interval) may appear in it."""
    # Grafana's label_values(METRIC, LABEL) and label_values(LABEL) of template variables
    e = re.sub(r"\blabel_values\(\s*([^,()]*?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", r"\1", expr)
    e = re.sub(r"\blabel_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", " ", e)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)              # string literals
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"`[^`]*`", "``", e)
    e = re.sub(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", " ", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", " ", e)                        # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                       # ranges and subqueries
    # label lists of by/without/on/ignoring/group_left/group_right
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in KEYWORDS:
            continue  # a function, or an operator word
        if re.fullmatch(r"[0-9].*", word):
            continue
        names.add(word)
    return names


def self_test():
    """The extraction on known expressions, so that a check built on it cannot pass by
    finding no names at all."""
    cases = {
        'histogram_quantile(0.99, sum by (le, view) '
        '(rate(projd_apply_batch_seconds_bucket{view=~"$view"}[$__rate_interval])))':
            {"projd_apply_batch_seconds_bucket"},
        'sum by (view) (rate(projd_events_applied_total{view=~"${view:regex}"}[5m]))':
            {"projd_events_applied_total"},
        'max by (job, instance, view) (projd_consumer_lag_events) > 0 and on (job, instance, '
        'view) sum by (job, instance, view) (increase(projd_events_applied_total[10m])) == 0':
            {"projd_consumer_lag_events", "projd_events_applied_total"},
        'projd_view_state{state="lagging", view=~"a|b"} == 1 unless up{job="x"} == 0':
            {"projd_view_state", "up"},
        'label_values(projd_view_rows, view)': {"projd_view_rows"},
        'projd_no_such_metric / ignoring(le) group_left projd_view_rows offset 5m':
            {"projd_no_such_metric", "projd_view_rows"},
    }
    for expr, want in cases.items():
        got = metric_names(expr)
        if got != want:
            raise AssertionError("metric_names(%r) = %r, want %r" % (expr, got, want))
