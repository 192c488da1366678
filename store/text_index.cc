#include "store/text_index.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "dsl/varint.h"
#include "store/encoding.h"

namespace projd {
namespace {

// LMDB's largest key.
constexpr size_t kMaxLmdbKey = 511;

std::string FieldPrefix(const std::string& field) {
  std::string k;
  k.push_back(static_cast<char>((field.size() >> 8) & 0xFF));
  k.push_back(static_cast<char>(field.size() & 0xFF));
  k += field;
  return k;
}

std::string StatsKey(const std::string& field_prefix) { return field_prefix + '\x00'; }

// The prefix of a term's chunk keys: the field, 01, the term, 00.
std::string TermBase(const std::string& field_prefix, std::string_view term) {
  std::string k = field_prefix;
  k.push_back('\x01');
  k.append(term);
  k.push_back('\x00');
  return k;
}

// A chunk's LMDB key: the term's base and as much of its first row key as fits.
std::string ChunkKey(const std::string& base, std::string_view first_key) {
  size_t room = base.size() >= kMaxLmdbKey ? 0 : kMaxLmdbKey - base.size();
  std::string k = base;
  k.append(first_key.substr(0, room));
  return k;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

void EncodeChunk(const std::vector<TextPosting>& entries, size_t from, size_t to,
                 std::string* out) {
  out->clear();
  PutVarint(out, to - from);
  std::string_view prev;
  for (size_t i = from; i < to; ++i) {
    const TextPosting& p = entries[i];
    size_t shared = 0;
    size_t most = std::min(prev.size(), p.key.size());
    while (shared < most && prev[shared] == p.key[shared]) ++shared;
    PutVarint(out, shared);
    PutVarint(out, p.key.size() - shared);
    out->append(p.key, shared, std::string::npos);
    PutVarint(out, p.length);
    PutVarint(out, p.positions.size());
    uint32_t last = 0;
    for (uint32_t pos : p.positions) {
      PutVarint(out, pos - last);
      last = pos;
    }
    prev = p.key;
  }
}

// Appends the chunk's postings to *out; false when it does not decode.
bool DecodeChunk(std::string_view in, std::vector<TextPosting>* out) {
  uint64_t n = 0;
  if (!GetVarint(&in, &n)) return false;
  std::string prev;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t shared = 0, suffix = 0, length = 0, tf = 0;
    if (!GetVarint(&in, &shared) || !GetVarint(&in, &suffix) || shared > prev.size() ||
        suffix > in.size()) {
      return false;
    }
    TextPosting p;
    p.key.assign(prev, 0, shared);
    p.key.append(in.substr(0, suffix));
    in.remove_prefix(suffix);
    if (!GetVarint(&in, &length) || !GetVarint(&in, &tf) || tf > in.size()) return false;
    p.length = static_cast<uint32_t>(length);
    p.positions.reserve(tf);
    uint64_t at = 0;
    for (uint64_t k = 0; k < tf; ++k) {
      uint64_t d = 0;
      if (!GetVarint(&in, &d)) return false;
      at += d;
      p.positions.push_back(static_cast<uint32_t>(at));
    }
    prev = p.key;
    out->push_back(std::move(p));
  }
  return true;
}

// Where a row key's postings chunk of a term is. A chunk's LMDB key is the term's base and its
// first row key cut to fit; rows whose keys cut alike always share a chunk (splits fall only
// between rows whose cut keys differ), so chunk keys are unique and a row's chunk is the one
// whose key equals the row key's cut, or else the one before it — or, when there is none, the
// term's first chunk, which the row then starts.
struct ChunkSpot {
  bool found = false;  // a chunk of the term exists
  std::string lmdb_key;
  std::string value;
  bool has_next = false;
  std::string next_lmdb_key;  // the rows that belong here have cut keys below it
};

// Puts the cursor on the chunk that row keys whose chunk key is `target` belong to; false
// when the term (whose chunk keys start with `base`) has no chunk.
bool PositionAt(KvCursor* c, const std::string& base, const std::string& target) {
  bool sought = c->Seek(target);
  bool on_term = sought && StartsWith(c->key(), base);
  if (on_term && c->key() == target) return true;
  // The chunk before the target, if it is the term's; else the term's first chunk.
  bool before = sought ? c->Prev() : c->Last();
  if (before && StartsWith(c->key(), base)) return true;
  if (!on_term) return false;  // no chunk of the term
  return c->Seek(target);
}

ChunkSpot Locate(KvCursor* c, const std::string& base, std::string_view key) {
  ChunkSpot s;
  if (!PositionAt(c, base, ChunkKey(base, key))) return s;
  s.found = true;
  s.lmdb_key.assign(c->key());
  s.value.assign(c->value());
  if (c->Next() && StartsWith(c->key(), base)) {
    s.has_next = true;
    s.next_lmdb_key.assign(c->key());
  }
  return s;
}

// Writes a chunk's postings back, split into chunks of at most kTextChunkEntries (more when
// rows whose keys cut alike would otherwise be parted).
bool FlushChunk(KvTxn* txn, int table, const std::string& base, const ChunkSpot& spot,
                const std::vector<TextPosting>& entries) {
  std::vector<std::pair<size_t, size_t>> pieces;
  size_t n = entries.size();
  size_t per = n > kTextChunkEntries ? kTextChunkEntries / 2 : kTextChunkEntries;
  for (size_t from = 0; from < n;) {
    size_t to = std::min(n, from + per);
    // Never between rows whose keys cut alike: they share a chunk key.
    while (to < n && ChunkKey(base, entries[to].key) == ChunkKey(base, entries[to - 1].key)) ++to;
    pieces.emplace_back(from, to);
    from = to;
  }
  bool old_kept = false;
  std::string key, value;
  for (const auto& [from, to] : pieces) {
    key = ChunkKey(base, entries[from].key);
    if (spot.found && key == spot.lmdb_key) old_kept = true;
    EncodeChunk(entries, from, to, &value);
    if (!txn->Put(table, key, value)) return false;
  }
  if (spot.found && !old_kept && !txn->Delete(table, spot.lmdb_key)) return false;
  return true;
}

// One term's changes: row key -> new posting, or nullopt to remove the row.
using TermOps = std::vector<std::pair<std::string, std::optional<TextPosting>>>;

// The key of a term's row count: the field, 02, the term.
std::string DocFreqKey(const std::string& field_prefix, std::string_view term) {
  std::string k = field_prefix;
  k.push_back('\x02');
  k.append(term);
  return k;
}

// Merges one term's changes into its chunks; *rows_delta gets the change in its row count.
bool WriteTerm(KvTxn* txn, int table, const std::string& base, TermOps* ops, int64_t* rows_delta) {
  std::sort(ops->begin(), ops->end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  auto cursor = txn->Cursor(table);
  if (!cursor) return false;
  std::vector<TextPosting> entries, merged;
  size_t i = 0;
  while (i < ops->size()) {
    ChunkSpot spot = Locate(cursor.get(), base, (*ops)[i].first);
    entries.clear();
    if (spot.found && !DecodeChunk(spot.value, &entries)) entries.clear();
    // The changes that fall in this chunk (before the next one's first row), merged with its
    // rows in one pass: both are in key order.
    size_t end = i;
    while (end < ops->size() &&
           (!spot.has_next || ChunkKey(base, (*ops)[end].first) < spot.next_lmdb_key)) {
      ++end;
    }
    merged.clear();
    merged.reserve(entries.size() + (end - i));
    size_t a = 0;
    for (size_t b = i; b < end; ++b) {
      auto& [key, posting] = (*ops)[b];
      while (a < entries.size() && entries[a].key < key) merged.push_back(std::move(entries[a++]));
      bool had = a < entries.size() && entries[a].key == key;
      if (had) ++a;  // replaced or removed
      if (posting) merged.push_back(std::move(*posting));
      *rows_delta += (posting ? 1 : 0) - (had ? 1 : 0);
    }
    while (a < entries.size()) merged.push_back(std::move(entries[a++]));
    if (!FlushChunk(txn, table, base, spot, merged)) return false;
    i = end;  // the cursor moved: Locate seeks again for the next change
  }
  return true;
}

uint64_t Get64(std::string_view v, size_t at) {
  return v.size() >= at + 8 ? ReadBigEndian64(v.substr(at, 8)) : 0;
}

}  // namespace

bool WriteTextChanges(KvTxn* txn, int table, const std::string& field,
                      std::vector<TextDocChange>* changes, std::string* error) {
  const std::string prefix = FieldPrefix(field);
  std::map<std::string, TermOps> terms;
  int64_t rows_delta = 0, terms_delta = 0;
  for (TextDocChange& c : *changes) {
    if (c.has_old) {
      --rows_delta;
      terms_delta -= static_cast<int64_t>(c.old_tokens.size());
      for (const TextToken& t : c.old_tokens) {
        TermOps& ops = terms[t.term];
        if (ops.empty() || ops.back().first != c.key) ops.emplace_back(c.key, std::nullopt);
      }
    }
    if (!c.has_new) continue;
    ++rows_delta;
    terms_delta += static_cast<int64_t>(c.new_tokens.size());
    for (const TextToken& t : c.new_tokens) {
      TermOps& ops = terms[t.term];
      if (ops.empty() || ops.back().first != c.key || !ops.back().second) {
        if (!ops.empty() && ops.back().first == c.key) ops.pop_back();  // removed, then added
        TextPosting p;
        p.key = c.key;
        p.length = static_cast<uint32_t>(c.new_tokens.size());
        ops.emplace_back(c.key, std::move(p));
      }
      ops.back().second->positions.push_back(t.position);
    }
  }
  for (auto& [term, ops] : terms) {
    int64_t delta = 0;
    if (!WriteTerm(txn, table, TermBase(prefix, term), &ops, &delta)) {
      *error = txn->error();
      return false;
    }
    if (delta == 0) continue;
    std::string key = DocFreqKey(prefix, term);
    std::string_view old;
    int64_t n = txn->Get(table, key, &old) ? static_cast<int64_t>(Get64(old, 0)) : 0;
    n += delta;
    bool ok = n > 0 ? txn->Put(table, key, BigEndian64(static_cast<uint64_t>(n)))
                    : txn->Delete(table, key);
    if (!ok) {
      *error = txn->error();
      return false;
    }
  }
  if (rows_delta != 0 || terms_delta != 0) {
    std::string_view old;
    uint64_t rows = 0, total = 0;
    if (txn->Get(table, StatsKey(prefix), &old)) {
      rows = Get64(old, 0);
      total = Get64(old, 8);
    }
    rows = static_cast<uint64_t>(static_cast<int64_t>(rows) + rows_delta);
    total = static_cast<uint64_t>(static_cast<int64_t>(total) + terms_delta);
    if (!txn->Put(table, StatsKey(prefix), BigEndian64(rows) + BigEndian64(total))) {
      *error = txn->error();
      return false;
    }
  }
  return true;
}

TextIndexReader::TextIndexReader(KvTxn* txn, int table, const std::string& field)
    : txn_(txn), table_(table), field_prefix_(FieldPrefix(field)) {}

void TextIndexReader::Stats(uint64_t* rows, uint64_t* terms) const {
  std::string_view v;
  *rows = *terms = 0;
  if (txn_->Get(table_, StatsKey(field_prefix_), &v)) {
    *rows = Get64(v, 0);
    *terms = Get64(v, 8);
  }
}

uint64_t TextIndexReader::DocFreq(std::string_view term) const {
  std::string_view v;
  return txn_->Get(table_, DocFreqKey(field_prefix_, term), &v) ? Get64(v, 0) : 0;
}

std::unique_ptr<TextIndexReader::TermLookup> TextIndexReader::Lookup(std::string_view term) const {
  auto l = std::make_unique<TermLookup>();
  l->cursor_ = txn_->Cursor(table_);
  l->base_ = TermBase(field_prefix_, term);
  return l;
}

bool TextIndexReader::Lookup(std::string_view term, std::string_view key, TextPosting* out) const {
  auto l = Lookup(term);
  TextPostingRef ref;
  if (!l->Find(key, &ref)) return false;
  out->key.assign(ref.key);
  out->length = ref.length;
  out->positions.assign(ref.positions, ref.positions + ref.freq);
  return true;
}

bool TextIndexReader::TermLookup::Load() {
  valid_ = false;
  if (!cursor_ || !PositionAt(cursor_.get(), base_, target_)) return false;
  chunk_.Reset(cursor_->value());  // the map's bytes stay valid for the read transaction
  chunk_key_.assign(cursor_->key());
  has_next_ = cursor_->Next() && StartsWith(cursor_->key(), base_);
  if (has_next_) next_key_.assign(cursor_->key());
  valid_ = true;
  return true;
}

bool TextIndexReader::TermLookup::Find(std::string_view key, TextPostingRef* out) {
  // The row's chunk key, built in place: the term's base and the key cut to fit.
  target_.assign(base_);
  target_.append(key.substr(0, base_.size() >= kMaxLmdbKey ? 0 : kMaxLmdbKey - base_.size()));
  if (!valid_ || target_ < chunk_key_ || (has_next_ && target_ >= next_key_)) {
    if (!Load()) return false;
  }
  size_t i = chunk_.Seek(key);
  if (i == chunk_.size() || chunk_.key(i) != key) return false;
  *out = {chunk_.key(i), chunk_.length(i), chunk_.positions(i), chunk_.freq(i)};
  return true;
}

bool TextIndexReader::ExpandPrefix(std::string_view prefix, size_t max,
                                   std::vector<std::string>* terms) const {
  std::string start = field_prefix_ + '\x01';
  start.append(prefix);
  auto c = txn_->Cursor(table_);
  const size_t term_at = field_prefix_.size() + 1;
  for (bool ok = c && c->Seek(start); ok && StartsWith(c->key(), start);) {
    std::string_view k = c->key();
    size_t end = k.find('\x00', term_at);
    if (end == std::string_view::npos) break;
    if (terms->size() == max) return false;
    terms->emplace_back(k.substr(term_at, end - term_at));
    // Past the term's chunks: its base with 01 in place of the separator.
    std::string next(k.substr(0, end));
    next.push_back('\x01');
    ok = c->Seek(next);
  }
  return true;
}

std::unique_ptr<TextIndexReader::Iterator> TextIndexReader::Postings(std::string_view term) const {
  auto it = std::make_unique<Iterator>();
  it->cursor_ = txn_->Cursor(table_);
  it->base_ = TermBase(field_prefix_, term);
  return it;
}

bool TextIndexReader::Iterator::LoadChunk() {
  at_ = 0;
  if (!StartsWith(cursor_->key(), base_) || !chunk_.Decode(cursor_->value())) {
    chunk_.Decode({});
    return false;
  }
  return true;
}

void TextIndexReader::Iterator::Seek(std::string_view from, bool inclusive) {
  chunk_.Decode({});
  at_ = 0;
  if (!cursor_) return;
  if (from.empty()) {
    if (cursor_->Seek(base_)) LoadChunk();
    if (!inclusive && Valid() && key().empty()) Next();
    return;
  }
  if (!PositionAt(cursor_.get(), base_, ChunkKey(base_, from)) || !LoadChunk()) return;
  at_ = chunk_.Find(from, inclusive);
  if (at_ == chunk_.size()) {
    chunk_.Decode({});
    at_ = 0;
    if (cursor_->Next()) LoadChunk();
  }
}

void TextIndexReader::Iterator::Next() {
  if (++at_ < chunk_.size()) return;
  chunk_.Decode({});
  at_ = 0;
  if (cursor_->Next()) LoadChunk();
}

void TextChunk::Reset(std::string_view in) {
  keys_.clear();
  key_at_.assign(1, 0);
  lengths_.clear();
  pos_at_.assign(1, 0);
  positions_.clear();
  rest_ = in;
  left_ = 0;
  bad_ = false;
  if (!in.empty() && (!GetVarint(&rest_, &left_) || left_ > rest_.size())) bad_ = true;
}

bool TextChunk::Decode(std::string_view in) {
  Reset(in);
  while (DecodeNext()) {
  }
  if (!bad_) return true;
  Reset({});
  return false;
}

bool TextChunk::DecodeNext() {
  if (bad_ || left_ == 0) return false;
  uint64_t shared = 0, suffix = 0, length = 0, tf = 0;
  size_t prev_at = size() ? key_at_[size() - 1] : 0;
  size_t prev_size = size() ? key_at_[size()] - prev_at : 0;
  if (!GetVarint(&rest_, &shared) || !GetVarint(&rest_, &suffix) || shared > prev_size ||
      suffix > rest_.size()) {
    bad_ = true;
    return false;
  }
  // The shared part comes from the previous key in keys_ itself: make room first, so that
  // appending does not move the bytes it copies (and nothing is zero-filled).
  size_t need = keys_.size() + shared + suffix;
  if (need > keys_.capacity()) keys_.reserve(std::max(need, 2 * keys_.capacity()));
  keys_.append(keys_.data() + prev_at, shared);
  keys_.append(rest_.data(), suffix);
  rest_.remove_prefix(suffix);
  key_at_.push_back(static_cast<uint32_t>(keys_.size()));
  if (!GetVarint(&rest_, &length) || !GetVarint(&rest_, &tf) || tf > rest_.size()) {
    bad_ = true;
    return false;
  }
  lengths_.push_back(static_cast<uint32_t>(length));
  uint64_t pos = 0;
  for (uint64_t k = 0; k < tf; ++k) {
    uint64_t d = 0;
    if (!GetVarint(&rest_, &d)) {
      bad_ = true;
      return false;
    }
    pos += d;
    positions_.push_back(static_cast<uint32_t>(pos));
  }
  pos_at_.push_back(static_cast<uint32_t>(positions_.size()));
  --left_;
  return true;
}

size_t TextChunk::Seek(std::string_view key) {
  if (size() > 0 && this->key(size() - 1) >= key) return Find(key, true);
  while (DecodeNext()) {
    if (this->key(size() - 1) >= key) return size() - 1;
  }
  return size();
}

size_t TextChunk::Find(std::string_view key, bool inclusive) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = this->key(mid).compare(key);
    if (c < 0 || (!inclusive && c == 0)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

TextPosting TextChunk::Posting(size_t i) const {
  TextPosting p;
  p.key.assign(key(i));
  p.length = length(i);
  p.positions.assign(positions(i), positions(i) + freq(i));
  return p;
}

}  // namespace projd
