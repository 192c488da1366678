// The LMDB store of one view: rows, positions, dead letters, dedupe ids and metadata, in one
// environment (a folder). The layout is written down in store/README.md.
//
// One writer thread applies batches (BeginBatch, LoadRow/SeenId through the projector, then
// Commit); any number of threads read. Commit writes the rows and the offsets they came from in
// one transaction: after a crash the store holds both or neither.
#ifndef PROJD_ENGINE_VIEW_STORE_H_
#define PROJD_ENGINE_VIEW_STORE_H_

#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/id_filter.h"
#include "store/kv.h"
#include "store/records.h"
#include "store/text_index.h"

namespace projd {

class Projection;

// The writes of one batch, encoded by the applying thread (ViewStore::Stage) so that another
// thread can write them (ViewStore::Write) while the next batch is applied.
struct StagedBatch {
  struct RowWrite {
    std::string key;
    bool exists = false;
    // The row record, when exists: 1 + the index in `changes` of the change whose record holds
    // it from its row_at on (the row's last change in the batch), or 0 and then `data`
    // (EncodeRow).
    size_t change = 0;
    std::string data;
    // The new row's index entries: LMDB key and value (the whole row key when the LMDB key
    // holds only its first bytes and digest, else empty).
    std::vector<std::pair<std::string, std::string>> index_entries;
    // The new row's text of each text-indexed field, when it is a string (the writer compares
    // it with the old row's and re-indexes the row only when it changed).
    std::vector<std::pair<bool, std::string>> texts;
  };
  std::vector<RowWrite> rows;  // in any order (written in key order)
  struct DeadWrite {
    std::string data;  // EncodeDeadLetter
    bool has_key = false;
    std::string key;
  };
  std::vector<DeadWrite> dead_letters;
  struct HistoryWrite {
    std::string prefix;    // of the row's versions (see store/README.md)
    std::string long_key;  // the whole row key when the prefix holds only its digest
    size_t at = 0;         // the version (EncodeHistoryVersion, store/records.h): its bytes
    size_t size = 0;       // in history_bytes
  };
  std::vector<HistoryWrite> history;
  std::string history_bytes;
  std::vector<std::string> ids;  // keys of the ids table, in any order
  // The change log records, in apply order: the first changes_used entries, each its record
  // but for the position after it (the writer adds it), and its correlation ("": none). The
  // batch's vector and record bytes move here whole, and the batch takes this one's back, for
  // reuse.
  std::vector<Batch::Change> changes;
  size_t changes_used = 0;
  std::string change_bytes;
  int64_t staged_ms = 0;  // wall clock when staged (the correlation index)
  Position offsets;
};

class ViewStore final : public RowSource {
 public:
  static std::unique_ptr<ViewStore> Open(const std::string& dir, const KvOptions& options,
                                         std::string* error);

  // Fields with a secondary index (the projection's `index` clause). Set before the first
  // batch; entries are maintained in the same transaction as the rows.
  void SetIndexes(std::vector<std::string> fields) { indexes_ = std::move(fields); }
  // Fields with a full-text index (`index text`), kept like the secondary indexes.
  void SetTextIndexes(std::vector<TextIndexSpec> specs) { text_indexes_ = std::move(specs); }
  // Both, from the projection's `index` and `index text` clauses.
  void UseIndexesOf(const Projection& p);

  // The change log (SPEC §9; store/change_log.cc): every change of a row, in apply order, with
  // the view's position after it, written in the same transaction as the rows and pruned to
  // the newest `keep` changes (0: no change log). `topics` are the projection's (positions are
  // stored with the topic's index in this list). Set before the first batch.
  void SetChangeLog(std::vector<std::string> topics, uint64_t keep);
  bool records_changes() const { return changes_keep_ > 0; }

  // ---- the writer ----
  // Opens the read snapshot the projector loads rows from until Commit.
  bool BeginBatch(std::string* error);
  bool LoadRow(const std::string& key, RowRecord* out) override;
  bool SeenId(const std::string& id, uint64_t hash) override;
  // A hint for SeenId(id) a few events ahead: asks for the id filter's blocks of an id whose
  // StringSet::Hash is `hash` (an id that is its own key; longer ones are left alone).
  void PrefetchId(std::string_view id, uint64_t hash) const;
  // Writes the batch and its offsets atomically; grows the map when full. On failure nothing
  // of the batch is stored (the caller retries later or stops).
  bool Commit(const Batch& batch, std::string* error);
  void EndBatch();  // drops the snapshot without writing (after a failure)

  // ---- the writer, pipelined (the daemon) ----
  // Stage encodes the batch, then keeps its dedupe ids as pending, and leaves its rows in
  // batch->rows (no longer marked changed), so that the next batch, begun with
  // Batch::ClearKeepingRows (not Clear), can be applied on this thread while another thread
  // writes this one with Write. The rules: one Write at a time and in Stage order; before the
  // batch after next is staged, this one's Write has succeeded (so Stage drops from the batch
  // only rows every later snapshot sees); EndBatch before waiting for a Write (a Write that
  // grows the map waits for the snapshot). After a Write that will not be retried, clear the
  // batch's rows and DropCache.
  void Stage(Batch* batch, StagedBatch* out);
  bool Write(const StagedBatch& staged, std::string* error);
  void DropCache();
  // Rows Stage leaves in a batch at most (those of the two newest staged batches are kept in
  // any case).
  void SetRowCacheLimit(size_t rows) { row_cache_limit_ = rows; }

  // ---- readers (any thread) ----
  Position Positions();
  // false when absent. *dead_letters: rejected events that carried this key.
  bool GetRow(const std::string& key, RowRecord* out, uint64_t* dead_letters);
  // GetRow's stored record, undecoded (DecodeRow, ReadRowHead), copied into *record.
  bool GetRowRecord(const std::string& key, std::string* record, uint64_t* dead_letters);
  struct ScanOptions {
    std::string prefix, start, end;  // start inclusive, end exclusive; empty: unbounded
    std::string after;               // resume strictly after this key (cursor)
    size_t limit = 100;
  };
  // Rows in key order; *more is true when rows remain after the last one returned.
  bool Scan(const ScanOptions& options, std::vector<std::pair<std::string, RowRecord>>* out,
            bool* more, std::string* error);
  uint64_t RowCount();
  uint64_t DeadLetterCount();
  // Dead letters with sequence > after, oldest first.
  bool DeadLetters(uint64_t after, size_t limit, std::vector<std::pair<uint64_t, DeadLetter>>* out,
                   bool* more);
  // History (projections with `history`): versions of a row in the order they were made.
  // *out gets (sequence, version) pairs with sequence > after; a tombstone has exists false.
  bool History(const std::string& key, uint64_t after, size_t limit,
               std::vector<std::pair<uint64_t, RowRecord>>* out, bool* more);
  // The row after the last event with event time <= as_of_ms: 1 found, 0 absent or deleted.
  bool AsOf(const std::string& key, int64_t as_of_ms, RowRecord* out);
  // Deletes versions with event time before cutoff_ms, keeping each row's newest version.
  // Returns the number deleted, -1 on a storage error.
  int64_t PruneHistory(int64_t cutoff_ms, std::string* error);

  // Keys of rows whose indexed `field` lies in [lo, hi] (either bound optional, by the sort
  // order of IndexEncode), in index order. Counts entries examined in *scanned.
  bool IndexRange(const std::string& field, const Value* lo, bool lo_inclusive, const Value* hi,
                  bool hi_inclusive, std::vector<std::string>* keys, uint64_t* scanned);
  // Keys of rows whose indexed `field` equals `value`, in key order, after `after` (exclusive;
  // empty: from the start), at most `max`. *more when keys remain.
  bool IndexEqual(const std::string& field, const Value& value, const std::string& after,
                  size_t max, std::vector<std::string>* keys, bool* more);
  // Every key that has history (for as-of queries), in key order.
  bool HistoryKeys(std::vector<std::string>* keys);

  // The canonical digest of every row (store/row_digest.h) with the position and definition
  // hash of the same read snapshot: rows and offsets are read in one read transaction, so the
  // digest is that of the rows at exactly that position. Streams the rows (nothing kept).
  struct Checksum {
    Position position;
    uint64_t rows = 0;
    std::string digest;  // lower-case hex SHA-256
    std::string definition_hash;
  };
  bool ComputeChecksum(Checksum* out, std::string* error);

  // Writes a compacted copy of one read snapshot of the store into the empty folder `dir`
  // (dir/data.mdb), then reads that copy's position and definition hash, which are therefore
  // those of the copied snapshot.
  bool SnapshotTo(const std::string& dir, Position* position, std::string* definition_hash,
                  std::string* error);

  // ---- the change log, readers (any thread) ----
  // The sequence number the next change will get: changes below it are durable.
  uint64_t next_change_seq() const { return next_change_seq_.load(std::memory_order_acquire); }
  struct ChangeLogBounds {
    uint64_t first = 0;  // oldest kept change (0: none kept)
    uint64_t next = 1;   // the next change's sequence
    // Per partition, the offset after the newest pruned change: a position older than this
    // on any partition asks for pruned changes (410 Gone); as a position, where the kept
    // changes start.
    Position pruned;
  };
  bool ChangeBounds(ChangeLogBounds* out, std::string* error);
  // The first kept change that `from` does not cover (a change is covered when its event's
  // offset is below from's offset for its partition, 0 when unlisted). The changes a position
  // this view passed covers are a prefix; another position (a replica's, a rebuilt view's) may
  // cover some changes after *seq too, which the reader skips. *seq is bounds.next when every
  // kept change is covered.
  bool FirstChangeAfter(const Position& from, uint64_t* seq, std::string* error);
  // Changes with sequence in [from, end), oldest first, at most `max` of them and about
  // `max_bytes` (at least one).
  bool ReadChanges(uint64_t from, uint64_t end, size_t max, size_t max_bytes,
                   std::vector<ChangeRecord>* out, std::string* error);

  // A reader of the text index of `field` over one read snapshot, which lives as long as the
  // reader; null (with *error) when LMDB cannot start a read.
  std::shared_ptr<const TextIndexReader> TextReader(const std::string& field, std::string* error);

  // ---- the correlation index (readers, any thread) ----
  // The changes events with correlation `id` made (projections with `correlation`), in the
  // order they were applied (wall clock ms at apply, then change sequence), after
  // (after_ms, after_seq) exclusive; at most `limit`, *more when others follow.
  struct CorrelatedChange {
    int64_t applied_ms = 0;
    uint64_t seq = 0;
    std::string key;
    RowRecord row;  // the row after the change (exists false: a deletion, fields before it)
  };
  bool Correlated(const std::string& id, int64_t after_ms, uint64_t after_seq, size_t limit,
                  std::vector<CorrelatedChange>* out, bool* more, std::string* error);

  // History versions moved from the older layout when this store was opened (0: none).
  uint64_t moved_history_versions() const { return moved_history_versions_; }

  // The folder of the store's LMDB environment.
  const std::string& dir() const { return dir_; }

  std::string GetMeta(const std::string& name);
  bool PutMeta(const std::string& name, const std::string& value, std::string* error);

  void Sync() { env_->Sync(); }

 private:
  enum Table {
    kRows = 0,
    kOffsets,
    kMeta,
    kDead,
    kDeadKeys,
    kIds,
    kHistory,
    kIndex,
    kChanges,
    kCorrelations,
    kText,
    kVersions,
    kVersionLists
  };
  // `changes` and `change_bytes`: the batch's change records, which move into *out.
  void Encode(const Batch& batch, std::vector<Batch::Change>* changes, std::string* change_bytes,
              StagedBatch* out);
  bool WriteStaged(KvTxn* txn, const StagedBatch& staged);
  // The text index changes of one row (its old record, when it had one): rows whose text of a
  // text-indexed field changed, analysed before and after.
  void StageTextChanges(const StagedBatch::RowWrite& w, const RowRecord* old,
                        std::vector<std::vector<TextDocChange>>* out) const;
  // History versions of a batch: its `history` entries, or with history_from_changes, its
  // change records.
  void EncodeHistory(const Batch& batch, const std::vector<Batch::Change>* changes,
                     const std::string* change_bytes, StagedBatch* out) const;
  // History (store/history.cc): the batch's versions and their rows' sequence lists; n new
  // sequence numbers onto the list of the row with this prefix (c: a cursor on the lists).
  bool WriteHistory(KvTxn* txn, const StagedBatch& staged);
  bool AppendSeqs(KvTxn* txn, KvCursor* c, const std::string& prefix, const std::string& long_key,
                  const uint64_t* seqs, size_t n);
  // At open: a store written with the older history layout (versions keyed by row) is moved
  // to this one, in one transaction.
  bool UpgradeHistory(std::string* error);
  bool MoveHistoryIn(KvTxn* txn, uint64_t* next_seq, uint64_t* moved);
  // The change log's part of Encode and WriteStaged (store/change_log.cc).
  void EncodeChanges(const Batch& batch, std::vector<Batch::Change>* changes,
                     std::string* change_bytes, StagedBatch* out);
  bool WriteChanges(KvTxn* txn, const StagedBatch& staged);
  bool PruneChanges(KvTxn* txn, uint64_t end, uint64_t first, uint64_t keep);
  void LoadChangeLog(KvTxn* txn);
  // Fills id_filter_ from the ids table when it is small enough (see id_filter_).
  void LoadIdFilter(KvTxn* txn);
  // Read in `txn`: the offsets table, and the change log's bounds.
  Position OffsetsIn(KvTxn* txn);
  void ChangeBoundsIn(KvTxn* txn, ChangeLogBounds* out);

  // A read transaction for readers, holding off map growth while it lives; false when LMDB
  // could not start one (*error says why, when given).
  struct ReadView {
    std::shared_lock<std::shared_mutex> lock;
    std::unique_ptr<KvTxn> txn;
    KvTxn* operator->() const { return txn.get(); }
    explicit operator bool() const { return txn != nullptr; }
  };
  ReadView Read(std::string* error = nullptr);

  std::unique_ptr<KvEnv> env_;
  std::string dir_;
  std::shared_mutex resize_mu_;      // exclusive only while the map grows
  std::unique_ptr<KvTxn> snapshot_;  // the writer's read snapshot during a batch
  std::shared_lock<std::shared_mutex> snapshot_lock_;
  uint64_t next_dead_seq_ = 1;
  // Whether dead_keys has ever had an entry (it is never emptied): set at Open, and by the
  // writer before a commit that adds one. GetRow skips the lookup while it is false.
  std::atomic<bool> keyed_dead_letters_{false};
  uint64_t next_history_seq_ = 1;  // stored in meta "history_seq" with each batch
  std::string chunk_scratch_;      // the writer's: a sequence list being appended to
  uint64_t moved_history_versions_ = 0;
  std::vector<std::string> indexes_;
  std::vector<TextIndexSpec> text_indexes_;
  // The change log: settings; the position after the last staged change (the applying
  // thread); the oldest kept change and the pruned position (the writing thread), and what a
  // write in progress makes of them (taken over when it commits).
  std::vector<std::string> change_topics_;
  uint64_t changes_keep_ = 0;
  std::atomic<uint64_t> next_change_seq_{1};
  Position change_position_;  // after the last batch written (the writer's)
  Position write_position_;   // the same during a write, after each change of its batch
  std::string write_chunk_;   // a chunk of change records as it is assembled (and pruned)
  uint64_t first_change_seq_ = 0;
  Position changes_pruned_;
  uint64_t write_first_change_ = 0;
  Position write_pruned_;
  bool write_pruned_changed_ = false;
  // Pipelined writes (the applying thread only): rows of recently staged batches, newest
  // state (exists false: deleted), with the stage number that put them there; the dedupe ids
  // of the last staged batch, which the snapshot may not show yet.
  std::vector<const Batch::Rows::value_type*> evict_;  // Stage's rows to drop (reused)
  size_t row_cache_limit_ = 16384;
  uint64_t staged_ = 0;  // batches staged so far
  StringSet pending_ids_;
  // Every key of the ids table and of the pending ids, while id_filter_on_: filled at Open when
  // the table is small enough to read whole, then by Encode as batches are staged; off for
  // good past kMaxFilterIds keys. SeenId asks it first.
  IdFilter id_filter_;
  bool id_filter_on_ = false;
};

// An order-preserving byte encoding of a value for index keys: null < false < true < numbers
// (by value) < strings (by bytes) < anything else (by JSON text).
std::string IndexEncode(const Value& v);

std::string EncodeOffsetKey(const TopicPartition& tp);
// The key prefix of a correlation id's entries in the correlation index (store/README.md).
std::string CorrelationPrefix(const std::string& id);
bool DecodeOffsetKey(std::string_view key, TopicPartition* tp);

}  // namespace projd

#endif  // PROJD_ENGINE_VIEW_STORE_H_
