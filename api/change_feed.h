// Change feeds (SPEC §9): GET /v1/views/{view}/changes streams a view's changes to each
// subscriber, in apply order, only once durable, resumable from any position it was given.
//
// The changes come from each view's change log (store/change_log.cc), which the view writes
// in the transaction of the batch that made them. One thread (the feed thread) does all the
// work: when a view publishes a batch it reads the new changes once, encodes each once (JSON,
// NDJSON line and SSE event), and hands them to every subscriber that is up to date; a
// subscriber that starts behind (from= an older position, earliest) is fed from the log page
// by page until it has caught up, then joins the others. Subscribers hold references to the
// shared encodings and at most `buffer_bytes` of them: one that reads too slowly is cut off
// (a last line says where to resume), so it never delays the others, the views or memory.
//
// Thread-safety: every public method may be called from any thread.
#ifndef PROJD_API_CHANGE_FEED_H_
#define PROJD_API_CHANGE_FEED_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "dsl/query.h"
#include "engine/view.h"

namespace projd {

struct FeedOptions {
  size_t max_subscribers = 10000;  // over it, Subscribe answers kTooMany (503)
  size_t buffer_bytes = 8 << 20;   // a subscriber further behind than this is cut off
  std::chrono::milliseconds heartbeat{15000};
};

struct FeedRequest {
  std::string view;
  enum class From { kNow, kEarliest, kPosition };
  From from = From::kNow;
  Position position;  // kPosition
  bool has_key = false;
  std::string key;                     // follow this row only
  std::shared_ptr<const Query> where;  // its `where`: a filter on the row (null: none)
  bool sse = false;                    // text/event-stream framing, else NDJSON
};

class Subscriber;
class ChangeFeeds {
 public:
  explicit ChangeFeeds(FeedOptions options);
  ~ChangeFeeds();
  ChangeFeeds(const ChangeFeeds&) = delete;
  ChangeFeeds& operator=(const ChangeFeeds&) = delete;

  void Start();
  // Ends every stream and joins the feed thread. Idempotent.
  void Stop();

  // `view` now serves `name` (at start, after a rebuild's swap, after a reload). When it
  // replaces a view of another definition, the streams of `name` end with
  // {"rebuilt": HASH, "position": P}; after a rebuild of the same definition they go on from
  // where they were, in the new store.
  void Attach(const std::string& name, std::shared_ptr<View> view);
  // `name` is no longer served: its streams end.
  void Detach(const std::string& name);
  // A view published a batch (called from its committing thread): the feed thread wakes.
  void Notify();

  enum class Outcome { kOk, kGone, kTooMany, kNoView, kError };
  struct Answer {
    Outcome outcome = Outcome::kError;
    std::shared_ptr<HttpStream> stream;  // kOk
    std::string position;                // kOk: where the stream starts (a resume position)
    std::string oldest;                  // kGone: the oldest position that can be resumed from
    std::string error;                   // kError
  };
  Answer Subscribe(const FeedRequest& request);

  // Open streams per view (projd_subscribers).
  std::map<std::string, size_t> SubscriberCounts();

 private:
  friend class Subscriber;
  struct FeedView;
  void Run();
  void Wake();
  // One round of the feed thread: new changes of every view to its up-to-date subscribers, a
  // page of the log to each subscriber that is catching up, heartbeats.
  void Round();
  void FanOut(FeedView* fv);
  void CatchUp(FeedView* fv, Subscriber* sub);
  void Heartbeats(FeedView* fv);
  // Moves the streams of fv onto its new view (same definition), or ends them.
  void Reattach(FeedView* fv);

  const FeedOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;                                       // guarded by mu_
  bool stop_ = false;                                       // guarded by mu_
  std::map<std::string, std::shared_ptr<FeedView>> views_;  // guarded by mu_
  size_t subscribers_ = 0;                                  // guarded by mu_: open streams
  std::thread thread_;
};

}  // namespace projd

#endif  // PROJD_API_CHANGE_FEED_H_
