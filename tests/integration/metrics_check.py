#!/usr/bin/python3
"""Parses projd's /metrics text with prometheus_client's parser (strict about the format) and
checks that every metric name of SPEC §5 is there with the right type.

usage: metrics_check.py FILE VIEW"""
import sys

from prometheus_client.parser import text_string_to_metric_families

REQUIRED = {
    "projd_events_applied": "counter",
    "projd_events_skipped": "counter",
    "projd_dead_letters": "counter",
    "projd_consumer_lag_events": "gauge",
    "projd_consumer_lag_seconds": "gauge",
    "projd_view_rows": "gauge",
    "projd_view_state": "gauge",
    "projd_rebuild_progress_ratio": "gauge",
    "projd_apply_batch_seconds": "histogram",
    "projd_query_seconds": "histogram",
    "projd_event_to_visible_seconds": "histogram",
}

text = open(sys.argv[1]).read()
view = sys.argv[2]
families = {f.name: f for f in text_string_to_metric_families(text)}
for name, kind in REQUIRED.items():
    if name not in families:
        sys.exit("missing metric family %s (have %s)" % (name, sorted(families)))
    if families[name].type != kind:
        sys.exit("%s is a %s, not a %s" % (name, families[name].type, kind))
applied = [s for s in families["projd_events_applied"].samples if s.labels.get("view") == view]
if not applied or applied[0].value <= 0:
    sys.exit("no applied events counted for view %s" % view)
states = [s for s in families["projd_view_state"].samples if s.labels.get("view") == view]
if sum(s.value for s in states) != 1:
    sys.exit("view %s must have exactly one state set to 1" % view)
count = [s for s in families["projd_event_to_visible_seconds"].samples
         if s.name.endswith("_count") and s.labels.get("view") == view]
if not count or count[0].value <= 0:
    sys.exit("no event-to-visible observations for view %s" % view)
print("metrics ok: %d families" % len(families))
