// ViewStore's history (projections with `history`): versions appended in the order they were
// made, the per-row lists of their sequence numbers, the readers (a row's versions, as-of,
// the rows with history), pruning, and the move of a store written with the older layout.
//
// Layout (store/README.md): `versions` maps a u64 sequence to a version, so a batch's
// versions go to the end of the table (MDB_APPEND: pages filled and written once, in order).
// `version_lists` maps a row's history prefix and the first sequence of a chunk to that chunk
// of the row's sequence numbers (at most kSeqsPerChunk, varint deltas). A batch rewrites the
// last chunk of each row it changed; the versions themselves are never moved.
#include <algorithm>
#include <limits>

#include "store/encoding.h"
#include "store/key_order.h"
#include "store/view_store.h"
#include "store/view_store_keys.h"

namespace projd {
namespace {

using view_store_keys::DecodeVersion;
using view_store_keys::HistoryPrefix;
using view_store_keys::kLongHistoryKey;

constexpr size_t kSeqsPerChunk = 128;
constexpr const char* kHistoryLayout = "2";  // meta `history_layout` of this layout

// A chunk's value: u8 count · u64 the last sequence (so that appending reads neither) ·
// varint (first sequence - the chunk key's sequence), then varint deltas.
constexpr size_t kChunkHead = 9;

void EncodeSeqs(uint64_t key_seq, const uint64_t* seqs, size_t n, std::string* out) {
  out->assign(1, static_cast<char>(n));
  out->append(BigEndian64(seqs[n - 1]));
  uint64_t prev = key_seq;
  for (size_t i = 0; i < n; ++i) {
    PutVarint(out, seqs[i] - prev);
    prev = seqs[i];
  }
}

bool DecodeSeqs(uint64_t key_seq, std::string_view in, std::vector<uint64_t>* out) {
  if (in.size() < kChunkHead) return false;
  size_t n = static_cast<uint8_t>(in[0]);
  in.remove_prefix(kChunkHead);
  uint64_t seq = key_seq;
  for (size_t i = 0; i < n; ++i) {
    uint64_t d;
    if (!GetVarint(&in, &d)) return false;
    seq += d;
    out->push_back(seq);
  }
  return in.empty();
}

// The sequence of a `version_lists` key when it is one of `prefix`'s chunks; 0 when it is not
// (another row's, or the entry that holds a long row key's whole key).
uint64_t ChunkSeq(std::string_view k, std::string_view prefix) {
  if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix) return 0;
  return ReadBigEndian64(k.substr(prefix.size()));
}

// Positions c on the chunk of `prefix` that holds the first sequence >= from: the last chunk
// whose key sequence is <= from, else the first after it. false when the row has no chunk
// there.
bool SeekChunk(KvCursor* c, const std::string& prefix, uint64_t from) {
  std::string start = prefix + BigEndian64(from);
  bool ok = c->Seek(start);
  if (ok && c->key() == start) return true;
  bool back = ok ? c->Prev() : c->Last();
  if (back && ChunkSeq(c->key(), prefix) != 0) return true;
  return c->Seek(start) && ChunkSeq(c->key(), prefix) != 0;
}

// Every sequence number of a row's versions, oldest first.
bool RowSeqs(KvTxn* txn, int table, const std::string& prefix, std::vector<uint64_t>* out) {
  auto c = txn->Cursor(table);
  for (bool ok = SeekChunk(c.get(), prefix, 1); ok; ok = c->Next()) {
    uint64_t key_seq = ChunkSeq(c->key(), prefix);
    if (key_seq == 0) break;
    if (!DecodeSeqs(key_seq, c->value(), out)) return false;
  }
  return true;
}

}  // namespace

bool ViewStore::AppendSeqs(KvTxn* txn, KvCursor* c, const std::string& prefix,
                           const std::string& long_key, const uint64_t* seqs, size_t n) {
  // The row's last chunk: the entry before the first key past every one of its chunks.
  bool ok =
      c->Seek(prefix + BigEndian64(std::numeric_limits<uint64_t>::max())) ? c->Prev() : c->Last();
  uint64_t key_seq = ok ? ChunkSeq(c->key(), prefix) : 0;
  size_t i = 0;
  if (key_seq != 0) {
    std::string_view old = c->value();
    if (old.size() < kChunkHead) return false;
    size_t count = static_cast<uint8_t>(old[0]);
    if (count < kSeqsPerChunk) {
      std::string& chunk = chunk_scratch_;
      chunk.assign(old);
      uint64_t prev = ReadBigEndian64(old.substr(1, 8));
      for (; i < n && count < kSeqsPerChunk; ++i, ++count) {
        PutVarint(&chunk, seqs[i] - prev);
        prev = seqs[i];
      }
      chunk[0] = static_cast<char>(count);
      chunk.replace(1, 8, BigEndian64(prev));
      if (!txn->Put(kVersionLists, prefix + BigEndian64(key_seq), chunk)) return false;
    }
  } else if (!long_key.empty() && !txn->Put(kVersionLists, prefix + BigEndian64(0), long_key)) {
    return false;
  }
  std::string value;
  while (i < n) {
    size_t take = std::min(n - i, kSeqsPerChunk);
    EncodeSeqs(seqs[i], seqs + i, take, &value);
    if (!txn->Put(kVersionLists, prefix + BigEndian64(seqs[i]), value)) return false;
    i += take;
  }
  return true;
}

bool ViewStore::WriteHistory(KvTxn* txn, const StagedBatch& staged) {
  if (staged.history.empty()) return true;
  // Versions at the end of `versions`, in the order they were made.
  uint64_t first = next_history_seq_;
  std::string_view bytes = staged.history_bytes;
  for (size_t i = 0; i < staged.history.size(); ++i) {
    const StagedBatch::HistoryWrite& h = staged.history[i];
    if (!txn->Append(kVersions, BigEndian64(first + i), bytes.substr(h.at, h.size))) return false;
  }
  // Each row's new sequence numbers onto its list; rows in key order (LMDB then walks the
  // list's pages front to back), a row's versions in the order they were made.
  using HistoryWrite = StagedBatch::HistoryWrite;
  const std::vector<const HistoryWrite*> order = InKeyOrder(
      staged.history, [](const HistoryWrite& h) -> const std::string& { return h.prefix; });
  const HistoryWrite* const base = staged.history.data();
  auto c = txn->Cursor(kVersionLists);
  if (!c) return false;
  std::vector<uint64_t> seqs;
  for (size_t i = 0; i < order.size();) {
    const HistoryWrite& h = *order[i];
    seqs.clear();
    size_t j = i;
    for (; j < order.size() && order[j]->prefix == h.prefix; ++j) {
      seqs.push_back(first + static_cast<uint64_t>(order[j] - base));
    }
    if (!AppendSeqs(txn, c.get(), h.prefix, h.long_key, seqs.data(), seqs.size())) return false;
    i = j;
  }
  return txn->Put(kMeta, "history_seq", BigEndian64(first + staged.history.size()));
}

bool ViewStore::History(const std::string& key, uint64_t after, size_t limit,
                        std::vector<std::pair<uint64_t, RowRecord>>* out, bool* more) {
  out->clear();
  *more = false;
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kVersionLists);
  std::string prefix = HistoryPrefix(key);
  std::vector<uint64_t> seqs;
  for (bool ok = SeekChunk(c.get(), prefix, after + 1); ok; ok = c->Next()) {
    uint64_t key_seq = ChunkSeq(c->key(), prefix);
    if (key_seq == 0) break;
    seqs.clear();
    if (!DecodeSeqs(key_seq, c->value(), &seqs)) continue;
    for (uint64_t seq : seqs) {
      if (seq <= after) continue;
      if (out->size() >= limit) {
        *more = true;
        return true;
      }
      std::string_view v;
      RowRecord rec;
      if (!txn->Get(kVersions, BigEndian64(seq), &v) || !DecodeVersion(v, &rec)) continue;
      out->emplace_back(seq, std::move(rec));
    }
  }
  return true;
}

bool ViewStore::AsOf(const std::string& key, int64_t as_of_ms, RowRecord* out) {
  ReadView txn = Read();
  if (!txn) return false;
  std::vector<uint64_t> seqs;
  if (!RowSeqs(txn.txn.get(), kVersionLists, HistoryPrefix(key), &seqs)) return false;
  // The last event (in the order applied) whose event time is <= as_of: the first such
  // version from the newest back.
  for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) {
    std::string_view v;
    RowRecord rec;
    if (!txn->Get(kVersions, BigEndian64(*it), &v) || !DecodeVersion(v, &rec)) continue;
    if (rec.updated_by.event_time_ms <= as_of_ms) {
      *out = std::move(rec);
      return out->exists;
    }
  }
  return false;
}

bool ViewStore::HistoryKeys(std::vector<std::string>* keys) {
  ReadView txn = Read();
  if (!txn) return false;
  auto c = txn->Cursor(kVersionLists);
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
    std::string_view key = k.substr(4, n);
    if (keys->empty() || keys->back() != key) keys->emplace_back(key);
  }
  // The table orders keys by length first; callers want key order.
  std::sort(keys->begin(), keys->end());
  return true;
}

int64_t ViewStore::PruneHistory(int64_t cutoff_ms, std::string* error) {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  auto txn = env_->BeginWrite(error);
  if (!txn) return -1;
  // A row's chunks, read before anything is changed: (key, sequences).
  struct Chunk {
    std::string key;
    uint64_t key_seq = 0;
    std::vector<uint64_t> seqs;
  };
  std::vector<Chunk> row;
  bool row_bad = false;  // a chunk of the row does not decode: its versions are left alone
  std::vector<std::pair<std::string, std::string>> rewrites;  // empty value: delete the chunk
  std::vector<uint64_t> doomed;
  auto finish_row = [&]() {
    // Every version but the row's newest may go when it is older than the cutoff.
    for (size_t i = 0; i < row.size() && !row_bad; ++i) {
      Chunk& ch = row[i];
      size_t kept = 0;
      for (size_t j = 0; j < ch.seqs.size(); ++j) {
        bool newest = i + 1 == row.size() && j + 1 == ch.seqs.size();
        std::string_view v;
        RowRecord rec;
        bool old = !newest && txn->Get(kVersions, BigEndian64(ch.seqs[j]), &v) &&
                   DecodeVersion(v, &rec) && rec.updated_by.event_time_ms < cutoff_ms;
        if (old) {
          doomed.push_back(ch.seqs[j]);
        } else {
          ch.seqs[kept++] = ch.seqs[j];
        }
      }
      if (kept == ch.seqs.size()) continue;
      std::string value;
      if (kept > 0) EncodeSeqs(ch.key_seq, ch.seqs.data(), kept, &value);
      rewrites.emplace_back(std::move(ch.key), std::move(value));
    }
    row.clear();
    row_bad = false;
  };
  auto c = txn->Cursor(kVersionLists);
  std::string prefix;
  for (bool ok = c->First(); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() < 12) continue;
    uint64_t key_seq = ReadBigEndian64(k.substr(k.size() - 8));
    if (key_seq == 0) continue;  // a long key's whole key
    if (k.substr(0, k.size() - 8) != prefix) {
      finish_row();
      prefix.assign(k.substr(0, k.size() - 8));
    }
    row.emplace_back();
    row.back().key.assign(k);
    row.back().key_seq = key_seq;
    if (!DecodeSeqs(key_seq, c->value(), &row.back().seqs)) row_bad = true;
  }
  finish_row();
  c.reset();
  for (const auto& [k, v] : rewrites) {
    if (!(v.empty() ? txn->Delete(kVersionLists, k) : txn->Put(kVersionLists, k, v))) {
      *error = txn->error();
      return -1;
    }
  }
  for (uint64_t seq : doomed) {
    if (!txn->Delete(kVersions, BigEndian64(seq))) {
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

bool ViewStore::MoveHistoryIn(KvTxn* txn, uint64_t* next_seq, uint64_t* moved) {
  // The older layout kept versions under the row's prefix and their sequence: read in that
  // order, each row's versions are adjacent and oldest first.
  auto c = txn->Cursor(kHistory);
  auto lists = txn->Cursor(kVersionLists);
  if (!c || !lists) return false;
  std::string prefix, long_key;
  std::vector<uint64_t> seqs;
  auto flush = [&]() {
    bool ok =
        seqs.empty() || AppendSeqs(txn, lists.get(), prefix, long_key, seqs.data(), seqs.size());
    seqs.clear();
    long_key.clear();
    return ok;
  };
  for (bool ok = c->First(); ok; ok = c->Next()) {
    std::string_view k = c->key();
    if (k.size() < 12) continue;
    std::string_view p = k.substr(0, k.size() - 8);
    uint64_t seq = ReadBigEndian64(k.substr(k.size() - 8));
    if (p != prefix) {
      if (!flush()) return false;
      prefix.assign(p);
    }
    if (seq == 0) {
      long_key.assign(c->value());  // sorts before the row's versions
      continue;
    }
    if (!txn->Put(kVersions, BigEndian64(seq), c->value())) return false;
    seqs.push_back(seq);
    ++*moved;
    *next_seq = std::max(*next_seq, seq + 1);
  }
  if (!flush()) return false;
  c.reset();
  lists.reset();
  return txn->Clear(kHistory) && txn->Put(kMeta, "history_layout", kHistoryLayout) &&
         txn->Put(kMeta, "history_seq", BigEndian64(*next_seq));
}

bool ViewStore::UpgradeHistory(std::string* error) {
  {
    auto txn = env_->BeginRead(error);
    if (!txn) return false;
    // Moved when the marker is missing, and also when the older table holds versions again
    // (an earlier build wrote to the store after it was moved).
    std::string_view layout;
    auto old = txn->Cursor(kHistory);
    bool old_empty = !old || !old->First();
    if (txn->Get(kMeta, "history_layout", &layout) && layout == kHistoryLayout && old_empty) {
      return true;
    }
  }
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto txn = env_->BeginWrite(error);
    if (!txn) return false;
    uint64_t next_seq = next_history_seq_;
    uint64_t moved = 0;
    if (MoveHistoryIn(txn.get(), &next_seq, &moved) && txn->Commit()) {
      next_history_seq_ = next_seq;
      moved_history_versions_ = moved;
      return true;
    }
    bool full = txn->MapFull();
    *error = "moving history to the append-ordered layout: " + txn->error();
    txn.reset();
    if (!full || !env_->Grow(error)) return false;
  }
  return false;
}

}  // namespace projd
