// GET /v1/correlations/{id} (SPEC §11): every change that events of one command made, across
// the views the caller may read, in the order they were applied, paged. Each view's part comes
// from its store's correlation index (written with the rows; store/change_log.cc).
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "api/api_answers.h"
#include "api/daemon.h"
#include "api/daemon_api.h"

namespace projd {
namespace {

// Where a page ended: the last change's applied time, view and sequence. Changes are ordered
// by (applied ms, view, sequence); the cursor is those three, "MS.SEQ.VIEW".
struct CorrelationCursor {
  int64_t ms = -1;  // -1: from the start
  uint64_t seq = 0;
  std::string view;
};

bool ParseCursor(const std::string& text, CorrelationCursor* c) {
  long long ms = 0;
  unsigned long long seq = 0;
  int used = 0;
  if (std::sscanf(text.c_str(), "%lld.%llu.%n", &ms, &seq, &used) != 2 || used <= 0 || ms < 0) {
    return false;
  }
  c->ms = ms;
  c->seq = seq;
  c->view = text.substr(static_cast<size_t>(used));
  return !c->view.empty();
}

struct Found {
  std::string view;
  bool history = false;
  ViewStore::CorrelatedChange change;
};

bool Before(const Found& a, const Found& b) {
  if (a.change.applied_ms != b.change.applied_ms) {
    return a.change.applied_ms < b.change.applied_ms;
  }
  if (a.view != b.view) return a.view < b.view;
  return a.change.seq < b.change.seq;
}

Value FoundToJson(Found&& f) {
  Object o;
  o.Set("view", Str(f.view));
  o.Set("key", Str(f.change.key));
  o.Set("version", Num(static_cast<int64_t>(f.change.row.version)));
  o.Set("updated_by", ProvenanceToJson(f.change.row.updated_by));
  o.Set("deleted", Value::Bool(!f.change.row.exists));
  // The row only where the view keeps history (its versions are the audit trail's record).
  if (f.history) {
    o.Set("row", f.change.row.exists ? Value::MakeObject(std::move(f.change.row.fields)) : Value());
  }
  return Value::MakeObject(std::move(o));
}

}  // namespace

void DaemonApi::Correlations(Daemon& daemon, ApiCall& call) {
  const std::string& id = call.Param(0);
  size_t limit;
  std::string error;
  if (!ParseLimit(call.req, 100, 1000, &limit, &error)) {
    return call.Reply(Error(400, "bad limit", Str(error)));
  }
  CorrelationCursor cursor;
  if (const std::string* c = call.req.Query("cursor"); c && !ParseCursor(*c, &cursor)) {
    return call.Reply(Error(400, "bad cursor", Str("next_cursor of the previous answer")));
  }
  // The views this answer reads: with min_position, each that consumes one of its topics
  // is first waited for (read-your-own-writes across views).
  std::vector<std::shared_ptr<View>> views;
  for (const auto& view : daemon.Views()) {
    if (call.MayRead(view->projection().name()) && view->projection().has_correlation()) {
      views.push_back(view);
    }
  }
  if (WaitForPositionOnAll(daemon, call.shared_from_this(), views)) return;
  std::vector<Found> found;
  for (const auto& view : views) {
    const std::string& name = view->projection().name();
    // Past the cursor in (ms, view, seq) order: a view before the cursor's view resumes after
    // its millisecond, the cursor's view after its sequence, a later view at its millisecond.
    int64_t after_ms = cursor.ms;
    uint64_t after_seq = cursor.seq;
    if (cursor.ms >= 0 && name < cursor.view) after_seq = UINT64_MAX;
    if (cursor.ms >= 0 && name > cursor.view) {
      after_ms = cursor.ms - 1;
      after_seq = UINT64_MAX;
    }
    std::vector<ViewStore::CorrelatedChange> changes;
    bool more = false;
    if (!view->store().Correlated(id, after_ms, after_seq, limit + 1, &changes, &more, &error)) {
      std::string detail = name;
      detail += ": ";
      detail += error;
      return call.Reply(Error(500, "correlation index unreadable", Str(detail)));
    }
    bool history = view->projection().history() != Projection::History::kNone;
    for (auto& c : changes) found.push_back(Found{name, history, std::move(c)});
  }
  std::sort(found.begin(), found.end(), Before);
  bool more = found.size() > limit;
  if (more) found.resize(limit);
  Value next;
  if (more) {
    const Found& last = found.back();
    next = Str(std::to_string(last.change.applied_ms) + "." + std::to_string(last.change.seq) +
               "." + last.view);
  }
  Array arr;
  for (auto& f : found) arr.push_back(FoundToJson(std::move(f)));
  Object o;
  o.Set("correlation", Str(id));
  o.Set("changes", Value::MakeArray(std::move(arr)));
  o.Set("next_cursor", std::move(next));
  call.Reply(Json(200, Value::MakeObject(std::move(o))));
}

}  // namespace projd
