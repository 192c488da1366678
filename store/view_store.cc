#include "store/view_store.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "dsl/limits.h"
#include "dsl/program.h"
#include "store/encoding.h"
#include "store/row_digest.h"

namespace projd {
namespace {

// The 32-byte SHA-256 digest of s: what stands for the part of a user value that does not fit
// in an LMDB key.
std::string Digest(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof(md));
}
constexpr size_t kDigestBytes = SHA256_DIGEST_LENGTH;

// History keys: 4-byte big-endian key length, the row key, 8-byte big-endian sequence, so a
// row's versions are adjacent and in the order they were made. A row key too long for that
// (over kHistoryKeyInline bytes) is written as its first bytes and its digest, with the top bit
// of the length set, and the entry of sequence 0 under that prefix holds the whole key.
constexpr uint32_t kLongHistoryKey = 0x80000000u;
constexpr size_t kHistoryKeyInline = kMaxKeyBytes - 4 - 8;
constexpr size_t kHistoryKeyHead = kHistoryKeyInline - kDigestBytes;

bool LongHistoryKey(const std::string& key) { return key.size() > kHistoryKeyInline; }

std::string HistoryPrefix(const std::string& key) {
  std::string k;
  uint32_t n = static_cast<uint32_t>(key.size());
  if (LongHistoryKey(key)) n |= kLongHistoryKey;
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  if (LongHistoryKey(key)) {
    k.append(key, 0, kHistoryKeyHead);
    k += Digest(key);
  } else {
    k += key;
  }
  return k;
}

// The key of the dedupe table for an event id: the id itself, or its first bytes and its digest
// when it is empty or too long for an LMDB key (a length no plain id has).
constexpr size_t kIdHead = kMaxKeyBytes - kDigestBytes;
std::string IdKeyOf(std::string_view id) {
  if (!id.empty() && id.size() < kIdHead) return std::string(id);
  std::string k(id.substr(0, kIdHead));
  k += Digest(id);
  return k;
}
bool PlainId(std::string_view id) { return !id.empty() && id.size() < kIdHead; }

}  // namespace

// The correlation index's key prefix for an id: u16 length · the id, or for an id over 400
// bytes, u16 (length | 0x8000) · its first 360 bytes · its SHA-256 (then applied ms and the
// change sequence follow, both u64 big-endian).
std::string CorrelationPrefix(const std::string& id) {
  constexpr size_t kInline = 400, kHead = 360;
  std::string k;
  bool long_id = id.size() > kInline;
  uint16_t n = static_cast<uint16_t>(std::min<size_t>(id.size(), 0x7FFF) | (long_id ? 0x8000 : 0));
  k.push_back(static_cast<char>(n >> 8));
  k.push_back(static_cast<char>(n & 0xFF));
  if (!long_id) return k + id;
  return k + id.substr(0, kHead) + Digest(id);
}

namespace {

bool ValidKey(std::string_view key) { return !key.empty() && key.size() <= kMaxKeyBytes; }

void EncodeVersion(const RowRecord& rec, std::string* out) {
  std::string body;
  EncodeRow(rec, &body);
  out->clear();
  out->push_back(rec.exists ? 1 : 0);
  out->append(body);
}

bool DecodeVersion(std::string_view in, RowRecord* out) {
  if (in.empty()) return false;
  bool exists = in[0] == 1;
  if (!DecodeRow(in.substr(1), out)) return false;
  out->exists = exists;
  return true;
}

// Index keys: u16 field length · field · IndexEncode(value) · row key. The encoded value is
// self-delimiting, so the row key follows it unambiguously. An entry that would not fit in an
// LMDB key (a long row key) is written with the row key's first bytes and its digest instead,
// and the entry's value holds the whole row key (the value is empty otherwise).
std::string IndexPrefix(const std::string& field) {
  std::string k;
  k.push_back(static_cast<char>((field.size() >> 8) & 0xFF));
  k.push_back(static_cast<char>(field.size() & 0xFF));
  k += field;
  return k;
}

// Escaped text bytes kept whole in an index key; a longer text is cut and ends with its digest.
constexpr size_t kIndexValueInline = 160;

enum class Bound { kExact, kLower, kUpper };

// IndexEncode, and for range bounds: a cut text bound stands for every text with the same first
// bytes (the digest replaced by the lowest or highest 32 bytes), so that a range never misses
// an entry whose cut text equals the bound's.
std::string EncodeIndexValue(const Value& v, Bound bound) {
  std::string out;
  auto bytes = [&out, bound](std::string_view s) {
    size_t start = out.size();
    size_t i = 0;
    for (; i < s.size(); ++i) {
      size_t need = s[i] == 0 ? 2 : 1;
      if (out.size() - start + need > kIndexValueInline) break;
      out.push_back(s[i]);
      if (s[i] == 0) out.push_back(1);  // 0 -> 00 01, so 00 00 can end the string
    }
    out.push_back(0);
    if (i == s.size()) {
      out.push_back(0);
      return;
    }
    out.push_back(2);  // cut: 00 02 and the digest of the whole text
    if (bound == Bound::kExact) {
      out += Digest(s);
    } else {
      out.append(kDigestBytes, bound == Bound::kLower ? '\0' : '\xff');
    }
  };
  switch (v.type()) {
    case Value::Type::kNull:
      out.push_back(0);
      break;
    case Value::Type::kBool:
      out.push_back(v.as_bool() ? 2 : 1);
      break;
    case Value::Type::kNumber: {
      out.push_back(3);
      // Two's complement with the sign bit flipped sorts as unsigned bytes.
      unsigned __int128 u = static_cast<unsigned __int128>(v.as_number().raw()) ^
                            (static_cast<unsigned __int128>(1) << 127);
      for (int i = 15; i >= 0; --i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
      break;
    }
    case Value::Type::kString:
      out.push_back(4);
      bytes(v.as_string());
      break;
    default:
      out.push_back(5);
      bytes(ToJson(v));
      break;
  }
  return out;
}

// Length of the encoded value at the start of s.
size_t EncodedValueLength(std::string_view s) {
  if (s.empty()) return 0;
  char tag = s[0];
  if (tag == 0 || tag == 1 || tag == 2) return 1;
  if (tag == 3) return 17;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == 0) {
      if (s[i + 1] == 0) return i + 2;
      if (s[i + 1] == 2) return std::min(s.size(), i + 2 + kDigestBytes);
      ++i;  // an escaped 0
    }
  }
  return s.size();
}

// Bytes of a row key kept in an index entry whose head (prefix and value) has head_size bytes:
// row keys up to that many bytes are kept whole.
size_t IndexKeyRoom(size_t head_size) {
  return head_size + kDigestBytes >= kMaxKeyBytes ? 0 : kMaxKeyBytes - head_size - kDigestBytes;
}

// The index entry (LMDB key and value) of a row key under `head` (prefix and encoded value).
void IndexEntry(const std::string& head, const std::string& row_key, std::string* key,
                std::string* value) {
  *key = head;
  value->clear();
  if (head.size() + row_key.size() <= kMaxKeyBytes) {
    *key += row_key;
    return;
  }
  key->append(row_key, 0, IndexKeyRoom(head.size()));
  *key += Digest(row_key);
  *value = row_key;
}

}  // namespace

std::string IndexEncode(const Value& v) { return EncodeIndexValue(v, Bound::kExact); }

std::string EncodeOffsetKey(const TopicPartition& tp) {
  std::string k = tp.topic;
  k.push_back('\0');
  uint32_t p = static_cast<uint32_t>(tp.partition);
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((p >> (8 * i)) & 0xFF));
  return k;
}

bool DecodeOffsetKey(std::string_view key, TopicPartition* tp) {
  size_t z = key.find('\0');
  if (z == std::string_view::npos || key.size() != z + 5) return false;
  tp->topic = std::string(key.substr(0, z));
  uint32_t p = 0;
  for (size_t i = z + 1; i < key.size(); ++i) p = (p << 8) | static_cast<uint8_t>(key[i]);
  tp->partition = static_cast<int32_t>(p);
  return true;
}

std::unique_ptr<ViewStore> ViewStore::Open(const std::string& dir, const KvOptions& options,
                                           std::string* error) {
  auto store = std::unique_ptr<ViewStore>(new ViewStore());
  store->env_ = KvEnv::Open(dir,
                            {"rows", "offsets", "meta", "dead", "dead_keys", "ids", "history",
                             "index", "changes", "correlations", "text"},
                            options, error);
  if (!store->env_) return nullptr;
  store->dir_ = dir;
  auto txn = store->env_->BeginRead(error);
  if (!txn) return nullptr;
  auto c = txn->Cursor(kDead);
  if (c && c->Last()) store->next_dead_seq_ = ReadBigEndian64(c->key()) + 1;
  std::string_view hs;
  if (txn->Get(kMeta, "history_seq", &hs)) store->next_history_seq_ = ReadBigEndian64(hs);
  store->LoadChangeLog(txn.get());
  return store;
}

ViewStore::ReadView ViewStore::Read(std::string* error) {
  ReadView r;
  r.lock = std::shared_lock<std::shared_mutex>(resize_mu_);
  std::string ignored;
  r.txn = env_->BeginRead(error ? error : &ignored);
  return r;
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
  auto it = row_cache_.find(key);
  if (it != row_cache_.end()) {
    // The cached state is newer than (or the same as) the snapshot's: moved into the batch,
    // which stages it back.
    bool exists = it->second.row.exists;
    if (exists) *out = std::move(it->second.row);
    row_cache_.erase(it);
    return exists;
  }
  std::string_view v;
  if (!snapshot_ || !snapshot_->Get(kRows, key, &v)) return false;
  return DecodeRow(v, out);
}

bool ViewStore::SeenId(const std::string& id) {
  if (pending_ids_.Contains(id)) return true;
  std::string_view v;
  if (!snapshot_) return false;
  if (PlainId(id)) return snapshot_->Get(kIds, id, &v);
  return snapshot_->Get(kIds, IdKeyOf(id), &v);
}

void ViewStore::Encode(const Batch& batch, std::vector<Batch::Change>* changes, StagedBatch* out) {
  // Sorting is left to the writer (another thread, in the daemon).
  const auto& dirty = batch.dirty;
  out->rows.resize(dirty.size());
  for (size_t i = 0; i < dirty.size(); ++i) {
    const RowRecord& rec = dirty[i]->second;
    StagedBatch::RowWrite& w = out->rows[i];
    w.key = dirty[i]->first;
    w.exists = rec.exists;
    w.index_entries.clear();
    w.texts.clear();
    if (!rec.exists) continue;
    if (rec.last_change != 0 && changes && rec.last_change <= batch.changes_used) {
      // The row's last change record holds it encoded as it is now: no second encoding.
      const Batch::Change& c = (*changes)[rec.last_change - 1];
      w.data.assign(c.record, c.row_at, std::string::npos);
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
  EncodeHistory(batch, changes, out);
  out->ids.clear();
  out->ids.reserve(batch.new_ids.size());
  batch.new_ids.ForEach([out](std::string_view id) { out->ids.push_back(IdKeyOf(id)); });
  EncodeChanges(batch, changes, out);
  out->offsets = batch.next_offsets;
}

void ViewStore::EncodeHistory(const Batch& batch, const std::vector<Batch::Change>* changes,
                              StagedBatch* out) const {
  out->history.clear();
  auto add = [out](const std::string& key) -> StagedBatch::HistoryWrite& {
    out->history.emplace_back();
    StagedBatch::HistoryWrite& h = out->history.back();
    h.prefix = HistoryPrefix(key);
    if (LongHistoryKey(key)) h.long_key = key;
    return h;
  };
  for (const auto& entry : batch.history) EncodeVersion(entry.row, &add(entry.key).data);
  if (!batch.history_from_changes || !changes) return;
  // A version is the change record's exists byte and row (for a deletion the row before it:
  // readers of versions look at `exists` only).
  std::string key;
  for (size_t i = 0; i < batch.changes_used && i < changes->size(); ++i) {
    const Batch::Change& c = (*changes)[i];
    if (!c.history) continue;
    key.assign(c.record, c.key_at, c.key_size);
    add(key).data.assign(c.record, c.row_at - 1, std::string::npos);
  }
}

bool ViewStore::WriteStaged(KvTxn* txn, const StagedBatch& staged) {
  // Rows and ids go in key order: LMDB then fills its pages front to back instead of
  // touching pages at random (fewer page copies and comparisons per put).
  std::vector<const StagedBatch::RowWrite*> rows;
  rows.reserve(staged.rows.size());
  for (const auto& w : staged.rows) rows.push_back(&w);
  std::sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) { return a->key < b->key; });
  std::vector<const std::string*> ids;
  ids.reserve(staged.ids.size());
  for (const auto& id : staged.ids) ids.push_back(&id);
  std::sort(ids.begin(), ids.end(), [](const auto* a, const auto* b) { return *a < *b; });
  std::vector<std::vector<TextDocChange>> text_changes(text_indexes_.size());
  for (const auto* row : rows) {
    const StagedBatch::RowWrite& w = *row;
    if (!indexes_.empty() || !text_indexes_.empty()) {
      // Replace the row's index entries: the old row's values out, the new row's in.
      std::string_view old_data;
      RowRecord old;
      bool had = txn->Get(kRows, w.key, &old_data) && DecodeRow(old_data, &old);
      if (had) {
        std::string k, val;
        for (const auto& f : indexes_) {
          const Value* v = old.fields.Find(f);
          if (!v) continue;
          IndexEntry(IndexPrefix(f) + IndexEncode(*v), w.key, &k, &val);
          if (!txn->Delete(kIndex, k)) return false;
        }
      }
      for (const auto& [k, val] : w.index_entries) {
        if (!txn->Put(kIndex, k, val)) return false;
      }
      StageTextChanges(w, had ? &old : nullptr, &text_changes);
    }
    if (w.exists) {
      if (!txn->Put(kRows, w.key, w.data)) return false;
    } else if (!txn->Delete(kRows, w.key)) {
      return false;
    }
  }
  uint64_t seq = next_dead_seq_;
  for (const auto& d : staged.dead_letters) {
    if (!txn->Put(kDead, BigEndian64(seq++), d.data)) return false;
    if (d.has_key && ValidKey(d.key)) {
      std::string_view old;
      uint64_t n = txn->Get(kDeadKeys, d.key, &old) ? ReadBigEndian64(old) : 0;
      if (!txn->Put(kDeadKeys, d.key, BigEndian64(n + 1))) return false;
    }
  }
  if (!staged.history.empty()) {
    uint64_t hseq = next_history_seq_;
    for (const auto& h : staged.history) {
      if (!h.long_key.empty() && !txn->Put(kHistory, h.prefix + BigEndian64(0), h.long_key)) {
        return false;
      }
      if (!txn->Put(kHistory, h.prefix + BigEndian64(hseq++), h.data)) return false;
    }
    if (!txn->Put(kMeta, "history_seq", BigEndian64(hseq))) return false;
  }
  for (const auto* id : ids) {
    if (!txn->Put(kIds, *id, std::string_view())) return false;
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
    if (has_old) AnalyzeText(before->as_string(), lang, &c.old_tokens);
    if (has_new) AnalyzeText(w.texts[t].second, lang, &c.new_tokens);
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
  // The change records move into the staged batch: here they are copied first.
  std::vector<Batch::Change> changes(
      batch.changes.begin(), batch.changes.begin() + static_cast<ptrdiff_t>(batch.changes_used));
  Encode(batch, &changes, &staged);
  return Write(staged, error);
}

void ViewStore::Stage(Batch* batch, StagedBatch* out) {
  Encode(*batch, &batch->changes, out);
  ++staged_;
  // Rows of batches staged before the last one are written and in every later snapshot: those
  // may go when the cache is full. Then this batch's rows, newest state, go in.
  if (row_cache_.size() + batch->rows.size() > row_cache_limit_) {
    for (auto it = row_cache_.begin();
         it != row_cache_.end() && row_cache_.size() + batch->rows.size() > row_cache_limit_;) {
      it = it->second.staged + 1 < staged_ ? row_cache_.erase(it) : std::next(it);
    }
  }
  for (auto& [key, rec] : batch->rows) {
    CachedRow& c = row_cache_[key];
    c.row = std::move(rec);
    c.staged = staged_;
  }
  pending_ids_.Clear();
  batch->new_ids.ForEach([this](std::string_view id) { pending_ids_.Insert(id); });
}

void ViewStore::DropCache() {
  row_cache_.clear();
  pending_ids_.Clear();
}

bool ViewStore::Write(const StagedBatch& staged, std::string* error) {
  std::shared_lock<std::shared_mutex> lock(resize_mu_, std::defer_lock);
  for (int attempt = 0; attempt < 20; ++attempt) {
    lock.lock();
    auto txn = env_->BeginWrite(error);
    if (!txn) return false;
    if (WriteStaged(txn.get(), staged) && txn->Commit()) {
      next_dead_seq_ += staged.dead_letters.size();
      next_history_seq_ += staged.history.size();
      if (!staged.changes.empty()) {
        first_change_seq_ = write_first_change_;
        if (write_pruned_changed_) changes_pruned_ = write_pruned_;
        next_change_seq_.fetch_add(staged.changes.size(), std::memory_order_release);
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

Position ViewStore::Positions() {
  ReadView txn = Read();
  return txn ? OffsetsIn(txn.txn.get()) : Position();
}

Position ViewStore::OffsetsIn(KvTxn* txn) {
  Position out;
  auto c = txn->Cursor(kOffsets);
  for (bool ok = c && c->First(); ok; ok = c->Next()) {
    TopicPartition tp;
    if (DecodeOffsetKey(c->key(), &tp)) {
      out[tp] = static_cast<int64_t>(ReadBigEndian64(c->value()));
    }
  }
  return out;
}

bool ViewStore::GetRow(const std::string& key, RowRecord* out, uint64_t* dead_letters) {
  ReadView txn = Read();
  if (!txn) return false;
  std::string_view v;
  if (dead_letters) {
    *dead_letters = txn->Get(kDeadKeys, key, &v) ? ReadBigEndian64(v) : 0;
  }
  if (!txn->Get(kRows, key, &v)) return false;
  return DecodeRow(v, out);
}

bool ViewStore::Scan(const ScanOptions& o, std::vector<std::pair<std::string, RowRecord>>* out,
                     bool* more, std::string* error) {
  out->clear();
  *more = false;
  ReadView txn = Read(error);
  if (!txn) return false;
  auto c = txn->Cursor(kRows);
  std::string from = o.prefix;
  if (!o.start.empty() && o.start > from) from = o.start;
  bool ok;
  if (!o.after.empty() && o.after >= from) {
    ok = c->Seek(o.after);
    if (ok && c->key() == o.after) ok = c->Next();
  } else {
    ok = from.empty() ? c->First() : c->Seek(from);
  }
  for (; ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (!o.prefix.empty() && k.substr(0, o.prefix.size()) != o.prefix) break;
    if (!o.end.empty() && k >= o.end) break;
    if (out->size() >= o.limit) {
      *more = true;
      break;
    }
    RowRecord rec;
    if (!DecodeRow(c->value(), &rec)) {
      *error = "corrupt row record for key " + std::string(k);
      return false;
    }
    out->emplace_back(std::string(k), std::move(rec));
  }
  return true;
}

uint64_t ViewStore::RowCount() {
  ReadView txn = Read();
  return txn ? txn->Count(kRows) : 0;
}

uint64_t ViewStore::DeadLetterCount() {
  ReadView txn = Read();
  return txn ? txn->Count(kDead) : 0;
}

bool ViewStore::DeadLetters(uint64_t after, size_t limit,
                            std::vector<std::pair<uint64_t, DeadLetter>>* out, bool* more) {
  out->clear();
  *more = false;
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kDead);
  for (bool ok = c->Seek(BigEndian64(after + 1)); ok; ok = c->Next()) {
    if (out->size() >= limit) {
      *more = true;
      break;
    }
    DeadLetter d;
    if (!DecodeDeadLetter(c->value(), &d)) continue;
    out->emplace_back(ReadBigEndian64(c->key()), std::move(d));
  }
  return true;
}

bool ViewStore::History(const std::string& key, uint64_t after, size_t limit,
                        std::vector<std::pair<uint64_t, RowRecord>>* out, bool* more) {
  out->clear();
  *more = false;
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kHistory);
  std::string prefix = HistoryPrefix(key);
  for (bool ok = c->Seek(prefix + BigEndian64(after + 1)); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix) break;
    if (out->size() >= limit) {
      *more = true;
      break;
    }
    RowRecord rec;
    if (!DecodeVersion(c->value(), &rec)) continue;
    out->emplace_back(ReadBigEndian64(k.substr(prefix.size())), std::move(rec));
  }
  return true;
}

bool ViewStore::AsOf(const std::string& key, int64_t as_of_ms, RowRecord* out) {
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kHistory);
  std::string prefix = HistoryPrefix(key);
  bool found = false;
  for (bool ok = c->Seek(prefix + BigEndian64(1)); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix) break;
    RowRecord rec;
    if (!DecodeVersion(c->value(), &rec)) continue;
    // The last event (in the order applied) whose event time is <= as_of.
    if (rec.updated_by.event_time_ms <= as_of_ms) {
      *out = std::move(rec);
      found = true;
    }
  }
  return found && out->exists;
}

int64_t ViewStore::PruneHistory(int64_t cutoff_ms, std::string* error) {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  auto txn = env_->BeginWrite(error);
  if (!txn) return -1;
  auto c = txn->Cursor(kHistory);
  std::vector<std::string> doomed;
  std::string prev_key;
  std::string prev_prefix;
  bool prev_old = false;
  for (bool ok = c->First(); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() < 12) continue;
    std::string_view prefix = k.substr(0, k.size() - 8);
    if (ReadBigEndian64(k.substr(k.size() - 8)) == 0) continue;  // a long key's whole key
    RowRecord rec;
    bool old = DecodeVersion(c->value(), &rec) && rec.updated_by.event_time_ms < cutoff_ms;
    // The previous version may go when it is old and this one is of the same row (so it
    // is not that row's newest).
    if (prev_old && prefix == prev_prefix) doomed.push_back(prev_key);
    prev_key = std::string(k);
    prev_prefix = std::string(prefix);
    prev_old = old;
  }
  c.reset();
  for (const auto& k : doomed) {
    if (!txn->Delete(kHistory, k)) {
      *error = txn->error();
      return -1;
    }
  }
  if (!txn->Commit()) {
    *error = txn->error();
    return -1;
  }
  return static_cast<int64_t>(doomed.size());
}

bool ViewStore::IndexRange(const std::string& field, const Value* lo, bool lo_inclusive,
                           const Value* hi, bool hi_inclusive, std::vector<std::string>* keys,
                           uint64_t* scanned) {
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kIndex);
  std::string prefix = IndexPrefix(field);
  // A bound whose text is cut in the index stands for every text with the same first bytes
  // (the caller checks each row against its condition): the range is then inclusive.
  std::string lo_enc = lo ? EncodeIndexValue(*lo, Bound::kLower) : "";
  std::string hi_enc = hi ? EncodeIndexValue(*hi, Bound::kUpper) : "";
  if (lo && lo_enc != IndexEncode(*lo)) lo_inclusive = true;
  if (hi && hi_enc != IndexEncode(*hi)) hi_inclusive = true;
  for (bool ok = c->Seek(prefix + lo_enc); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.substr(0, prefix.size()) != prefix) break;
    std::string_view rest = k.substr(prefix.size());
    size_t n = EncodedValueLength(rest);
    std::string_view enc = rest.substr(0, n);
    ++*scanned;
    if (lo && !lo_inclusive && enc == lo_enc) continue;
    if (hi) {
      int cmp = enc.compare(hi_enc);
      if (cmp > 0 || (cmp == 0 && !hi_inclusive)) break;
    }
    if (c->value().empty()) {
      keys->emplace_back(rest.substr(n));
    } else {
      keys->emplace_back(c->value());  // a long row key
    }
  }
  return true;
}

bool ViewStore::IndexEqual(const std::string& field, const Value& value, const std::string& after,
                           size_t max, std::vector<std::string>* keys, bool* more) {
  *more = false;
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kIndex);
  // Entries of one value are adjacent and sorted by row key, except that a long row key is
  // kept as its first `room` bytes and its digest: entries whose kept bytes go past `room` and
  // share the first `room` are taken as one group, whose whole keys are sorted here.
  std::string prefix = IndexPrefix(field) + IndexEncode(value);
  size_t room = IndexKeyRoom(prefix.size());
  bool ok = c->Seek(prefix + after.substr(0, room));
  std::vector<std::string> group;
  auto emit = [&](std::string key) {
    if (!after.empty() && key <= after) return true;
    if (keys->size() >= max) {
      *more = true;
      return false;
    }
    keys->push_back(std::move(key));
    return true;
  };
  while (ok) {
    std::string_view k = c->key();
    if (k.substr(0, prefix.size()) != prefix) break;
    std::string_view kept = k.substr(prefix.size());
    if (kept.size() <= room) {
      if (!emit(std::string(kept))) return true;
      ok = c->Next();
      continue;
    }
    std::string head(kept.substr(0, room));
    group.clear();
    for (; ok; ok = c->Next()) {
      std::string_view gk = c->key();
      if (gk.substr(0, prefix.size()) != prefix) break;
      std::string_view g = gk.substr(prefix.size());
      if (g.size() <= room || g.substr(0, room) != head) break;
      group.emplace_back(c->value().empty() ? g : c->value());
    }
    std::sort(group.begin(), group.end());
    for (auto& key : group) {
      if (!emit(std::move(key))) return true;
    }
  }
  return true;
}

bool ViewStore::HistoryKeys(std::vector<std::string>* keys) {
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kHistory);
  for (bool ok = c->First(); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() < 12) continue;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(k[static_cast<size_t>(i)]);
    if (n & kLongHistoryKey) {
      // The whole key is the value of the prefix's entry of sequence 0.
      if (ReadBigEndian64(k.substr(k.size() - 8)) == 0) keys->emplace_back(c->value());
      continue;
    }
    std::string key(k.substr(4, n));
    if (keys->empty() || keys->back() != key) keys->push_back(std::move(key));
  }
  // The table orders keys by length first; callers want key order.
  std::sort(keys->begin(), keys->end());
  return true;
}

bool ViewStore::ComputeChecksum(Checksum* out, std::string* error) {
  ReadView txn = Read(error);
  if (!txn) return false;
  out->position = OffsetsIn(txn.txn.get());
  std::string_view hash;
  out->definition_hash = txn->Get(kMeta, "definition_hash", &hash) ? std::string(hash) : "";
  RowDigest digest;
  std::string key;
  auto c = txn->Cursor(kRows);
  for (bool ok = c && c->First(); ok; ok = c->Next()) {
    RowRecord rec;
    if (!DecodeRow(c->value(), &rec)) {
      *error = "corrupt row record for key " + std::string(c->key());
      return false;
    }
    key.assign(c->key());
    digest.Add(key, Value::MakeObject(std::move(rec.fields)));
  }
  out->rows = digest.rows();
  out->digest = digest.HexDigest();
  return true;
}

bool ViewStore::SnapshotTo(const std::string& dir, Position* position, std::string* definition_hash,
                           std::string* error) {
  {
    // The copy reads one snapshot; the map must not grow meanwhile.
    std::shared_lock<std::shared_mutex> lock(resize_mu_);
    if (!env_->CopyCompact(dir, error)) return false;
  }
  KvOptions options;
  options.sync = SyncMode::kNone;
  auto copy = Open(dir, options, error);
  if (!copy) return false;
  *position = copy->Positions();
  *definition_hash = copy->GetMeta("definition_hash");
  return true;
}

std::string ViewStore::GetMeta(const std::string& name) {
  ReadView txn = Read();
  std::string_view v;
  if (!txn || !txn->Get(kMeta, name, &v)) return "";
  return std::string(v);
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
