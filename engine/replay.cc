#include "engine/replay.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "store/row_map.h"
#include "store/string_set.h"

namespace projd {
namespace {

// false with *error when the events file held a line it could not take (a bad envelope).
bool SourceSound(const Source& source, std::string* error) {
  SourceStatus st = source.Status();
  if (st.healthy) return true;
  *error = st.problem;
  return false;
}

// The view of a replay is its batch: the rows stay in the batch from one poll to the next (no
// row is loaded, merged back or copied), and a row deleted leaves it when its poll ends. Only
// the dedupe ids are kept here.
class MemoryRows final : public RowSource {
 public:
  bool LoadRow(const std::string& /*key*/, RowRecord* /*out*/) override { return false; }
  bool SeenId(const std::string& id, uint64_t /*hash*/) override { return ids_.Contains(id); }
  // The id goes into the set of all ids at once: merging the batch would look it up again.
  bool ClaimId(const std::string& id, uint64_t hash) override { return !ids_.Insert(id, hash); }
  void ForgetId(const std::string& id) override { ids_.Erase(id); }
  bool ClaimsIds() const override { return true; }
  void PrefetchId(uint64_t hash) const { ids_.Prefetch(hash); }
  // Ends a poll: its counts and dead letters go to *r; the rows deleted leave the batch.
  void EndPoll(Batch* b, ReplayResult* r) {
    for (Batch::Rows::value_type* entry : b->dirty) {
      if (!entry->second.exists) gone_.push_back(entry);
    }
    for (auto& d : b->dead_letters) r->dead_letters.push_back(std::move(d));
    r->applied += b->applied;
    r->ignored += b->ignored;
    r->duplicates += b->duplicates;
    // The changed rows' marks are cleared through Batch::dirty first: the deleted ones are
    // freed after.
    b->ClearKeepingRows();
    for (Batch::Rows::value_type* entry : gone_) b->rows.erase(b->rows.find(entry->first));
    gone_.clear();
  }
  void Finish(Batch* b, ReplayResult* r) {
    for (auto& [key, rec] : b->rows) {
      if (rec.exists) r->rows.emplace(key, std::move(rec));
    }
    b->Clear();
  }

 private:
  StringSet ids_;  // every dedupe id seen
  std::vector<Batch::Rows::value_type*> gone_;
};

std::atomic<int64_t> max_event_bytes{1 << 20};

// The daemon's --max-event-bytes applies here too (same events, same view): a larger message
// gets an error, kept in *note, and the start of its value for its dead letter.
void LimitSize(Message* msg, std::string* note) {
  const int64_t most = max_event_bytes.load(std::memory_order_relaxed);
  if (static_cast<int64_t>(msg->value.size()) <= most) return;
  *note = "event of " + std::to_string(msg->value.size()) +
          " bytes is larger than --max-event-bytes " + std::to_string(most);
  msg->error = *note;
  msg->value = msg->value.substr(0, 65536);
}

// Polls the source and reads its messages (Projector::Read: decoded and prepared) on reader
// threads, ahead of the thread that applies them, which takes them in the source's order.
// A chunk never spans two batches of the replay.
class ReadAhead {
 public:
  struct Chunk {
    std::vector<Message> messages;
    std::vector<uint8_t> wanted;   // of the projection's topics
    std::vector<ReadEvent> reads;  // for the wanted messages (with their prefetch hashes)
    std::vector<std::string> notes;
    bool ends_batch = false;  // the replay's batch ends with this chunk
    bool last = false;        // the source has nothing after it
    uint64_t seq = 0;
    enum class State : uint8_t { kFree, kFilling, kReady, kApplying } state = State::kFree;
  };
  // Chunks in flight at once (filling, ready, being applied), and so the polls whose messages
  // the source must keep.
  static size_t ChunksFor(int readers) { return static_cast<size_t>(readers) + 2; }

  ReadAhead(Source* source, const Projector& projector, const std::set<std::string>& topics,
            size_t batch_size, int readers)
      : source_(source),
        projector_(projector),
        topics_(topics),
        batch_size_(batch_size == 0 ? 1 : batch_size),
        chunks_(ChunksFor(readers)) {
    for (int i = 0; i < readers; ++i) threads_.emplace_back([this] { ReaderLoop(); });
  }
  ~ReadAhead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    free_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // The next chunk in order (the one before goes back to be refilled); its `last` ends them.
  Chunk* Next() {
    std::unique_lock<std::mutex> lock(mu_);
    if (applying_) {
      applying_->state = Chunk::State::kFree;
      applying_ = nullptr;
      free_cv_.notify_one();
    }
    while (true) {
      for (Chunk& c : chunks_) {
        if (c.state == Chunk::State::kReady && c.seq == next_apply_) {
          c.state = Chunk::State::kApplying;
          ++next_apply_;
          applying_ = &c;
          return &c;
        }
      }
      ready_cv_.wait(lock);
    }
  }

 private:
  static constexpr size_t kChunkMessages = 1024;

  void ReaderLoop() {
    std::string_view last_topic;
    bool last_wanted = false;
    while (true) {
      Chunk* c = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (!stop_ && !polled_all_ && !(c = FreeChunk())) free_cv_.wait(lock);
        if (stop_ || polled_all_) return;
        c->state = Chunk::State::kFilling;
      }
      {
        // Polls one at a time, numbered in the order made (the order they are applied in).
        std::lock_guard<std::mutex> lock(poll_mu_);
        if (polled_all_) {
          std::lock_guard<std::mutex> state_lock(mu_);
          c->state = Chunk::State::kFree;
          return;
        }
        c->seq = next_poll_++;
        size_t max = std::min(kChunkMessages, batch_size_ - in_batch_);
        bool more = source_->Poll(&c->messages, max, std::chrono::milliseconds(0));
        in_batch_ += c->messages.size();
        c->ends_batch = in_batch_ == batch_size_;
        if (c->ends_batch) in_batch_ = 0;
        // The file source fills a poll unless it has reached the end.
        c->last = !more || c->messages.size() < max;
        if (c->last) polled_all_ = true;
      }
      size_t n = c->messages.size();
      c->wanted.assign(n, 0);
      if (c->reads.size() < n) c->reads.resize(n);
      if (c->notes.size() < n) c->notes.resize(n);
      for (size_t i = 0; i < n; ++i) {
        Message& m = c->messages[i];
        if (m.topic != last_topic) {
          last_topic = m.topic;
          last_wanted = topics_.count(std::string(m.topic)) > 0;
        }
        if (!last_wanted) continue;
        c->wanted[i] = 1;
        LimitSize(&m, &c->notes[i]);
        projector_.Read(m, &c->reads[i]);
        SetPrefetchHashes(&c->reads[i], true);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        c->state = Chunk::State::kReady;
      }
      ready_cv_.notify_one();
    }
  }

  Chunk* FreeChunk() {
    for (Chunk& c : chunks_) {
      if (c.state == Chunk::State::kFree) return &c;
    }
    return nullptr;
  }

  Source* source_;
  const Projector& projector_;
  const std::set<std::string>& topics_;
  size_t batch_size_;
  std::mutex mu_;       // the chunks' states, applying_, next_apply_, stop_
  std::mutex poll_mu_;  // the source, next_poll_, in_batch_
  std::condition_variable free_cv_, ready_cv_;
  std::vector<Chunk> chunks_;
  Chunk* applying_ = nullptr;
  uint64_t next_poll_ = 0, next_apply_ = 0;
  size_t in_batch_ = 0;                  // messages polled into the current batch
  std::atomic<bool> polled_all_{false};  // set with poll_mu_ held
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

std::atomic<int> replay_readers{0};

// Reader threads beside the applying one: the cores but one, at least one.
int ReaderThreads() {
  if (int n = replay_readers.load(); n > 0) return n;
  unsigned n = std::thread::hardware_concurrency();
  return n > 2 ? static_cast<int>(n) - 1 : 1;
}

// A line that opens a JSON object (after blanks): an event meant as JSON, even if it does not
// parse.
bool LooksLikeJsonObject(std::string_view line) {
  size_t i = line.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && line[i] == '{';
}

}  // namespace

bool Replay(const std::shared_ptr<const Projection>& projection, const std::string& events_path,
            ReplayResult* out, std::string* error, size_t batch_size,
            const ReplayObserver& observer, const std::string* avro_schema, bool whole_events) {
  std::set<std::string> topics(projection->topics().begin(), projection->topics().end());
  Projector projector(projection);
  if (whole_events) projector.ReadWholeEvents();
  std::unique_ptr<AvroSchema> writer;  // format avro: encodes the JSON events (schema id 1)
  if (projection->format() == Projection::Format::kAvro) {
    if (!avro_schema) {
      *error = "projection " + projection->name() +
               " has format avro: give the writer schema of its events (--schema FILE.avsc)";
      return false;
    }
    writer = AvroSchema::Parse(*avro_schema, error);
    if (!writer) return false;
    projector.UseAvro(SchemaRegistry::Fixed({{1, *avro_schema}}));
  }
  // JSON events are read ahead on other threads; Avro ones (encoded here first, for tests
  // and golden cases) one at a time.
  int readers = writer ? 0 : ReaderThreads();
  auto source = NewFileSource(events_path, projection->topics()[0], error,
                              readers ? ReadAhead::ChunksFor(readers) : 1);
  if (!source) return false;
  MemoryRows rows;
  Batch batch;
  std::vector<TraceStep> trace;
  std::string reason;
  // Applies one message of the projection's topics, read into *read; false when it stopped.
  // `shown` is the message as the file has it (for the observer).
  auto apply = [&](const Message& m, ReadEvent* read, const Message& shown) {
    ++out->events;
    trace.clear();
    auto outcome = projector.Apply(m, read, &rows, &batch, &reason, observer ? &trace : nullptr);
    if (outcome == Projector::Outcome::kStop) {
      out->stopped = true;
      out->stop_reason = reason;
      out->stop_at =
          std::string(m.topic) + ":" + std::to_string(m.partition) + ":" + std::to_string(m.offset);
      --out->events;
      return false;
    }
    if (observer && outcome == Projector::Outcome::kApplied) {
      observer(shown, batch.last_row->first, trace, batch.last_row->second);
    }
    return true;
  };
  if (readers > 0) {
    ReadAhead ahead(source.get(), projector, topics, batch_size, readers);
    while (true) {
      ReadAhead::Chunk* c = ahead.Next();
      const size_t n = c->messages.size();
      for (size_t i = 0; i < n; ++i) {
        // The rows and the dedupe ids are larger than the cache: the slots of the event 8
        // ahead are asked for, then the row entry of the one 4 ahead (its slot is in by then).
        // (A message of another topic was not read: its ReadEvent is an earlier chunk's.)
        if (i + 8 < n && c->wanted[i + 8] && c->reads[i + 8].key_hash != 0) {
          batch.rows.PrefetchSlot(c->reads[i + 8].key_hash);
          if (c->reads[i + 8].id_hash != 0) rows.PrefetchId(c->reads[i + 8].id_hash);
        }
        if (i + 4 < n && c->wanted[i + 4] && c->reads[i + 4].key_hash != 0) {
          batch.rows.PrefetchEntry(c->reads[i + 4].key_hash);
        }
        if (c->wanted[i] && !apply(c->messages[i], &c->reads[i], c->messages[i])) break;
      }
      if (out->stopped || c->ends_batch || c->last) rows.EndPoll(&batch, out);
      if (out->stopped || c->last) break;
    }
    rows.Finish(&batch, out);
    return SourceSound(*source, error);
  }
  std::vector<Message> messages;
  ReadEvent read;
  std::string avro_value, avro_error, note;
  while (!out->stopped && source->Poll(&messages, batch_size, std::chrono::milliseconds(0))) {
    std::string_view last_topic;
    bool last_wanted = false;
    for (const Message& m : messages) {
      if (m.topic != last_topic) {
        last_topic = m.topic;
        last_wanted = topics.count(std::string(m.topic)) > 0;
      }
      if (!last_wanted) continue;
      Message msg = m;
      LimitSize(&msg, &note);
      Value json;
      if (writer && msg.error.empty()) {
        // The line is the event as JSON, encoded with the writer schema here. A line that is
        // JSON but has no JSON value here (a number past 10^20, say) cannot be encoded: an
        // event error with the reason, never the line's own bytes read as Avro.
        std::string datum;
        if (!ParseJson(msg.value, &json, &avro_error)) {
          if (LooksLikeJsonObject(msg.value)) {
            avro_error.insert(0, "event does not fit the Avro schema: ");
            msg.error = avro_error;  // a view: avro_error outlives the message's use
          }
        } else if (writer->Encode(json, &datum, &avro_error)) {
          avro_value.clear();
          AppendConfluentFrame(1, datum, &avro_value);
          msg.value = avro_value;
        } else {
          avro_error.insert(0, "event does not fit the Avro schema: ");
          msg.error = avro_error;
        }
      }
      projector.Read(msg, &read);
      if (!apply(msg, &read, m)) break;
    }
    rows.EndPoll(&batch, out);
  }
  rows.Finish(&batch, out);
  return SourceSound(*source, error);
}

void SetReplayReaders(int readers) { replay_readers = readers < 0 ? 0 : readers; }

void SetReplayMaxEventBytes(int64_t bytes) { max_event_bytes = bytes; }

Value ViewToJson(const std::map<std::string, RowRecord>& rows) {
  Object o;
  for (const auto& [k, rec] : rows) o.Set(k, Value::MakeObject(rec.fields));
  return Value::MakeObject(std::move(o));
}

}  // namespace projd
