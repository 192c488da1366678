#!/usr/bin/env python3
"""ctest prometheus_rules: deploy/prometheus/projd-alerts.yml.

usage: prometheus_rules_test.py PROMTOOL PROJD SOURCE_DIR

- `promtool check rules` (syntax, PromQL, templates) and `promtool test rules` on
  projd-alerts.test.yml (the alerts fire, or not, on the series given there);
- every alert has a `for:`, a severity label (warning or critical), a summary and a
  description, and the description names the view ({{ $labels.view }}) unless the alert is
  about the whole process (up);
- the unit tests check every alert both firing and not firing;
- every metric the rules use is one a live `projd --demo` exports in /metrics (or `up`,
  which Prometheus itself writes for each scrape).
"""

import os
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import projd_metrics  # noqa: E402

# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = {"up"}


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    sys.stdout.write(r.stdout + r.stderr)
    return r.returncode == 0


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    promtool, projd, src = sys.argv[1:]
    folder = os.path.join(src, "deploy", "prometheus")
    if promtool and not shutil.which(promtool):
        sys.exit("FAIL: %s not found; scripts/install-deps.sh installs it (Debian package "
                 "prometheus)" % promtool)
    errors = []
    if not run([promtool, "check", "rules", "projd-alerts.yml"], folder):
        errors.append("promtool check rules failed")
    if not run([promtool, "test", "rules", "projd-alerts.test.yml"], folder):
        errors.append("promtool test rules failed")

    with open(os.path.join(folder, "projd-alerts.yml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r]
    with open(os.path.join(folder, "projd-alerts.test.yml")) as f:
        tests = yaml.safe_load(f)["tests"]
    if not rules:
        errors.append("no alerting rules found")

    firing, quiet = set(), set()
    for t in tests:
        for c in t.get("alert_rule_test", []):
            (firing if c.get("exp_alerts") else quiet).add(c["alertname"])

    projd_metrics.self_test()
    exported = projd_metrics.exported_metrics(projd, src)
    used = set()
    for r in rules:
        name = r["alert"]
        if "for" not in r:
            errors.append("%s: no for:" % name)
        if r.get("labels", {}).get("severity") not in ("warning", "critical"):
            errors.append("%s: severity label is not warning or critical" % name)
        ann = r.get("annotations", {})
        for key in ("summary", "description"):
            if not ann.get(key):
                errors.append("%s: no %s annotation" % (name, key))
        metrics = projd_metrics.metric_names(r["expr"])
        used |= metrics
        if not metrics:
            errors.append("%s: no metric found in %r" % (name, r["expr"]))
        if metrics - PROMETHEUS_SERIES and "$labels.view" not in ann.get("description", ""):
            errors.append("%s: the description does not name the view" % name)
        for m in sorted(metrics - set(exported) - PROMETHEUS_SERIES):
            errors.append("%s: %s is not a metric projd exports (expr %r)" % (name, m, r["expr"]))
        if name not in firing:
            errors.append("%s: no unit test where it fires" % name)
        if name not in quiet:
            errors.append("%s: no unit test where it does not fire" % name)

    print("%d alerts, metrics used: %s" % (len(rules), " ".join(sorted(used))))
    if errors:
        for e in errors:
            print("FAIL: " + e)
        sys.exit(1)
    print("prometheus rules: checked, unit tests pass, every metric is exported by projd")


if __name__ == "__main__":
    main()
