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

#include "connectors/source.h"
#include "dsl/program.h"
#include "dsl/value.h"
#include "formats/avro.h"
#include "formats/schema_registry.h"
#include "store/records.h"

namespace projd {

// A message's event read ahead of its apply: decoded, and prepared (handler, key, id, time,
// audit values, correlation), owning what it holds. Reading needs the message and the
// projection alone, no row and no batch, so it can run ahead of applying, on another thread.
// Reused from message to message (its strings and values keep their buffers).
struct ReadEvent {
  enum class Status : uint8_t {
    kReady,         // decoded and prepared (prepared.handler null: the event is ignored)
    kMessageError,  // the message came with an error (Message::error)
    kUnreadable,    // the value does not decode: `error` says why
    kUnavailable,   // Avro whose writer schema cannot be fetched now (a registry outage)
    kUnprepared,    // where, type, key, id, time, audit or correlation failed: `error`
  };
  Status status = Status::kReady;
  std::string error;
  EventInput input;  // into `whole` or `slots`
  PreparedEvent prepared;
  Value whole;               // the event parsed whole, when the projection reads it whole
  std::vector<Value> slots;  // or just the members it names, one slot each
  // Set by a reader ahead of the apply (SetPrefetchHashes; Read sets them 0), for the applying
  // thread's prefetches and lookups (0: not known): RowMap::Hash of the view key, and
  // StringSet::Hash of the dedupe id (also the id filter's hash of an id that is its own key).
  uint64_t key_hash = 0, id_hash = 0;
};

// Sets read->key_hash, and with `ids` read->id_hash, for an event read ready for a handler;
// both 0 otherwise.
void SetPrefetchHashes(ReadEvent* read, bool ids);

class Projector {
 public:
  explicit Projector(std::shared_ptr<const Projection> projection)
      : projection_(std::move(projection)), use_slots_(!projection_->reads_whole_event()) {}

  enum class Outcome { kApplied, kIgnored, kDuplicate, kDeadLetter, kStop };

  // Applies one message to the batch. On kStop (an event error under `errors stop`) nothing
  // of this message is in the batch, its offset is not consumed, and *stop_reason says why.
  // With `trace`, the statements run are recorded (projctl explain).
  Outcome Apply(const Message& msg, RowSource* rows, Batch* batch, std::string* stop_reason,
                std::vector<TraceStep>* trace = nullptr) {
    Read(msg, &read_);
    return Apply(msg, &read_, rows, batch, stop_reason, trace);
  }

  // The two halves of Apply. Read reads `msg` into *out; with JSON events several threads may
  // Read at once (each into its own ReadEvent), while another applies. Apply(msg, read, ...)
  // then applies what Read made of `msg` (moving some of it out), in the source's order, as
  // Apply(msg, ...) does.
  void Read(const Message& msg, ReadEvent* out) const;
  Outcome Apply(const Message& msg, ReadEvent* read, RowSource* rows, Batch* batch,
                std::string* stop_reason, std::vector<TraceStep>* trace = nullptr);

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

  // After kStop: the view key of the event it stopped at, when it could be computed (the dead
  // letter it becomes on a skip counts for that row).
  bool stop_has_key() const { return stop_has_key_; }
  const std::string& stop_key() const { return stop_key_; }

 private:
  // Decodes a message's value into out->whole or out->slots and sets out->input; false with
  // out->error (and out->status) when it cannot be read.
  bool Decode(const Message& msg, ReadEvent* out) const;
  void KeyOfUnreadable(const Message& msg, ReadEvent* out) const;
  // DeadLetterMessage for an event read as `read`, of row `key` when has_key.
  void DeadLetterEvent(const Message& msg, const std::string& reason, const ReadEvent& read,
                       bool has_key, const std::string& key, Batch* batch);

  std::shared_ptr<const Projection> projection_;
  bool use_slots_;  // JSON events of projections that read named members only
  ReadEvent read_;  // Apply(msg, ...)'s
  std::unique_ptr<AvroEventDecoder> avro_;  // format avro only
  bool stop_has_key_ = false;               // see stop_has_key()
  std::string stop_key_;
};

}  // namespace projd

#endif  // PROJD_ENGINE_PROJECTOR_H_
