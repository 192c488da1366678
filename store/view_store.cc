// ViewStore: opening a view's store, and the writer: batches applied against a read snapshot,
// encoded (Stage) and written (Write, Commit) with their offsets in one transaction, and
// metadata. The readers are in view_store_read.cc, the tables' keys in view_store_keys.cc,
// history in history.cc, the change log in change_log.cc.
#include "store/view_store.h"

#include <algorithm>
#include <mutex>

#include "dsl/program.h"
#include "store/encoding.h"
#include "store/key_order.h"
#include "store/view_store_keys.h"

namespace projd {
namespace {

using view_store_keys::HistoryPrefix;
using view_store_keys::IdKeyOf;
using view_store_keys::IndexEntry;
using view_store_keys::IndexPrefix;
using view_store_keys::LongHistoryKey;
using view_store_keys::PlainId;
using view_store_keys::ValidKey;

}  // namespace

std::unique_ptr<ViewStore> ViewStore::Open(const std::string& dir, const KvOptions& options,
                                           std::string* error) {
  auto store = std::unique_ptr<ViewStore>(new ViewStore());
  store->env_ =
      KvEnv::Open(dir,
                  {"rows", "offsets", "meta", "dead", "dead_keys", "ids", "history", "index",
                   "changes", "correlations", "text", "versions", "version_lists"},
                  options, error);
  if (!store->env_) return nullptr;
  store->dir_ = dir;
  auto txn = store->env_->BeginRead(error);
  if (!txn) return nullptr;
  auto c = txn->Cursor(kDead);
  if (c && c->Last()) store->next_dead_seq_ = ReadBigEndian64(c->key()) + 1;
  std::string_view hs;
  if (txn->Get(kMeta, "history_seq", &hs)) store->next_history_seq_ = ReadBigEndian64(hs);
  auto v = txn->Cursor(kVersions);
  if (v && v->Last()) {
    store->next_history_seq_ = std::max(store->next_history_seq_, ReadBigEndian64(v->key()) + 1);
  }
  v.reset();
  store->LoadChangeLog(txn.get());
  store->LoadIdFilter(txn.get());
  store->keyed_dead_letters_.store(txn->Count(kDeadKeys) > 0);
  txn.reset();
  if (!store->UpgradeHistory(error)) return nullptr;
  return store;
}

bool ViewStore::BeginBatch(std::string* error) {
  snapshot_lock_ = std::shared_lock<std::shared_mutex>(resize_mu_);
  snapshot_ = env_->BeginRead(error);
  if (!snapshot_) {
    snapshot_lock_.unlock();
    return false;
  }
  return true;
}

void ViewStore::EndBatch() {
  snapshot_.reset();
  if (snapshot_lock_.owns_lock()) snapshot_lock_.unlock();
}

bool ViewStore::LoadRow(const std::string& key, RowRecord* out) {
  // Rows of batches staged but maybe not written stay in the batch (Stage): a row asked for
  // here is as the snapshot has it.
  std::string_view v;
  if (!snapshot_ || !snapshot_->Get(kRows, key, &v)) return false;
  return DecodeRow(v, out);
}

void ViewStore::PrefetchId(std::string_view id, uint64_t hash) const {
  if (id_filter_on_ && PlainId(id)) id_filter_.Prefetch(hash);
}

bool ViewStore::SeenId(const std::string& id, uint64_t hash) {
  std::string long_key;
  std::string_view key = id;
  if (!PlainId(id)) {
    IdKeyOf(id, &long_key);
    key = long_key;
  }
  // The filter holds the key of every id in the snapshot and of every pending one (Encode adds
  // a batch's ids as it stages them): an id it never saw is in neither, and most new events end
  // here, after one cache line — before the pending set, whose table a large batch spreads
  // beyond the cache. (An id that is its own key was hashed as the filter hashes keys.)
  if (id_filter_on_ &&
      !(key.data() == id.data() ? id_filter_.MayContainHashed(hash) : id_filter_.MayContain(key))) {
    return false;
  }
  if (pending_ids_.Contains(id)) return true;
  std::string_view v;
  if (!snapshot_) return false;
  return snapshot_->Get(kIds, key, &v);
}

namespace {
constexpr uint64_t kFilterLoadIds = 4'000'000;  // read whole at Open up to this many ids
constexpr uint64_t kMaxFilterIds = 16'000'000;  // about 24 MiB of filter
}  // namespace

void ViewStore::LoadIdFilter(KvTxn* txn) {
  id_filter_.Clear();
  id_filter_on_ = false;
  uint64_t ids = txn->Count(kIds);
  if (ids > kFilterLoadIds) return;  // the ids table is looked up for every id
  if (ids > 0) {
    auto c = txn->Cursor(kIds);
    if (!c) return;
    // One level for the ids there are and half as many again: a lookup tests one block, where
    // levels grown from 65,536 keys would make it test one per doubling (six for 3,000,000).
    id_filter_.Reserve(ids + ids / 2);
    uint64_t seen = 0;
    for (bool ok = c->First(); ok; ok = c->Next(), ++seen) id_filter_.Add(c->key());
    if (seen != ids) {
      id_filter_.Clear();
      return;
    }
  }
  id_filter_on_ = true;
}

void ViewStore::Encode(const Batch& batch, std::vector<Batch::Change>* changes,
                       std::string* change_bytes, StagedBatch* out) {
  // Sorting is left to the writer (another thread, in the daemon).
  const auto& dirty = batch.dirty;
  out->rows.resize(dirty.size());
  for (size_t i = 0; i < dirty.size(); ++i) {
    const RowRecord& rec = dirty[i]->second;
    StagedBatch::RowWrite& w = out->rows[i];
    w.key = dirty[i]->first;
    w.exists = rec.exists;
    w.change = 0;
    w.index_entries.clear();
    w.texts.clear();
    if (!rec.exists) continue;
    if (rec.last_change != 0 && changes && rec.last_change <= batch.changes_used &&
        records_changes()) {
      // The row's last change record holds it encoded as it is now: no second encoding, and
      // no copy (the record goes to the writer with the batch).
      w.change = rec.last_change;
    } else {
      EncodeRow(rec, &w.data);
    }
    w.texts.resize(text_indexes_.size());
    for (size_t t = 0; t < text_indexes_.size(); ++t) {
      const Value* v = rec.fields.Find(text_indexes_[t].field);
      w.texts[t].first = v && v->is_string();
      if (w.texts[t].first) w.texts[t].second = v->as_string();
    }
    for (const auto& f : indexes_) {
      if (const Value* v = rec.fields.Find(f)) {
        w.index_entries.emplace_back();
        auto& [k, val] = w.index_entries.back();
        IndexEntry(IndexPrefix(f) + IndexEncode(*v), w.key, &k, &val);
      }
    }
  }
  out->dead_letters.resize(batch.dead_letters.size());
  for (size_t i = 0; i < batch.dead_letters.size(); ++i) {
    const DeadLetter& d = batch.dead_letters[i];
    EncodeDeadLetter(d, &out->dead_letters[i].data);
    out->dead_letters[i].has_key = d.has_key;
    out->dead_letters[i].key = d.key;
  }
  EncodeHistory(batch, changes, change_bytes, out);
  // Into the strings of the batch staged two before (written, handed back): their room is
  // reused, not a string allocated per id.
  out->ids.resize(batch.new_ids.size());
  size_t n = 0;
  batch.new_ids.ForEachHashed([this, out, &n](std::string_view id, uint64_t hash) {
    IdKeyOf(id, &out->ids[n]);
    // The set's hash is the filter's for an id that is its own key.
    if (id_filter_on_) {
      if (PlainId(id)) {
        id_filter_.AddHashed(hash);
      } else {
        id_filter_.Add(out->ids[n]);
      }
    }
    ++n;
  });
  if (id_filter_on_) {
    if (id_filter_.size() > kMaxFilterIds) {
      id_filter_.Clear();
      id_filter_on_ = false;
    }
  }
  EncodeChanges(batch, changes, change_bytes, out);
  out->offsets = batch.next_offsets;
}

void ViewStore::EncodeHistory(const Batch& batch, const std::vector<Batch::Change>* changes,
                              const std::string* change_bytes, StagedBatch* out) const {
  out->history.clear();
  out->history_bytes.clear();
  auto add = [out](const std::string& key, std::string_view version) {
    out->history.emplace_back();
    StagedBatch::HistoryWrite& h = out->history.back();
    h.prefix = HistoryPrefix(key);
    if (LongHistoryKey(key)) h.long_key = key;
    h.at = out->history_bytes.size();
    h.size = version.size();
    out->history_bytes.append(version);
  };
  out->history.reserve(batch.history.size());
  std::string_view bytes = batch.history_bytes;
  for (const auto& entry : batch.history) add(entry.key, bytes.substr(entry.at, entry.size));
  if (!batch.history_from_changes || !changes || !change_bytes) return;
  // A version is the change record's exists byte and row (for a deletion the row before it:
  // readers of versions look at `exists` only).
  std::string key;
  for (size_t i = 0; i < batch.changes_used && i < changes->size(); ++i) {
    const Batch::Change& c = (*changes)[i];
    if (!c.history) continue;
    std::string_view record = c.Record(*change_bytes);
    key.assign(record.substr(c.key_at, c.key_size));
    add(key, record.substr(c.row_at - 1));
  }
}

bool ViewStore::WriteStaged(KvTxn* txn, const StagedBatch& staged) {
  // Rows and ids go in key order: LMDB then fills its pages front to back instead of
  // touching pages at random (fewer page copies and comparisons per put).
  std::vector<const StagedBatch::RowWrite*> rows = InKeyOrder(
      staged.rows, [](const StagedBatch::RowWrite& w) -> const std::string& { return w.key; });
  std::vector<const std::string*> ids =
      InKeyOrder(staged.ids, [](const std::string& id) -> const std::string& { return id; });
  std::vector<std::vector<TextDocChange>> text_changes(text_indexes_.size());
  std::vector<std::string> old_entries;  // a row's index keys before the batch
  std::string val;
  for (const auto* row : rows) {
    const StagedBatch::RowWrite& w = *row;
    if (!indexes_.empty() || !text_indexes_.empty()) {
      // Replace the row's index entries: the old row's values out, the new row's in. An entry
      // both have (an indexed field the batch left as it was) stays untouched.
      std::string_view old_data;
      RowRecord old;
      bool had = txn->Get(kRows, w.key, &old_data) && DecodeRow(old_data, &old);
      size_t n_old = 0;
      if (had) {
        for (const auto& f : indexes_) {
          const Value* v = old.fields.Find(f);
          if (!v) continue;
          if (old_entries.size() <= n_old) old_entries.emplace_back();
          IndexEntry(IndexPrefix(f) + IndexEncode(*v), w.key, &old_entries[n_old++], &val);
        }
      }
      auto in_new = [&w](const std::string& k) {
        for (const auto& e : w.index_entries) {
          if (e.first == k) return true;
        }
        return false;
      };
      auto in_old = [&old_entries, n_old](const std::string& k) {
        return std::find(old_entries.begin(), old_entries.begin() + static_cast<ptrdiff_t>(n_old),
                         k) != old_entries.begin() + static_cast<ptrdiff_t>(n_old);
      };
      for (size_t i = 0; i < n_old; ++i) {
        if (!in_new(old_entries[i]) && !txn->Delete(kIndex, old_entries[i])) return false;
      }
      for (const auto& [k, v] : w.index_entries) {
        if (!in_old(k) && !txn->Put(kIndex, k, v)) return false;
      }
      StageTextChanges(w, had ? &old : nullptr, &text_changes);
    }
    if (w.exists) {
      std::string_view data = w.data;
      if (w.change != 0) {
        const Batch::Change& c = staged.changes[w.change - 1];
        data = c.Record(staged.change_bytes).substr(c.row_at);
      }
      if (!txn->Put(kRows, w.key, data)) return false;
    } else if (!txn->Delete(kRows, w.key)) {
      return false;
    }
  }
  uint64_t seq = next_dead_seq_;
  for (const auto& d : staged.dead_letters) {
    if (!txn->Put(kDead, BigEndian64(seq++), d.data)) return false;
    if (d.has_key && ValidKey(d.key)) {
      std::string_view old;
      keyed_dead_letters_.store(true);  // before the commit that readers may see
      uint64_t n = txn->Get(kDeadKeys, d.key, &old) ? ReadBigEndian64(old) : 0;
      if (!txn->Put(kDeadKeys, d.key, BigEndian64(n + 1))) return false;
    }
  }
  if (!WriteHistory(txn, staged)) return false;
  // Ids past the table's last one (ids that grow with time: sequence numbers, ULIDs, UUIDv7)
  // are appended: no search from the root for each, and pages filled to the brim.
  size_t appended_from = 0;
  if (!ids.empty()) {
    auto c = txn->Cursor(kIds);
    if (c && c->Last()) {
      const std::string_view last = c->key();
      appended_from = static_cast<size_t>(
          std::partition_point(ids.begin(), ids.end(),
                               [last](const std::string* id) { return *id <= last; }) -
          ids.begin());
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    bool ok = i < appended_from ? txn->Put(kIds, *ids[i], std::string_view())
                                : txn->Append(kIds, *ids[i], std::string_view());
    if (!ok) return false;
  }
  for (size_t t = 0; t < text_indexes_.size(); ++t) {
    std::string error;
    if (!text_changes[t].empty() &&
        !WriteTextChanges(txn, kText, text_indexes_[t].field, &text_changes[t], &error)) {
      return false;
    }
  }
  if (!WriteChanges(txn, staged)) return false;
  for (const auto& [tp, off] : staged.offsets) {
    if (!txn->Put(kOffsets, EncodeOffsetKey(tp), BigEndian64(static_cast<uint64_t>(off)))) {
      return false;
    }
  }
  return true;
}

void ViewStore::StageTextChanges(const StagedBatch::RowWrite& w, const RowRecord* old,
                                 std::vector<std::vector<TextDocChange>>* out) const {
  for (size_t t = 0; t < text_indexes_.size(); ++t) {
    const Value* before = old ? old->fields.Find(text_indexes_[t].field) : nullptr;
    bool has_old = before && before->is_string();
    bool has_new = w.exists && t < w.texts.size() && w.texts[t].first;
    if (has_old == has_new && (!has_old || before->as_string() == w.texts[t].second)) continue;
    TextDocChange c;
    c.key = w.key;
    c.has_old = has_old;
    c.has_new = has_new;
    TextLanguage lang = text_indexes_[t].language;
    if (has_old) AnalyzeText(before->as_string(), lang, &c.old_tokens, /*for_index=*/true);
    if (has_new) AnalyzeText(w.texts[t].second, lang, &c.new_tokens, /*for_index=*/true);
    (*out)[t].push_back(std::move(c));
  }
}

void ViewStore::UseIndexesOf(const Projection& p) {
  SetIndexes(p.indexes());
  std::vector<TextIndexSpec> specs;
  for (const auto& t : p.text_indexes()) {
    TextIndexSpec spec;
    spec.field = t.field;
    ParseTextLanguage(t.language, &spec.language);
    specs.push_back(std::move(spec));
  }
  SetTextIndexes(std::move(specs));
}

std::shared_ptr<const TextIndexReader> ViewStore::TextReader(const std::string& field,
                                                             std::string* error) {
  struct Holder {
    ReadView view;
    std::unique_ptr<TextIndexReader> reader;
  };
  auto h = std::make_shared<Holder>();
  h->view = Read(error);
  if (!h->view) return nullptr;
  h->reader = std::make_unique<TextIndexReader>(h->view.txn.get(), kText, field);
  return std::shared_ptr<const TextIndexReader>(h, h->reader.get());
}

bool ViewStore::Commit(const Batch& batch, std::string* error) {
  EndBatch();
  StagedBatch staged;
  // The change records move into the staged batch: here they are copied first (the bytes in
  // use only: the buffer keeps its largest size).
  std::vector<Batch::Change> changes(
      batch.changes.begin(), batch.changes.begin() + static_cast<ptrdiff_t>(batch.changes_used));
  std::string change_bytes = batch.change_bytes.substr(0, batch.change_size);
  Encode(batch, &changes, &change_bytes, &staged);
  return Write(staged, error);
}

void ViewStore::Stage(Batch* batch, StagedBatch* out) {
  Encode(*batch, &batch->changes, &batch->change_bytes, out);
  batch->changes_used = 0;  // the records moved to *out (the batch holds reusable ones)
  batch->change_size = 0;
  ++staged_;
  // The rows stay in the batch, newest state (exists false: deleted), stamped with this stage:
  // the next batch finds them there, with no lookup elsewhere, no move and no copy.
  for (Batch::Rows::value_type* entry : batch->dirty) {
    RowRecord& rec = entry->second;
    rec.staged = staged_;
    rec.in_dirty = false;
    rec.last_change = 0;
  }
  batch->dirty.clear();
  // Past the limit, rows no batch changed since the one before the last go: every later
  // snapshot has them (the last batch staged may not be written yet; the one before is, once
  // the next batch begins).
  if (batch->rows.size() > row_cache_limit_) {
    const size_t over = batch->rows.size() - row_cache_limit_;
    evict_.clear();
    for (auto it = batch->rows.begin(); it != batch->rows.end() && evict_.size() < over; ++it) {
      if (it->second.staged + 1 < staged_) evict_.push_back(&*it);
    }
    for (const Batch::Rows::value_type* entry : evict_) {
      batch->rows.erase(batch->rows.find(entry->first));
    }
  }
  // The batch's new ids become the pending ones (the batch is spent: its next Clear empties
  // the set it gets back) rather than being inserted one by one into another set.
  pending_ids_.Clear();
  std::swap(pending_ids_, batch->new_ids);
}

void ViewStore::DropCache() { pending_ids_.Clear(); }

bool ViewStore::Write(const StagedBatch& staged, std::string* error) {
  std::shared_lock<std::shared_mutex> lock(resize_mu_, std::defer_lock);
  for (int attempt = 0; attempt < 20; ++attempt) {
    lock.lock();
    auto txn = env_->BeginWrite(error);
    if (!txn) return false;
    if (WriteStaged(txn.get(), staged) && txn->Commit()) {
      next_dead_seq_ += staged.dead_letters.size();
      next_history_seq_ += staged.history.size();
      std::swap(change_position_, write_position_);  // WriteChanges' position after the batch
      if (staged.changes_used != 0) {
        first_change_seq_ = write_first_change_;
        if (write_pruned_changed_) changes_pruned_ = write_pruned_;
        next_change_seq_.fetch_add(staged.changes_used, std::memory_order_release);
      }
      return true;
    }
    bool full = txn->MapFull();
    *error = txn->error();
    txn.reset();
    lock.unlock();
    if (!full) return false;
    // Out of map space: wait for readers to finish, grow, and write the batch again.
    std::unique_lock<std::shared_mutex> grow(resize_mu_);
    if (!env_->Grow(error)) return false;
  }
  *error = "LMDB map cannot grow enough for this batch";
  return false;
}

bool ViewStore::PutMeta(const std::string& name, const std::string& value, std::string* error) {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  auto txn = env_->BeginWrite(error);
  if (!txn) return false;
  if (!txn->Put(kMeta, name, value) || !txn->Commit()) {
    *error = txn->error();
    return false;
  }
  return true;
}

}  // namespace projd
