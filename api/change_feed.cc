#include "api/change_feed.h"

#include <algorithm>
#include <deque>

#include "api/api_answers.h"
#include "dsl/thread_name.h"

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;

// Changes read from a view's log per read, and how far a catching-up subscriber's buffer may
// fill before its next page is read.
constexpr size_t kPageChanges = 1024;
constexpr size_t kPageBytes = 4 << 20;
constexpr size_t kCatchUpBuffer = 1 << 20;
// Bytes handed to the server per Take at most.
constexpr size_t kTakeBytes = 256 * 1024;

// One change, encoded once for every subscriber.
struct Encoded {
  std::string position;
  std::string ndjson;  // the JSON line
  std::string sse;     // an SSE event: its id is the position
};

std::shared_ptr<const Encoded> Encode(ChangeRecord&& c) {
  auto e = std::make_shared<Encoded>();
  e->position = c.position.ToString();
  std::string json = ToJson(ChangeToJson(std::move(c)));
  e->ndjson.reserve(json.size() + 1);
  e->ndjson = json;
  e->ndjson += '\n';
  e->sse.reserve(json.size() + e->position.size() + 16);
  e->sse = "id: " + e->position + "\ndata: " + json + "\n\n";
  return e;
}

// A JSON line of the stream that is not a change (heartbeat, end), framed for SSE or NDJSON.
std::string ControlLine(const Value& v, bool sse, const char* event) {
  std::string json = ToJson(v);
  if (!sse) return json + "\n";
  return std::string("event: ") + event + "\ndata: " + json + "\n\n";
}

bool Matches(const FeedRequest& r, const ChangeRecord& c) {
  if (r.has_key && c.key != r.key) return false;
  if (!r.where) return true;
  EvalContext ctx;
  ctx.key = c.key;
  ctx.row = &c.row.fields;
  Value v;
  return Evaluate(r.where->where, &ctx, &v) && v.is_bool() && v.as_bool();
}

}  // namespace

// One open stream. The feed thread pushes pieces; the HTTP server takes them.
class Subscriber final : public HttpStream {
 public:
  Subscriber(ChangeFeeds* feeds, FeedRequest request)
      : feeds_(feeds), request_(std::move(request)) {}

  // ---- HttpStream (the connection's I/O thread) ----
  void Open(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = std::move(wake);
    if (!queue_.empty() || ended_) wake_();
  }
  bool Take(std::string* out) override {
    bool more_wanted = false;
    bool open;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!queue_.empty() && out->size() < kTakeBytes) {
        Piece& p = queue_.front();
        out->append(p.change ? (request_.sse ? p.change->sse : p.change->ndjson) : p.text);
        if (p.change) last_taken_ = p.change->position;
        bytes_ -= p.size;
        queue_.pop_front();
      }
      more_wanted = !live_ && bytes_ < kCatchUpBuffer;
      open = !(ended_ && queue_.empty());
    }
    if (more_wanted) feeds_->Wake();
    return open;
  }
  void Closed() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      ended_ = true;
      queue_.clear();
      bytes_ = 0;
      wake_ = nullptr;
    }
    feeds_->Wake();  // the feed thread drops it
  }

  // ---- the feed thread ----
  const FeedRequest& request() const { return request_; }
  // Queues a change; false when the stream is over (ended, closed or cut off just now).
  bool Push(const std::shared_ptr<const Encoded>& change) {
    size_t size = request_.sse ? change->sse.size() : change->ndjson.size();
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return false;
    if (bytes_ + size > feeds_->options_.buffer_bytes) {
      // Too slow: what it has not taken is dropped; it resumes from the last change taken.
      queue_.clear();
      bytes_ = 0;
      Object o;
      o.Set("error", Value::String("slow consumer"));
      o.Set("position", Value::String(last_taken_.empty() ? first_token_ : last_taken_));
      EndLocked(ControlLine(Value::MakeObject(std::move(o)), request_.sse, "error"));
      return false;
    }
    QueueLocked(Piece{change, std::string(), size});
    return true;
  }
  void PushLine(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
    size_t size = line.size();
    QueueLocked(Piece{nullptr, std::move(line), size});
  }
  // Ends the stream after what is queued and `last` (a final line; may be empty).
  void End(std::string last) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ended_) EndLocked(std::move(last));
  }
  bool over() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  size_t buffered() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }
  void SetLive(bool live) {
    std::lock_guard<std::mutex> lock(mu_);
    live_ = live;
  }

  // Feed thread state: the view whose log `next` numbers (held weakly: a stream kept open
  // must not keep a replaced view alive), the next change to consider, and the position
  // covering exactly the changes considered so far.
  std::weak_ptr<View> view;
  uint64_t next = 0;
  std::string token;
  std::string first_token_;  // the token it started from (for a cut-off before any change)
  // The position it resumed from while the log has not passed it on every partition: the log
  // may hold changes it covers after ones it does not (it was another replica's, or the view
  // was rebuilt: partitions applied in other runs). Those are skipped, and the positions sent
  // are lifted to cover what it covered (Resumed).
  Position covered;
  bool covering = false;
  bool live = false;
  Clock::time_point last_push = Clock::now();

 private:
  struct Piece {
    std::shared_ptr<const Encoded> change;  // null: `text`
    std::string text;
    size_t size = 0;
  };
  // Queues a piece; the server is woken when the queue was empty (else a Take is due anyway).
  void QueueLocked(Piece piece) {
    bool was_empty = queue_.empty();
    bytes_ += piece.size;
    queue_.push_back(std::move(piece));
    if (was_empty && wake_) wake_();
  }
  void EndLocked(std::string last) {
    size_t size = last.size();
    if (size > 0) QueueLocked(Piece{nullptr, std::move(last), size});
    ended_ = true;
    if (wake_) wake_();  // the end itself is news, queue empty or not
  }

  ChangeFeeds* const feeds_;
  const FeedRequest request_;
  std::mutex mu_;
  std::deque<Piece> queue_;  // guarded by mu_
  size_t bytes_ = 0;         // guarded by mu_
  bool ended_ = false;       // guarded by mu_: nothing more is queued
  bool closed_ = false;      // guarded by mu_
  bool live_ = false;        // guarded by mu_: a copy of `live` for Take
  std::string last_taken_;   // guarded by mu_: position of the last change taken
  std::function<void()> wake_;
};

namespace {

// For a subscriber resuming from a position (Subscriber::covered): true when it covers the
// change, which is then not sent; else c's position is lifted to cover what it covered, and
// once the log's position has passed it everywhere nothing more is skipped.
bool Resumed(Subscriber* s, ChangeRecord* c) {
  if (!s->covering) return false;
  const Provenance& by = c->row.updated_by;
  if (by.offset < s->covered.NextOf(TopicPartition{by.topic, by.partition})) return true;
  bool passed = true;
  for (const auto& [tp, off] : s->covered) {
    if (c->position.NextOf(tp) < off) {
      c->position[tp] = off;
      passed = false;
    }
  }
  if (passed) s->covering = false;
  return false;
}

// The token `position` lifted to cover what the subscriber's resume position covered.
std::string Lifted(const Subscriber& s, const std::string& position) {
  if (!s.covering) return position;
  Position p;
  std::string error;
  if (!Position::Parse(position, &p, &error)) return position;
  for (const auto& [tp, off] : s.covered) {
    if (p.NextOf(tp) < off) p[tp] = off;
  }
  return p.ToString();
}

}  // namespace

struct ChangeFeeds::FeedView {
  // Guarded by ChangeFeeds::mu_.
  std::shared_ptr<View> attached;
  bool detached = false;
  std::vector<std::shared_ptr<Subscriber>> incoming;
  size_t count = 0;
  // The feed thread's.
  std::shared_ptr<View> view;
  std::string definition_hash;
  uint64_t sent = 0;          // changes below this went to the up-to-date subscribers
  std::string sent_position;  // the position covering exactly those
  std::vector<std::shared_ptr<Subscriber>> subs;
};

namespace {

// The position that covers exactly the changes of `store` below `seq`.
std::string TokenAt(ViewStore& store, uint64_t seq) {
  ViewStore::ChangeLogBounds bounds;
  std::string error;
  if (!store.ChangeBounds(&bounds, &error)) return "";
  if (bounds.first != 0 && seq > bounds.first) {
    std::vector<ChangeRecord> last;
    if (store.ReadChanges(seq - 1, seq, 1, 1, &last, &error) && !last.empty()) {
      return last.front().position.ToString();
    }
  }
  return bounds.pruned.ToString();
}

}  // namespace

ChangeFeeds::ChangeFeeds(FeedOptions options) : options_(options) {}

ChangeFeeds::~ChangeFeeds() { Stop(); }

void ChangeFeeds::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] {
    NameThisThread("feeds");
    Run();
  });
}

void ChangeFeeds::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, fv] : views_) {
    for (auto& s : fv->subs) s->End("");
    for (auto& s : fv->incoming) s->End("");
    fv->subs.clear();
    fv->incoming.clear();
    // The views are the daemon's to stop and destroy.
    fv->view.reset();
    fv->attached.reset();
  }
}

void ChangeFeeds::Attach(const std::string& name, std::shared_ptr<View> view) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& fv = views_[name];
  if (!fv) fv = std::make_shared<FeedView>();
  fv->attached = std::move(view);
  fv->detached = false;
  wake_ = true;
  cv_.notify_all();
}

void ChangeFeeds::Detach(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = views_.find(name);
  if (it == views_.end()) return;
  it->second->attached = nullptr;
  it->second->detached = true;
  wake_ = true;
  cv_.notify_all();
}

void ChangeFeeds::Notify() { Wake(); }

void ChangeFeeds::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

std::map<std::string, size_t> ChangeFeeds::SubscriberCounts() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, size_t> out;
  for (const auto& [name, fv] : views_) {
    if (fv->attached) out[name] = fv->count;
  }
  return out;
}

ChangeFeeds::Answer ChangeFeeds::Subscribe(const FeedRequest& request) {
  Answer answer;
  std::shared_ptr<View> view;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = views_.find(request.view);
    if (it == views_.end() || !it->second->attached) {
      answer.outcome = Outcome::kNoView;
      return answer;
    }
    if (subscribers_ >= options_.max_subscribers) {
      answer.outcome = Outcome::kTooMany;
      return answer;
    }
    view = it->second->attached;
  }
  ViewStore& store = view->store();
  ViewStore::ChangeLogBounds bounds;
  if (!store.ChangeBounds(&bounds, &answer.error)) return answer;
  auto sub = std::make_shared<Subscriber>(this, request);
  sub->view = view;
  switch (request.from) {
    case FeedRequest::From::kNow:
      sub->next = view->published_change_seq();
      sub->token = TokenAt(store, sub->next);
      break;
    case FeedRequest::From::kEarliest:
      sub->next = bounds.first != 0 ? bounds.first : bounds.next;
      sub->token = bounds.pruned.ToString();
      break;
    case FeedRequest::From::kPosition:
      // Pruned changes that this position does not cover: they cannot be sent.
      for (const auto& [tp, off] : bounds.pruned) {
        if (request.position.NextOf(tp) < off) {
          answer.outcome = Outcome::kGone;
          answer.oldest = bounds.pruned.ToString();
          return answer;
        }
      }
      if (!store.FirstChangeAfter(request.position, &sub->next, &answer.error)) return answer;
      sub->token = request.position.ToString();
      sub->covered = request.position;
      sub->covering = true;
      break;
  }
  sub->first_token_ = sub->token;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = views_.find(request.view);
  if (it == views_.end() || !it->second->attached) {
    answer.outcome = Outcome::kNoView;
    return answer;
  }
  ++subscribers_;
  ++it->second->count;
  it->second->incoming.push_back(sub);
  wake_ = true;
  cv_.notify_all();
  answer.outcome = Outcome::kOk;
  answer.position = sub->token;
  answer.stream = std::move(sub);
  return answer;
}

void ChangeFeeds::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return wake_ || stop_; });
    if (stop_) break;
    wake_ = false;
    lock.unlock();
    Round();
    lock.lock();
  }
}

void ChangeFeeds::Round() {
  std::vector<std::shared_ptr<FeedView>> views;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, fv] : views_) {
      if (fv->attached != fv->view || fv->detached) {
        if (fv->view || fv->detached) Reattach(fv.get());
        fv->view = fv->attached;
        if (fv->view) {
          fv->definition_hash = fv->view->projection().definition_hash();
          fv->sent = fv->view->published_change_seq();
          fv->sent_position = TokenAt(fv->view->store(), fv->sent);
        }
      }
      for (auto& s : fv->incoming) fv->subs.push_back(std::move(s));
      fv->incoming.clear();
      views.push_back(fv);
    }
  }
  for (auto& fv : views) {
    if (!fv->view) continue;
    FanOut(fv.get());
    for (auto& s : fv->subs) {
      if (!s->live && !s->over()) CatchUp(fv.get(), s.get());
    }
    Heartbeats(fv.get());
    // Streams that ended (cut off, closed by the client) leave.
    size_t before = fv->subs.size();
    fv->subs.erase(std::remove_if(fv->subs.begin(), fv->subs.end(),
                                  [](const std::shared_ptr<Subscriber>& s) { return s->over(); }),
                   fv->subs.end());
    if (size_t gone = before - fv->subs.size()) {
      std::lock_guard<std::mutex> lock(mu_);
      subscribers_ -= gone;
      fv->count -= gone;
    }
  }
}

namespace {

// Ends a stream whose next changes are no longer kept: it cannot get every change from where
// it is, and is told so (and where it stands).
void EndPruned(Subscriber* sub) {
  Object o;
  o.Set("error", Value::String("changes pruned before they were sent"));
  o.Set("position", Value::String(sub->token));
  sub->End(ControlLine(Value::MakeObject(std::move(o)), sub->request().sse, "error"));
}

}  // namespace

void ChangeFeeds::FanOut(FeedView* fv) {
  ViewStore& store = fv->view->store();
  // Up to the published head: a change committed and not yet published is sent after it is.
  uint64_t head = fv->view->published_change_seq();
  bool anyone_live = false;
  for (auto& s : fv->subs) anyone_live = anyone_live || s->live;
  if (!anyone_live) {
    // Nobody to give them to: skip the reading, keep the position right.
    if (head > fv->sent) {
      fv->sent_position = TokenAt(store, head);
      fv->sent = head;
    }
    return;
  }
  while (fv->sent < head) {
    std::vector<ChangeRecord> changes;
    std::string error;
    if (!store.ReadChanges(fv->sent, head, kPageChanges, kPageBytes, &changes, &error) ||
        changes.empty()) {
      return;  // retried next round
    }
    if (changes.front().seq != fv->sent) {
      // Pruned before this thread read them (it fell more than --changes-keep behind): the
      // streams that wanted them cannot get every change any more.
      for (auto& s : fv->subs) {
        if (s->live && s->next < changes.front().seq) EndPruned(s.get());
      }
    }
    for (auto& c : changes) {
      uint64_t seq = c.seq;
      std::shared_ptr<const Encoded> encoded;
      for (auto& s : fv->subs) {
        if (!s->live || seq < s->next) continue;
        s->next = seq + 1;
        if (s->covering) {
          // Still passing its resume position: its own copy, maybe skipped, maybe lifted.
          ChangeRecord copy = c;
          if (Resumed(s.get(), &copy) || !Matches(s->request(), copy)) continue;
          s->Push(Encode(std::move(copy)));
          s->last_push = Clock::now();
          continue;
        }
        if (!Matches(s->request(), c)) continue;
        if (!encoded) {
          ChangeRecord copy = c;
          encoded = Encode(std::move(copy));
        }
        s->Push(encoded);
        s->last_push = Clock::now();
      }
      fv->sent_position = c.position.ToString();
      fv->sent = seq + 1;
    }
  }
  for (auto& s : fv->subs) {
    if (s->live) s->token = Lifted(*s, fv->sent_position);
  }
}

void ChangeFeeds::CatchUp(FeedView* fv, Subscriber* sub) {
  if (sub->view.lock() != fv->view) {
    // Subscribed against a store that was swapped out since: find its place in this one.
    std::string error;
    Position from;
    Position::Parse(sub->token, &from, &error);
    sub->view = fv->view;
    ViewStore::ChangeLogBounds bounds;
    bool kept = fv->view->store().ChangeBounds(&bounds, &error);
    for (const auto& [tp, off] : bounds.pruned) kept = kept && from.NextOf(tp) >= off;
    if (!kept || !fv->view->store().FirstChangeAfter(from, &sub->next, &error)) {
      EndPruned(sub);
      return;
    }
    // The new log applied the partitions in other runs: what the token covers is skipped.
    sub->covered = from;
    sub->covering = true;
  }
  if (sub->buffered() >= kCatchUpBuffer) return;
  if (sub->next < fv->sent) {
    std::vector<ChangeRecord> changes;
    std::string error;
    if (!fv->view->store().ReadChanges(sub->next, fv->sent, kPageChanges, kPageBytes, &changes,
                                       &error)) {
      return;
    }
    if (changes.empty() || changes.front().seq != sub->next) {
      EndPruned(sub);  // it fell more than --changes-keep behind while it caught up
      return;
    }
    for (auto& c : changes) {
      sub->next = c.seq + 1;
      if (Resumed(sub, &c)) continue;
      std::string position = c.position.ToString();
      if (Matches(sub->request(), c)) {
        if (!sub->Push(Encode(std::move(c)))) return;
        sub->last_push = Clock::now();
      }
      sub->token = std::move(position);
    }
  }
  if (sub->next >= fv->sent) {
    sub->live = true;
    sub->SetLive(true);
    if (sub->next == fv->sent) sub->token = Lifted(*sub, fv->sent_position);
  } else {
    Wake();  // more to read
  }
}

void ChangeFeeds::Heartbeats(FeedView* fv) {
  auto now = Clock::now();
  for (auto& s : fv->subs) {
    if (now - s->last_push < options_.heartbeat) continue;
    s->last_push = now;
    if (s->request().sse) {
      s->PushLine(": heartbeat " + s->token + "\n\n");
    } else {
      Object o;
      o.Set("heartbeat", Value::String(s->token));
      s->PushLine(ControlLine(Value::MakeObject(std::move(o)), false, ""));
    }
  }
}

void ChangeFeeds::Reattach(FeedView* fv) {
  // Called with mu_ held, before fv->view becomes fv->attached.
  std::string hash = fv->attached ? fv->attached->projection().definition_hash() : "";
  bool same = fv->attached && hash == fv->definition_hash;
  for (auto& s : fv->subs) {
    if (same) {
      // A rebuild of the same definition: the positions stay valid; catch up in the new store.
      s->live = false;
      s->SetLive(false);
      continue;
    }
    if (fv->detached) {
      s->End("");
      continue;
    }
    Object o;
    o.Set("position", Value::String(s->token));
    o.Set("rebuilt", Value::String(hash));
    s->End(ControlLine(Value::MakeObject(std::move(o)), s->request().sse, "rebuilt"));
  }
}

}  // namespace projd
