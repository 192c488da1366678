// ViewStore's readers (any thread, each in one read transaction): positions, rows and scans,
// dead letters, secondary index ranges, checksums, snapshots and metadata (history and as-of
// reads are in history.cc).
#include <algorithm>

#include "store/encoding.h"
#include "store/row_digest.h"
#include "store/view_store.h"
#include "store/view_store_keys.h"

namespace projd {
namespace {

using view_store_keys::Bound;
using view_store_keys::EncodedValueLength;
using view_store_keys::EncodeIndexValue;
using view_store_keys::IndexKeyRoom;
using view_store_keys::IndexPrefix;

}  // namespace

ViewStore::ReadView ViewStore::Read(std::string* error) {
  ReadView r;
  r.lock = std::shared_lock<std::shared_mutex>(resize_mu_);
  std::string ignored;
  r.txn = env_->BeginRead(error ? error : &ignored);
  return r;
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
  thread_local std::string record;
  return GetRowRecord(key, &record, dead_letters) && DecodeRow(record, out);
}

bool ViewStore::GetRowRecord(const std::string& key, std::string* record, uint64_t* dead_letters) {
  ReadView txn = Read();
  if (!txn) return false;
  std::string_view v;
  if (dead_letters) {
    // Most views never had a dead letter with a key: then that table is not looked at.
    *dead_letters =
        keyed_dead_letters_.load() && txn->Get(kDeadKeys, key, &v) ? ReadBigEndian64(v) : 0;
  }
  if (!txn->Get(kRows, key, &v)) return false;
  record->assign(v.data(), v.size());
  return true;
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

}  // namespace projd
