#!/usr/bin/env python3
"""ctest grafana_dashboard: deploy/grafana/projd.json against the projd that is built.

usage: grafana_dashboard_test.py PROJD SOURCE_DIR [PROMTOOL]

- the JSON loads, has a `view` template variable, and every panel has a PromQL query;
- every metric name its queries use is one a live `projd --demo` exports in /metrics (plus
  the _bucket, _sum and _count series of its histograms);
- every query of a metric that carries a `view` label selects view=~"$view";
- the metrics the dashboard must show (lag, events, latencies, dead letters, state, rebuild
  progress, rows) each appear in some query;
- with PROMTOOL, every query (its Grafana variables replaced by values) parses as PromQL.
"""

import json
import os
import shutil
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import projd_metrics  # noqa: E402

REQUIRED = [
    "projd_consumer_lag_events", "projd_consumer_lag_seconds", "projd_events_applied_total",
    "projd_apply_batch_seconds_bucket", "projd_query_seconds_bucket",
    "projd_event_to_visible_seconds_bucket", "projd_dead_letters_total", "projd_view_state",
    "projd_rebuild_progress_ratio", "projd_view_rows",
]


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def queries(dashboard):
    """(where, expr) for every PromQL query: panel targets and query variables."""
    out = []
    for p in all_panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            out.append(("panel %r" % p.get("title"), t.get("expr", "")))
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            out.append(("variable %r" % v.get("name"), q.get("query") if isinstance(q, dict) else q))
    return out


def with_values(expr):
    """The expression as Prometheus would get it from Grafana (variables replaced)."""
    e = re.sub(r"\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}", "1m", expr)
    e = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*", ".*", e)
    return e


def selectors(expr):
    """(metric, label matchers text) of every `metric{...}` and bare `metric` in expr."""
    e = re.sub(r"\[[^\]]*\]", " ", expr)
    found = []
    for m in re.finditer(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?", e):
        found.append((m.group(1), m.group(2) or ""))
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    projd, src = sys.argv[1], sys.argv[2]
    promtool = sys.argv[3] if len(sys.argv) > 3 else ""
    path = os.path.join(src, "deploy", "grafana", "projd.json")
    if promtool and not shutil.which(promtool):
        sys.exit("FAIL: %s not found; scripts/install-deps.sh installs it (Debian package "
                 "prometheus)" % promtool)
    errors = []

    projd_metrics.self_test()
    with open(path) as f:
        dashboard = json.load(f)
    names = [v.get("name") for v in dashboard.get("templating", {}).get("list", [])]
    if "view" not in names:
        errors.append("no `view` template variable (variables: %s)" % names)
    for p in all_panels(dashboard.get("panels", [])):
        if p.get("type") != "row" and not any(t.get("expr") for t in p.get("targets", [])):
            errors.append("panel %r has no PromQL query" % p.get("title"))
    qs = queries(dashboard)
    if not qs:
        errors.append("no queries found")

    exported = projd_metrics.exported_metrics(projd, src)
    # Metrics whose samples carry a view label, from the live exposition.
    view_labelled = {n for n, e in exported.items() if "view" in e["labels"]}

    used = set()
    for where, expr in qs:
        metrics = projd_metrics.metric_names(expr)
        if not metrics:
            errors.append("%s: no metric found in %r" % (where, expr))
        used |= metrics
        for m in sorted(metrics - set(exported)):
            errors.append("%s: %s is not a metric projd exports (query %r)" % (where, m, expr))
        if where.startswith("panel"):
            for metric, matchers in selectors(expr):
                if metric in view_labelled and not re.search(r'view\s*=~\s*"\$\{?view', matchers):
                    errors.append('%s: %s is selected without view=~"$view" (query %r)'
                                  % (where, metric, expr))
    for m in REQUIRED:
        if m not in used:
            errors.append("no panel shows %s" % m)

    if promtool:
        # Every query as an alerting rule, so that promtool parses it.
        with tempfile.TemporaryDirectory() as tmp:
            rules = os.path.join(tmp, "dashboard.rules.yml")
            with open(rules, "w") as f:
                f.write("groups:\n  - name: dashboard\n    rules:\n")
                for i, (where, expr) in enumerate(qs):
                    e = with_values(expr)
                    e = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", e)
                    f.write("      - record: q%d\n        expr: %s\n" % (i, json.dumps(e)))
            r = subprocess.run([promtool, "check", "rules", rules], capture_output=True,
                               text=True)
            if r.returncode != 0:
                errors.append("promtool check rules on the dashboard's queries:\n" + r.stdout +
                              r.stderr)

    print("%d queries, metrics used: %s" % (len(qs), " ".join(sorted(used))))
    if errors:
        for e in errors:
            print("FAIL: " + e)
        sys.exit(1)
    print("grafana dashboard: every metric is exported by projd")


if __name__ == "__main__":
    main()
