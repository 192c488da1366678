// GET /v1/views/{view}/changes (SPEC §9): the request's parameters, checked, become a
// subscription of the change feeds (api/change_feed.h), answered with a streamed body.
#include <algorithm>
#include <cctype>
#include <string_view>

#include "api/api_answers.h"
#include "api/daemon.h"
#include "api/daemon_api.h"
#include "dsl/compiler.h"

namespace projd {
namespace {

// Where the stream starts: a `Last-Event-ID` header (an EventSource reconnecting) wins over
// ?from=, which is a position (empty: before everything), `now` (the default) or `earliest`.
// false with the 400 answer.
bool ParseFrom(const HttpRequest& req, FeedRequest* r, HttpResponse* bad) {
  const std::string* from = req.Header("last-event-id");
  const char* what = "Last-Event-ID";
  if (!from || from->empty()) {
    from = req.Query("from");
    what = "from";
  }
  if (!from || *from == "now") {
    r->from = FeedRequest::From::kNow;
    return true;
  }
  if (*from == "earliest") {
    r->from = FeedRequest::From::kEarliest;
    return true;
  }
  std::string error;
  if (from->empty()) {
    // The empty position, before every partition's first offset: what a view that has applied
    // nothing, or a stream from the earliest change when none was pruned, gives as its position.
    r->position = Position();
    r->from = FeedRequest::From::kPosition;
    return true;
  }
  if (!Position::Parse(*from, &r->position, &error)) {
    *bad = Error(400, std::string("bad ") + what,
                 Str("a position TOPIC:PARTITION:OFFSET,... (as a change's \"position\"), now or "
                     "earliest" +
                     (error.empty() ? std::string() : ": " + error)));
    return false;
  }
  r->from = FeedRequest::From::kPosition;
  return true;
}

// ?where=EXPR, compiled as the query `from VIEW where EXPR`; a bad one is a 400 with the line
// and column in the expression.
bool ParseWhere(const std::shared_ptr<View>& view, const std::string& text, FeedRequest* r,
                HttpResponse* bad) {
  std::string prefix = "from " + view->projection().name() + " where ";
  Diagnostic diag;
  auto query = CompileQuery(
      prefix + text,
      [&view](const std::string& name) -> std::shared_ptr<const Projection> {
        return name == view->projection().name() ? view->projection_ptr() : nullptr;
      },
      &diag);
  if (!query) {
    int column =
        diag.line == 1 ? std::max(1, diag.column - static_cast<int>(prefix.size())) : diag.column;
    Object d;
    d.Set("line", Num(diag.line));
    d.Set("column", Num(column));
    d.Set("message", Str(diag.message));
    *bad = Error(400, "bad where: " + diag.message, Value::MakeObject(std::move(d)));
    return false;
  }
  if (!query->select.empty() || !query->order.empty() || query->limit >= 0 || query->has_as_of) {
    *bad = Error(400, "bad where", Str("an expression on the row, without other clauses"));
    return false;
  }
  if (!query->text_matches.empty()) {
    // A change is one row, not a search over the text index.
    *bad = Error(400, "bad where",
                 Str("matches (full-text search) cannot filter a change feed; use a query"));
    return false;
  }
  r->where = std::move(query);
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The weight ("q") of one media range's parameters: 1 without q=, 0 for a malformed one.
double AcceptWeight(std::string_view params) {
  double q = 1;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = Trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || Trim(p.substr(1)).empty()) continue;
    std::string_view rest = Trim(p.substr(1));
    if (rest[0] != '=') continue;
    std::string_view value = Trim(rest.substr(1));
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )  (RFC 9110 §12.4.2)
    if (value.empty() || (value[0] != '0' && value[0] != '1')) return 0;
    double whole = value[0] - '0', frac = 0, scale = 0.1;
    for (size_t i = 1; i < value.size(); ++i) {
      char c = value[i];
      if (i == 1 && c == '.') continue;
      if (i == 1 || c < '0' || c > '9' || i > 4) return 0;
      frac += (c - '0') * scale;
      scale /= 10;
    }
    q = std::min(1.0, whole + frac);
  }
  return q;
}

// SPEC §9: Server-Sent Events when the request's Accept asks for them: text/event-stream
// listed with a weight above 0 and not below application/x-ndjson's (media types compare
// without regard to case; wildcards ask for neither, so they get the default, NDJSON).
bool AcceptsEventStream(std::string_view accept) {
  double sse = 0, ndjson = 0;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    size_t semi = range.find(';');
    std::string_view type = Trim(range.substr(0, semi));
    double q =
        AcceptWeight(semi == std::string_view::npos ? std::string_view() : range.substr(semi + 1));
    if (EqualsIgnoreCase(type, "text/event-stream")) sse = std::max(sse, q);
    if (EqualsIgnoreCase(type, "application/x-ndjson")) ndjson = std::max(ndjson, q);
  }
  return sse > 0 && sse >= ndjson;
}

}  // namespace

void DaemonApi::Changes(Daemon& daemon, ApiCall& call) {
  FeedRequest r;
  r.view = call.ViewName();
  const std::string* accept = call.req.Header("accept");
  r.sse = accept && AcceptsEventStream(*accept);
  HttpResponse bad;
  if (!ParseFrom(call.req, &r, &bad)) return call.Reply(std::move(bad));
  if (const std::string* key = call.req.Query("key")) {
    r.has_key = true;
    r.key = *key;
  }
  if (const std::string* where = call.req.Query("where")) {
    // A long expression compiles on the query pool (kInlineCompileBytes); the stream is
    // answered from there as from an HTTP thread.
    if (!call.on_pool && where->size() > kInlineCompileBytes) {
      return MoveToPool(daemon, call.shared_from_this());
    }
    if (!ParseWhere(call.view, *where, &r, &bad)) return call.Reply(std::move(bad));
  }
  ChangeFeeds::Answer a = daemon.feeds_->Subscribe(r);
  switch (a.outcome) {
    case ChangeFeeds::Outcome::kOk: {
      HttpResponse stream;
      stream.content_type = r.sse ? "text/event-stream" : "application/x-ndjson";
      stream.stream = std::move(a.stream);
      // Where the stream starts: resuming from it misses nothing, before the first change too.
      stream.headers.emplace_back("X-Projd-Feed-Position", a.position);
      return call.Reply(std::move(stream));
    }
    case ChangeFeeds::Outcome::kGone: {
      Object d;
      d.Set("oldest", Str(a.oldest));
      d.Set("hint", Str("changes older than this position are no longer kept (--changes-keep); "
                        "resume from it, or read the view and follow from=now"));
      return call.Reply(Error(410, "gone", Value::MakeObject(std::move(d))));
    }
    case ChangeFeeds::Outcome::kTooMany: {
      HttpResponse busy = Error(503, "too many subscribers",
                                Str("the change feeds are at --max-subscribers; retry later"));
      busy.headers.emplace_back("Retry-After", "1");
      return call.Reply(std::move(busy));
    }
    case ChangeFeeds::Outcome::kNoView:
      return call.Reply(Error(404, "unknown view", Str(call.ViewName())));
    case ChangeFeeds::Outcome::kError:
      break;
  }
  return call.Reply(Error(500, "change log unreadable", Str(a.error)));
}

}  // namespace projd
