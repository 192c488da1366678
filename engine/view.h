// A running view: one projection, its LMDB store, its source, and the thread that applies
// events in batches. Status() gives what operators see.
#ifndef PROJD_ENGINE_VIEW_H_
#define PROJD_ENGINE_VIEW_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "connectors/source.h"
#include "dsl/program.h"
#include "engine/committer.h"
#include "engine/lag_samples.h"
#include "engine/metrics.h"
#include "engine/poll_reader.h"
#include "engine/projector.h"
#include "engine/waiters.h"
#include "store/view_store.h"

namespace projd {

using SourceFactory = std::function<std::unique_ptr<Source>(const std::string& view_name)>;
using LogFn = std::function<void(const std::string& level, const std::string& view,
                                 const std::string& message)>;

struct ViewOptions {
  size_t max_batch = 10000;  // events read per poll; per LMDB transaction for live traffic
  // A backlog (polls that come back full) keeps joining the batch in hand, up to this many
  // events per transaction: a catch-up makes fewer, larger commits, each rewriting the pages of
  // the rows it touched once for more events. At most max_batch when it is not above it. Views
  // of format avro do not grow (a schema fetch must not hold applied events).
  size_t max_grown_batch = 40000;
  std::chrono::milliseconds poll_timeout{50};
  std::chrono::seconds stall_after{30};  // lag > 0 and no progress this long: stalled
  // format avro: where writer schemas come from (null: no --schema-registry given).
  std::shared_ptr<SchemaRegistry> schema_registry;
  // Called on the committing thread after each batch is durable and published (change feeds
  // wake up); must be quick.
  std::function<void()> on_published;
  // A rebuild's view, built beside the serving one: what it applies becomes visible only when
  // it is swapped in, so it observes no event-to-visible latency until then (SwappedIn).
  bool shadow = false;
};

struct PartitionStatus {
  TopicPartition tp;
  Offset position = 0;                   // next offset to apply
  std::optional<Offset> high_watermark;  // unknown until the source knows it
  std::optional<Offset> low_watermark;
  int64_t lag_events = 0;
  double lag_seconds = 0;
};

// What operators see of a view (SPEC §5 lists the states and what they mean).
enum class ViewState { kLive, kCatchingUp, kRebuilding, kLagging, kStalled, kStopped, kFailed };
// Every state, in the order /metrics lists them.
constexpr ViewState kViewStates[] = {
    ViewState::kLive,    ViewState::kCatchingUp, ViewState::kRebuilding, ViewState::kLagging,
    ViewState::kStalled, ViewState::kStopped,    ViewState::kFailed};
// The state's name in the API: "live", "catching_up", ...
const char* ViewStateName(ViewState state);

struct ViewStatus {
  std::string name;
  ViewState state = ViewState::kCatchingUp;
  std::string reason;  // why the state is not live (empty when live)
  uint64_t rows = 0;
  int64_t lag_events = 0;
  double lag_seconds = 0;
  double events_per_second = 0;
  int64_t applied_total = 0, ignored_total = 0, duplicates_total = 0, dead_letters_total = 0;
  std::string definition_hash;
  std::vector<PartitionStatus> partitions;
  std::string position;  // TOPIC:PARTITION:OFFSET,...
  bool caught_up_once = false;
  // errors stop: the event the view stopped at.
  bool failed = false;
  std::string failed_topic;
  int32_t failed_partition = 0;
  int64_t failed_offset = 0;
  std::string failed_event;     // the event it stopped at, cut to 64 KiB
  int64_t last_applied_ms = 0;  // wall clock of the last commit with events, 0: never
  // With --archive: events, objects and bytes this view read from the archive.
  bool archive = false;
  int64_t archive_events = 0, archive_objects = 0, archive_bytes = 0;
  int64_t fetch_wakes = 0;  // Kafka fetchers woken after a full queue paused them
  // /metrics' counters: dead letters and archive reads since projd started, with those of the
  // views this one was swapped in for (the fields above are this view's own: the dead letters
  // it keeps, what it read from the archive).
  int64_t counted_dead_letters = 0, counted_archive_events = 0, counted_archive_objects = 0,
          counted_archive_bytes = 0;
  // While a rebuild runs (filled by the daemon from the shadow view).
  bool rebuilding = false;
  double rebuild_progress = 0;       // 0..1: offsets applied by the shadow / its log end
  int64_t rebuild_applied = 0;       // events the shadow has consumed
  int64_t rebuild_remaining = 0;     // events it still has to consume
  int64_t rebuild_from_archive = 0;  // of the consumed ones, those read from the archive
  double rebuild_events_per_second = 0;
  std::string rebuild_definition_hash;
};

class View {
 public:
  View(std::shared_ptr<const Projection> projection, std::unique_ptr<ViewStore> store,
       SourceFactory factory, ViewOptions options, LogFn log);
  ~View();

  void Start();
  void Stop();  // finishes the batch in hand, commits, joins the thread
  // Holds the apply loop between two batches, the one in flight written and published: the
  // position stays where it is until Resume (a rebuild's swap, which must not serve a view
  // behind the one it replaces). Reads go on meanwhile. true once held, or when the loop does
  // not run; false when `timeout` passed first. Resume in every case.
  bool Pause(std::chrono::milliseconds timeout);
  void Resume();

  const Projection& projection() const { return *projection_; }
  std::shared_ptr<const Projection> projection_ptr() const { return projection_; }
  ViewStore& store() { return *store_; }
  ViewStatus Status();
  // The applied position now.
  Position CurrentPosition();
  // The applied position as TOPIC:PARTITION:OFFSET,... (kept formatted, for every answer).
  std::string PositionString();
  // The same into *out, its room reused (a point read's answer field).
  void CopyPositionString(std::string* out);
  // The change log's next sequence number as of the applied position: its changes up to here
  // are published with the position (the store's own head may be one batch further, committed
  // and not yet published). Change feeds read up to it, so no change goes out ahead of
  // X-Projd-Position.
  uint64_t published_change_seq() const {
    return published_change_seq_.load(std::memory_order_acquire);
  }

  // Whether every offset below `required` is applied.
  bool Reached(const Position& required);
  // Calls fn once the view reached `required` (at once if it already has), or when the view
  // stops (Stop: fn then finds `required` not reached here; at once when it has stopped
  // already). fn may run on the view's thread.
  // Returns an id for Cancel.
  uint64_t WhenReached(Position required, std::function<void()> fn);
  void Cancel(uint64_t id);

  // Lag samples for GET /v1/views/{view}/lag: one a second, the last hour (see LagHistory).
  using LagSample = LagHistory::Sample;
  void AddLagSample(const LagSample& s) { lag_history_.Add(s); }
  std::vector<LagSample> LagSamples(int64_t since_ms) const { return lag_history_.Since(since_ms); }
  // Takes over the samples of `from` older than this view's first (a rebuilt view swapped in
  // for `from` keeps the chart's past); `from` is left without samples.
  void TakeLagSamplesFrom(View& from) { lag_history_.TakeOlderFrom(from.lag_history_); }
  // A rebuilt view swapped in for `from` (paused): its counters and histograms go on from
  // `from`'s, so that /metrics' counters never go down while projd runs, and from now on its
  // events' event-to-visible latencies count.
  void SwappedIn(View& from);

  // Histograms for /metrics.
  const Histogram& apply_batch_seconds() const { return apply_batch_seconds_; }
  const Histogram& event_to_visible_seconds() const { return event_to_visible_seconds_; }

  // For a view stopped by `errors stop`: the failing event becomes a dead letter and the view
  // goes on. false when the view is not stopped.
  bool Skip();

  // Non-empty when a stored position lies beyond its partition's log end (the topic was
  // recreated or the broker replaced): the view is failed and consumes nothing until an
  // operator rebuilds it; the reason names both offsets.
  std::string BeyondLogEnd() const;

 private:
  void Run();
  // Parts of Run: starting the source (false: the view failed to); whether the view is held
  // (stopped at an event, or beyond its log end), taking the messages to resume with after a
  // skip; stopping at an `errors stop` event; pruning `history N days`; the end of the loop.
  bool StartSource();
  // The applying thread's batch, set up for the change log and history (the committer's batch
  // in flight is set up alike).
  Batch SetUpBatch();
  bool Held(std::vector<OwnedMessage>* pending);
  void StopAt(const std::string& reason);
  // After a skipped event's batch is written: the view is failed no more, unless it stopped
  // again at a later event of that batch (`rest`: that event and the ones after it).
  void Resumed(bool stopped_again, std::vector<OwnedMessage>* rest);
  void PruneHistoryNow();
  void FinishRun();
  // format avro: holds until the writer schemas of `messages` are known (the registry may be
  // down: state stalled with the reason, retries with backoff). false when told to stop.
  bool WaitForSchemas(const std::vector<Message>& messages);
  // Pipelined commits: the batch just applied is staged (encoded, its rows kept in the store's
  // row cache), then written by the committer (committer_) while the next batch is applied.
  // FinishCommit waits for the batch in flight and tells the source the written position
  // (false: it could not be written and we are told to stop).
  bool FinishCommit();
  // Stages a non-empty batch and hands it to the committer (after the one in flight is
  // written); with `stopping`, also waits for it. False when a write failed and we are told to
  // stop.
  bool HandOver(Batch* batch, StagedBatch* staged,
                std::chrono::steady_clock::time_point apply_started, bool stopping);
  // One poll applied with `apply` (false: an `errors stop` event at that index, whose messages
  // from it on are kept in pending_); then, while the polls come back full (a backlog), more
  // polls up to max_grown_batch events (not for format avro). A message of an earlier poll is
  // not used after the next. False when the run must end.
  // `apply` gets each message with what poll_reader_ read of it, or null (then it reads).
  // `batch` is the one applied to (for prefetch hints of the events ahead).
  bool PollAndApply(std::vector<Message>* messages,
                    const std::function<bool(const Message&, size_t, ReadEvent*)>& apply,
                    const Batch& batch, std::chrono::steady_clock::time_point* apply_started);
  // The committer's callbacks, on its thread: a write failed (state stalled, logged once per
  // error); a batch is written (storage works again, apply_batch_seconds, Published).
  void WriteFailed(const std::string& error);
  void Written(const Batch& batch, const std::vector<int64_t>& timestamps,
               std::chrono::steady_clock::time_point started);
  // After a batch is written: positions, counters and read-your-writes waiters.
  void Published(const Batch& batch, const std::vector<int64_t>& timestamps);
  // Run's loop, between batches: while Pause asks, the batch in flight written, waits.
  void HoldWhilePaused();
  void SetRunning(bool running);
  void UpdateRate();
  // Once a second: fails the view when a stored position is beyond its partition's log end
  // in three checks in a row (a high watermark seen once may be stale).
  void CheckLogEnd();

  std::shared_ptr<const Projection> projection_;
  std::unique_ptr<ViewStore> store_;
  SourceFactory factory_;
  ViewOptions options_;
  LogFn log_;
  Projector projector_;
  // Reads large polls ahead of their apply (JSON views on more than one core; while Run runs).
  std::unique_ptr<PollReader> poll_reader_;
  std::unique_ptr<Source> source_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // Pause and Resume: asked by another thread, held by Run's loop (HoldWhilePaused).
  std::atomic<bool> pause_asked_{false};
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  bool paused_ = false;   // guarded by pause_mu_: the loop holds
  bool running_ = false;  // guarded by pause_mu_: Run's loop runs
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_prune_;
  Histogram apply_batch_seconds_;
  Histogram event_to_visible_seconds_;
  std::vector<int64_t> batch_timestamps_;  // Kafka timestamps of the batch's events
  // Writes the staged batches; its thread runs while Run does (started and stopped by it).
  Committer committer_;
  // Next offset to apply per partition, counting staged batches (the applying thread only).
  Position applied_next_;
  LagHistory lag_history_;

  mutable std::mutex mu_;
  Position position_;                              // guarded by mu_
  std::string position_string_;                    // guarded by mu_: position_ formatted
  std::atomic<uint64_t> published_change_seq_{0};  // set with position_ (published_change_seq)
  Position last_ts_;                               // Kafka timestamp of last applied, per partition
  int64_t applied_ = 0, ignored_ = 0, duplicates_ = 0, dead_ = 0;
  // The counters of the views this one was swapped in for (SwappedIn), added to its own in
  // Status. Guarded by mu_.
  struct Carried {
    int64_t applied = 0, ignored = 0, duplicates = 0, dead = 0;
    int64_t archive_events = 0, archive_objects = 0, archive_bytes = 0, fetch_wakes = 0;
  } carried_;
  // Set while the view is a rebuild's (ViewOptions::shadow), until SwappedIn.
  std::atomic<bool> shadow_{false};
  std::chrono::steady_clock::time_point last_progress_;
  // When the lag last went from 0 to more (Status; the epoch while it is 0). Guarded by mu_.
  std::chrono::steady_clock::time_point lag_since_;
  // For Status, under mu_: how long the view has gone without progress while it had something
  // to apply, given its lag now (which it notes in lag_since_).
  std::chrono::steady_clock::duration QuietFor(int64_t lag,
                                               std::chrono::steady_clock::time_point now);
  int64_t last_applied_ms_ = 0;
  bool caught_up_once_ = false;
  bool failed_ = false;
  bool skip_requested_ = false;
  bool resuming_ = false;  // guarded by mu_: a skipped event's batch is being applied (Held)
  std::string failed_reason_;
  std::string failed_reason_for_skip_;  // the reason recorded when the failing event is skipped
  bool failed_has_key_ = false;         // and the view key it carried, when known
  std::string failed_key_;
  std::string store_problem_;
  std::string beyond_log_end_;  // guarded by mu_: see BeyondLogEnd()
  int log_end_strikes_ = 0;     // the applying thread only
  std::chrono::steady_clock::time_point last_log_end_check_;
  std::string registry_problem_;  // guarded by mu_: why the batch in hand is held (format avro)
  std::vector<OwnedMessage> pending_;  // the failing message first, then the rest of its batch
  std::vector<std::pair<std::chrono::steady_clock::time_point, int64_t>> rate_samples_;
  double rate_ = 0;
  bool logged_state_ = false;  // whether last_state_ was logged yet
  ViewState last_state_ = ViewState::kCatchingUp;
  // Lock order: mu_, then the waiters' own lock (Published takes them under mu_).
  PositionWaiters waiters_;
  bool waiters_closed_ = false;  // guarded by mu_: Stop called the waiters; none is kept since
};

}  // namespace projd

#endif  // PROJD_ENGINE_VIEW_H_
