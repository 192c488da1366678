// The change log of a view's store: table `changes`, u64 sequence → a chunk of change records
// from that sequence on, written in the transaction of the batch that made the changes and
// pruned to the newest `keep`. The layout is in store/README.md.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "store/encoding.h"
#include "store/view_store.h"

namespace projd {
namespace {

// A position as the change log stores it: varint count, then per partition the topic's index
// in the projection's topics + 1 (0: the topic's name follows as a string), the partition and
// the next offset. Every change record ends with the position after it, and from one record to
// the next only the changed partition's offset moves: the coder keeps the whole encoding and
// rewrites that offset in place (the rest again only when its varint changes length), so a
// record copies the position's bytes as they stand. Offsets are read through pointers into the
// position's map (its entries stay put).
class PositionCoder {
 public:
  PositionCoder(const Position& p, const std::vector<std::string>& topics) : p_(p) {
    for (const auto& [tp, off] : p) {
      Part part;
      auto it = std::find(topics.begin(), topics.end(), tp.topic);
      PutVarint(&part.head,
                it == topics.end() ? 0 : static_cast<uint64_t>(it - topics.begin()) + 1);
      if (it == topics.end()) PutString(&part.head, tp.topic);
      PutVarint(&part.head, static_cast<uint32_t>(tp.partition));
      part.next = &off;
      parts_.push_back(std::move(part));
    }
    Encode();
  }
  // Whether the position has the partitions it was built with (none added since).
  bool Fits() const { return p_.size() == parts_.size(); }
  // The part (an index for Update) of the partition whose next offset is at `next`, or -1.
  int PartOf(const int64_t* next) const {
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (parts_[i].next == next) return static_cast<int>(i);
    }
    return -1;
  }
  // After the offset of one part moved: its bytes (or, when its length changed, all of them).
  void Update(int part) {
    if (part < 0) {
      Encode();
      return;
    }
    const Part& pt = parts_[static_cast<size_t>(part)];
    const uint64_t next = Next(pt);
    if (VarintSize(next) != pt.offset_size) {
      Encode();
      return;
    }
    WriteVarint(bytes_.data() + pt.offset_at, next);
  }
  std::string_view bytes() const { return bytes_; }

 private:
  struct Part {
    std::string head;                       // the topic and the partition number
    const int64_t* next;                    // the partition's next offset, in the position's map
    size_t offset_at = 0, offset_size = 0;  // where its offset's varint is in bytes_
  };
  static uint64_t Next(const Part& part) {
    return static_cast<uint64_t>(std::max<int64_t>(*part.next, 0));
  }
  void Encode() {
    bytes_.clear();
    PutVarint(&bytes_, parts_.size());
    for (Part& part : parts_) {
      bytes_.append(part.head);
      part.offset_at = bytes_.size();
      PutVarint(&bytes_, Next(part));
      part.offset_size = bytes_.size() - part.offset_at;
    }
  }

  const Position& p_;
  std::vector<Part> parts_;
  std::string bytes_;  // the position's encoding as its offsets stand
};

bool GetPosition(std::string_view* in, const std::vector<std::string>& topics, Position* out) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t ref, partition, off;
    TopicPartition tp;
    if (!GetVarint(in, &ref)) return false;
    if (ref == 0) {
      if (!GetString(in, &tp.topic)) return false;
    } else if (ref <= topics.size()) {
      tp.topic = topics[ref - 1];
    } else {
      return false;
    }
    if (!GetVarint(in, &partition) || !GetVarint(in, &off)) return false;
    tp.partition = static_cast<int32_t>(partition);
    (*out)[tp] = static_cast<int64_t>(off);
  }
  return true;
}

// A change record: 01 · string key · 00/01 exists · row record · position · u16 big-endian
// length of the position (the projector writes all but the position, which the store adds).
struct ChangeParts {
  std::string_view key;
  bool exists = false;
  std::string_view row;
  std::string_view position;
};

bool SplitChange(std::string_view in, ChangeParts* out) {
  if (in.size() < 3 || in[0] != 1) return false;
  size_t plen = (static_cast<size_t>(static_cast<uint8_t>(in[in.size() - 2])) << 8) |
                static_cast<uint8_t>(in[in.size() - 1]);
  in.remove_suffix(2);
  if (plen > in.size()) return false;
  out->position = in.substr(in.size() - plen);
  in.remove_suffix(plen);
  in.remove_prefix(1);
  uint64_t n;
  if (!GetVarint(&in, &n) || n >= in.size()) return false;
  out->key = in.substr(0, n);
  in.remove_prefix(n);
  out->exists = in[0] == 1;
  in.remove_prefix(1);
  out->row = in;
  return true;
}

// The event of a change record: its partition and offset (from the row record's provenance:
// 01 · varint version · string topic · varint partition · svarint offset).
bool ChangeEvent(std::string_view record, TopicPartition* tp, int64_t* offset) {
  ChangeParts parts;
  if (!SplitChange(record, &parts)) return false;
  std::string_view row = parts.row;
  uint64_t version, partition;
  if (row.empty() || (row[0] != 1 && row[0] != 2)) return false;
  row.remove_prefix(1);
  if (!GetVarint(&row, &version) || !GetString(&row, &tp->topic) || !GetVarint(&row, &partition) ||
      !GetSigned(&row, offset)) {
    return false;
  }
  tp->partition = static_cast<int32_t>(partition);
  return true;
}

// The change log's values: a chunk of consecutive records, `02` · varint count · (varint size ·
// record) × count, keyed by its first record's sequence; or, as stores written before chunks
// hold, one record (its `01` tag first) keyed by its own. One LMDB record per chunk: a put per
// chunk, not per change, and pruning deletes whole chunks.
constexpr char kChunkTag = 2;
// A chunk closes before it passes this many bytes (a larger record has one to itself), so that
// it stays inside a leaf page of 4 KiB (LMDB moves a value of more than ~2,000 bytes to
// overflow pages of its own), and before this many records (a lookup walks a chunk from the
// front).
constexpr size_t kChunkBytes = 1900;
constexpr size_t kChunkRecords = 256;

// The records of one value of the table, oldest first.
class ChunkReader {
 public:
  // False when the value is neither a chunk nor a record.
  bool Open(std::string_view value) {
    if (value.empty()) return false;
    if (value[0] == 1) {
      single_ = true;
      rest_ = value;
      left_ = 1;
      return true;
    }
    if (value[0] != kChunkTag) return false;
    value.remove_prefix(1);
    single_ = false;
    if (!GetVarint(&value, &left_) || left_ == 0 || left_ > value.size()) return false;
    rest_ = value;
    return true;
  }
  // The records not yet read (all of them, right after Open).
  uint64_t left() const { return left_; }
  // The next record; false at the end, or when the chunk is damaged (left() is then not 0).
  bool Next(std::string_view* record) {
    if (left_ == 0) return false;
    if (single_) {
      *record = rest_;
      rest_ = {};
      left_ = 0;
      return true;
    }
    uint64_t n = 0;
    if (!GetVarint(&rest_, &n) || n > rest_.size()) return false;
    *record = rest_.substr(0, n);
    rest_.remove_prefix(n);
    --left_;
    return true;
  }
  // The bytes of the records not yet read, as a chunk holds them (for a chunk, not a record).
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
  uint64_t left_ = 0;
  bool single_ = false;
};

// A chunk's head, before its records: the tag and the count.
size_t ChunkHeadSize(uint64_t count) { return 1 + VarintSize(count); }
char* WriteChunkHead(char* out, uint64_t count) {
  out[0] = kChunkTag;
  return WriteVarint(out + 1, count);
}

// The first sequence of the table and the one after its newest change (a last value that does
// not read counts as one record, and sets *damaged unless it is null: the bounds need not
// know), leaving `c` on the last value. False when the table is empty.
bool LogEnds(KvCursor* c, uint64_t* first, uint64_t* end, bool* damaged) {
  if (damaged) *damaged = false;
  if (!c || !c->First()) return false;
  *first = ReadBigEndian64(c->key());
  c->Last();
  ChunkReader last;
  const bool unreadable = !last.Open(c->value());
  if (damaged) *damaged = unreadable;
  *end = ReadBigEndian64(c->key()) + (unreadable ? 1 : last.left());
  return true;
}

// Puts `c` on the value holding change `seq`, skipping to it in *reader: *first is the
// value's first sequence. False when no kept value holds it (before the first or past the last)
// or a value is damaged (*damaged set).
bool SeekChange(KvCursor* c, uint64_t seq, ChunkReader* reader, uint64_t* first, bool* damaged) {
  *damaged = false;
  if (!c) return false;
  // The value at or after seq; when it starts past seq (or there is none), the one before.
  bool at = c->Seek(BigEndian64(seq));
  if (!at || ReadBigEndian64(c->key()) > seq) {
    at = at ? c->Prev() : c->Last();
    if (!at) return false;
  }
  *first = ReadBigEndian64(c->key());
  if (!reader->Open(c->value())) {
    *damaged = true;
    return false;
  }
  if (seq - *first >= reader->left()) return false;
  std::string_view skipped;
  for (uint64_t i = *first; i < seq; ++i) {
    if (!reader->Next(&skipped)) {
      *damaged = true;
      return false;
    }
  }
  return true;
}

}  // namespace

void ViewStore::SetChangeLog(std::vector<std::string> topics, uint64_t keep) {
  change_topics_ = std::move(topics);
  changes_keep_ = keep;
}

void ViewStore::LoadChangeLog(KvTxn* txn) {
  change_position_ = OffsetsIn(txn);
  ChangeLogBounds bounds;
  ChangeBoundsIn(txn, &bounds);
  first_change_seq_ = bounds.first;
  next_change_seq_ = bounds.next;
  changes_pruned_ = bounds.pruned;
}

void ViewStore::ChangeBoundsIn(KvTxn* txn, ChangeLogBounds* out) {
  *out = ChangeLogBounds();
  auto c = txn->Cursor(kChanges);
  // A damaged last value counts as one record here; reading it reports the damage.
  LogEnds(c.get(), &out->first, &out->next, nullptr);
  std::string_view pruned;
  std::string ignored;
  if (txn->Get(kMeta, "changes_pruned", &pruned)) {
    Position::Parse(pruned, &out->pruned, &ignored);
  } else if (out->first == 0) {
    // A store written before it kept a change log (or with none): the changes before its
    // position are not kept.
    out->pruned = OffsetsIn(txn);
  }
}

void ViewStore::EncodeChanges(const Batch& batch, std::vector<Batch::Change>* changes,
                              std::string* change_bytes, StagedBatch* out) {
  if (!records_changes()) {
    out->changes_used = 0;
    return;
  }
  // The writer adds each record's position (WriteChanges): that work is the writer thread's,
  // not the applying one's.
  changes->swap(out->changes);
  change_bytes->swap(out->change_bytes);
  out->changes_used = batch.changes_used;
  out->staged_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
}

bool ViewStore::WriteChanges(KvTxn* txn, const StagedBatch& staged) {
  // The position after each change, from the view's position after the last batch written
  // (change_position_, taken on when the transaction commits: a write retried starts again).
  write_position_ = change_position_;
  if (staged.changes_used == 0) {
    for (const auto& [tp, off] : staged.offsets) write_position_[tp] = off;
    return true;
  }
  uint64_t seq = next_change_seq_.load(std::memory_order_relaxed);
  uint64_t first = first_change_seq_ == 0 ? seq : first_change_seq_;
  int64_t* next = nullptr;  // write_position_'s entry of the last change's partition
  int part = -1;            // and its part in the coder
  const Batch::Change* last = nullptr;
  std::optional<PositionCoder> coder;
  // The batch's records go into chunks (ChunkReader), each appended once it is full: written
  // into [0, chunk_size) of a buffer kept at its largest size (no append per part).
  std::string& chunk = write_chunk_;
  size_t chunk_size = 0;
  uint64_t chunk_first = seq;
  uint64_t chunk_count = 0;
  auto append_chunk = [&]() {
    if (chunk_count == 0) return true;
    const size_t head = ChunkHeadSize(chunk_count);
    char* out = txn->AppendReserved(kChanges, BigEndian64(chunk_first), head + chunk_size);
    if (!out) return false;
    std::memcpy(WriteChunkHead(out, chunk_count), chunk.data(), chunk_size);
    chunk_size = 0;
    chunk_count = 0;
    return true;
  };
  for (size_t i = 0; i < staged.changes_used; ++i, ++seq) {
    const Batch::Change& c = staged.changes[i];
    if (!last || c.partition != last->partition || c.topic != last->topic) {
      next = &write_position_[TopicPartition{c.topic, c.partition}];
      if (!coder || !coder->Fits()) coder.emplace(write_position_, change_topics_);
      part = coder->PartOf(next);
    }
    last = &c;
    *next = c.offset + 1;
    coder->Update(part);
    // The record, the position after it and the position's length.
    const std::string_view position = coder->bytes();
    const size_t psize = position.size();
    const size_t plen = std::min<size_t>(psize, 0xFFFF);
    const std::string_view record = c.Record(staged.change_bytes);
    const size_t size = record.size() + psize + 2;
    if (chunk_count > 0 &&
        (chunk_size + VarintSize(size) + size > kChunkBytes || chunk_count == kChunkRecords)) {
      if (!append_chunk()) return false;
    }
    if (chunk_count == 0) chunk_first = seq;
    const size_t end = chunk_size + VarintSize(size) + size;
    GrowTo(&chunk, end);
    char* p = WriteVarint(chunk.data() + chunk_size, size);
    const size_t at = static_cast<size_t>(p - chunk.data());
    p = WriteBytes(p, record);
    p = WriteBytes(p, position);
    p[0] = static_cast<char>(plen >> 8);
    p[1] = static_cast<char>(plen & 0xFF);
    chunk_size = end;
    ++chunk_count;
    if (!c.correlation.empty() &&
        !txn->Put(kCorrelations,
                  CorrelationPrefix(c.correlation) +
                      BigEndian64(static_cast<uint64_t>(staged.staged_ms)) + BigEndian64(seq),
                  std::string_view(chunk.data() + at, size))) {
      return false;
    }
  }
  if (!append_chunk()) return false;
  // Events that changed no row move the position too.
  for (const auto& [tp, off] : staged.offsets) write_position_[tp] = off;
  // The batch's own changes always stay, so that the change feeds can send them however small
  // --changes-keep is.
  return PruneChanges(txn, seq, first, std::max<uint64_t>(changes_keep_, staged.changes_used));
}

// Prunes to the newest `keep` of the changes before `end` (oldest first, through a cursor), the
// oldest kept being `first` so far; notes per partition the offset after the newest change
// pruned: whole chunks, then the oldest records of the chunk the kept changes begin in (its
// others written again under the first one's sequence).
bool ViewStore::PruneChanges(KvTxn* txn, uint64_t end, uint64_t first, uint64_t keep) {
  write_pruned_ = changes_pruned_;
  write_pruned_changed_ = false;
  auto c = txn->Cursor(kChanges);
  bool at = false;
  while (c && end - first > keep) {
    // After a delete the cursor stands on the next record; where LMDB cannot say (the end of
    // a page, in some versions), look again from the first.
    if (!at && !(at = c->First())) break;
    const uint64_t value_first = ReadBigEndian64(c->key());
    if (value_first >= end || end - value_first <= keep) {
      first = value_first;  // the oldest kept, as the table has it
      break;
    }
    ChunkReader reader;
    // A value that does not read is pruned whole (as one record).
    const uint64_t count = reader.Open(c->value()) ? reader.left() : 1;
    uint64_t drop = std::min<uint64_t>(count, end - value_first - keep);
    std::string_view record;
    for (uint64_t n = 0; n < drop; ++n) {
      if (!reader.Next(&record)) {
        drop = count;  // damaged: the rest of the chunk goes with it
        break;
      }
      TopicPartition tp;
      int64_t offset;
      if (ChangeEvent(record, &tp, &offset)) {
        int64_t& p = write_pruned_[tp];
        if (offset + 1 > p) p = offset + 1;
        write_pruned_changed_ = true;
      }
    }
    first = value_first + drop;
    if (drop == count) {
      at = c->Delete();  // and on to the next
      continue;
    }
    // Copied out first: the value is LMDB's page, which the delete changes.
    std::string& chunk = write_chunk_;
    chunk.resize(ChunkHeadSize(reader.left()));
    WriteChunkHead(chunk.data(), reader.left());
    chunk.append(reader.rest());
    if (!txn->Delete(kChanges, BigEndian64(value_first)) ||
        !txn->Put(kChanges, BigEndian64(first), chunk)) {
      return false;
    }
    break;
  }
  if (write_pruned_changed_ && !txn->Put(kMeta, "changes_pruned", write_pruned_.ToString())) {
    return false;
  }
  write_first_change_ = first;
  return true;
}

bool ViewStore::ChangeBounds(ChangeLogBounds* out, std::string* error) {
  ReadView txn = Read(error);
  if (!txn) return false;
  ChangeBoundsIn(txn.txn.get(), out);
  return true;
}

bool ViewStore::FirstChangeAfter(const Position& from, uint64_t* seq, std::string* error) {
  ReadView txn = Read(error);
  if (!txn) return false;
  auto c = txn->Cursor(kChanges);
  uint64_t first = 0, end = 0;
  bool damaged;
  if (!LogEnds(c.get(), &first, &end, &damaged)) {
    *seq = next_change_seq();
    return true;
  }
  if (damaged) {
    if (error) *error = "damaged change log record " + std::to_string(end - 1);
    return false;
  }
  // The view's position after change `at` (each record holds it).
  auto position_after = [&](uint64_t at, Position* out) {
    ChunkReader reader;
    uint64_t value_first = 0;
    bool damaged = false;
    std::string_view record;
    ChangeParts parts;
    if (!SeekChange(c.get(), at, &reader, &value_first, &damaged) || !reader.Next(&record) ||
        !SplitChange(record, &parts) || !GetPosition(&parts.position, change_topics_, out)) {
      if (error) *error = "damaged change log record " + std::to_string(at);
      return false;
    }
    return true;
  };
  // `from` need not be a position this view passed (a replica's, or a rebuilt view's, which
  // applied the partitions in other runs): per partition, the first change whose position
  // after it passes from's offset there (positions only grow along the log) is where that
  // partition's uncovered changes begin; the earliest of those is where the feed starts (the
  // covered changes after it are skipped as they are sent: ChangeFeeds).
  Position last;
  if (!position_after(end - 1, &last)) return false;
  uint64_t best = end;
  for (const auto& [tp, after_last] : last) {
    const int64_t want = from.NextOf(tp);
    if (after_last <= want) continue;  // every change of tp is covered
    uint64_t lo = first, hi = best;
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      Position at;
      if (!position_after(mid, &at)) return false;
      if (at.NextOf(tp) > want) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    best = std::min(best, lo);
  }
  *seq = best;
  return true;
}

bool ViewStore::ReadChanges(uint64_t from, uint64_t end, size_t max, size_t max_bytes,
                            std::vector<ChangeRecord>* out, std::string* error) {
  ReadView txn = Read(error);
  if (!txn) return false;
  auto c = txn->Cursor(kChanges);
  if (!c) return true;
  auto damaged_at = [&](uint64_t seq) {
    if (error) *error = "damaged change log record " + std::to_string(seq);
    return false;
  };
  // The value holding `from`; or, when `from` is older than the oldest kept, the first value.
  ChunkReader reader;
  uint64_t seq = 0;
  bool damaged = false;
  if (SeekChange(c.get(), from, &reader, &seq, &damaged)) {
    seq = from;
  } else if (damaged) {
    return damaged_at(seq);
  } else {
    if (!c->Seek(BigEndian64(from))) return true;  // nothing from there on
    seq = ReadBigEndian64(c->key());
    if (!reader.Open(c->value())) return damaged_at(seq);
  }
  size_t bytes = 0;
  while (seq < end && out->size() < max && bytes < max_bytes) {
    if (reader.left() == 0) {
      if (!c->Next()) break;
      seq = ReadBigEndian64(c->key());
      if (!reader.Open(c->value())) return damaged_at(seq);
      continue;
    }
    std::string_view record;
    ChangeParts parts;
    ChangeRecord rec;
    rec.seq = seq;
    if (!reader.Next(&record) || !SplitChange(record, &parts) || !DecodeRow(parts.row, &rec.row) ||
        !GetPosition(&parts.position, change_topics_, &rec.position)) {
      return damaged_at(seq);
    }
    rec.key.assign(parts.key);
    rec.row.exists = parts.exists;
    if (!parts.exists) rec.row.version = 0;
    bytes += record.size();
    out->push_back(std::move(rec));
    ++seq;
  }
  return true;
}

bool ViewStore::Correlated(const std::string& id, int64_t after_ms, uint64_t after_seq,
                           size_t limit, std::vector<CorrelatedChange>* out, bool* more,
                           std::string* error) {
  *more = false;
  if (id.empty()) return true;
  ReadView txn = Read(error);
  if (!txn) return false;
  std::string prefix = CorrelationPrefix(id);
  // Seek just past (after_ms, after_seq); after_ms < 0: from the start.
  uint64_t ms = 0, seq = 0;
  if (after_ms >= 0) {
    ms = static_cast<uint64_t>(after_ms);
    seq = after_seq;
    if (seq == UINT64_MAX) {
      ++ms;
      seq = 0;
    } else {
      ++seq;
    }
  }
  auto c = txn->Cursor(kCorrelations);
  for (bool ok = c && c->Seek(prefix + BigEndian64(ms) + BigEndian64(seq)); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() != prefix.size() + 16 || k.compare(0, prefix.size(), prefix) != 0) break;
    ChangeParts parts;
    CorrelatedChange cc;
    cc.applied_ms = static_cast<int64_t>(ReadBigEndian64(k.substr(prefix.size(), 8)));
    cc.seq = ReadBigEndian64(k.substr(prefix.size() + 8, 8));
    if (!SplitChange(c->value(), &parts) || !DecodeRow(parts.row, &cc.row)) {
      if (error) *error = "damaged correlation index record";
      return false;
    }
    // A long id shares its key prefix only with ids of the same first bytes and digest.
    if (cc.row.updated_by.correlation != id) continue;
    if (out->size() >= limit) {
      *more = true;
      break;
    }
    cc.key.assign(parts.key);
    cc.row.exists = parts.exists;
    if (!parts.exists) cc.row.version = 0;
    out->push_back(std::move(cc));
  }
  return true;
}

}  // namespace projd
