#include "api/api_answers.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace projd {

// Members are listed in name order, so the objects are built without a sort or inserts.
Value ProvenanceToJson(const Provenance& p) {
  std::vector<Object::Member> m;
  m.reserve(7);
  // `audit` and `correlation` only for projections that have those clauses.
  if (!p.audit.empty()) m.emplace_back("audit", Value::MakeObject(p.audit));
  if (p.has_correlation) m.emplace_back("correlation", Value::String(p.correlation));
  m.emplace_back("event_id", p.has_id ? Value::String(p.id) : Value());
  m.emplace_back("event_time", Value::String(FormatRfc3339(p.event_time_ms)));
  m.emplace_back("offset", Value::Number(Decimal::FromInt(p.offset)));
  m.emplace_back("partition", Value::Number(Decimal::FromInt(p.partition)));
  m.emplace_back("topic", Value::String(p.topic));
  return Value::MakeObject(Object::FromMembers(std::move(m)));
}

namespace {

// The text of ProvenanceToJson(p), members in the same order.
void AppendInteger(int64_t n, std::string* out) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out->append(digits, static_cast<size_t>(end - digits));
}

// The provenance object from its parts (a stored record's, read in place, or a Provenance's);
// `append_audit` appends the audit object.
template <typename AppendAudit>
void AppendProvenanceParts(bool has_audit, AppendAudit&& append_audit, bool has_correlation,
                           std::string_view correlation, bool has_id, std::string_view id,
                           int64_t event_time_ms, int64_t offset, int64_t partition,
                           std::string_view topic, std::string* out) {
  out->push_back('{');
  if (has_audit) {
    out->append("\"audit\":");
    append_audit();
    out->push_back(',');
  }
  if (has_correlation) {
    out->append("\"correlation\":");
    WriteJsonString(correlation, out);
    out->push_back(',');
  }
  out->append("\"event_id\":");
  if (has_id) {
    WriteJsonString(id, out);
  } else {
    out->append("null");
  }
  out->append(",\"event_time\":\"");
  AppendRfc3339(event_time_ms, out);  // nothing in it to escape
  out->append("\",\"offset\":");
  AppendInteger(offset, out);
  out->append(",\"partition\":");
  AppendInteger(partition, out);
  out->append(",\"topic\":");
  WriteJsonString(topic, out);
  out->push_back('}');
}

void AppendProvenanceJson(const Provenance& p, std::string* out) {
  AppendProvenanceParts(
      !p.audit.empty(), [&] { WriteJsonObject(p.audit, out); }, p.has_correlation, p.correlation,
      p.has_id, p.id, p.event_time_ms, p.offset, p.partition, p.topic, out);
}

}  // namespace

namespace {

// A row answer around its fields: what comes before them, and after.
void AppendRowJsonHead(const std::string& key, const uint64_t* dead_letters, std::string* out) {
  out->push_back('{');
  if (dead_letters) {
    out->append("\"dead_letters\":");
    out->append(std::to_string(*dead_letters));
    out->push_back(',');
  }
  out->append("\"key\":");
  WriteJsonString(key, out);
  out->append(",\"row\":");
}

void AppendRowJsonTail(const RowRecord& row, std::string* out) {
  out->append(",\"updated_by\":");
  AppendProvenanceJson(row.updated_by, out);
  out->append(",\"version\":");
  out->append(std::to_string(row.version));
  out->push_back('}');
}

}  // namespace

void AppendRowJson(const std::string& key, const RowRecord& row, const uint64_t* dead_letters,
                   std::string* out) {
  AppendRowJsonHead(key, dead_letters, out);
  WriteJsonObject(row.fields, out);
  AppendRowJsonTail(row, out);
}

bool AppendRowJson(const std::string& key, std::string_view record, const uint64_t* dead_letters,
                   std::string* out) {
  RowHeadView h;  // read in place: nothing copied out of the record
  if (!ReadRowHead(record, &h)) return false;
  size_t at = out->size();
  AppendRowJsonHead(key, dead_letters, out);
  bool ok = BinaryToJson(h.body, out);
  if (ok) {
    out->append(",\"updated_by\":");
    AppendProvenanceParts(
        !h.audit.empty(), [&] { ok = BinaryToJson(h.audit, out); }, h.has_correlation,
        h.correlation, h.has_id, h.id, h.event_time_ms, h.offset, h.partition, h.topic, out);
    out->append(",\"version\":");
    AppendInteger(static_cast<int64_t>(h.version), out);
    out->push_back('}');
  }
  if (!ok) out->resize(at);  // as DecodeRow: a record that does not decode
  return ok;
}

Value RowToJson(const std::string& key, const RowRecord& row) {
  RowRecord copy = row;
  return RowToJson(key, std::move(copy));
}

Value RowToJson(const std::string& key, RowRecord&& row) {
  std::vector<Object::Member> m;
  m.reserve(4);
  m.emplace_back("key", Value::String(key));
  m.emplace_back("row", Value::MakeObject(std::move(row.fields)));
  m.emplace_back("updated_by", ProvenanceToJson(row.updated_by));
  m.emplace_back("version", Value::Number(Decimal::FromInt(static_cast<int64_t>(row.version))));
  return Value::MakeObject(Object::FromMembers(std::move(m)));
}

Value ChangeToJson(ChangeRecord&& c) {
  std::vector<Object::Member> m;
  m.reserve(5);
  m.emplace_back("key", Value::String(std::move(c.key)));
  m.emplace_back("position", Value::String(c.position.ToString()));
  m.emplace_back("row", c.row.exists ? Value::MakeObject(std::move(c.row.fields)) : Value());
  m.emplace_back("updated_by", ProvenanceToJson(c.row.updated_by));
  m.emplace_back("version", Value::Number(Decimal::FromInt(static_cast<int64_t>(c.row.version))));
  return Value::MakeObject(Object::FromMembers(std::move(m)));
}

Value DeadLetterToJson(const DeadLetter& d) {
  Object o;
  o.Set("topic", Value::String(d.topic));
  o.Set("partition", Value::Number(Decimal::FromInt(d.partition)));
  o.Set("offset", Value::Number(Decimal::FromInt(d.offset)));
  o.Set("timestamp", Value::String(FormatRfc3339(d.timestamp_ms)));
  o.Set("reason", Value::String(d.reason));
  o.Set("key", d.has_key ? Value::String(d.key) : Value());
  // The event as JSON when it is JSON, else as a string.
  Value ev;
  std::string err;
  if (ParseJson(d.event, &ev, &err)) {
    o.Set("event", std::move(ev));
  } else {
    o.Set("event", Value::String(d.event));
  }
  return Value::MakeObject(std::move(o));
}

Value Str(const std::string& s) { return Value::String(s); }
Value Num(int64_t n) { return Value::Number(Decimal::FromInt(n)); }
Value Seconds(double s) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.3f", s);
  Decimal d;
  Decimal::Parse(buf, &d);
  return Value::Number(d);
}

HttpResponse Json(int status, const Value& v) {
  HttpResponse r;
  r.status = status;
  r.body.reserve(512);  // most answers fit: no regrowth while writing
  WriteJson(v, &r.body);
  r.body.push_back('\n');
  return r;
}

HttpResponse Error(int status, const std::string& error, Value detail) {
  Object o;
  o.Set("error", Str(error));
  o.Set("detail", std::move(detail));
  return Json(status, Value::MakeObject(std::move(o)));
}

HttpResponse MethodNotAllowed(const std::string& allow, const std::string& detail) {
  HttpResponse r = Error(405, "method not allowed", Str(detail.empty() ? "use " + allow : detail));
  r.headers.emplace_back("Allow", allow);
  return r;
}

Value StatusToJson(const ViewStatus& st, bool detail) {
  Object o;
  o.Set("name", Str(st.name));
  o.Set("state", Str(ViewStateName(st.state)));
  o.Set("reason", st.reason.empty() ? Value() : Str(st.reason));
  o.Set("rows", Num(static_cast<int64_t>(st.rows)));
  o.Set("lag_events", Num(st.lag_events));
  o.Set("lag_seconds", Seconds(st.lag_seconds));
  o.Set("events_per_second", Seconds(st.events_per_second));
  o.Set("definition_hash", Str(st.definition_hash));
  o.Set("position", Str(st.position));
  o.Set("events_applied", Num(st.applied_total));
  o.Set("events_skipped", Num(st.ignored_total + st.duplicates_total));
  o.Set("dead_letters", Num(st.dead_letters_total));
  o.Set("last_update", st.last_applied_ms ? Str(FormatRfc3339(st.last_applied_ms)) : Value());
  if (st.archive) {
    Object a;
    a.Set("events", Num(st.archive_events));
    a.Set("objects", Num(st.archive_objects));
    a.Set("bytes", Num(st.archive_bytes));
    o.Set("archive", Value::MakeObject(std::move(a)));
  }
  if (st.rebuilding) {
    Object rb;
    rb.Set("progress", Seconds(st.rebuild_progress));
    rb.Set("applied", Num(st.rebuild_applied));
    rb.Set("remaining", Num(st.rebuild_remaining));
    // Of the events consumed, how many came from the archive and how many from Kafka.
    rb.Set("from_archive", Num(st.rebuild_from_archive));
    rb.Set("from_kafka", Num(std::max<int64_t>(0, st.rebuild_applied - st.rebuild_from_archive)));
    rb.Set("events_per_second", Seconds(st.rebuild_events_per_second));
    rb.Set("definition_hash", Str(st.rebuild_definition_hash));
    o.Set("rebuild", Value::MakeObject(std::move(rb)));
  } else {
    o.Set("rebuild", Value());
  }
  if (st.failed) {
    Object f;
    f.Set("topic", Str(st.failed_topic));
    f.Set("partition", Num(st.failed_partition));
    f.Set("offset", Num(st.failed_offset));
    // The event as JSON when it is JSON, else as text (as dead letters show it).
    Value event;
    std::string json_error;
    if (!ParseJson(st.failed_event, &event, &json_error)) event = Str(st.failed_event);
    f.Set("event", std::move(event));
    f.Set("reason", Str(st.reason));
    o.Set("failed_at", Value::MakeObject(std::move(f)));
  }
  if (detail) {
    Array parts;
    for (const auto& p : st.partitions) {
      Object po;
      po.Set("topic", Str(p.tp.topic));
      po.Set("partition", Num(p.tp.partition));
      po.Set("position", Num(p.position));
      po.Set("high_watermark", p.high_watermark ? Num(*p.high_watermark) : Value());
      po.Set("low_watermark", p.low_watermark ? Num(*p.low_watermark) : Value());
      po.Set("lag_events", Num(p.lag_events));
      po.Set("lag_seconds", Seconds(p.lag_seconds));
      parts.push_back(Value::MakeObject(std::move(po)));
    }
    o.Set("partitions", Value::MakeArray(std::move(parts)));
  }
  return Value::MakeObject(std::move(o));
}

bool ParseLimit(const HttpRequest& req, size_t def, size_t max, size_t* out, std::string* error) {
  const std::string* l = req.Query("limit");
  if (!l) {
    *out = def;
    return true;
  }
  uint64_t n = 0;
  if (!ParseWholeNumber(*l, max, &n)) {
    *error = "limit must be a whole number";
    return false;
  }
  *out = static_cast<size_t>(n);
  if (*out == 0) *out = 1;
  return true;
}

bool ParseWholeNumber(std::string_view text, uint64_t max, uint64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  // Digit by digit, stopping at `max`: however many digits, no overflow.
  uint64_t n = 0;
  for (char c : text) {
    if (n > (UINT64_MAX - 9) / 10) {  // the number is past UINT64_MAX, so past max
      *out = max;
      return true;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n >= max) {
      *out = max;
      return true;
    }
  }
  *out = n;
  return true;
}

bool ParsePage(const HttpRequest& req, size_t* limit, uint64_t* after, HttpResponse* bad) {
  std::string error;
  if (!ParseLimit(req, 100, 1000, limit, &error)) {
    *bad = Error(400, "bad limit", Str(error));
    return false;
  }
  *after = 0;
  if (const std::string* c = req.Query("cursor")) {
    if (c->empty() || c->size() > 18 || c->find_first_not_of("0123456789") != std::string::npos) {
      *bad = Error(400, "bad cursor", Str("not a cursor from this API"));
      return false;
    }
    *after = std::stoull(*c);
  }
  return true;
}

}  // namespace projd
