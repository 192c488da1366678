// The records of a view's store: rows with their provenance, dead letters and history
// versions, their binary encodings (the layout is in store/README.md), and a batch — the
// changes of many events that one LMDB transaction writes with the offsets after them.
#ifndef PROJD_STORE_RECORDS_H_
#define PROJD_STORE_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/position.h"
#include "dsl/value.h"
#include "store/row_map.h"
#include "store/string_set.h"

namespace projd {

// The event that last changed a row.
struct Provenance {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t event_time_ms = 0;
  bool has_id = false;
  std::string id;
  // The projection's `audit` values for this event, by name (empty: none), and its
  // `correlation` (the command it came from; has_correlation false: none).
  Object audit;
  bool has_correlation = false;
  std::string correlation;
};

struct RowRecord {
  bool exists = false;
  Object fields;
  uint64_t version = 0;  // changes applied to this row since it was created
  Provenance updated_by;
  bool in_dirty = false;  // bookkeeping of a Batch: listed in Batch::dirty (never stored)
  // Bookkeeping of a Batch with record_changes: 1 + the index in Batch::changes of this row's
  // last change, whose record holds the row encoded as it is now (0: none; never stored).
  uint32_t last_change = 0;
  // Bookkeeping of a view's pipelined batches (ViewStore::Stage): the stage number of the last
  // batch that changed this row while it stayed in Batch::rows (0: as LMDB has it; never
  // stored).
  uint64_t staged = 0;
  // Bookkeeping of the change log's encoding (AppendRow): the size of the fields' encoding the
  // last time the row was encoded, room made for the next one (0: not known; never stored).
  uint32_t fields_size = 0;
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

// Encodings used in storage (see store/README.md for the layout).
void EncodeRow(const RowRecord& row, std::string* out);
void AppendRow(const RowRecord& row, std::string* out);  // EncodeRow without clearing *out
// The same bytes, in one pass where *fields_size (the fields' encoded size the last time, 0:
// not known) still holds them; *fields_size is then their size now.
void AppendRow(const RowRecord& row, std::string* out, uint32_t* fields_size);
// The same bytes written at (*out)[at, end), returning end: *out grows when it is too short
// and never shrinks (the bytes after `end` are unspecified). For a buffer reused at its
// largest size: writing a record there fills no zeros first.
size_t WriteRowAt(const RowRecord& row, std::string* out, size_t at, uint32_t* fields_size);
// *out at least n bytes long: grown when shorter, never shrunk.
void GrowTo(std::string* out, size_t n);
bool DecodeRow(std::string_view data, RowRecord* out);
// A stored row's head read in place (views into the record, valid while it is): DecodeRow's
// provenance and version without copying; `audit` and `body` are encodings (see EncodeBinary)
// of objects (`audit` empty: none).
struct RowHeadView {
  uint64_t version = 0;
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0, event_time_ms = 0;
  bool has_id = false, has_correlation = false;
  std::string_view id, correlation, audit, body;
};
bool ReadRowHead(std::string_view data, RowHeadView* out);
void EncodeDeadLetter(const DeadLetter& d, std::string* out);
bool DecodeDeadLetter(std::string_view data, DeadLetter* out);

// One kept version of a row (history): the row after an event, or a tombstone, encoded when
// it is made (no copy of the row is kept).
struct HistoryEntry {
  std::string key;
  // The version's bytes in Batch::history_bytes: 01 and the row record; 00 and the record
  // (version 0): deleted.
  size_t at = 0;
  size_t size = 0;
};

// A history version of `row` (its exists byte and record) into *out; Append: after what *out
// holds.
void EncodeHistoryVersion(const RowRecord& row, std::string* out);
void AppendHistoryVersion(const RowRecord& row, std::string* out);

// One change of a row, as the change log keeps it (SPEC §9): the row after an event, or for a
// deletion the row before it (row.exists false, version 0; `where` filters see those fields),
// with the event as updated_by, and the view's position right after the event — a token that
// covers this change and every earlier one and none after it.
struct ChangeRecord {
  uint64_t seq = 0;  // 1, 2, ... in apply order
  std::string key;
  RowRecord row;
  Position position;
};

// Where the projector reads rows and seen event ids that are not in the batch yet.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual bool LoadRow(const std::string& key, RowRecord* out) = 0;  // false: no such row
  // Whether an earlier batch applied an event with this id. `hash` is StringSet::Hash(id) (the
  // reader computes it ahead; the batch's id set and the store's id filter use it too).
  virtual bool SeenId(const std::string& id, uint64_t hash) = 0;
  // For an id first seen in the batch: true when an earlier batch had it (a duplicate);
  // otherwise a source may record it as seen at once (replay in memory does, saving a second
  // lookup when the batch is merged), and ForgetId then takes it back (the event failed).
  virtual bool ClaimId(const std::string& id, uint64_t hash) { return SeenId(id, hash); }
  virtual void ForgetId(const std::string& /*id*/) {}
  // True when ClaimId records ids at once and finds duplicates within a batch too: the batch
  // then keeps no new_ids of its own (nothing is written from them).
  virtual bool ClaimsIds() const { return false; }
};

// The changes of one batch.
struct Batch {
  using Rows = RowMap;
  Rows rows;  // rows touched, as they are now
  // The rows changed in this batch, each once, in the order they first changed (entries of
  // `rows`, whose nodes stay put).
  std::vector<Rows::value_type*> dirty;
  std::vector<DeadLetter> dead_letters;
  std::vector<HistoryEntry> history;  // with `history`: one per applied event
  std::string history_bytes;          // their versions, back to back (one buffer per batch)
  // With record_changes (the daemon's views): each applied event's change of its row, the row
  // already encoded (EncodeRow) — the change log. Events that leave a row absent before and
  // after change nothing.
  struct Change {
    // The change log record (store/README.md) but for its position, which the store adds:
    // 01 · string key · 00/01 exists · the row record (EncodeRow: the row after, or for a
    // deletion the row before). Its bytes are [at, at + size) of the batch's change_bytes.
    size_t at = 0, size = 0;
    size_t row_at = 0;                // where the row record starts in the record
    size_t key_at = 0, key_size = 0;  // where the view key is in the record
    std::string_view Record(std::string_view bytes) const { return bytes.substr(at, size); }
    bool history = false;     // also a history version (see history_from_changes)
    std::string correlation;  // the event's correlation ("": none), for the correlation index
    int32_t partition = 0;
    int64_t offset = 0;
    std::string topic;
  };
  std::vector<Change> changes;
  size_t changes_used = 0;  // entries of `changes` in use (the rest are kept for reuse)
  // The records of the changes in use, back to back: one buffer, not a string per change.
  // Only [0, change_size) is in use: the buffer keeps its largest size between batches (it
  // trades places with the staged batch's), so that writing a record fills no zeros first.
  std::string change_bytes;
  size_t change_size = 0;
  bool record_changes = false;  // kept by Clear
  // With record_changes and a projection with `history`: the history versions are the change
  // records (Change::history), not entries of `history` (kept by Clear).
  bool history_from_changes = false;
  StringSet new_ids;      // dedupe ids first seen in this batch
  Position next_offsets;  // position after this batch
  // Kafka timestamp of the last message per partition (filled by the daemon's view).
  Position last_timestamps;
  int64_t events = 0;  // messages consumed in this batch
  int64_t applied = 0, ignored = 0, duplicates = 0;
  int64_t last_event_time_ms = 0;  // of the last applied event
  int64_t max_timestamp_ms = 0;    // newest Kafka timestamp seen
  // The row the last applied event changed (an entry of `rows`; nullptr: none in this batch).
  Rows::value_type* last_row = nullptr;

  void Clear();
  // Clear but for `rows`, which stay as they are (marked changed no more): a batch that is the
  // whole view, as in a replay in memory.
  void ClearKeepingRows();
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

}  // namespace projd

#endif  // PROJD_STORE_RECORDS_H_
