// Applying events to a view: decode, route, evaluate, and collect the changes of a batch.
//
// The Projector is the same for the daemon and for projctl's local replay, so both give
// identical views. It reads existing rows through a RowSource and gathers every change of a
// batch in a Batch, which a store then commits in one transaction together with the offsets.
#ifndef PROJD_ENGINE_PROJECTOR_H_
#define PROJD_ENGINE_PROJECTOR_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connectors/avro.h"
#include "connectors/schema_registry.h"
#include "connectors/source.h"
#include "dsl/program.h"
#include "dsl/value.h"
#include "engine/string_set.h"

namespace projd {

// The event that last changed a row.
struct Provenance {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t event_time_ms = 0;
  bool has_id = false;
  std::string id;
};

struct RowRecord {
  bool exists = false;
  Object fields;
  uint64_t version = 0;  // changes applied to this row since it was created
  Provenance updated_by;
  bool in_dirty = false;  // bookkeeping of a Batch: listed in Batch::dirty (never stored)
};

struct DeadLetter {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string reason;
  bool has_key = false;
  std::string key;    // the view key, when it could be computed
  std::string event;  // the raw event, cut to 64 KiB
};

// Encodings used in storage (see engine/README.md for the layout).
void EncodeRow(const RowRecord& row, std::string* out);
bool DecodeRow(std::string_view data, RowRecord* out);
// The row as JSON: {"key", "row", "version", "updated_by": {...}} (+ dead_letters by caller).
Value RowToJson(const std::string& key, const RowRecord& row);
Value RowToJson(const std::string& key, RowRecord&& row);  // moves the fields
Value DeadLetterToJson(const DeadLetter& d);
void EncodeDeadLetter(const DeadLetter& d, std::string* out);
bool DecodeDeadLetter(std::string_view data, DeadLetter* out);

// One kept version of a row (history): the row after an event, or a tombstone.
struct HistoryEntry {
  std::string key;
  RowRecord row;  // row.exists false: the event deleted the row
};

// Where the projector reads rows and seen event ids that are not in the batch yet.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual bool LoadRow(const std::string& key, RowRecord* out) = 0;  // false: no such row
  virtual bool SeenId(const std::string& id) = 0;
  // For an id first seen in the batch: true when an earlier batch had it (a duplicate);
  // otherwise a source may record it as seen at once (replay in memory does, saving a second
  // lookup when the batch is merged), and ForgetId then takes it back (the event failed).
  virtual bool ClaimId(const std::string& id) { return SeenId(id); }
  virtual void ForgetId(const std::string& /*id*/) {}
  // True when ClaimId records ids at once and finds duplicates within a batch too: the batch
  // then keeps no new_ids of its own (nothing is written from them).
  virtual bool ClaimsIds() const { return false; }
};

// The changes of one batch.
struct Batch {
  using Rows = std::unordered_map<std::string, RowRecord>;
  Rows rows;  // rows touched, as they are now
  // The rows changed in this batch, each once, in the order they first changed (entries of
  // `rows`, whose nodes stay put).
  std::vector<Rows::value_type*> dirty;
  std::vector<DeadLetter> dead_letters;
  std::vector<HistoryEntry> history;               // with `history`: one per applied event
  StringSet new_ids;                               // dedupe ids first seen in this batch
  Position next_offsets;  // position after this batch
  // Kafka timestamp of the last message per partition (filled by the daemon's view).
  Position last_timestamps;
  int64_t events = 0;  // messages consumed in this batch
  int64_t applied = 0, ignored = 0, duplicates = 0;
  int64_t last_event_time_ms = 0;  // of the last applied event
  int64_t max_timestamp_ms = 0;    // newest Kafka timestamp seen
  std::string last_key;            // the row the last applied event changed

  void Clear();
  bool empty() const { return events == 0; }

  // The entry of next_offsets for a message's partition (cached for runs of one partition).
  int64_t& NextOffset(std::string_view topic, int32_t partition);
  // Records that a row of `rows` changed.
  void MarkDirty(Rows::value_type* entry) {
    if (entry->second.in_dirty) return;
    entry->second.in_dirty = true;
    dirty.push_back(entry);
  }

 private:
  std::string cached_topic_;
  int32_t cached_partition_ = -1;
  int64_t* cached_offset_ = nullptr;
};

class Projector {
 public:
  explicit Projector(std::shared_ptr<const Projection> projection)
      : projection_(std::move(projection)),
        use_slots_(!projection_->reads_whole_event()),
        slots_(std::max<size_t>(1, projection_->event_fields().size())) {}

  enum class Outcome { kApplied, kIgnored, kDuplicate, kDeadLetter, kStop };

  // Applies one message to the batch. On kStop (an event error under `errors stop`) nothing
  // of this message is in the batch, its offset is not consumed, and *stop_reason says why.
  // With `trace`, the statements run are recorded (projctl explain).
  Outcome Apply(const Message& msg, RowSource* rows, Batch* batch, std::string* stop_reason,
                std::vector<TraceStep>* trace = nullptr);

  // `format avro`: event values are Confluent Avro with writer schemas from `registry` (null:
  // none configured, which holds the view until one is).
  void UseAvro(std::shared_ptr<SchemaRegistry> registry);
  // Before Apply on a polled batch: makes sure the writer schema of every message is known.
  // false with *problem when the registry cannot be reached (the caller holds the batch and
  // retries; an event error would lose good events). Always true for JSON. Without it, an
  // unreachable registry during Apply stops the view at that event (kStop), never a dead letter.
  bool PrefetchSchemas(const std::vector<Message>& messages, std::string* problem);

  // Parses every JSON event whole, as for projections that read `event` itself, instead of
  // only the members the projection names. Both give the same views and dead letters (the
  // golden tests replay every case both ways); this is the slower, simpler path.
  void ReadWholeEvents() { use_slots_ = false; }

  // Records `msg` as a dead letter with `reason` and consumes its offset (skip after a stop).
  void DeadLetterMessage(const Message& msg, const std::string& reason, Batch* batch);

  const Projection& projection() const { return *projection_; }

 private:
  // Decodes a message's value into event_ or slots_; false with *error (and *unavailable for
  // a registry outage) when it cannot be read.
  bool Decode(const Message& msg, EventInput* event, std::string* error, bool* unavailable);

  std::shared_ptr<const Projection> projection_;
  Value event_;               // the whole event, reused between messages
  bool use_slots_;            // JSON events of projections that read named members only
  std::vector<Value> slots_;  // go here (at least one, so that data() is never null)
  std::unique_ptr<AvroEventDecoder> avro_;  // format avro only
};

}  // namespace projd

#endif  // PROJD_ENGINE_PROJECTOR_H_
