// GET /v1/views/{view}/changes (SPEC §9): the request's parameters, checked, become a
// subscription of the change feeds (api/change_feed.h), answered with a streamed body.

#include <algorithm>

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

}  // namespace

void DaemonApi::Changes(Daemon& daemon, ApiCall& call) {
  FeedRequest r;
  r.view = call.ViewName();
  // SPEC §9: SSE when Accept asks for it: text/event-stream weighted above 0 and not below
  // NDJSON (wildcards ask for neither: they get the default, NDJSON).
  const double sse = call.req.AcceptWeight("text/event-stream");
  r.sse = sse > 0 && sse >= call.req.AcceptWeight("application/x-ndjson");
  HttpResponse bad;
  if (!ParseFrom(call.req, &r, &bad)) return call.Reply(std::move(bad));
  if (r.from == FeedRequest::From::kPosition) {
    // A position names this view's topics only: another topic's offsets would ride along in
    // every position sent, which as min_position this view could never reach.
    const auto& topics = call.view->projection().topics();
    for (const auto& [tp, off] : r.position) {
      if (std::find(topics.begin(), topics.end(), tp.topic) == topics.end()) {
        return call.Reply(Error(
            400,
            std::string("bad ") + (call.req.Header("last-event-id") ? "Last-Event-ID" : "from"),
            Str("view " + r.view + " does not consume topic " + tp.topic)));
      }
    }
  }
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
