// The HTTP API of projd (SPEC §5): the way of a request through the route table
// (api_routes.h) — match, authorize, the query pool for long work, the view and its
// read-your-own-writes wait — and the handlers the table names.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>

#include "api/api_answers.h"
#include "api/daemon.h"
#include "api/daemon_api.h"
#include "api/history_csv.h"
#include "api/openapi.h"
#include "dsl/hex.h"
#include "dsl/time.h"
#include "dsl/value.h"
#include "engine/query_exec.h"

namespace projd {

// The rows a query may examine on an HTTP thread before it moves to the query pool: a page of
// a key, key prefix, one-value index or text plan, a fraction of a millisecond of work.
constexpr uint64_t kInlineQueryRows = 512;
// A text plan that reads no row to decide, and has at most this many candidates, runs there
// whole: each is a step in the postings of the other words (0.1-0.3 us, against 1-2 us to
// read and test a row), so about the same time (QueryLimits::give_up_after_checks).
constexpr uint64_t kInlineQueryChecks = 4096;

// min_position's wait_ms: the default, and the most (a larger one counts as this).
constexpr uint64_t kDefaultWaitMs = 5000;
constexpr uint64_t kMaxWaitMs = 60000;

namespace {

bool Consumes(const View& view, const std::string& topic) {
  const std::vector<std::string>& topics = view.projection().topics();
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

// Why `view` can never reach `required` ("" when it may): an item on a topic the view does not
// consume, with an offset above 0 (offset 0 is reached by any view). A partition the view does
// not know of, on a topic it consumes, may still come (partitions can be added to a topic).
std::string NeverReached(const View& view, const Position& required) {
  for (const auto& [tp, offset] : required) {
    if (offset <= 0 || Consumes(view, tp.topic)) continue;
    std::string consumed;
    for (const std::string& t : view.projection().topics())
      consumed += (consumed.empty() ? "" : ", ") + t;
    return "view " + view.projection().name() + " does not consume topic " + tp.topic +
           " (its topics: " + consumed + "), so it never reaches " + tp.topic + ":" +
           std::to_string(tp.partition) + ":" + std::to_string(offset);
  }
  return "";
}

// The answer to a wait that can never end (NeverReached): what a wait that ran out gets (504,
// the current position), at once, with the reason.
HttpResponse NeverReachedAnswer(View& view, const std::string& never) {
  Object o;
  o.Set("position", Str(view.PositionString()));
  o.Set("reason", Str(never));
  HttpResponse r =
      Error(504, "min_position not reached within wait_ms", Value::MakeObject(std::move(o)));
  r.headers.emplace_back("X-Projd-Position", view.PositionString());
  return r;
}

// Whether a call runs on the query pool from the start: long work, unless its route gives it a
// bounded first try on the HTTP thread (try_inline).
bool StartsOnPool(const ApiCall& call) {
  const Route& route = *call.route;
  bool long_work =
      route.long_work || (route.long_work_with && call.req.Query(route.long_work_with) != nullptr);
  return long_work && !route.try_inline;
}

}  // namespace

const std::string& ApiCall::ViewName() const {
  static const std::string kNone;
  auto names = route ? PatternParameters(route->pattern) : std::vector<std::string>();
  for (size_t i = 0; i < names.size() && i < params.size(); ++i) {
    if (names[i] == "view") return params[i];
  }
  return kNone;
}

void ApiCall::Reply(HttpResponse response) {
  // A handler that read at a position of its own (a checksum, a snapshot) names it itself.
  bool has_position = std::any_of(response.headers.begin(), response.headers.end(),
                                  [](const auto& h) { return h.first == "X-Projd-Position"; });
  // Serve takes `position` before it runs the handler of every view-bound route.
  if (view && route && route->view_bound && !has_position) {
    response.headers.emplace_back("X-Projd-Position", position);
  }
  if (read_seconds && route && route->timed_read) {
    read_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  respond(std::move(response));
}

void Daemon::Handle(HttpRequest&& req, Responder respond) {
  auto call = std::make_shared<ApiCall>();
  call->started = std::chrono::steady_clock::now();
  call->read_seconds = &query_seconds_;
  bool path_known = false;
  std::string allow;
  int path_route = -1;
  int index = MatchRoute(req.method, req.segments, &call->params, &path_known, &allow, &path_route);
  // Every answer is counted by route and status (projd_http_requests_total); one to a method
  // the path does not have (405) under the path's first route: "(none)" is for a path that
  // matches no endpoint.
  int counted = index >= 0 ? index : path_route;
  call->respond = [this, counted, started = call->started,
                   respond = std::move(respond)](HttpResponse r) {
    CountRequest(counted, r.status,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    respond(std::move(r));
  };
  call->req = std::move(req);
  const Principal* who = nullptr;
  bool token_ok = !auth_;
  if (auth_) {
    const std::string* h = call->req.Header("authorization");
    who = h ? auth_->Check(*h) : nullptr;
    token_ok = who != nullptr;
  }
  auto unauthorized = [&call] {
    HttpResponse r = Error(401, "unauthorized", Str("send Authorization: Bearer TOKEN"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"projd\"");
    call->respond(std::move(r));
  };
  if (index < 0) {
    if (!token_ok) return unauthorized();
    if (path_known) return call->respond(MethodNotAllowed(allow));
    return call->respond(Error(404, "not found", Str("no such endpoint: " + call->req.path)));
  }
  const Route& route = ApiRoutes()[static_cast<size_t>(index)];
  call->route = &route;
  call->who = who;
  // Authorization comes from the route's access: a route cannot be added without one.
  if (auth_ && route.access != Access::kPublic) {
    if (!token_ok) return unauthorized();
    bool may = RoleMayCall(who->role, route.access);
    const std::string& view = call->ViewName();
    if (may && route.access == Access::kReader && !view.empty()) may = who->CanRead(view);
    if (!may) {
      return call->respond(Error(403, "forbidden", Str("this token's role may not do that")));
    }
  }
  if (StartsOnPool(*call)) return DaemonApi::MoveToPool(*this, call);
  DaemonApi::Serve(*this, call);
}

void DaemonApi::MoveToPool(Daemon& daemon, const std::shared_ptr<ApiCall>& call) {
  Daemon* d = &daemon;
  call->on_pool = true;
  if (!d->work_pool_) return Serve(*d, call);  // before Start: on the caller
  if (d->work_pool_->Submit([d, call] { Serve(*d, call); })) return;
  HttpResponse busy =
      Error(503, "busy",
            Str("the query pool is full (" + std::to_string(d->work_pool_->running()) +
                " running, " + std::to_string(d->work_pool_->queued()) + " waiting); retry later"));
  busy.headers.emplace_back("Retry-After", "1");
  call->respond(std::move(busy));
}

void DaemonApi::Serve(Daemon& daemon, const std::shared_ptr<ApiCall>& call) {
  if (call->route->view_bound) {
    call->view = daemon.FindView(call->ViewName());
    if (!call->view) return call->respond(Error(404, "unknown view", Str(call->ViewName())));
    if (WaitForPosition(daemon, call, call->view)) return;
    call->position = call->view->PositionString();  // before the handler reads (ApiCall)
  }
  call->route->handler(daemon, *call);
}

namespace {

// The call's min_position (every parameter and header field) and wait_ms: false with the 400
// in *bad when either is malformed; *waits false when no position is asked for (wait_ms is
// checked all the same).
bool ReadWait(const HttpRequest& req, Position* required, uint64_t* wait_ms, bool* waits,
              HttpResponse* bad) {
  // Every min_position parameter and X-Projd-Min-Position field counts: a partition named
  // more than once waits for its largest offset (Position::Parse), so no read is staler than
  // any of them asks.
  std::string min_pos;
  for (const auto& [name, value] : req.query) {
    if (name == "min_position" && !value.empty()) min_pos += (min_pos.empty() ? "" : ",") + value;
  }
  for (const auto& [name, value] : req.headers) {
    if (name == "x-projd-min-position" && !value.empty()) {
      min_pos += (min_pos.empty() ? "" : ",") + value;
    }
  }
  *waits = !min_pos.empty();
  std::string error;
  if (*waits && !Position::Parse(min_pos, required, &error)) {
    *bad = Error(400, "bad min_position", Str(error));
    return false;
  }
  *wait_ms = kDefaultWaitMs;
  if (const std::string* w = req.Query("wait_ms")) {
    if (!ParseWholeNumber(*w, kMaxWaitMs, wait_ms)) {
      *bad =
          Error(400, "bad wait_ms",
                Str("a whole number of milliseconds (a larger one than " +
                    std::to_string(kMaxWaitMs) + " counts as " + std::to_string(kMaxWaitMs) + ")"));
      return false;
    }
  }
  return true;
}

// `required` without the partitions of topics `view` does not consume.
Position OnTopicsOf(const View& view, const Position& required) {
  Position::Map mine;
  for (const auto& [tp, offset] : required) {
    if (Consumes(view, tp.topic)) mine[tp] = offset;
  }
  return Position(std::move(mine));
}

}  // namespace

void DaemonApi::ArmDeadline(Daemon& daemon, const std::shared_ptr<ApiCall>& call,
                            const std::shared_ptr<PositionWait>& wait, uint64_t wait_ms,
                            bool with_view) {
  daemon.http_->PostAfter(std::chrono::milliseconds(wait_ms), [wait, call, with_view]() {
    std::shared_ptr<View> last;
    uint64_t waiter;
    {
      std::lock_guard<std::mutex> lock(wait->mu);
      if (wait->state != PositionWait::State::kWaiting) return;
      wait->state = PositionWait::State::kTimedOut;
      last = wait->view;
      waiter = wait->waiter;
    }
    last->Cancel(waiter);
    Object o;
    if (with_view) o.Set("view", Str(last->projection().name()));
    o.Set("position", Str(last->PositionString()));
    HttpResponse r =
        Error(504, "min_position not reached within wait_ms", Value::MakeObject(std::move(o)));
    r.headers.emplace_back("X-Projd-Position", last->PositionString());
    call->respond(std::move(r));
  });
}

void DaemonApi::ServeAgainWhenReached(Daemon& daemon, const std::shared_ptr<ApiCall>& call,
                                      const std::shared_ptr<View>& view, Position required,
                                      PositionWait* wait, uint64_t round) {
  Daemon* d = &daemon;
  auto again = [d, call]() {
    if (StartsOnPool(*call) && d->work_pool_ &&
        d->work_pool_->Submit([d, call] { Serve(*d, call); })) {
      return;
    }
    d->http_->PostAfter(std::chrono::milliseconds(0), [d, call] { Serve(*d, call); });
  };
  uint64_t waiter = view->WhenReached(std::move(required), again);  // may call `again` at once
  std::lock_guard<std::mutex> lock(wait->mu);
  if (wait->round == round) wait->waiter = waiter;  // not registered again meanwhile
}

bool DaemonApi::WaitForPosition(Daemon& daemon, const std::shared_ptr<ApiCall>& call,
                                const std::shared_ptr<View>& view) {
  if (!call->position_wait) {
    auto answer = [&call, &view](HttpResponse r) {
      r.headers.emplace_back("X-Projd-Position", view->PositionString());
      call->respond(std::move(r));
    };
    auto wait = std::make_shared<PositionWait>();
    uint64_t wait_ms;
    bool waits;
    HttpResponse bad;
    if (!ReadWait(call->req, &wait->required, &wait_ms, &waits, &bad)) {
      answer(std::move(bad));
      return true;
    }
    if (!waits) return false;
    if (std::string never = NeverReached(*view, wait->required); !never.empty()) {
      call->respond(NeverReachedAnswer(*view, never));
      return true;
    }
    wait->view = view;
    call->position_wait = wait;
    // One deadline for the whole wait, on however many views it waits (a rebuild's swap).
    if (!view->Reached(wait->required)) ArmDeadline(daemon, call, wait, wait_ms, false);
  }
  PositionWait& wait = *call->position_wait;
  uint64_t round = 0;
  std::string never;
  {
    std::lock_guard<std::mutex> lock(wait.mu);
    if (wait.state == PositionWait::State::kServed) return false;  // reached before
    if (wait.state != PositionWait::State::kWaiting) return true;  // answered (504 or 400)
    if (view->Reached(wait.required)) {
      wait.state = PositionWait::State::kServed;
      return false;  // served now
    }
    // The view serving the name now (a rebuild's swap, a reload) may consume other topics.
    never = NeverReached(*view, wait.required);
    if (!never.empty()) {
      wait.state = PositionWait::State::kRefused;
    } else {
      wait.view = view;
      wait.waiter = 0;
      round = ++wait.round;
    }
  }
  if (!never.empty()) {
    call->respond(NeverReachedAnswer(*view, never));
    return true;
  }
  ServeAgainWhenReached(daemon, call, view, wait.required, &wait, round);
  return true;
}

bool DaemonApi::WaitForPositionOnAll(Daemon& daemon, const std::shared_ptr<ApiCall>& call,
                                     const std::vector<std::shared_ptr<View>>& views) {
  const bool first = !call->position_wait;
  uint64_t wait_ms = 0;
  if (first) {
    auto wait = std::make_shared<PositionWait>();
    bool waits;
    HttpResponse bad;
    if (!ReadWait(call->req, &wait->required, &wait_ms, &waits, &bad)) {
      call->respond(std::move(bad));
      return true;
    }
    if (!waits) return false;
    // A partition above offset 0 that none of the views consumes is never reached.
    for (const auto& [tp, offset] : wait->required) {
      bool consumed = offset <= 0;
      for (const auto& v : views) consumed = consumed || Consumes(*v, tp.topic);
      if (consumed) continue;
      Object o;
      o.Set("reason",
            Str("no view this answer reads consumes topic " + tp.topic + ", so none reaches " +
                tp.topic + ":" + std::to_string(tp.partition) + ":" + std::to_string(offset)));
      call->respond(
          Error(504, "min_position not reached within wait_ms", Value::MakeObject(std::move(o))));
      return true;
    }
    call->position_wait = wait;
  }
  PositionWait& wait = *call->position_wait;
  std::shared_ptr<View> behind;
  Position required;
  uint64_t round = 0;
  {
    std::lock_guard<std::mutex> lock(wait.mu);
    if (wait.state == PositionWait::State::kServed) return false;  // reached before
    if (wait.state != PositionWait::State::kWaiting) return true;  // answered (504)
    // The views as they are now (a rebuild's swap, a reload): the first one behind is waited
    // on; the call then comes here again and goes on to the next.
    for (const auto& v : views) {
      Position mine = OnTopicsOf(*v, wait.required);
      if (!mine.empty() && !v->Reached(mine)) {
        behind = v;
        required = std::move(mine);
        break;
      }
    }
    if (!behind) {
      wait.state = PositionWait::State::kServed;
      return false;  // every view reached it
    }
    wait.view = behind;
    wait.waiter = 0;
    round = ++wait.round;
  }
  // One deadline for the whole wait, armed when it first waits: it names the view waited on
  // last, which is set by now.
  if (first) ArmDeadline(daemon, call, call->position_wait, wait_ms, true);
  ServeAgainWhenReached(daemon, call, behind, std::move(required), &wait, round);
  return true;
}

void DaemonApi::Healthz(Daemon& /*daemon*/, ApiCall& call) {
  Object o;
  o.Set("status", Str("ok"));
  call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

void DaemonApi::Readyz(Daemon& daemon, ApiCall& call) {
  // Every view counts, whatever the caller may read (probes carry no token); the names
  // listed are those the caller's token, if any, may read.
  const Principal* caller = nullptr;
  if (daemon.auth_) {
    const std::string* h = call.req.Header("authorization");
    caller = h ? daemon.auth_->Check(*h) : nullptr;
  }
  Array waiting;
  int64_t not_ready = 0;
  for (const auto& v : daemon.Views()) {
    projd::ViewStatus st = v->Status();
    bool waits = (!st.caught_up_once && !st.failed) || !v->BeyondLogEnd().empty();
    if (!waits) continue;
    ++not_ready;
    if (!daemon.auth_ || (caller && caller->CanRead(st.name))) waiting.push_back(Str(st.name));
  }
  Object o;
  bool ready = not_ready == 0 && !daemon.stopping_;
  o.Set("ready", Value::Bool(ready));
  o.Set("views_not_ready", Num(not_ready));
  o.Set("waiting_for", Value::MakeArray(std::move(waiting)));
  if (!ready) {
    // A 503 is an error answer: it has "error" and "detail" too, as every one does.
    o.Set("error", Str("not ready"));
    o.Set("detail", Str(daemon.stopping_ ? "projd is shutting down"
                                         : std::to_string(not_ready) +
                                               " views have not caught up with their topics "
                                               "once since the start"));
  }
  call.Reply(Json(ready ? 200 : 503, Value::MakeObject(std::move(o))));
}

void DaemonApi::OpenApi(Daemon& /*daemon*/, ApiCall& call) {
  HttpResponse r;
  r.body = OpenApiDocument();
  call.Reply(std::move(r));
}

namespace {

// A query's answer: {"columns", "next_cursor", "plan", "position", "rows", "scanned"}, members
// in name order like every answer. With select, "columns" lists the items in their order and
// each row object lists its members in that same order (SPEC §10: columns keep the order of
// select); without, rows are the stored rows, members by name.
void WriteQueryAnswer(const Query& query, const QueryAnswer& answer, const std::string& position,
                      std::string* out) {
  out->reserve(256 + answer.rows.size() * 64);
  out->append("{\"columns\":");
  if (query.select.empty()) {
    out->append("null");
  } else {
    out->push_back('[');
    for (size_t i = 0; i < query.select.size(); ++i) {
      if (i) out->push_back(',');
      WriteJsonString(query.select[i].label, out);
    }
    out->push_back(']');
  }
  out->append(",\"next_cursor\":");
  if (answer.next_cursor.empty()) {
    out->append("null");
  } else {
    WriteJsonString(answer.next_cursor, out);
  }
  out->append(",\"plan\":");
  WriteJsonString(answer.plan, out);
  out->append(",\"position\":");
  WriteJsonString(position, out);
  out->append(",\"rows\":[");
  std::vector<const Value*> cells;  // a row's members in the order of select
  for (size_t r = 0; r < answer.rows.size(); ++r) {
    if (r) out->push_back(',');
    const Value& row = answer.rows[r];
    // A row of select items holds one member per item (labels are unique); anything else is
    // written as it is, members by name.
    cells.clear();
    if (!query.select.empty() && row.is_object() && row.as_object().size() == query.select.size()) {
      for (const auto& item : query.select) {
        const Value* v = row.as_object().Find(item.label);
        if (!v) break;
        cells.push_back(v);
      }
    }
    if (cells.empty() || cells.size() != query.select.size()) {
      WriteJson(row, out);
      continue;
    }
    out->push_back('{');
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) out->push_back(',');
      WriteJsonString(query.select[i].label, out);
      out->push_back(':');
      WriteJson(*cells[i], out);
    }
    out->push_back('}');
  }
  out->append("],\"scanned\":");
  out->append(std::to_string(answer.scanned));
  out->append("}\n");
}

}  // namespace

void DaemonApi::Query(Daemon& daemon, ApiCall& call) {
  // GET and HEAD (GET's route) take the query from ?q=, POST from the body.
  const std::string* q = &call.req.body;
  if (call.req.method != "POST") {
    q = call.req.Query("q");
    if (!q) return call.Reply(Error(400, "bad query", Str("GET /v1/query needs ?q=QUERY")));
  }
  // Compiling takes time that grows with the text: a long one is compiled on the query pool
  // with the rest of the work, never on the thread that reads requests.
  if (!call.on_pool && q->size() > DaemonApi::kInlineCompileBytes) {
    return MoveToPool(daemon, call.shared_from_this());
  }
  const std::string& text = *q;
  Diagnostic diag;
  const Principal* who = call.who;
  std::shared_ptr<View> named;  // the view the query names, once found
  std::string forbidden;        // the view it names, when the token may not read that name
  auto query = CompileQuery(
      text,
      [&daemon, who, &named,
       &forbidden](const std::string& name) -> std::shared_ptr<const Projection> {
        if (who && !who->CanRead(name)) {
          forbidden = name;
          return nullptr;
        }
        named = daemon.FindView(name);
        return named ? named->projection_ptr() : nullptr;
      },
      &diag);
  if (!query && !forbidden.empty()) {
    // As GET /v1/views/{view} answers for a view outside the token's list: 403, whether or not
    // the view exists (so nothing about it leaks).
    return call.Reply(Error(403, "forbidden", Str("this token may not read view " + forbidden)));
  }
  if (!query) {
    Object d;
    d.Set("line", Num(diag.line));
    d.Set("column", Num(diag.column));
    d.Set("message", Str(diag.message));
    d.Set("text", Str(diag.Format()));
    // SPEC §5: a bad query, an unknown view included, gets 400 with line and column; one about
    // a view it found carries the view's position, as every answer about a view does.
    HttpResponse bad = Error(400, "bad query: " + diag.message, Value::MakeObject(std::move(d)));
    if (named) bad.headers.emplace_back("X-Projd-Position", named->PositionString());
    return call.Reply(std::move(bad));
  }
  auto view = daemon.FindView(query->view);
  if (!view) return call.Reply(Error(404, "unknown view", Str(query->view)));
  if (WaitForPosition(daemon, call.shared_from_this(), view)) return;
  auto t0 = std::chrono::steady_clock::now();
  std::string cursor;
  if (const std::string* c = call.req.Query("cursor")) cursor = *c;
  QueryAnswer answer;
  std::string error;
  std::string position = view->PositionString();
  QueryLimits limits;
  // On an HTTP thread a query gets a bounded first try; one that needs more goes to the pool.
  if (!call.on_pool) {
    limits.give_up_after = kInlineQueryRows;
    limits.give_up_after_checks = kInlineQueryChecks;
    // No other client to serve now: a search with many candidates, decided from the index
    // alone, may examine as many there as one with few (a hand-over to the pool and back
    // costs more than the candidates it saves); one estimated to need more moves at once.
    if (call.req.alone) limits.text_give_up_after = kInlineQueryChecks;
  }
  bool ok = RunQuery(*query, &view->store(), cursor, limits, &answer, &error);
  if (answer.gave_up) return MoveToPool(daemon, call.shared_from_this());
  daemon.query_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!ok) {
    HttpResponse r = answer.bad_cursor ? Error(400, "bad cursor", Str(error))
                                       : Error(400, "query failed", Str(error));
    r.headers.emplace_back("X-Projd-Position", position);
    return call.Reply(std::move(r));
  }
  HttpResponse r;
  r.status = 200;
  WriteQueryAnswer(*query, answer, position, &r.body);
  r.headers.emplace_back("X-Projd-Position", position);
  call.Reply(std::move(r));
}

void DaemonApi::Row(Daemon& /*daemon*/, ApiCall& call) {
  RowRecord rec;
  uint64_t dead = 0;
  if (const std::string* as_of = call.req.Query("as_of")) {
    if (call.view->projection().history() == Projection::History::kNone) {
      return call.Reply(Error(400, "as_of needs history",
                              Str("view " + call.Param(0) +
                                  " keeps no history of its rows (add 'history all' or "
                                  "'history N days' to its definition)")));
    }
    int64_t t;
    if (!ParseRfc3339DateTime(*as_of, &t)) {
      return call.Reply(
          Error(400, "bad as_of", Str("an RFC 3339 time, like 2025-07-15T00:00:00Z")));
    }
    call.view->store().GetRow(call.Param(1), &rec, &dead);  // for the dead-letter count only
    rec = RowRecord();
    if (!call.view->store().AsOf(call.Param(1), t, &rec)) {
      Object d;
      d.Set("key", Str(call.Param(1)));
      d.Set("as_of", Str(*as_of));
      return call.Reply(Error(404, "no such row at that time", Value::MakeObject(std::move(d))));
    }
    Value v = RowToJson(call.Param(1), std::move(rec));
    v.as_object().Set("dead_letters", Num(static_cast<int64_t>(dead)));
    v.as_object().Set("as_of", Str(*as_of));
    return call.Reply(Json(200, v));
  }
  HttpResponse found;  // 200, application/json
  if (!FoundRow(*call.view, call.Param(1), &found.body, &dead)) {
    Object d;
    d.Set("key", Str(call.Param(1)));
    d.Set("dead_letters", Num(static_cast<int64_t>(dead)));
    return call.Reply(Error(404, "no such row", Value::MakeObject(std::move(d))));
  }
  return call.Reply(std::move(found));
}

bool DaemonApi::FoundRow(View& view, const std::string& key, std::string* body, uint64_t* dead) {
  // The stored record, its fields written as JSON from their encoding (no decoded row).
  thread_local std::string record;
  if (!view.store().GetRowRecord(key, &record, dead)) return false;
  body->reserve(body->size() + 512);
  if (!AppendRowJson(key, record, dead, body)) return false;  // as GetRow: not found
  body->push_back('\n');                                      // as Json()
  return true;
}

bool Daemon::QuickGet(const QuickGetRequest& request, QuickAnswer* answer) {
  // The route's index, for projd_http_requests_total.
  static const int kRoute = [] {
    const std::vector<Route>& routes = ApiRoutes();
    for (size_t i = 0; i < routes.size(); ++i) {
      if (routes[i].handler == &DaemonApi::Row) return static_cast<int>(i);
    }
    return -1;
  }();
  constexpr std::string_view kViews = "/v1/views/";
  constexpr std::string_view kRows = "/rows/";
  std::string_view target = request.target;
  if (kRoute < 0 || target.substr(0, kViews.size()) != kViews) return false;
  target.remove_prefix(kViews.size());
  size_t slash = target.find('/');
  if (slash == 0 || slash == std::string_view::npos) return false;
  std::string_view key = target.substr(slash);
  if (key.substr(0, kRows.size()) != kRows) return false;
  key.remove_prefix(kRows.size());
  if (key.empty() || key.find('/') != std::string_view::npos) return false;
  // Not a percent escape in the target (ParseQuickGet): its segments are as they are decoded.
  std::string view_name(target.substr(0, slash));
  if (auth_) {  // as Handle: a token whose role may call the route and that may read the view
    const Access access = ApiRoutes()[static_cast<size_t>(kRoute)].access;
    const Principal* who =
        request.has_authorization ? auth_->Check(std::string(request.authorization)) : nullptr;
    if (!who || !RoleMayCall(who->role, access) ||
        (access == Access::kReader && !who->CanRead(view_name))) {
      return false;
    }
  }
  std::shared_ptr<View> view = FindView(view_name);
  if (!view) return false;
  // The position before the read, as ApiCall::position: the row is at least as new.
  view->CopyPositionString(&answer->field_value);
  uint64_t dead = 0;
  if (!DaemonApi::FoundRow(*view, std::string(key), &answer->body, &dead)) return false;
  answer->field_name = "X-Projd-Position";
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - request.received).count();
  query_seconds_.Observe(seconds);
  CountRequest(kRoute, 200, seconds);
  return true;
}

void DaemonApi::RowHistory(Daemon& /*daemon*/, ApiCall& call) {
  if (call.view->projection().history() == Projection::History::kNone) {
    return call.Reply(
        Error(400, "view keeps no history",
              Str("add 'history all' or 'history N days' to the definition of " + call.Param(0))));
  }
  size_t limit;
  uint64_t after;
  HttpResponse bad;
  // A bad limit or cursor is refused whatever the format (CSV takes every version; its limit
  // may pass 1000).
  if (!ParsePage(call.req, &limit, &after, &bad)) return call.Reply(std::move(bad));
  if (const std::string* format = call.req.Query("format"); format && *format != "json") {
    if (*format != "csv") return call.Reply(Error(400, "bad format", Str("json or csv")));
    return call.Reply(HistoryCsvAnswer(call.view->store(), call.Param(0), call.Param(1), call.req));
  }
  std::vector<std::pair<uint64_t, RowRecord>> versions;
  bool more = false;
  call.view->store().History(call.Param(1), after, limit, &versions, &more);
  Array arr;
  for (const auto& [seq, rec] : versions) {
    Value v = RowToJson(call.Param(1), rec);
    Object& o = v.as_object();
    o.Erase("key");
    o.Set("deleted", Value::Bool(!rec.exists));
    if (!rec.exists) o.Set("row", Value());
    arr.push_back(std::move(v));
  }
  Object o;
  o.Set("key", Str(call.Param(1)));
  o.Set("versions", Value::MakeArray(std::move(arr)));
  o.Set("next_cursor",
        more && !versions.empty() ? Str(std::to_string(versions.back().first)) : Value());
  return call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

void DaemonApi::Rows(Daemon& /*daemon*/, ApiCall& call) {
  ViewStore::ScanOptions so;
  std::string error;
  if (!ParseLimit(call.req, 100, 1000, &so.limit, &error)) {
    return call.Reply(Error(400, "bad limit", Str(error)));
  }
  if (const std::string* p = call.req.Query("prefix")) so.prefix = *p;
  if (const std::string* s = call.req.Query("start")) so.start = *s;
  if (const std::string* e = call.req.Query("end")) so.end = *e;
  if (const std::string* c = call.req.Query("cursor")) {
    // The cursor is the last key returned, hex-encoded (opaque to clients).
    if (!HexDecode(*c, &so.after)) {
      return call.Reply(Error(400, "bad cursor", Str("not a cursor from this API")));
    }
  }
  std::vector<std::pair<std::string, RowRecord>> rows;
  bool more = false;
  if (!call.view->store().Scan(so, &rows, &more, &error)) {
    return call.Reply(Error(500, "scan failed", Str(error)));
  }
  Array arr;
  for (const auto& [k, rec] : rows) arr.push_back(RowToJson(k, rec));
  Object o;
  o.Set("rows", Value::MakeArray(std::move(arr)));
  if (more && !rows.empty()) {
    o.Set("next_cursor", Str(HexEncode(rows.back().first)));
  } else {
    o.Set("next_cursor", Value());
  }
  return call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

void DaemonApi::DeadLetters(Daemon& /*daemon*/, ApiCall& call) {
  size_t limit;
  uint64_t after;
  HttpResponse bad;
  if (!ParsePage(call.req, &limit, &after, &bad)) return call.Reply(std::move(bad));
  std::vector<std::pair<uint64_t, DeadLetter>> items;
  bool more = false;
  call.view->store().DeadLetters(after, limit, &items, &more);
  Array arr;
  for (const auto& [seq, d] : items) arr.push_back(DeadLetterToJson(d));
  Object o;
  o.Set("dead_letters", Value::MakeArray(std::move(arr)));
  o.Set("total", Num(static_cast<int64_t>(call.view->store().DeadLetterCount())));
  o.Set("next_cursor", more && !items.empty() ? Str(std::to_string(items.back().first)) : Value());
  return call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

void DaemonApi::Rebuild(Daemon& daemon, ApiCall& call) {
  const std::string* ag = call.req.Query("allow_gap");
  if (ag && *ag != "true" && *ag != "false") {
    return call.Reply(Error(400, "bad allow_gap", Str("true or false")));
  }
  bool allow_gap = ag && *ag == "true";
  std::string error;
  Value gap;
  if (!daemon.Rebuild(call.Param(0), allow_gap, &error, &gap)) {
    if (!gap.is_null()) {
      Object d = gap.as_object();
      d.Set("hint", Str(daemon.archive_
                            ? "the archive does not reach the log start; fill the archive, or "
                              "add ?allow_gap=true to rebuild from the first available offsets"
                            : "events were deleted by retention; start projd with --archive, or "
                              "add ?allow_gap=true to rebuild from the first available offsets"));
      return call.Reply(Error(409, error, Value::MakeObject(std::move(d))));
    }
    return call.Reply(Error(409, "cannot start a rebuild", Str(error)));
  }
  Object o;
  o.Set("rebuild", Str("started"));
  o.Set("view", Str(call.Param(0)));
  return call.Reply(Json(202, Value::MakeObject(std::move(o))));
}

void DaemonApi::Checksum(Daemon& /*daemon*/, ApiCall& call) {
  // Rows and offsets come from one read transaction: the digest is that of this position.
  ViewStore::Checksum sum;
  std::string error;
  if (!call.view->store().ComputeChecksum(&sum, &error)) {
    return call.Reply(Error(500, "checksum failed", Str(error)));
  }
  std::string position = sum.position.ToString();
  Object o;
  o.Set("position", Str(position));
  o.Set("rows", Num(static_cast<int64_t>(sum.rows)));
  o.Set("digest", Str(sum.digest));
  o.Set("definition_hash", Str(sum.definition_hash));
  HttpResponse r = Json(200, Value::MakeObject(std::move(o)));
  r.headers.emplace_back("X-Projd-Position", position);
  return call.Reply(std::move(r));
}

void DaemonApi::Snapshot(Daemon& daemon, ApiCall& call) {
  // The copy goes to a folder of its own beside the view's generations; the server streams it
  // and then removes the folder (also when the client goes away).
  static std::atomic<uint64_t> counter{0};
  namespace fs = std::filesystem;
  std::string dir = fs::path(call.view->store().dir()).parent_path().string() + "/snapshot-" +
                    std::to_string(getpid()) + "-" + std::to_string(++counter);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  Position position;
  std::string hash, error;
  if (ec || !call.view->store().SnapshotTo(dir, &position, &hash, &error)) {
    fs::remove_all(dir, ec);
    return call.Reply(Error(500, "snapshot failed", Str(error.empty() ? ec.message() : error)));
  }
  daemon.Log("info", call.Param(0), "snapshot taken at " + position.ToString());
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("X-Projd-Position", position.ToString());
  r.headers.emplace_back("X-Projd-Definition-Hash", hash);
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"" + call.Param(0) + ".mdb\"");
  r.body_file = std::make_shared<HttpFileBody>(dir + "/data.mdb", dir);
  return call.Reply(std::move(r));
}

void DaemonApi::Lag(Daemon& /*daemon*/, ApiCall& call) {
  int64_t window_s = 900;
  if (const std::string* w = call.req.Query("window")) {
    // 90s, 15m, 1h, 1d or plain seconds; a longer window than the hour that is kept gets
    // that hour.
    std::string num = *w;
    int64_t unit = 1;
    if (!num.empty() &&
        (num.back() == 's' || num.back() == 'm' || num.back() == 'h' || num.back() == 'd')) {
      unit = num.back() == 's' ? 1 : num.back() == 'm' ? 60 : num.back() == 'h' ? 3600 : 86400;
      num.pop_back();
    }
    if (num.empty() || num.size() > 6 || num.find_first_not_of("0123456789") != std::string::npos) {
      return call.Reply(Error(400, "bad window",
                              Str("a duration like 90s, 15m, 1h or 1d (samples of 1h are kept)")));
    }
    window_s = std::min<int64_t>(std::stoll(num) * unit, 3600);
  }
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  Array arr;
  for (const auto& smp : call.view->LagSamples(now_ms - window_s * 1000)) {
    Object o;
    o.Set("time", Str(FormatRfc3339(smp.time_ms)));
    o.Set("lag_events", Num(smp.lag_events));
    o.Set("lag_seconds", Seconds(smp.lag_seconds));
    o.Set("events_per_second", Seconds(smp.events_per_second));
    arr.push_back(Value::MakeObject(std::move(o)));
  }
  Object o;
  o.Set("view", Str(call.Param(0)));
  o.Set("window_seconds", Num(window_s));
  o.Set("samples", Value::MakeArray(std::move(arr)));
  return call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

void DaemonApi::Skip(Daemon& daemon, ApiCall& call) {
  // The serving view, its rebuild (which may stop at a bad event too), or both.
  bool skipped = call.view->Skip();
  std::shared_ptr<View> shadow = daemon.FindShadow(call.Param(0));
  bool rebuild_skipped = shadow && shadow->Skip();
  if (!skipped && !rebuild_skipped) {
    return call.Reply(
        Error(409, "view is not stopped", Str("skip applies to a view stopped by errors stop")));
  }
  daemon.Log(
      "info", call.Param(0),
      std::string("skip requested: the failing event becomes a dead letter") +
          (rebuild_skipped ? (skipped ? " (in the view and its rebuild)" : " (in the rebuild)")
                           : ""));
  Object o;
  o.Set("skipped", Value::Bool(true));
  return call.Reply(Json(202, Value::MakeObject(std::move(o))));
}

void DaemonApi::ViewDetail(Daemon& daemon, ApiCall& call) {
  projd::ViewStatus st = daemon.StatusOf(call.view);
  Value v = StatusToJson(st, true);
  v.as_object().Set("definition", Str(call.view->projection().definition()));
  v.as_object().Set("file", Str(call.view->projection().file()));
  Array topics;
  for (const auto& t : call.view->projection().topics()) topics.push_back(Str(t));
  v.as_object().Set("topics", Value::MakeArray(std::move(topics)));
  return call.Reply(Json(200, v));
}

void DaemonApi::DropView(Daemon& daemon, ApiCall& call) {
  std::string error;
  int r = daemon.Drop(call.Param(0), &error);
  if (r < 0) {
    HttpResponse loaded = Error(409, "view is loaded",
                                Str("remove its projection from the projections folder first"));
    // An answer about a loaded view carries its position, as every one does.
    if (auto view = daemon.FindView(call.Param(0))) {
      loaded.headers.emplace_back("X-Projd-Position", view->PositionString());
    }
    return call.Reply(std::move(loaded));
  }
  if (r == 0) {
    return call.Reply(
        Error(404, "no kept data for this view", Str(error.empty() ? call.Param(0) : error)));
  }
  Object o;
  o.Set("dropped", Str(call.Param(0)));
  return call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

void DaemonApi::Dashboard(Daemon& daemon, ApiCall& call) {
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  if (const char* page = DashboardHtml()) {
    r.body = page;
    // With --auth, a request without a valid token is 401 like any other (only /healthz and
    // /readyz need none); its body is still the page, which holds no data and asks for the
    // token that its calls to the API send (a browser shows a 401's page as any other).
    if (daemon.auth_ && !call.who) {
      r.status = 401;
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"projd\"");
    }
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
  return call.Reply(std::move(r));
}

void DaemonApi::ListViews(Daemon& daemon, ApiCall& call) {
  Array arr;
  for (const auto& v : daemon.Views()) {
    if (call.MayRead(v->projection().name())) {
      arr.push_back(StatusToJson(daemon.StatusOf(v), false));
    }
  }
  Object o;
  o.Set("views", Value::MakeArray(std::move(arr)));
  return call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

}  // namespace projd
