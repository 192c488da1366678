#include "engine/view.h"

#include <algorithm>

#include "dsl/thread_name.h"

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;

// Polls of at least this many messages are read ahead (PollReader); smaller ones, live
// traffic, are read by the view's thread (no hand-over in an event's way to being visible).
constexpr size_t kReadAheadMessages = 256;

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

View::View(std::shared_ptr<const Projection> projection, std::unique_ptr<ViewStore> store,
           SourceFactory factory, ViewOptions options, LogFn log)
    : projection_(std::move(projection)),
      store_(std::move(store)),
      factory_(std::move(factory)),
      options_(std::move(options)),
      log_(std::move(log)),
      projector_(projection_),
      committer_(store_.get(), &stop_,
                 {[this](const std::string& error) { WriteFailed(error); },
                  [this](const Batch& batch, const std::vector<int64_t>& timestamps,
                         Clock::time_point started) { Written(batch, timestamps, started); }}) {
  if (projection_->format() == Projection::Format::kAvro) {
    projector_.UseAvro(options_.schema_registry);
  }
  published_change_seq_.store(store_->next_change_seq(), std::memory_order_release);
  shadow_.store(options_.shadow, std::memory_order_relaxed);
}

const char* ViewStateName(ViewState state) {
  switch (state) {
    case ViewState::kLive:
      return "live";
    case ViewState::kCatchingUp:
      return "catching_up";
    case ViewState::kRebuilding:
      return "rebuilding";
    case ViewState::kLagging:
      return "lagging";
    case ViewState::kStalled:
      return "stalled";
    case ViewState::kStopped:
      return "stopped";
    case ViewState::kFailed:
      return "failed";
  }
  return "?";
}

View::~View() { Stop(); }

void View::Start() {
  started_ = Clock::now();
  last_progress_ = started_;
  position_ = store_->Positions();
  position_string_ = position_.ToString();
  {
    // The dead letters count from those the store keeps: a restart does not reset it. (Read
    // before mu_ is taken: the store's own lock comes first everywhere.)
    auto kept = static_cast<int64_t>(store_->DeadLetterCount());
    std::lock_guard<std::mutex> lock(mu_);
    dead_ = kept;
  }
  published_change_seq_.store(store_->next_change_seq(), std::memory_order_release);
  thread_ = std::thread([this] { Run(); });
}

void View::Stop() {
  {
    std::lock_guard<std::mutex> lock(pause_mu_);
    stop_ = true;
    pause_cv_.notify_all();  // a paused loop ends too
  }
  if (thread_.joinable()) thread_.join();
  // Requests waiting for a position this view will not reach now are called: they look again
  // on the view that serves the name now (after a rebuild's swap, the rebuilt one), or wait
  // out their own timeouts.
  std::vector<std::function<void()>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiters_closed_ = true;
    waiters_.TakeAll(&waiting);
  }
  for (auto& fn : waiting) fn();
}

bool View::Pause(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(pause_mu_);
  pause_asked_ = true;
  return pause_cv_.wait_for(lock, timeout, [this] { return paused_ || !running_; });
}

void View::Resume() {
  std::lock_guard<std::mutex> lock(pause_mu_);
  pause_asked_ = false;
  pause_cv_.notify_all();
}

void View::HoldWhilePaused() {
  FinishCommit();  // the batch in flight written and published: the position is final
  std::unique_lock<std::mutex> lock(pause_mu_);
  paused_ = true;
  pause_cv_.notify_all();
  pause_cv_.wait(lock, [this] { return !pause_asked_ || stop_; });
  paused_ = false;
}

void View::SetRunning(bool running) {
  std::lock_guard<std::mutex> lock(pause_mu_);
  running_ = running;
  pause_cv_.notify_all();
}

std::string View::PositionString() {
  std::lock_guard<std::mutex> lock(mu_);
  return position_string_;
}

void View::CopyPositionString(std::string* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->assign(position_string_);
}

Position View::CurrentPosition() {
  std::lock_guard<std::mutex> lock(mu_);
  return position_;
}

bool View::Reached(const Position& required) {
  std::lock_guard<std::mutex> lock(mu_);
  return position_.Reached(required);
}

uint64_t View::WhenReached(Position required, std::function<void()> fn) {
  {
    // Checked and registered in one step under mu_, as Published takes the waiters it
    // satisfies: a batch published in between cannot slip past the waiter.
    // After Stop no waiter is called again: fn runs at once too, and its caller looks again
    // (a request that found this view just before a rebuild's swap finds the rebuilt one).
    std::lock_guard<std::mutex> lock(mu_);
    if (!waiters_closed_ && !position_.Reached(required)) {
      return waiters_.Add(std::move(required), std::move(fn));
    }
  }
  fn();  // already reached, or stopped: at once, under no lock
  return 0;
}

void View::Cancel(uint64_t id) { waiters_.Cancel(id); }

bool View::Skip() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!failed_) return false;
  if (!resuming_) skip_requested_ = true;  // else: the skip asked for is under way
  return true;
}

std::string View::BeyondLogEnd() const {
  std::lock_guard<std::mutex> lock(mu_);
  return beyond_log_end_;
}

void View::CheckLogEnd() {
  auto now = Clock::now();
  if (now - last_log_end_check_ < std::chrono::seconds(1)) return;
  last_log_end_check_ = now;
  SourceStatus src = source_->Status();
  std::string problem;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!beyond_log_end_.empty()) return;
    for (const auto& [tp, info] : src.partitions) {
      if (!info.high_watermark) continue;
      auto it = position_.find(tp);
      if (it == position_.end() || it->second <= *info.high_watermark) continue;
      problem = "the stored position " + tp.topic + ":" + std::to_string(tp.partition) + ":" +
                std::to_string(it->second) + " is beyond the partition's log end (offset " +
                std::to_string(*info.high_watermark) +
                "): the topic was recreated or the broker replaced; rebuild the view";
      break;
    }
  }
  if (problem.empty()) {
    log_end_strikes_ = 0;
    return;
  }
  if (++log_end_strikes_ < 3) return;
  std::lock_guard<std::mutex> lock(mu_);
  beyond_log_end_ = problem;
  log_("error", projection_->name(), problem);
}

bool View::FinishCommit() {
  Committer::Done done;
  if (!committer_.Wait(&done)) return false;
  // The consumer group learns the written position (this thread owns the source).
  if (done.batch) source_->Committed(done.offsets ? CurrentPosition() : Position());
  return true;
}

void View::WriteFailed(const std::string& error) {
  std::lock_guard<std::mutex> state(mu_);
  if (store_problem_ != error) {
    log_("error", projection_->name(), "cannot commit to LMDB, consumption held: " + error);
  }
  store_problem_ = error;
}

void View::Written(const Batch& batch, const std::vector<int64_t>& timestamps,
                   Clock::time_point started) {
  {
    std::lock_guard<std::mutex> state(mu_);
    if (!store_problem_.empty()) {
      store_problem_.clear();
      log_("info", projection_->name(), "storage works again; consumption resumes");
    }
  }
  // From the first event applied to the batch being durable, as before commits were
  // pipelined.
  apply_batch_seconds_.Observe(std::chrono::duration<double>(Clock::now() - started).count());
  Published(batch, timestamps);
}

bool View::WaitForSchemas(const std::vector<Message>& messages) {
  std::string problem;
  auto backoff = std::chrono::milliseconds(250);
  while (!projector_.PrefetchSchemas(messages, &problem)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (registry_problem_ != problem) {
        const Message& m = messages.front();
        log_("warn", projection_->name(),
             "holding at " + std::string(m.topic) + ":" + std::to_string(m.partition) + ":" +
                 std::to_string(m.offset) + " until the writer schemas can be fetched: " + problem);
      }
      registry_problem_ = problem;
    }
    for (auto slept = std::chrono::milliseconds(0); slept < backoff && !stop_;
         slept += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stop_) return false;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!registry_problem_.empty()) {
    registry_problem_.clear();
    log_("info", projection_->name(), "writer schemas fetched; consumption resumes");
  }
  return true;
}

void View::Published(const Batch& batch, const std::vector<int64_t>& timestamps) {
  int64_t visible_ms = WallMillis();
  if (!shadow_.load(std::memory_order_relaxed)) {
    Histogram::Tally tally;
    for (int64_t ts : timestamps) tally.Observe(static_cast<double>(visible_ms - ts) / 1000.0);
    event_to_visible_seconds_.Add(tally);
  }
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [tp, off] : batch.next_offsets) position_[tp] = off;
    position_string_ = position_.ToString();
    // Written on this thread just before (the committer's): the store's head is this batch's end.
    published_change_seq_.store(store_->next_change_seq(), std::memory_order_release);
    for (const auto& [tp, ts] : batch.last_timestamps) last_ts_[tp] = ts;
    applied_ += batch.applied;
    ignored_ += batch.ignored;
    duplicates_ += batch.duplicates;
    dead_ += static_cast<int64_t>(batch.dead_letters.size());
    last_progress_ = Clock::now();
    last_applied_ms_ = WallMillis();
    waiters_.TakeReached(position_, &ready);  // under mu_: with the position, in one step
  }
  // The callbacks run under no lock.
  for (auto& fn : ready) fn();
  if (options_.on_published) options_.on_published();
}

bool View::StartSource() {
  auto source = factory_(projection_->name());
  if (!projection_->reads_headers()) source->SkipHeaders();
  {
    std::lock_guard<std::mutex> lock(mu_);  // Status reads it from other threads
    source_ = std::move(source);
  }
  std::string error;
  if (source_->Start(
          projection_->topics(),
          [this](const TopicPartition& tp) {
            std::lock_guard<std::mutex> lock(mu_);
            return position_.NextOf(tp);
          },
          &error)) {
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  failed_ = true;
  failed_reason_ = error;
  log_("error", projection_->name(), "cannot start consuming: " + error);
  return false;
}

bool View::Held(std::vector<OwnedMessage>* pending) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Stopped at a bad event: wait for skip (or a new definition, which replaces this view).
    // Skipped: the failing event (as a dead letter) and the rest of its batch are applied
    // now, and the view says `failed` at that event until they are written (Resumed).
    if (failed_ && skip_requested_) {
      *pending = pending_;
      skip_requested_ = false;
      resuming_ = true;
    }
  }
  CheckLogEnd();
  std::lock_guard<std::mutex> lock(mu_);
  return (failed_ && !resuming_) || !beyond_log_end_.empty();
}

void View::Resumed(bool stopped_again, std::vector<OwnedMessage>* rest) {
  std::lock_guard<std::mutex> lock(mu_);
  resuming_ = false;
  if (stopped_again) {
    pending_.swap(*rest);  // StopAt names the new event
    return;
  }
  failed_ = false;
  failed_reason_.clear();
  pending_.clear();
}

void View::StopAt(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  failed_ = true;
  failed_reason_ = reason;
  failed_reason_for_skip_ = reason;
  failed_has_key_ = projector_.stop_has_key();
  failed_key_ = projector_.stop_key();
  const OwnedMessage& m = pending_.front();
  log_("error", projection_->name(),
       "stopped at " + m.topic + ":" + std::to_string(m.partition) + ":" +
           std::to_string(m.offset) + " (errors stop): " + reason);
}

void View::PruneHistoryNow() {
  if (projection_->history() != Projection::History::kDays ||
      Clock::now() - last_prune_ <= std::chrono::seconds(60)) {
    return;
  }
  last_prune_ = Clock::now();
  int64_t cutoff = WallMillis() - projection_->history_days() * 86400000;
  std::string error;
  int64_t n = store_->PruneHistory(cutoff, &error);
  if (n < 0) {
    log_("warn", projection_->name(), "history pruning failed: " + error);
  } else if (n > 0) {
    log_("info", projection_->name(),
         "pruned " + std::to_string(n) + " history versions older than " +
             std::to_string(projection_->history_days()) + " days");
  }
}

void View::FinishRun() {
  poll_reader_.reset();
  bool written = FinishCommit();
  committer_.Stop();
  // The row cache is only good while the apply loop runs (a batch staged but not written, or
  // applied and dropped, leaves it out of step with LMDB).
  store_->DropCache();
  if (source_ && written) source_->Committed(CurrentPosition());
  SetRunning(false);
}

Batch View::SetUpBatch() {
  // Each event's change for the change log; with history, the versions come from those.
  Batch batch;
  batch.record_changes = store_->records_changes();
  batch.history_from_changes =
      batch.record_changes && projection_->history() != Projection::History::kNone;
  return batch;
}

void View::Run() {
  NameThisThread("view/", projection_->name());
  if (!StartSource()) return;
  SetRunning(true);
  if (projection_->format() == Projection::Format::kJson &&
      std::thread::hardware_concurrency() > 1) {
    poll_reader_ =
        std::make_unique<PollReader>(&projector_, projection_->dedupe(), projection_->name());
  }
  std::string error;
  std::vector<Message> messages;
  Batch batch = SetUpBatch();  // it and the committer's batch in flight swap at each commit
  StagedBatch staged;          // encoded here, then swapped with the committer's
  applied_next_ = CurrentPosition();
  committer_.Start(batch.record_changes, batch.history_from_changes, projection_->name());
  // A partition's next offset and last timestamp (runs of its messages need no map lookup).
  struct PartitionCursor {
    TopicPartition tp;
    int64_t* next = nullptr;
    int64_t last_ts = 0;
  };
  std::vector<PartitionCursor> cursors;
  auto cursor_of = [&](const Message& m) -> PartitionCursor& {
    for (auto& c : cursors) {
      if (c.tp.partition == m.partition && c.tp.topic == m.topic) return c;
    }
    PartitionCursor c;
    c.tp = TopicPartition{std::string(m.topic), m.partition};
    c.next = &applied_next_[c.tp];  // map entries stay put
    cursors.push_back(std::move(c));
    return cursors.back();
  };
  while (!stop_) {
    if (pause_asked_) {
      HoldWhilePaused();
      continue;
    }
    std::vector<OwnedMessage> pending, stopped_rest;
    if (Held(&pending)) {
      UpdateRate();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    // The rows of the batches before stay in the batch (ViewStore::Stage): the newest state
    // of the rows recently changed, which the snapshot may not have yet.
    batch.ClearKeepingRows();
    batch_timestamps_.clear();
    if (!store_->BeginBatch(&error)) {
      log_("error", projection_->name(), "cannot read LMDB: " + error);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    bool stopped_here = false;
    auto apply_started = Clock::now();
    std::string stop_reason;
    size_t stop_index = 0;
    // Apply one message, remembering where an `errors stop` event halts the batch.
    for (auto& c : cursors) c.last_ts = 0;
    auto apply = [&](const Message& m, size_t index, bool skipping, ReadEvent* read) {
      PartitionCursor& c = cursor_of(m);
      if (m.offset < *c.next) return true;  // already applied (or staged): never twice
      if (skipping) {
        projector_.DeadLetterMessage(m, failed_reason_for_skip_, &batch);
        batch.dead_letters.back().has_key = failed_has_key_;
        batch.dead_letters.back().key = failed_key_;
        *c.next = m.offset + 1;
        return true;
      }
      auto outcome = read ? projector_.Apply(m, read, store_.get(), &batch, &stop_reason)
                          : projector_.Apply(m, store_.get(), &batch, &stop_reason);
      if (outcome == Projector::Outcome::kStop) {
        stopped_here = true;
        stop_index = index;
        return false;
      }
      *c.next = m.offset + 1;
      if (m.timestamp_ms > 0) {
        c.last_ts = m.timestamp_ms;
        batch_timestamps_.push_back(m.timestamp_ms);
      }
      return true;
    };
    if (!pending.empty()) {
      // Resuming after skip: the failing event becomes a dead letter, then the rest.
      messages.clear();
      for (const OwnedMessage& o : pending) messages.push_back(o.View());
      if (!WaitForSchemas(messages)) {
        store_->EndBatch();
        break;
      }
      for (size_t i = 0; i < pending.size(); ++i) {
        if (!apply(pending[i].View(), i, i == 0, nullptr)) break;
      }
      // Stopped again at a later event: it and the rest wait for the next skip (Resumed).
      if (stopped_here) {
        stopped_rest.assign(pending.begin() + static_cast<std::ptrdiff_t>(stop_index),
                            pending.end());
      }
    } else {
      auto apply_new = [&](const Message& m, size_t index, ReadEvent* read) {
        return apply(m, index, false, read);
      };
      if (!PollAndApply(&messages, apply_new, batch, &apply_started)) {
        store_->EndBatch();
        break;
      }
    }
    for (const auto& c : cursors) {
      if (c.last_ts > 0) batch.last_timestamps[c.tp] = c.last_ts;
    }
    // After a skip, as before a stop, the batch is written before the view says so.
    bool resumed = !pending.empty();
    if (!HandOver(&batch, &staged, apply_started, stopped_here || resumed)) break;
    if (resumed) Resumed(stopped_here, &stopped_rest);
    if (stopped_here) StopAt(stop_reason);
    UpdateRate();
    PruneHistoryNow();
  }
  batch.Clear();  // its rows are only good while the loop runs
  FinishRun();
}

bool View::PollAndApply(std::vector<Message>* messages,
                        const std::function<bool(const Message&, size_t, ReadEvent*)>& apply,
                        const Batch& batch, Clock::time_point* apply_started) {
  // A format avro view does not grow its batch: a later poll may wait for a schema from the
  // registry, which must not hold events already applied.
  const bool grows = projection_->format() != Projection::Format::kAvro;
  size_t taken = 0;
  do {
    source_->Poll(messages, options_.max_batch,
                  taken == 0 ? options_.poll_timeout : std::chrono::milliseconds(0));
    if (!messages->empty() && !WaitForSchemas(*messages)) return false;
    if (taken == 0) *apply_started = Clock::now();
    // A large poll (a backlog) is read ahead on the reader's thread; a few live events are
    // read here, without the hand-over.
    const size_t n = messages->size();
    PollReader* reader = poll_reader_ && n >= kReadAheadMessages ? poll_reader_.get() : nullptr;
    if (reader) reader->Start(messages->data(), n);
    for (size_t i = 0; i < n; ++i) {
      if (reader) {
        // The batch's rows and ids, and the id filter, are larger than the cache: for an
        // event the reader has read 8 ahead, the slots its row and id will be looked up in are
        // asked for; for the one 4 ahead, the row entry its slot points to (in by then).
        if (const ReadEvent* r = reader->Peek(i + 8); r && r->key_hash != 0) {
          batch.rows.PrefetchSlot(r->key_hash);
          if (r->id_hash != 0) {
            batch.new_ids.Prefetch(r->id_hash);
            store_->PrefetchId(r->prepared.id, r->id_hash);
          }
        }
        if (const ReadEvent* r = reader->Peek(i + 4); r && r->key_hash != 0) {
          batch.rows.PrefetchEntry(r->key_hash);
        }
      }
      if (apply((*messages)[i], i, reader ? reader->Get(i) : nullptr)) continue;
      if (reader) reader->Finish();
      // Stopped at an `errors stop` event: it and the rest of this poll wait (Held).
      std::lock_guard<std::mutex> lock(mu_);
      pending_.clear();
      for (size_t j = i; j < n; ++j) pending_.emplace_back((*messages)[j]);
      return true;
    }
    if (reader) reader->Finish();
    taken += messages->size();
    // A full poll: a backlog, which joins this batch (fewer, larger commits while catching up;
    // live traffic, whose polls are not full, commits per poll).
  } while (!stop_ && grows && messages->size() == options_.max_batch &&
           taken + options_.max_batch <= options_.max_grown_batch);
  return true;
}

bool View::HandOver(Batch* batch, StagedBatch* staged, Clock::time_point apply_started,
                    bool stopping) {
  if (batch->empty()) {
    store_->EndBatch();
    // Idle: the batch in flight, once written, is the last for now; the consumer group learns
    // its position without waiting for another batch (lag tools read the group's offsets).
    if (!committer_.Busy()) return FinishCommit();
    return true;
  }
  // Encode this batch, then wait for the one in flight before handing this one over
  // (without the snapshot: a write that grows the map waits for it).
  store_->Stage(batch, staged);
  store_->EndBatch();
  if (!FinishCommit()) return false;
  // The rows stay here, for the next batch; the rest of the batch goes to the committer.
  Batch::Rows rows = std::move(batch->rows);
  committer_.Hand(batch, &batch_timestamps_, staged, apply_started);
  batch->rows = std::move(rows);
  // Before an `errors stop` view says it stopped at an event, the events before it are
  // written: a reader that sees `failed` at offset N reads every event before N applied.
  return !stopping || FinishCommit();
}

void View::UpdateRate() {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = Clock::now();
  if (!rate_samples_.empty() && now - rate_samples_.back().first < std::chrono::milliseconds(500)) {
    return;
  }
  rate_samples_.emplace_back(now, applied_ + ignored_ + duplicates_ + dead_);
  while (rate_samples_.size() > 2 && now - rate_samples_.front().first > std::chrono::seconds(5)) {
    rate_samples_.erase(rate_samples_.begin());
  }
  if (rate_samples_.size() >= 2) {
    double secs =
        std::chrono::duration<double>(rate_samples_.back().first - rate_samples_.front().first)
            .count();
    if (secs > 0) {
      rate_ =
          static_cast<double>(rate_samples_.back().second - rate_samples_.front().second) / secs;
    }
  }
}

Clock::duration View::QuietFor(int64_t lag, Clock::time_point now) {
  // Since when there has been something to apply (seen by a status read: the daemon's monitor
  // reads one each second). No progress counts from then: a view idle for longer than
  // stall_after whose topic just got an event is behind, not stalled.
  if (lag == 0) {
    lag_since_ = Clock::time_point();
  } else if (lag_since_ == Clock::time_point()) {
    lag_since_ = now;
  }
  return now - std::max(last_progress_, lag_since_);
}

void View::SwappedIn(View& from) {
  const ViewStatus was = from.Status();  // its own and its predecessors' counters
  apply_batch_seconds_.Add(from.apply_batch_seconds_);
  event_to_visible_seconds_.Add(from.event_to_visible_seconds_);
  std::lock_guard<std::mutex> lock(mu_);
  carried_.applied += was.applied_total;
  carried_.ignored += was.ignored_total;
  carried_.duplicates += was.duplicates_total;
  // Dead letters count the events rejected since projd started: the rebuild rejected again
  // those its predecessor had (its own count starts from them), so only what it rejects beyond
  // them is new — the counter goes on from the larger of the two, never down, and an alert on
  // its rise does not fire for a rebuild.
  carried_.dead += std::max<int64_t>(0, was.counted_dead_letters - dead_);
  carried_.archive_events += was.counted_archive_events;
  carried_.archive_objects += was.counted_archive_objects;
  carried_.archive_bytes += was.counted_archive_bytes;
  carried_.fetch_wakes += was.fetch_wakes;
  shadow_.store(false, std::memory_order_relaxed);
}

ViewStatus View::Status() {
  ViewStatus st;
  st.name = projection_->name();
  st.definition_hash = projection_->definition_hash();
  st.rows = store_->RowCount();
  SourceStatus src;
  Source* source;
  {
    std::lock_guard<std::mutex> lock(mu_);
    source = source_.get();  // set once by the view's thread, then kept while the view lives
  }
  if (source) src = source->Status();
  std::lock_guard<std::mutex> lock(mu_);
  auto now = Clock::now();
  int64_t now_ms = WallMillis();
  std::map<TopicPartition, PartitionStatus> parts;
  for (const auto& [tp, off] : position_) {
    parts[tp].tp = tp;
    parts[tp].position = off;
  }
  for (const auto& [tp, info] : src.partitions) {
    PartitionStatus& p = parts[tp];
    p.tp = tp;
    p.high_watermark = info.high_watermark;
    p.low_watermark = info.low_watermark;
  }
  for (auto& [tp, p] : parts) {
    if (p.high_watermark) p.lag_events = std::max<int64_t>(0, *p.high_watermark - p.position);
    if (p.lag_events > 0) {
      auto it = last_ts_.find(tp);
      int64_t since =
          it != last_ts_.end()
              ? it->second
              : now_ms -
                    std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count();
      p.lag_seconds = std::max<double>(0, static_cast<double>(now_ms - since) / 1000.0);
    }
    st.lag_events += p.lag_events;
    st.lag_seconds = std::max(st.lag_seconds, p.lag_seconds);
    st.partitions.push_back(p);
  }
  st.position = position_.ToString();
  st.events_per_second = rate_;
  st.applied_total = applied_ + carried_.applied;
  st.ignored_total = ignored_ + carried_.ignored;
  st.duplicates_total = duplicates_ + carried_.duplicates;
  st.dead_letters_total = dead_;
  st.last_applied_ms = last_applied_ms_;
  st.archive = src.archive;
  st.archive_events = src.archive_events;
  st.archive_objects = src.archive_objects;
  st.archive_bytes = src.archive_bytes;
  st.fetch_wakes = src.fetch_wakes + carried_.fetch_wakes;
  st.counted_dead_letters = dead_ + carried_.dead;
  st.counted_archive_events = src.archive_events + carried_.archive_events;
  st.counted_archive_objects = src.archive_objects + carried_.archive_objects;
  st.counted_archive_bytes = src.archive_bytes + carried_.archive_bytes;
  bool all_known = !src.partitions.empty();
  for (const auto& [tp, info] : src.partitions)
    all_known = all_known && info.high_watermark.has_value();
  if (st.lag_events == 0 && all_known && src.healthy) caught_up_once_ = true;
  const Clock::duration quiet = QuietFor(st.lag_events, now);
  st.caught_up_once = caught_up_once_;
  st.failed = failed_;
  if (!beyond_log_end_.empty()) {
    st.state = ViewState::kFailed;
    st.reason = beyond_log_end_;
  } else if (failed_) {
    st.state = ViewState::kFailed;
    st.reason = failed_reason_;
    if (!pending_.empty()) {
      st.failed_topic = pending_.front().topic;
      st.failed_partition = pending_.front().partition;
      st.failed_offset = pending_.front().offset;
      st.failed_event = pending_.front().value.substr(0, 64 * 1024);
    }
  } else if (stop_) {
    st.state = ViewState::kStopped;
  } else if (!store_problem_.empty()) {
    st.state = ViewState::kStalled;
    st.reason = "storage: " + store_problem_;
  } else if (!registry_problem_.empty()) {
    st.state = ViewState::kStalled;
    st.reason = "held: " + registry_problem_;
  } else if (src.held) {
    st.state = ViewState::kStalled;
    st.reason = "held: " + src.problem;
  } else if (st.lag_events > 0 && quiet > options_.stall_after) {
    st.state = ViewState::kStalled;
    st.reason = "lag of " + std::to_string(st.lag_events) + " events and no progress for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(quiet).count()) +
                " s" + (src.problem.empty() ? "" : "; " + src.problem);
  } else if (!src.healthy) {
    st.state = ViewState::kCatchingUp;
    st.reason = src.problem;
  } else if (!caught_up_once_) {
    st.state = ViewState::kCatchingUp;
  } else if (projection_->alert_lag() > 0 &&
             (projection_->alert_lag_seconds()
                  ? st.lag_seconds > static_cast<double>(projection_->alert_lag())
                  : st.lag_events > projection_->alert_lag())) {
    st.state = ViewState::kLagging;
    st.reason = "lag above the alert threshold of " + std::to_string(projection_->alert_lag()) +
                (projection_->alert_lag_seconds() ? " seconds" : " events");
  } else {
    st.state = ViewState::kLive;
  }
  if (!logged_state_ || st.state != last_state_) {
    bool calm = st.state == ViewState::kLive || st.state == ViewState::kCatchingUp;
    // A rebuild's view says so: the view readers see is the serving one, in its own state.
    log_(calm ? "info" : "warn", st.name,
         std::string(shadow_.load(std::memory_order_relaxed) ? "rebuild: state " : "state ") +
             (logged_state_ ? ViewStateName(last_state_) : "-") + " -> " + ViewStateName(st.state) +
             (st.reason.empty() ? "" : ": " + st.reason));
    logged_state_ = true;
    last_state_ = st.state;
  }
  return st;
}

}  // namespace projd
