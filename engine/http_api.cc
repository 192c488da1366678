// The HTTP API of projd (SPEC §5) as a request→response function over the daemon's views.
#include <algorithm>
#include <cstdio>

#include "dsl/time.h"
#include "dsl/value.h"
#include "engine/daemon.h"
#include "engine/openapi.h"
#include "engine/query_exec.h"

namespace projd {
namespace {

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

HttpResponse Error(int status, const std::string& error, Value detail = Value()) {
  Object o;
  o.Set("error", Str(error));
  o.Set("detail", std::move(detail));
  return Json(status, Value::MakeObject(std::move(o)));
}

// 405 with the Allow header that RFC 9110 asks for.
HttpResponse MethodNotAllowed(const std::string& allow, const std::string& detail = "") {
  HttpResponse r = Error(405, "method not allowed", Str(detail.empty() ? "use " + allow : detail));
  r.headers.emplace_back("Allow", allow);
  return r;
}

// Parses TOPIC:PARTITION:OFFSET,... (topics may contain ':'; the last two fields are numbers).
bool ParsePosition(const std::string& s, std::map<TopicPartition, int64_t>* out,
                   std::string* error) {
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t c2 = item.rfind(':');
    size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : item.rfind(':', c2 - 1);
    if (c1 == std::string::npos || c1 == 0) {
      *error = "position item '" + item + "' is not TOPIC:PARTITION:OFFSET";
      return false;
    }
    std::string part = item.substr(c1 + 1, c2 - c1 - 1);
    std::string off = item.substr(c2 + 1);
    if (part.empty() || off.empty() || part.size() > 9 || off.size() > 18 ||
        part.find_first_not_of("0123456789") != std::string::npos ||
        off.find_first_not_of("0123456789") != std::string::npos) {
      *error = "position item '" + item + "' is not TOPIC:PARTITION:OFFSET";
      return false;
    }
    (*out)[TopicPartition{item.substr(0, c1), std::stoi(part)}] = std::stoll(off);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

Value StatusToJson(const ViewStatus& st, bool detail) {
  Object o;
  o.Set("name", Str(st.name));
  o.Set("state", Str(st.state));
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
  if (st.rebuilding) {
    Object rb;
    rb.Set("progress", Seconds(st.rebuild_progress));
    rb.Set("applied", Num(st.rebuild_applied));
    rb.Set("remaining", Num(st.rebuild_remaining));
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
      po.Set("high_watermark", p.high_watermark >= 0 ? Num(p.high_watermark) : Value());
      po.Set("low_watermark", p.low_watermark >= 0 ? Num(p.low_watermark) : Value());
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
  if (l->empty() || l->size() > 9 || l->find_first_not_of("0123456789") != std::string::npos) {
    *error = "limit must be a whole number";
    return false;
  }
  *out = std::min<size_t>(static_cast<size_t>(std::stoll(*l)), max);
  if (*out == 0) *out = 1;
  return true;
}

// A label value, escaped for the Prometheus text format.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string FormatDouble(double d) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.6g", d);
  return buf;
}

HttpResponse WithPosition(View& view, HttpResponse r) {
  r.headers.emplace_back("X-Projd-Position", view.PositionString());
  return r;
}

// ?limit= and ?cursor= of the paginated lists whose cursor is a sequence number (history,
// dead letters). false with the 400 answer in *bad.
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

}  // namespace

void Daemon::Query(HttpRequest&& req, Responder respond, const Principal* who) {
  std::string text;
  if (req.method == "GET") {
    const std::string* q = req.Query("q");
    if (!q) {
      return respond(Error(400, "bad query", Str("GET /v1/query needs ?q=QUERY")));
    }
    text = *q;
  } else {
    text = req.body;
  }
  Diagnostic diag;
  auto query = CompileQuery(
      text,
      [this, who](const std::string& name) -> std::shared_ptr<const Projection> {
        // A view the token may not read is reported like one that does not exist.
        if (who && !who->CanRead(name)) return nullptr;
        auto v = FindView(name);
        return v ? v->projection_ptr() : nullptr;
      },
      &diag);
  if (!query) {
    Object d;
    d.Set("line", Num(diag.line));
    d.Set("column", Num(diag.column));
    d.Set("message", Str(diag.message));
    d.Set("text", Str(diag.Format()));
    // SPEC §5: a bad query, an unknown view included, gets 400 with line and column.
    return respond(Error(400, "bad query: " + diag.message, Value::MakeObject(std::move(d))));
  }
  auto view = FindView(query->view);
  if (!view) return respond(Error(404, "unknown view", Str(query->view)));
  if (WaitForPosition(view, req, respond)) return;
  auto t0 = std::chrono::steady_clock::now();
  std::string cursor;
  if (const std::string* c = req.Query("cursor")) cursor = *c;
  QueryAnswer answer;
  std::string error;
  std::string position = view->PositionString();
  if (!RunQuery(*query, &view->store(), cursor, QueryLimits(), &answer, &error)) {
    query_seconds_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return respond(WithPosition(*view, Error(400, "query failed", Str(error))));
  }
  query_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  Object o;
  o.Set("rows", Value::MakeArray(std::move(answer.rows)));
  o.Set("next_cursor", answer.next_cursor.empty() ? Value() : Str(answer.next_cursor));
  o.Set("position", Str(position));
  o.Set("scanned", Num(static_cast<int64_t>(answer.scanned)));
  o.Set("plan", Str(answer.plan));
  HttpResponse r = Json(200, Value::MakeObject(std::move(o)));
  r.headers.emplace_back("X-Projd-Position", position);
  respond(std::move(r));
}

HttpResponse Daemon::Metrics() {
  static const char* kStates[] = {"live",    "catching_up", "rebuilding", "lagging",
                                  "stalled", "stopped",     "failed"};
  std::string out;
  auto head = [&out](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  std::vector<std::pair<std::shared_ptr<View>, ViewStatus>> views;
  for (const auto& v : Views()) views.emplace_back(v, StatusOf(v));
  auto per_view = [&](const char* name, const char* type, const char* help, auto value) {
    head(name, type, help);
    for (const auto& [v, st] : views) {
      out += std::string(name) + "{view=\"" + LabelValue(st.name) + "\"} " + value(st) + "\n";
    }
  };
  per_view("projd_events_applied_total", "counter", "Events applied to the view.",
           [](const ViewStatus& st) { return std::to_string(st.applied_total); });
  per_view(
      "projd_events_skipped_total", "counter",
      "Events skipped: no handler, where not true, or a duplicate id (dedupe).",
      [](const ViewStatus& st) { return std::to_string(st.ignored_total + st.duplicates_total); });
  per_view("projd_dead_letters_total", "counter", "Events rejected into the dead letters.",
           [](const ViewStatus& st) { return std::to_string(st.dead_letters_total); });
  head("projd_consumer_lag_events", "gauge", "High watermark minus the next offset to apply.");
  for (const auto& [v, st] : views) {
    for (const auto& p : st.partitions) {
      out += "projd_consumer_lag_events{view=\"" + LabelValue(st.name) + "\",topic=\"" +
             LabelValue(p.tp.topic) + "\",partition=\"" + std::to_string(p.tp.partition) + "\"} " +
             std::to_string(p.lag_events) + "\n";
    }
  }
  head("projd_consumer_lag_seconds", "gauge",
       "Age of the oldest unapplied event in seconds (0 when caught up).");
  for (const auto& [v, st] : views) {
    for (const auto& p : st.partitions) {
      out += "projd_consumer_lag_seconds{view=\"" + LabelValue(st.name) + "\",topic=\"" +
             LabelValue(p.tp.topic) + "\",partition=\"" + std::to_string(p.tp.partition) + "\"} " +
             FormatDouble(p.lag_seconds) + "\n";
    }
  }
  per_view("projd_view_rows", "gauge", "Rows in the view.",
           [](const ViewStatus& st) { return std::to_string(st.rows); });
  head("projd_view_state", "gauge", "1 for the view's current state, 0 for the others.");
  for (const auto& [v, st] : views) {
    for (const char* s : kStates) {
      out += "projd_view_state{view=\"" + LabelValue(st.name) + "\",state=\"" + s + "\"} " +
             (st.state == s ? "1" : "0") + "\n";
    }
  }
  head("projd_rebuild_progress_ratio", "gauge",
       "Progress of a running rebuild, 0 to 1 (only views being rebuilt).");
  for (const auto& [v, st] : views) {
    if (st.rebuilding) {
      out += "projd_rebuild_progress_ratio{view=\"" + LabelValue(st.name) + "\"} " +
             FormatDouble(st.rebuild_progress) + "\n";
    }
  }
  head("projd_apply_batch_seconds", "histogram", "Time to apply and commit one batch.");
  for (const auto& [v, st] : views) {
    v->apply_batch_seconds().Write("projd_apply_batch_seconds",
                                   "view=\"" + LabelValue(st.name) + "\"", &out);
  }
  head("projd_query_seconds", "histogram", "Time to answer a read of a view.");
  query_seconds_.Write("projd_query_seconds", "", &out);
  head("projd_event_to_visible_seconds", "histogram",
       "From an event's Kafka timestamp to the commit that makes it readable.");
  for (const auto& [v, st] : views) {
    v->event_to_visible_seconds().Write("projd_event_to_visible_seconds",
                                        "view=\"" + LabelValue(st.name) + "\"", &out);
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

// Read-your-own-writes: holds the request until the view reached min_position, then handles
// it again without it (true: the request was taken over or answered).
bool Daemon::WaitForPosition(const std::shared_ptr<View>& view, HttpRequest& req,
                             Responder& respond) {
  const std::string* min_pos = req.Query("min_position");
  if (!min_pos) min_pos = req.Header("x-projd-min-position");
  if (min_pos && !min_pos->empty()) {
    std::map<TopicPartition, int64_t> required;
    std::string error;
    if (!ParsePosition(*min_pos, &required, &error)) {
      respond(WithPosition(*view, Error(400, "bad min_position", Str(error))));
      return true;
    }
    int64_t wait_ms = 5000;
    if (const std::string* w = req.Query("wait_ms")) {
      if (w->empty() || w->size() > 9 || w->find_first_not_of("0123456789") != std::string::npos) {
        respond(WithPosition(*view, Error(400, "bad wait_ms", Str("a whole number of ms"))));
        return true;
      }
      wait_ms = std::min<int64_t>(std::stoll(*w), 60000);
    }
    if (!view->Reached(required)) {
      struct Pending {
        std::mutex mu;
        bool done = false;
        uint64_t waiter = 0;
        HttpRequest req;
        Responder respond;
      };
      auto pending = std::make_shared<Pending>();
      pending->req = std::move(req);
      pending->respond = std::move(respond);
      pending->req.query.erase(
          std::remove_if(pending->req.query.begin(), pending->req.query.end(),
                         [](const auto& q) { return q.first == "min_position"; }),
          pending->req.query.end());
      pending->req.headers.erase(
          std::remove_if(pending->req.headers.begin(), pending->req.headers.end(),
                         [](const auto& h) { return h.first == "x-projd-min-position"; }),
          pending->req.headers.end());
      auto finish = [this, pending]() {
        std::lock_guard<std::mutex> lock(pending->mu);
        if (pending->done) return;
        pending->done = true;
        HttpRequest r = std::move(pending->req);
        // Answer on an HTTP thread, not on the view's apply thread.
        http_->PostAfter(std::chrono::milliseconds(0),
                         [this, r = std::move(r), respond = pending->respond]() mutable {
                           Handle(std::move(r), respond);
                         });
      };
      uint64_t waiter = view->WhenReached(required, finish);  // may call finish at once
      {
        std::lock_guard<std::mutex> lock(pending->mu);
        pending->waiter = waiter;
      }
      http_->PostAfter(std::chrono::milliseconds(wait_ms), [pending, view]() {
        std::lock_guard<std::mutex> lock(pending->mu);
        if (pending->done) return;
        pending->done = true;
        view->Cancel(pending->waiter);
        Object d;
        d.Set("position", Str(view->PositionString()));
        pending->respond(WithPosition(*view, Error(504, "min_position not reached within wait_ms",
                                                   Value::MakeObject(std::move(d)))));
      });
      return true;
    }
  }
  return false;
}

std::unique_ptr<HttpResponse> Daemon::Authorize(const HttpRequest& req, const Principal** who) {
  *who = nullptr;
  if (!auth_) return nullptr;
  // The dashboard page is static; it asks for a token when the API answers 401. Liveness and
  // readiness are for probes, which carry no token.
  if (req.segments.empty() && (req.method == "GET" || req.method == "HEAD")) return nullptr;
  if (req.segments.size() == 1 && (req.segments[0] == "healthz" || req.segments[0] == "readyz")) {
    return nullptr;
  }
  const std::string* h = req.Header("authorization");
  const Principal* p = h ? auth_->Check(*h) : nullptr;
  if (!p) {
    auto r = std::make_unique<HttpResponse>(
        Error(401, "unauthorized", Str("send Authorization: Bearer TOKEN")));
    r->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"projd\"");
    return r;
  }
  *who = p;
  const auto& seg = req.segments;
  auto forbid = [] {
    return std::make_unique<HttpResponse>(
        Error(403, "forbidden", Str("this token's role may not do that")));
  };
  if (seg.size() == 1 && seg[0] == "openapi.json") return nullptr;
  if (seg.size() == 1 && seg[0] == "metrics") {
    return p->role == Role::kAdmin || p->role == Role::kMetrics ? nullptr : forbid();
  }
  if (p->role == Role::kAdmin) return nullptr;
  if (p->role != Role::kReader) return forbid();
  // Readers: reads and queries of the views they may read.
  bool read = req.method == "GET" ||
              (req.method == "POST" && seg.size() == 2 && seg[0] == "v1" && seg[1] == "query");
  if (!read) return forbid();
  if (seg.size() >= 3 && seg[0] == "v1" && seg[1] == "views" && !p->CanRead(seg[2])) {
    return forbid();
  }
  return nullptr;
}

// Requests whose work grows with the data (queries, scans, history and dead-letter pages, as-of
// reads): they run on the query pool, never on the HTTP I/O threads.
bool IsLongWork(const HttpRequest& req) {
  const auto& seg = req.segments;
  if (seg.size() == 2 && seg[0] == "v1" && seg[1] == "query") return true;
  if (seg.size() < 4 || seg[0] != "v1" || seg[1] != "views") return false;
  if (seg.size() == 4 && seg[3] == "dead-letters") return true;
  if (seg[3] != "rows") return false;
  return seg.size() == 4 || (seg.size() == 6 && seg[5] == "history") ||
         (seg.size() == 5 && req.Query("as_of") != nullptr);
}

void Daemon::Handle(HttpRequest&& req, Responder respond) {
  Dispatch(std::move(req), std::move(respond), false);
}

void Daemon::Dispatch(HttpRequest&& req, Responder respond, bool on_pool) {
  const auto& seg = req.segments;
  const std::string& m = req.method;
  auto reply = [&](HttpResponse r) { respond(std::move(r)); };
  const Principal* who = nullptr;
  if (auto denied = Authorize(req, &who)) return reply(std::move(*denied));
  if (!on_pool && work_pool_ && IsLongWork(req)) {
    auto task = std::make_shared<std::pair<HttpRequest, Responder>>(std::move(req), respond);
    if (work_pool_->Submit([this, task]() mutable {
          Dispatch(std::move(task->first), std::move(task->second), true);
        })) {
      return;
    }
    HttpResponse busy =
        Error(503, "busy",
              Str("the query pool is full (" + std::to_string(work_pool_->running()) +
                  " running, " + std::to_string(work_pool_->queued()) + " waiting); retry later"));
    busy.headers.emplace_back("Retry-After", "1");
    return respond(std::move(busy));
  }
  auto may_read = [who](const std::string& view) { return !who || who->CanRead(view); };

  if (seg.size() == 1 && seg[0] == "healthz") {
    if (m != "GET") return reply(MethodNotAllowed("GET"));
    return reply(Json(200, Value::MakeObject([] {
                        Object o;
                        o.Set("status", Str("ok"));
                        return o;
                      }())));
  }
  if (seg.size() == 1 && seg[0] == "readyz") {
    if (m != "GET") return reply(MethodNotAllowed("GET"));
    // Every view counts, whatever the caller may read (probes carry no token); the names
    // listed are those the caller's token, if any, may read.
    const Principal* caller = nullptr;
    if (auth_) {
      const std::string* h = req.Header("authorization");
      caller = h ? auth_->Check(*h) : nullptr;
    }
    Array waiting;
    int64_t not_ready = 0;
    for (const auto& v : Views()) {
      ViewStatus st = v->Status();
      bool waits = (!st.caught_up_once && !st.failed) || !v->BeyondLogEnd().empty();
      if (!waits) continue;
      ++not_ready;
      if (!auth_ || (caller && caller->CanRead(st.name))) waiting.push_back(Str(st.name));
    }
    Object o;
    bool ready = not_ready == 0 && !stopping_;
    o.Set("ready", Value::Bool(ready));
    o.Set("views_not_ready", Num(not_ready));
    o.Set("waiting_for", Value::MakeArray(std::move(waiting)));
    return reply(Json(ready ? 200 : 503, Value::MakeObject(std::move(o))));
  }
  if (seg.size() == 1 && seg[0] == "metrics") {
    if (m != "GET") return reply(MethodNotAllowed("GET"));
    return reply(Metrics());
  }
  if (seg.empty() && (m == "GET" || m == "HEAD")) {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    if (const char* page = DashboardHtml()) {
      r.body = page;
    } else {
      // Built where node or npm was missing: say so; the API answers as always.
      r.status = 503;
      r.body =
          "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>projd</title>"
          "</head><body><h1>projd: the dashboard was not built</h1><p>This projd was built "
          "without node and npm (or with -DPROJD_DASHBOARD=OFF), so its operator dashboard is "
          "missing. The HTTP API works: <a href=\"/v1/views\">/v1/views</a>, <a "
          "href=\"/openapi.json\">/openapi.json</a>, <a href=\"/metrics\">/metrics</a>.</p>"
          "</body></html>\n";
    }
    return reply(std::move(r));
  }
  if (seg.empty()) return reply(MethodNotAllowed("GET, HEAD"));
  if (seg.size() == 1 && seg[0] == "openapi.json") {
    if (m != "GET") return reply(MethodNotAllowed("GET"));
    HttpResponse r;
    r.body = OpenApiDocument();
    return reply(std::move(r));
  }
  if (seg.empty() || seg[0] != "v1") {
    return reply(Error(404, "not found", Str("no such endpoint: " + req.path)));
  }
  if (seg.size() == 2 && seg[1] == "query") {
    if (m != "GET" && m != "POST") {
      return reply(MethodNotAllowed("GET, POST", "use GET ?q= or POST with the query"));
    }
    return Query(std::move(req), std::move(respond), who);
  }
  if (seg.size() == 2 && seg[1] == "views") {
    if (m != "GET") return reply(MethodNotAllowed("GET"));
    Array arr;
    for (const auto& v : Views()) {
      if (may_read(v->projection().name())) arr.push_back(StatusToJson(StatusOf(v), false));
    }
    Object o;
    o.Set("views", Value::MakeArray(std::move(arr)));
    return reply(Json(200, Value::MakeObject(std::move(o))));
  }
  if (seg.size() < 3 || seg[1] != "views") {
    return reply(Error(404, "not found", Str("no such endpoint: " + req.path)));
  }
  if (seg.size() == 3 && m == "DELETE") {
    std::string error;
    int r = Drop(seg[2], &error);
    if (r < 0) {
      return reply(Error(409, "view is loaded",
                         Str("remove its projection from the projections folder first")));
    }
    if (r == 0) {
      return reply(Error(404, "no kept data for this view", Str(error.empty() ? seg[2] : error)));
    }
    Object o;
    o.Set("dropped", Str(seg[2]));
    return reply(Json(200, Value::MakeObject(std::move(o))));
  }
  std::shared_ptr<View> view = FindView(seg[2]);
  if (!view) return reply(Error(404, "unknown view", Str(seg[2])));

  // Everything below is about one view: it carries the position, and may wait for one.
  // Reads of rows (point reads, as-of, scans, history) are timed for projd_query_seconds.
  bool is_read = seg.size() >= 4 && seg[3] == "rows";
  auto t0 = std::chrono::steady_clock::now();
  auto with_position = [this, view, is_read, t0](HttpResponse r) {
    r.headers.emplace_back("X-Projd-Position", view->PositionString());
    if (is_read) {
      query_seconds_.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return r;
  };

  if (WaitForPosition(view, req, respond)) return;

  if (seg.size() == 3) {
    if (m != "GET") return reply(with_position(MethodNotAllowed("GET, DELETE")));
    ViewStatus st = StatusOf(view);
    Value v = StatusToJson(st, true);
    v.as_object().Set("definition", Str(view->projection().definition()));
    v.as_object().Set("file", Str(view->projection().file()));
    Array topics;
    for (const auto& t : view->projection().topics()) topics.push_back(Str(t));
    v.as_object().Set("topics", Value::MakeArray(std::move(topics)));
    return reply(with_position(Json(200, v)));
  }
  const std::string& what = seg[3];
  if (what == "rows" && seg.size() == 5) {
    if (m != "GET") return reply(with_position(MethodNotAllowed("GET")));
    RowRecord rec;
    uint64_t dead = 0;
    if (const std::string* as_of = req.Query("as_of")) {
      if (view->projection().history() == Projection::History::kNone) {
        return reply(with_position(Error(400, "as_of needs history",
                                         Str("view " + seg[2] +
                                             " keeps no history of its rows (add 'history all' or "
                                             "'history N days' to its definition)"))));
      }
      int64_t t;
      if (!ParseRfc3339(*as_of, &t)) {
        return reply(with_position(
            Error(400, "bad as_of", Str("an RFC 3339 time, like 2025-07-15T00:00:00Z"))));
      }
      view->store().GetRow(seg[4], &rec, &dead);  // for the dead-letter count only
      rec = RowRecord();
      if (!view->store().AsOf(seg[4], t, &rec)) {
        Object d;
        d.Set("key", Str(seg[4]));
        d.Set("as_of", Str(*as_of));
        return reply(
            with_position(Error(404, "no such row at that time", Value::MakeObject(std::move(d)))));
      }
      Value v = RowToJson(seg[4], std::move(rec));
      v.as_object().Set("dead_letters", Num(static_cast<int64_t>(dead)));
      v.as_object().Set("as_of", Str(*as_of));
      return reply(with_position(Json(200, v)));
    }
    if (!view->store().GetRow(seg[4], &rec, &dead)) {
      Object d;
      d.Set("key", Str(seg[4]));
      d.Set("dead_letters", Num(static_cast<int64_t>(dead)));
      return reply(with_position(Error(404, "no such row", Value::MakeObject(std::move(d)))));
    }
    Value v = RowToJson(seg[4], std::move(rec));
    v.as_object().Set("dead_letters", Num(static_cast<int64_t>(dead)));
    return reply(with_position(Json(200, v)));
  }
  if (what == "rows" && seg.size() == 6 && seg[5] == "history") {
    if (m != "GET") return reply(with_position(MethodNotAllowed("GET")));
    if (view->projection().history() == Projection::History::kNone) {
      return reply(with_position(
          Error(400, "view keeps no history",
                Str("add 'history all' or 'history N days' to the definition of " + seg[2]))));
    }
    size_t limit;
    uint64_t after;
    HttpResponse bad;
    if (!ParsePage(req, &limit, &after, &bad)) return reply(with_position(std::move(bad)));
    std::vector<std::pair<uint64_t, RowRecord>> versions;
    bool more = false;
    view->store().History(seg[4], after, limit, &versions, &more);
    Array arr;
    for (const auto& [seq, rec] : versions) {
      Value v = RowToJson(seg[4], rec);
      Object& o = v.as_object();
      o.Erase("key");
      o.Set("deleted", Value::Bool(!rec.exists));
      if (!rec.exists) o.Set("row", Value());
      arr.push_back(std::move(v));
    }
    Object o;
    o.Set("key", Str(seg[4]));
    o.Set("versions", Value::MakeArray(std::move(arr)));
    o.Set("next_cursor",
          more && !versions.empty() ? Str(std::to_string(versions.back().first)) : Value());
    return reply(with_position(Json(200, Value::MakeObject(std::move(o)))));
  }
  if (what == "rows" && seg.size() == 4) {
    if (m != "GET") return reply(with_position(MethodNotAllowed("GET")));
    ViewStore::ScanOptions so;
    std::string error;
    if (!ParseLimit(req, 100, 1000, &so.limit, &error)) {
      return reply(with_position(Error(400, "bad limit", Str(error))));
    }
    if (const std::string* p = req.Query("prefix")) so.prefix = *p;
    if (const std::string* s = req.Query("start")) so.start = *s;
    if (const std::string* e = req.Query("end")) so.end = *e;
    if (const std::string* c = req.Query("cursor")) {
      // The cursor is the last key returned, hex-encoded (opaque to clients).
      const std::string& h = *c;
      if (h.size() % 2 != 0 || h.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return reply(with_position(Error(400, "bad cursor", Str("not a cursor from this API"))));
      }
      for (size_t i = 0; i < h.size(); i += 2) {
        so.after.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
      }
    }
    std::vector<std::pair<std::string, RowRecord>> rows;
    bool more = false;
    if (!view->store().Scan(so, &rows, &more, &error)) {
      return reply(with_position(Error(500, "scan failed", Str(error))));
    }
    Array arr;
    for (const auto& [k, rec] : rows) arr.push_back(RowToJson(k, rec));
    Object o;
    o.Set("rows", Value::MakeArray(std::move(arr)));
    if (more && !rows.empty()) {
      static const char kHex[] = "0123456789abcdef";
      std::string cur;
      for (unsigned char ch : rows.back().first) {
        cur.push_back(kHex[ch >> 4]);
        cur.push_back(kHex[ch & 15]);
      }
      o.Set("next_cursor", Str(cur));
    } else {
      o.Set("next_cursor", Value());
    }
    return reply(with_position(Json(200, Value::MakeObject(std::move(o)))));
  }
  if (what == "dead-letters" && seg.size() == 4) {
    if (m != "GET") return reply(with_position(MethodNotAllowed("GET")));
    size_t limit;
    uint64_t after;
    HttpResponse bad;
    if (!ParsePage(req, &limit, &after, &bad)) return reply(with_position(std::move(bad)));
    std::vector<std::pair<uint64_t, DeadLetter>> items;
    bool more = false;
    view->store().DeadLetters(after, limit, &items, &more);
    Array arr;
    for (const auto& [seq, d] : items) arr.push_back(DeadLetterToJson(d));
    Object o;
    o.Set("dead_letters", Value::MakeArray(std::move(arr)));
    o.Set("total", Num(static_cast<int64_t>(view->store().DeadLetterCount())));
    o.Set("next_cursor",
          more && !items.empty() ? Str(std::to_string(items.back().first)) : Value());
    return reply(with_position(Json(200, Value::MakeObject(std::move(o)))));
  }
  if (what == "rebuild" && seg.size() == 4) {
    if (m != "POST") return reply(with_position(MethodNotAllowed("POST")));
    const std::string* ag = req.Query("allow_gap");
    if (ag && *ag != "true" && *ag != "false") {
      return reply(with_position(Error(400, "bad allow_gap", Str("true or false"))));
    }
    bool allow_gap = ag && *ag == "true";
    std::string error;
    Value gap;
    if (!Rebuild(seg[2], allow_gap, &error, &gap)) {
      if (!gap.is_null()) {
        Object d;
        d.Set("first_offsets", std::move(gap));
        d.Set("hint", Str("events were deleted by retention; add ?allow_gap=true to rebuild "
                          "from the first available offsets"));
        return reply(with_position(Error(409, error, Value::MakeObject(std::move(d)))));
      }
      return reply(with_position(Error(409, "cannot start a rebuild", Str(error))));
    }
    Object o;
    o.Set("rebuild", Str("started"));
    o.Set("view", Str(seg[2]));
    return reply(with_position(Json(202, Value::MakeObject(std::move(o)))));
  }
  if (what == "lag" && seg.size() == 4) {
    if (m != "GET") return reply(with_position(MethodNotAllowed("GET")));
    int64_t window_s = 900;
    if (const std::string* w = req.Query("window")) {
      // 90s, 15m, 1h, or plain seconds; at most the hour that is kept.
      std::string num = *w;
      int64_t unit = 1;
      if (!num.empty() && (num.back() == 's' || num.back() == 'm' || num.back() == 'h')) {
        unit = num.back() == 's' ? 1 : num.back() == 'm' ? 60 : 3600;
        num.pop_back();
      }
      if (num.empty() || num.size() > 6 ||
          num.find_first_not_of("0123456789") != std::string::npos) {
        return reply(with_position(
            Error(400, "bad window", Str("a duration like 90s, 15m or 1h (at most 1h)"))));
      }
      window_s = std::min<int64_t>(std::stoll(num) * unit, 3600);
    }
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    Array arr;
    for (const auto& smp : view->LagSamples(now_ms - window_s * 1000)) {
      Object o;
      o.Set("time", Str(FormatRfc3339(smp.time_ms)));
      o.Set("lag_events", Num(smp.lag_events));
      o.Set("lag_seconds", Seconds(smp.lag_seconds));
      o.Set("events_per_second", Seconds(smp.events_per_second));
      arr.push_back(Value::MakeObject(std::move(o)));
    }
    Object o;
    o.Set("view", Str(seg[2]));
    o.Set("window_seconds", Num(window_s));
    o.Set("samples", Value::MakeArray(std::move(arr)));
    return reply(with_position(Json(200, Value::MakeObject(std::move(o)))));
  }
  if (what == "skip" && seg.size() == 4) {
    if (m != "POST") return reply(with_position(MethodNotAllowed("POST")));
    if (!view->Skip()) {
      return reply(with_position(
          Error(409, "view is not stopped", Str("skip applies to a view stopped by errors stop"))));
    }
    Log("info", seg[2], "skip requested: the failing event becomes a dead letter");
    Object o;
    o.Set("skipped", Value::Bool(true));
    return reply(with_position(Json(202, Value::MakeObject(std::move(o)))));
  }
  return reply(with_position(Error(404, "not found", Str("no such endpoint: " + req.path))));
}

}  // namespace projd
