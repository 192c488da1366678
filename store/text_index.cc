#include "store/text_index.h"

#include <algorithm>
#include <cstring>

#include "dsl/varint.h"
#include "store/encoding.h"
#include "store/key_order.h"

namespace projd {
namespace {

// LMDB's largest key.
constexpr size_t kMaxLmdbKey = 511;

// How many chunks a lookup steps on with the cursor before it searches the B-tree instead.
constexpr int kChunkSteps = 4;

// The bytes a postings iterator's key buffer keeps past its key: keys up to this long move as
// one block.
constexpr size_t kKeySlack = 16;

std::string FieldPrefix(const std::string& field) {
  std::string k;
  k.push_back(static_cast<char>((field.size() >> 8) & 0xFF));
  k.push_back(static_cast<char>(field.size() & 0xFF));
  k += field;
  return k;
}

std::string StatsKey(const std::string& field_prefix) { return field_prefix + '\x00'; }

// The prefix of a term's chunk keys: the field, 01, the term, 00 (into *out, whose buffer is
// reused).
void TermBaseInto(const std::string& field_prefix, std::string_view term, std::string* out) {
  out->assign(field_prefix);
  out->push_back('\x01');
  out->append(term);
  out->push_back('\x00');
}

// How much of a row key fits in a chunk key after the term's base.
size_t KeyRoom(const std::string& base) {
  return base.size() >= kMaxLmdbKey ? 0 : kMaxLmdbKey - base.size();
}

// A chunk's LMDB key: the term's base and as much of its first row key as fits.
void ChunkKeyInto(const std::string& base, std::string_view first_key, std::string* out) {
  out->assign(base);
  out->append(first_key.substr(0, KeyRoom(base)));
}

// How many leading bytes of a and b (n bytes each at least) are alike, eight at a time.
size_t CommonPrefix(const char* a, const char* b, size_t n) {
  size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return i + static_cast<size_t>(__builtin_ctzll(x ^ y) / 8);
  }
#endif
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

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

// The chunk that rows whose chunk key is `target` belong to (PositionAt): its LMDB key, its
// value (valid until the transaction writes), and the next chunk's key, if the term has one —
// rows whose cut keys reach it belong there. false when the term has no chunk.
bool LocateChunk(KvCursor* c, const std::string& base, const std::string& target,
                 std::string* chunk_key, std::string_view* value, bool* has_next,
                 std::string* next_key) {
  *has_next = false;
  if (!PositionAt(c, base, target)) return false;
  chunk_key->assign(c->key());
  *value = c->value();
  *has_next = c->Next() && StartsWith(c->key(), base);
  if (*has_next) next_key->assign(c->key());
  return true;
}

// Moves *p past `count` varints before `end`; false when `end` comes first.
bool SkipVarints(const char** p, const char* end, uint64_t count) {
  const char* q = *p;
  for (; count > 0; --count) {
    while (q < end && (static_cast<uint8_t>(*q) & 0x80)) ++q;
    if (q == end) return false;
    ++q;
  }
  *p = q;
  return true;
}

// A chunk's head: `00` · row count · restart count · the restarts' u32 offsets (EncodeTextChunk),
// or the row count alone (chunks written before restart points).
struct ChunkHead {
  uint64_t count = 0, restarts = 0;
  const char* restart_table = nullptr;
  std::string_view rows;  // the rows' bytes
};

// false when `in` does not start with a head that fits it.
bool ReadChunkHead(std::string_view in, ChunkHead* out) {
  std::string_view rest = in;
  if (!rest.empty() && rest[0] == '\0') {
    rest.remove_prefix(1);
    if (!GetVarint(&rest, &out->count) || !GetVarint(&rest, &out->restarts) ||
        out->restarts != (out->count > 0 ? (out->count - 1) / kTextChunkRestart : 0) ||
        out->restarts > rest.size() / 4) {
      return false;
    }
    out->restart_table = rest.data();
    rest.remove_prefix(4 * out->restarts);
  } else if (!GetVarint(&rest, &out->count)) {
    return false;
  }
  out->rows = rest;
  return out->count <= rest.size();  // every row takes a byte at least
}

// Stepping over a chunk's rows that are before `key` (TextChunk::Seek, the postings
// iterator's SkipTo) without building their keys: a row that shares more bytes with the row
// before it than that row shares with `key` (`same`; that row is before `key`) is before `key`
// too; one that shares fewer is after it (its byte there is larger than that row's, which is
// `key`'s); else its own bytes decide.
struct RowWalk {
  const char* p;     // the next row
  uint64_t left;     // the rows from p on
  size_t same;       // the bytes the row before p shares with `key`
  size_t prev_size;  // that row's key length
  // Where it stopped: p is just past the header of the first row not before `key` (then
  // left > 0, counting that row; `row` is where it starts), or past the rows (left 0).
  const char* row = nullptr;
  uint64_t shared = 0, suffix = 0;  // that row's header
  bool exact = false;               // that row is `key`
  bool bad = false;                 // a row did not decode (left > 0)
};

// Inlined: the stepping loops of lookups, called by the million, keep their state in registers.
__attribute__((always_inline)) inline void WalkBefore(std::string_view key, const char* end,
                                                      RowWalk* w) {
  const char* p = w->p;
  uint64_t left = w->left;
  size_t same = w->same, prev_size = w->prev_size;
  for (; left > 0; --left) {
    const char* row = p;
    uint64_t shared = 0, suffix = 0;
    if (end - p >= 2 && !((static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1])) & 0x80)) {
      shared = static_cast<uint8_t>(p[0]);  // both one byte, as they nearly always are
      suffix = static_cast<uint8_t>(p[1]);
      p += 2;
    } else if (!ReadVarint(&p, end, &shared) || !ReadVarint(&p, end, &suffix)) {
      w->bad = true;
      break;
    }
    if (shared > prev_size || suffix > static_cast<size_t>(end - p)) {
      w->bad = true;
      break;
    }
    bool before = shared > same, exact = false;
    if (shared == same) {
      const size_t j = CommonPrefix(p, key.data() + same, std::min(suffix, key.size() - same));
      const size_t m = same + j;
      before = m < key.size() && (j == suffix || static_cast<unsigned char>(p[j]) <
                                                     static_cast<unsigned char>(key[m]));
      if (before) same = m;
      exact = j == suffix && m == key.size();
    }
    if (!before) {
      w->row = row;
      w->shared = shared;
      w->suffix = suffix;
      w->exact = exact;
      break;
    }
    p += suffix;
    if (end - p >= 3 &&
        !((static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) | static_cast<uint8_t>(p[2])) &
          0x80) &&
        p[1] == 1) {
      p += 3;  // length, frequency 1 and its one position, each one byte: the usual row
    } else {
      uint64_t tf = 0;
      if (!SkipVarints(&p, end, 1) || !ReadVarint(&p, end, &tf) || !SkipVarints(&p, end, tf)) {
        w->bad = true;
        break;
      }
    }
    prev_size = shared + suffix;
  }
  w->p = p;
  w->left = left;
  w->same = same;
  w->prev_size = prev_size;
}

// The whole key of a restart row at `at` (which shares nothing with the row before it).
bool RestartKey(const char* at, const char* end, std::string_view* key) {
  uint64_t shared = 0, suffix = 0;
  if (!ReadVarint(&at, end, &shared) || !ReadVarint(&at, end, &suffix) || shared != 0 ||
      suffix > static_cast<size_t>(end - at)) {
    return false;
  }
  *key = std::string_view(at, suffix);
  return true;
}

// The key of a term's row count: the field, 02, the term (into *out).
void DocFreqKeyInto(const std::string& field_prefix, std::string_view term, std::string* out) {
  out->assign(field_prefix);
  out->push_back('\x02');
  out->append(term);
}

uint64_t Get64(std::string_view v, size_t at) {
  return v.size() >= at + 8 ? ReadBigEndian64(v.substr(at, 8)) : 0;
}

// A token of a changed row, in the batch being written: of its old text (a removal of the row
// from the term's postings) or of its new text (kNewToken: an occurrence in its new posting).
struct TokenRef {
  std::string_view term;  // into the change's tokens, which outlive the write
  uint32_t row;           // the row's rank in key order among the changes
  uint32_t token;         // index in old_tokens, or kNewToken | index in new_tokens
};
constexpr uint32_t kNewToken = 0x80000000u;

bool TokenBefore(const TokenRef& a, const TokenRef& b) {
  int c = a.term.compare(b.term);
  if (c != 0) return c < 0;
  if (a.row != b.row) return a.row < b.row;
  return a.token < b.token;
}

// One row's change to one term's postings: its new posting (add), or the row removed.
struct RowOp {
  std::string_view key;
  bool add = false;
  uint32_t length = 0;
  uint32_t pos_at = 0, freq = 0;  // its positions in the term's flat positions
};

// Merges terms' changes into their chunks. Its buffers are reused from one chunk (and term) to
// the next; the merged rows are views into the decoded chunk and the changes, not copies.
class TermWriter {
 public:
  TermWriter(KvTxn* txn, int table) : txn_(txn), table_(table) {}
  // Merges one term's changes (in key order) into its chunks (keys start with `base`);
  // *rows_delta gets the change in its row count.
  bool Write(const std::string& base, const std::vector<RowOp>& ops,
             const std::vector<uint32_t>& positions, int64_t* rows_delta);

 private:
  // The part of a row key in its chunk key (after the term's base).
  std::string_view Cut(std::string_view key) const { return key.substr(0, room_); }
  // Decodes the chunk that row `key` belongs to (or none: found_ false, no rows).
  void Locate(std::string_view key);
  // Writes merged_ back, split into chunks of at most kTextChunkEntries (more when rows whose
  // keys cut alike would otherwise be parted), in place of the chunk located.
  bool Flush();
  void Encode(size_t from, size_t to);

  KvTxn* txn_;
  int table_;
  std::unique_ptr<KvCursor> cursor_;
  const std::string* base_ = nullptr;
  size_t room_ = 0;  // how much of a row key fits in a chunk key
  std::string target_;
  bool found_ = false;  // a chunk of the term exists: chunk_ holds it, keyed chunk_key_
  std::string chunk_key_;
  bool has_next_ = false;
  std::string next_key_;  // the next chunk's key: rows at or past its cut belong there
  TextChunk chunk_;
  std::vector<TextPostingRef> merged_;
  std::string key_, value_;
};

// Where a row key's postings chunk of a term is. A chunk's LMDB key is the term's base and its
// first row key cut to fit; rows whose keys cut alike always share a chunk (splits fall only
// between rows whose cut keys differ), so chunk keys are unique and a row's chunk is the one
// whose key equals the row key's cut, or else the one before it — or, when there is none, the
// term's first chunk, which the row then starts.
void TermWriter::Locate(std::string_view key) {
  ChunkKeyInto(*base_, key, &target_);
  std::string_view value;
  found_ = LocateChunk(cursor_.get(), *base_, target_, &chunk_key_, &value, &has_next_, &next_key_);
  chunk_.Decode(value);  // none, or a chunk that does not decode: no rows
}

void TermWriter::Encode(size_t from, size_t to) {
  EncodeTextChunk(merged_.data() + from, to - from, &value_);
}

bool TermWriter::Flush() {
  size_t n = merged_.size();
  size_t per = n > kTextChunkEntries ? kTextChunkEntries / 2 : kTextChunkEntries;
  bool old_kept = false;
  for (size_t from = 0; from < n;) {
    size_t to = std::min(n, from + per);
    // Never between rows whose keys cut alike: they share a chunk key.
    while (to < n && Cut(merged_[to].key) == Cut(merged_[to - 1].key)) ++to;
    key_.assign(*base_);
    key_.append(Cut(merged_[from].key));
    if (found_ && key_ == chunk_key_) old_kept = true;
    Encode(from, to);
    if (!txn_->Put(table_, key_, value_)) return false;
    from = to;
  }
  return !found_ || old_kept || txn_->Delete(table_, chunk_key_);
}

bool TermWriter::Write(const std::string& base, const std::vector<RowOp>& ops,
                       const std::vector<uint32_t>& positions, int64_t* rows_delta) {
  if (!cursor_) cursor_ = txn_->Cursor(table_);
  if (!cursor_) return false;
  base_ = &base;
  room_ = KeyRoom(base);
  for (size_t i = 0; i < ops.size();) {
    Locate(ops[i].key);
    // The changes that fall in this chunk (before the next one's first row; the next chunk's
    // key starts with the base too), merged with its rows in one pass: both are in key order.
    std::string_view next_cut;
    if (has_next_) next_cut = std::string_view(next_key_).substr(base.size());
    size_t end = i;
    while (end < ops.size() && (!has_next_ || Cut(ops[end].key) < next_cut)) ++end;
    merged_.clear();
    size_t a = 0;
    const size_t rows = chunk_.size();
    for (size_t b = i; b < end; ++b) {
      const RowOp& op = ops[b];
      for (; a < rows && chunk_.key(a) < op.key; ++a) {
        merged_.push_back({chunk_.key(a), chunk_.length(a), chunk_.positions(a), chunk_.freq(a)});
      }
      bool had = a < rows && chunk_.key(a) == op.key;
      if (had) ++a;  // replaced or removed
      if (op.add) merged_.push_back({op.key, op.length, positions.data() + op.pos_at, op.freq});
      *rows_delta += (op.add ? 1 : 0) - (had ? 1 : 0);
    }
    for (; a < rows; ++a) {
      merged_.push_back({chunk_.key(a), chunk_.length(a), chunk_.positions(a), chunk_.freq(a)});
    }
    if (!Flush()) return false;
    i = end;  // the cursor moved: Locate seeks again for the next change
  }
  return true;
}

// The batch's tokens, one TokenRef each, sorted by term, row (in key order) and token: the
// rows of a term in key order, a row's old tokens before its new ones, in token order.
std::vector<TokenRef> SortedTokens(const std::vector<TextDocChange>& changes,
                                   std::vector<uint32_t>* order) {
  order->resize(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) (*order)[i] = static_cast<uint32_t>(i);
  auto by_key = [&](uint32_t a, uint32_t b) { return changes[a].key < changes[b].key; };
  if (!std::is_sorted(order->begin(), order->end(), by_key)) {
    std::stable_sort(order->begin(), order->end(), by_key);
  }
  size_t n = 0;
  for (const TextDocChange& c : changes) {
    n += (c.has_old ? c.old_tokens.size() : 0) + (c.has_new ? c.new_tokens.size() : 0);
  }
  std::vector<TokenRef> tokens;
  tokens.reserve(n);
  for (uint32_t row = 0; row < order->size(); ++row) {
    const TextDocChange& c = changes[(*order)[row]];
    if (c.has_old) {
      for (uint32_t t = 0; t < c.old_tokens.size(); ++t) {
        tokens.push_back({c.old_tokens[t].term, row, t});
      }
    }
    if (c.has_new) {
      for (uint32_t t = 0; t < c.new_tokens.size(); ++t) {
        tokens.push_back({c.new_tokens[t].term, row, kNewToken | t});
      }
    }
  }
  std::sort(tokens.begin(), tokens.end(), TokenBefore);
  return tokens;
}

// Adds `delta` to a term's row count (`key`), deleting it at 0.
bool AddDocFreq(KvTxn* txn, int table, const std::string& key, int64_t delta) {
  std::string_view old;
  int64_t n = txn->Get(table, key, &old) ? static_cast<int64_t>(Get64(old, 0)) : 0;
  n += delta;
  return n > 0 ? txn->Put(table, key, BigEndian64(static_cast<uint64_t>(n)))
               : txn->Delete(table, key);
}

}  // namespace

void EncodeTextChunk(const TextPostingRef* rows, size_t n, std::string* out) {
  out->clear();
  // 00 (a chunk with restart points: the older form starts with its row count, never 0), the
  // row count, the number of restart points and their offsets in the rows, then the rows.
  out->push_back('\x00');
  PutVarint(out, n);
  const size_t restarts = n > 0 ? (n - 1) / kTextChunkRestart : 0;
  PutVarint(out, restarts);
  const size_t table = out->size();
  out->append(4 * restarts, '\0');
  const size_t rows_at = out->size();
  std::string_view prev;
  for (size_t i = 0; i < n; ++i) {
    const TextPostingRef& p = rows[i];
    size_t shared = 0;
    if (i % kTextChunkRestart == 0) {
      if (i > 0) {  // a restart point: the key whole, its offset noted
        uint32_t at = static_cast<uint32_t>(out->size() - rows_at);
        char* slot = &(*out)[table + 4 * (i / kTextChunkRestart - 1)];
        for (int b = 0; b < 4; ++b) slot[b] = static_cast<char>((at >> (8 * b)) & 0xFF);
      }
    } else {
      shared = CommonPrefix(prev.data(), p.key.data(), std::min(prev.size(), p.key.size()));
    }
    PutVarint(out, shared);
    PutVarint(out, p.key.size() - shared);
    out->append(p.key.data() + shared, p.key.size() - shared);
    PutVarint(out, p.length);
    PutVarint(out, p.freq);
    uint32_t last = 0;
    for (uint32_t k = 0; k < p.freq; ++k) {
      PutVarint(out, p.positions[k] - last);
      last = p.positions[k];
    }
    prev = p.key;
  }
}

bool WriteTextChanges(KvTxn* txn, int table, const std::string& field,
                      std::vector<TextDocChange>* changes, std::string* error) {
  const std::string prefix = FieldPrefix(field);
  int64_t rows_delta = 0, terms_delta = 0;
  for (const TextDocChange& c : *changes) {
    if (c.has_old) {
      --rows_delta;
      terms_delta -= static_cast<int64_t>(TextWords(c.old_tokens));
    }
    if (c.has_new) {
      ++rows_delta;
      terms_delta += static_cast<int64_t>(TextWords(c.new_tokens));
    }
  }
  std::vector<uint32_t> order;  // the changes in key order
  const std::vector<TokenRef> tokens = SortedTokens(*changes, &order);
  TermWriter writer(txn, table);
  std::vector<RowOp> ops;
  std::vector<uint32_t> positions;
  std::string base, doc_freq_key;
  for (size_t i = 0; i < tokens.size();) {
    // One term's changes: per row, the new posting (a row whose old text is removed and new
    // text added ends as the new posting; a term's tokens in a row are its positions), or the
    // row removed.
    const std::string_view term = tokens[i].term;
    ops.clear();
    positions.clear();
    while (i < tokens.size() && tokens[i].term == term) {
      const uint32_t row = tokens[i].row;
      const TextDocChange& c = (*changes)[order[row]];
      RowOp op;
      op.key = c.key;
      op.length = TextWords(c.new_tokens);
      op.pos_at = static_cast<uint32_t>(positions.size());
      for (; i < tokens.size() && tokens[i].row == row && tokens[i].term == term; ++i) {
        if (!(tokens[i].token & kNewToken)) continue;
        op.add = true;
        positions.push_back(c.new_tokens[tokens[i].token & ~kNewToken].position);
      }
      op.freq = static_cast<uint32_t>(positions.size()) - op.pos_at;
      ops.push_back(op);
    }
    TermBaseInto(prefix, term, &base);
    int64_t delta = 0;
    if (!writer.Write(base, ops, positions, &delta)) {
      *error = txn->error();
      return false;
    }
    if (delta == 0) continue;
    DocFreqKeyInto(prefix, term, &doc_freq_key);
    if (!AddDocFreq(txn, table, doc_freq_key, delta)) {
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
  std::string key;
  DocFreqKeyInto(field_prefix_, term, &key);
  std::string_view v;
  return txn_->Get(table_, key, &v) ? Get64(v, 0) : 0;
}

std::unique_ptr<TextIndexReader::TermLookup> TextIndexReader::Lookup(std::string_view term) const {
  auto l = std::make_unique<TermLookup>();
  l->cursor_ = txn_->Cursor(table_);
  TermBaseInto(field_prefix_, term, &l->base_);
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
  std::string_view value;
  valid_ = cursor_ &&
           LocateChunk(cursor_.get(), base_, target_, &chunk_key_, &value, &has_next_, &next_key_);
  if (valid_) chunk_.Reset(value);  // the map's bytes stay valid for the read transaction
  return valid_;
}

bool TextIndexReader::TermLookup::Find(std::string_view key, TextPostingRef* out) {
  // Whether the row belongs to the chunk at hand, compared without building its chunk key:
  // that chunk's key and the next one's (has_next_: of the same term) start with its base.
  std::string_view cut = key.substr(0, KeyRoom(base_));
  auto after_base = [this](const std::string& k) {
    return std::string_view(k).substr(std::min(base_.size(), k.size()));
  };
  bool past_start = valid_ && KeyOrder(cut, after_base(chunk_key_)) >= 0;
  bool here = past_start && !(has_next_ && KeyOrder(cut, after_base(next_key_)) >= 0);
  if (!here && past_start && has_next_) {
    // Lookups in key order mostly move on to the next chunk, where the cursor stands (Load
    // read its key), or one a few chunks on: step there chunk by chunk (a cursor step costs
    // about a tenth of a B-tree search), and search only for a row further on.
    std::string_view value;
    for (int steps = 0; steps < kChunkSteps && !here && has_next_; ++steps) {
      chunk_key_.swap(next_key_);
      value = cursor_->value();
      has_next_ = cursor_->Next() && StartsWith(cursor_->key(), base_);
      if (has_next_) next_key_.assign(cursor_->key());
      here = !(has_next_ && KeyOrder(cut, after_base(next_key_)) >= 0);
    }
    if (here) chunk_.Reset(value);
  }
  if (!here) {
    ChunkKeyInto(base_, key, &target_);  // built in place
    if (!Load()) return false;
  }
  size_t i = chunk_.Seek(key);
  if (i == chunk_.size()) return false;
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
  TermBaseInto(field_prefix_, term, &it->base_);
  return it;
}

bool TextIndexReader::Iterator::EnterChunk(std::string_view value) {
  ChunkHead head;
  if (!ReadChunkHead(value, &head)) {
    Stop(true);
    return false;
  }
  rows_ = p_ = head.rows.data();
  end_ = head.rows.data() + head.rows.size();
  restarts_ = head.restart_table;
  n_restarts_ = head.restarts;
  count_ = left_ = head.count;
  near_ = UINT64_MAX;
  if (head.count == 0) return NextChunk(nullptr);
  key_size_ = 0;
  valid_ = true;
  return StepRow();
}

// Inlined into the loops that step: a call there costs them their registers.
__attribute__((always_inline)) inline bool TextIndexReader::Iterator::StepRow() {
  const char* p = p_;
  const char* const end = end_;
  uint64_t shared = 0, suffix = 0;
  if (end - p >= 2 && !((static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1])) & 0x80)) {
    shared = static_cast<uint8_t>(p[0]);  // both one byte, as they nearly always are
    suffix = static_cast<uint8_t>(p[1]);
    p += 2;
  } else if (!ReadVarint(&p, end, &shared) || !ReadVarint(&p, end, &suffix)) {
    Stop(true);
    return false;
  }
  if (shared > key_size_ || suffix > static_cast<size_t>(end - p)) {
    Stop(true);
    return false;
  }
  // The shared part is the current key's first bytes, in place; short suffixes move as one
  // 16-byte block (key_ keeps that much slack past any key).
  const size_t size = shared + suffix;
  if (size + kKeySlack > key_.size()) {
    key_.resize(std::max<size_t>(size + kKeySlack, 2 * key_.size()));
  }
  if (suffix <= kKeySlack && end - p >= static_cast<ptrdiff_t>(kKeySlack)) {
    std::memcpy(key_.data() + shared, p, kKeySlack);
  } else if (suffix > 0) {
    std::memcpy(key_.data() + shared, p, suffix);
  }
  p_ = p + suffix;
  --left_;
  key_size_ = size;
  return ReadRest();
}

// Inlined into StepRow and StepTo.
__attribute__((always_inline)) inline bool TextIndexReader::Iterator::ReadRest() {
  const char* p = p_;
  const char* const end = end_;
  uint64_t length = 0, tf = 0;
  if (end - p >= 3 &&
      !((static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) | static_cast<uint8_t>(p[2])) &
        0x80) &&
      p[1] == 1) {
    length = static_cast<uint8_t>(p[0]);  // length, frequency 1 and its one position, each one
    tf = 1;                               // byte: the usual row
    pos_bytes_ = p + 2;
    p += 3;
  } else {
    if (!ReadVarint(&p, end, &length) || !ReadVarint(&p, end, &tf) ||
        tf > static_cast<size_t>(end - p)) {
      Stop(true);
      return false;
    }
    pos_bytes_ = p;
    for (uint64_t k = 0; k < tf; ++k) {  // the positions are decoded when asked for
      while (p < end && (static_cast<uint8_t>(*p) & 0x80)) ++p;
      if (p == end) {
        Stop(true);
        return false;
      }
      ++p;
    }
  }
  p_ = p;
  length_ = static_cast<uint32_t>(length);
  freq_ = static_cast<uint32_t>(tf);
  pos_ready_ = false;
  return true;
}

const uint32_t* TextIndexReader::Iterator::DecodePositions() {
  if (positions_.size() < freq_) positions_.resize(std::max<size_t>(freq_, 2 * positions_.size()));
  const char* p = pos_bytes_;
  uint64_t pos = 0;
  for (uint32_t k = 0; k < freq_; ++k) {
    uint64_t d = 0;
    ReadVarint(&p, end_, &d);  // StepRow found every varint complete
    pos += d;
    positions_[k] = static_cast<uint32_t>(pos);
  }
  pos_ready_ = true;
  return positions_.data();
}

bool TextIndexReader::Iterator::RestartKeyAt(uint64_t r, const char** at, std::string_view* key) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(restarts_ + 4 * r);
  const uint32_t off = static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
                       static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
  if (off >= static_cast<size_t>(end_ - rows_) || !RestartKey(rows_ + off, end_, key)) {
    Stop(true);
    return false;
  }
  *at = rows_ + off;
  return true;
}

bool TextIndexReader::Iterator::JumpToRestart(uint64_t r, const char* at) {
  p_ = at;
  left_ = count_ - kTextChunkRestart * (r + 1);
  key_size_ = 0;  // a restart row shares nothing with the row before it
  return StepRow();
}

bool TextIndexReader::Iterator::NextChunk(const std::string_view* target) {
  const std::string_view cut =
      target ? target->substr(0, std::min(target->size(), KeyRoom(base_))) : std::string_view();
  for (int steps = 0;; ++steps) {
    if (!has_next_) {
      Stop(false);
      return false;
    }
    std::string_view value = cursor_->value();  // the map's bytes: valid for the transaction
    has_next_ = cursor_->Next() && StartsWith(cursor_->key(), base_);
    // The chunk after this one starts before `target`: every row of this one is before it.
    if (target && has_next_ && KeyOrder(cursor_->key().substr(base_.size()), cut) < 0) {
      if (steps + 1 < kChunkSteps) continue;
      ChunkKeyInto(base_, *target, &scratch_);
      if (!PositionAt(cursor_.get(), base_, scratch_)) {
        Stop(false);
        return false;
      }
      value = cursor_->value();
      has_next_ = cursor_->Next() && StartsWith(cursor_->key(), base_);
    }
    return EnterChunk(value);
  }
}

void TextIndexReader::Iterator::Next() {
  if (!valid_) return;
  if (left_ > 0) {
    StepRow();
  } else {
    NextChunk(nullptr);
  }
}

TextIndexReader::Iterator::StepEnd TextIndexReader::Iterator::StepTo(std::string_view target,
                                                                     const char* p, uint64_t left,
                                                                     size_t same, size_t prev_size,
                                                                     size_t kept) {
  RowWalk w{p, left, same, prev_size};
  WalkBefore(target, end_, &w);
  if (w.bad) {
    Stop(true);
    return StepEnd::kBad;
  }
  if (w.left == 0) return StepEnd::kRanOut;
  // The row to stop at shares its first `shared` bytes with `target`: its key is built from
  // there and its suffix; then the rest of it is read as StepRow reads it.
  const size_t size = w.shared + w.suffix;
  if (size + kKeySlack > key_.size())
    key_.resize(std::max<size_t>(size + kKeySlack, 2 * key_.size()));
  char* const k = key_.data();  // its first `kept` bytes are target's already
  for (size_t i = kept; i < w.shared; ++i) k[i] = target[i];
  if (w.suffix <= kKeySlack && end_ - w.p >= static_cast<ptrdiff_t>(kKeySlack)) {
    std::memcpy(k + w.shared, w.p, kKeySlack);
  } else {
    std::memcpy(k + w.shared, w.p, w.suffix);
  }
  key_size_ = size;
  p_ = w.p + w.suffix;
  left_ = w.left - 1;
  if (!ReadRest()) return StepEnd::kBad;
  return w.exact ? StepEnd::kAt : StepEnd::kAfter;
}

bool TextIndexReader::Iterator::SkipTo(std::string_view target) {
  while (valid_) {
    // Where the current key parts from `target`: at or after it, the skip is over.
    const size_t n = std::min(key_size_, target.size());
    const size_t kept = CommonPrefix(key_.data(), target.data(), n);
    if (kept == n
            ? key_size_ >= target.size()
            : static_cast<unsigned char>(key_[kept]) > static_cast<unsigned char>(target[kept])) {
      return key_size_ == target.size() && kept == n;
    }
    // The last restart point ahead whose key is not after `target`; the nearest one is looked
    // at first, alone (most skips are of a few rows), and kept for the skips after this one.
    const uint64_t row = count_ - left_ - 1;
    uint64_t lo = row / kTextChunkRestart;  // restart r is row kTextChunkRestart * (r + 1)
    const char* jump_at = nullptr;
    uint64_t jump = 0;
    if (lo < n_restarts_) {
      const char* at = nullptr;
      std::string_view restart_key;
      if (lo == near_) {
        at = near_at_;
        restart_key = near_key_;
      } else {
        if (!RestartKeyAt(lo, &at, &restart_key)) return false;
        near_ = lo;
        near_at_ = at;
        near_key_ = restart_key;
      }
      if (KeyOrder(restart_key, target) <= 0) {
        uint64_t hi = n_restarts_;
        jump = lo;
        jump_at = at;
        ++lo;
        while (lo < hi) {
          const uint64_t mid = lo + (hi - lo) / 2;
          if (!RestartKeyAt(mid, &at, &restart_key)) return false;
          if (KeyOrder(restart_key, target) <= 0) {
            jump = mid;
            jump_at = at;
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
      }
    }
    // From the restart row (whose key is whole: it shares nothing), else from the row after
    // the current one.
    const StepEnd stop =
        jump_at ? StepTo(target, jump_at, count_ - kTextChunkRestart * (jump + 1), 0, 0, kept)
                : StepTo(target, p_, left_, kept, key_size_, kept);
    if (stop != StepEnd::kRanOut) return stop == StepEnd::kAt;
    // Every row of the chunk is before `target`.
    if (!NextChunk(&target)) return false;
  }
  return false;
}

void TextIndexReader::Iterator::Seek(std::string_view from, bool inclusive) {
  valid_ = bad_ = false;
  has_next_ = false;
  if (!cursor_) return;
  if (from.empty()) {
    if (!cursor_->Seek(base_) || !StartsWith(cursor_->key(), base_)) return;
  } else {
    ChunkKeyInto(base_, from, &scratch_);
    if (!PositionAt(cursor_.get(), base_, scratch_)) return;
  }
  std::string_view value = cursor_->value();
  has_next_ = cursor_->Next() && StartsWith(cursor_->key(), base_);
  if (!EnterChunk(value)) return;
  if (!from.empty()) SkipTo(from);
  if (!inclusive && valid_ && key() == from) Next();
}

TextPosting TextIndexReader::Iterator::posting() {
  TextPosting p;
  p.key.assign(key());
  p.length = length_;
  const uint32_t* pos = positions();
  p.positions.assign(pos, pos + freq_);
  return p;
}

void TextChunk::Reset(std::string_view in) {
  n_ = keys_n_ = pos_n_ = 0;
  in_ = rest_ = in;
  skipped_ = waiting_ = false;
  left_ = 0;
  n_restarts_ = 0;
  restarts_ = nullptr;
  near_ = UINT64_MAX;
  bad_ = false;
  if (!in.empty()) {
    ChunkHead head;
    bad_ = !ReadChunkHead(in, &head);
    if (!bad_) {
      left_ = head.count;
      n_restarts_ = head.restarts;
      restarts_ = head.restart_table;
      rest_ = head.rows;
    }
  }
  rows_ = rest_.data();
  if (bad_) left_ = n_restarts_ = 0;
  count_ = left_;
  // Every row takes at least one byte: left_ rows fit in what the buffers are grown to here.
  if (key_at_.size() < left_ + 1) {
    key_at_.resize(left_ + 1);
    lengths_.resize(left_ + 1);
    pos_at_.resize(left_ + 1);
  }
  if (key_at_.empty()) key_at_.resize(1);
  if (pos_at_.empty()) pos_at_.resize(1);
  key_at_[0] = 0;
  pos_at_[0] = 0;
}

bool TextChunk::Decode(std::string_view in) {
  Reset(in);
  while (DecodeNext()) {
  }
  if (!bad_) return true;
  Reset({});
  return false;
}

bool TextChunk::DecodeNext() { return DecodeRow(nullptr, 0, 0); }

bool TextChunk::DecodeRow(const char* prefix, size_t prefix_avail, size_t prefix_size) {
  if (bad_ || left_ == 0) return false;
  // Decoded on locals, stored back once: members read and written around the bytes written
  // through char pointers below would be reloaded and stored at every step.
  const char* p = rest_.data();
  const char* const end = p + rest_.size();
  const size_t n = n_;
  uint64_t shared = 0, suffix = 0, length = 0, tf = 0;
  const size_t prev_at = key_at_[n > 0 ? n - 1 : 0];
  const size_t prev_size = prefix ? prefix_size : n > 0 ? key_at_[n] - prev_at : 0;
  if (!ReadVarint(&p, end, &shared) || !ReadVarint(&p, end, &suffix) || shared > prev_size ||
      suffix > static_cast<size_t>(end - p)) {
    bad_ = true;
    return false;
  }
  // The shared part comes from the previous key, which ends where this one starts.
  // Keys are short: up to 16 bytes move as one block (copies of a constant size are inlined;
  // the buffer keeps kSlack bytes past its last key for the overshoot, and memmove reads the
  // whole block before writing it where the previous key's block overlaps).
  constexpr size_t kSlack = 16;
  const size_t keys_n = keys_n_;
  const size_t need = keys_n + shared + suffix;
  if (need + kSlack > keys_.size()) {
    keys_.resize(std::max<size_t>(need + kSlack, 2 * keys_.size()));
  }
  char* const keys = keys_.data();
  char* const out = keys + keys_n;
  if (prefix) {
    if (shared <= 8 && prefix_avail >= 8) {  // blocks of 8, no call: the suffix overwrites
      std::memcpy(out, prefix, 8);           // what the block takes past the shared bytes
    } else if (shared <= kSlack && prefix_avail >= kSlack) {
      std::memcpy(out, prefix, kSlack);
    } else {
      std::memcpy(out, prefix, shared);
    }
  } else if (shared <= kSlack) {
    std::memmove(out, keys + prev_at, kSlack);
  } else {
    std::memcpy(out, keys + prev_at, shared);
  }
  if (suffix <= kSlack && end - p >= static_cast<ptrdiff_t>(kSlack)) {
    std::memcpy(out + shared, p, kSlack);
  } else if (suffix) {
    std::memcpy(out + shared, p, suffix);
  }
  p += suffix;
  if (!ReadVarint(&p, end, &length) || !ReadVarint(&p, end, &tf) ||
      tf > static_cast<size_t>(end - p)) {
    bad_ = true;
    return false;
  }
  const size_t pos_n = pos_n_;
  if (pos_n + tf > positions_.size()) {
    positions_.resize(std::max<size_t>(pos_n + tf, 2 * positions_.size()));
  }
  uint32_t* const pos_out = positions_.data() + pos_n;
  uint64_t pos = 0;
  for (uint64_t k = 0; k < tf; ++k) {
    uint64_t d = 0;
    if (!ReadVarint(&p, end, &d)) {
      bad_ = true;
      return false;
    }
    pos += d;
    pos_out[k] = static_cast<uint32_t>(pos);
  }
  rest_ = std::string_view(p, static_cast<size_t>(end - p));
  keys_n_ = need;
  key_at_[n + 1] = static_cast<uint32_t>(need);
  lengths_[n] = static_cast<uint32_t>(length);
  pos_n_ = pos_n + tf;
  pos_at_[n + 1] = static_cast<uint32_t>(pos_n + tf);
  n_ = n + 1;
  --left_;
  return true;
}

const char* TextChunk::RestartAt(uint64_t r) const {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(restarts_ + 4 * r);
  const uint32_t at = static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
                      static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
  const size_t size = static_cast<size_t>(in_.data() + in_.size() - rows_);
  return at < size ? rows_ + at : nullptr;
}

// Inlined: Seek calls it for every lookup, and a call there costs the stepping loop its registers.
__attribute__((always_inline)) inline TextChunk::Restart TextChunk::RestartBefore(
    std::string_view key, const char* end, uint64_t left) {
  if (n_restarts_ == 0) return {};
  // The restarts at or after the next row (one at it shares no bytes with the row before:
  // stepping would take it for a row after `key`, so it is looked at here too).
  const uint64_t row = count_ - left;
  uint64_t lo = row == 0 ? 0 : (row + kTextChunkRestart - 1) / kTextChunkRestart - 1;
  uint64_t hi = n_restarts_;
  const char* jump = nullptr;
  uint64_t jump_r = 0;
  // Most lookups step a few rows: the nearest restart is looked at first, alone (and kept,
  // near_, for the lookups after this one).
  const uint64_t first = lo;
  uint64_t mid = lo;
  while (lo < hi) {
    const char* at;
    std::string_view restart_key;
    if (mid == near_) {  // looked at first last time too
      at = near_at_;
      restart_key = near_key_;
    } else {
      at = RestartAt(mid);
      if (!at || !RestartKey(at, end, &restart_key)) {
        bad_ = true;
        return {};
      }
      if (mid == first) {
        near_ = mid;
        near_at_ = at;
        near_key_ = restart_key;
      }
    }
    if (KeyOrder(restart_key, key) <= 0) {
      jump = at;
      jump_r = mid;
      lo = mid + 1;
    } else {
      hi = mid;
    }
    mid = lo + (hi - lo) / 2;
  }
  if (!jump) return {};
  return {jump, count_ - kTextChunkRestart * (jump_r + 1)};
}

size_t TextChunk::Seek(std::string_view key) {
  if (skipped_ && KeyOrder(key, floor_.view()) < 0)
    Reset(in_);  // it may be a row stepped over: decode again
  if (n_ > 0 && KeyOrder(this->key(n_ - 1), key) >= 0) {
    const size_t i = Find(key, true);
    return i < n_ && KeyOrder(this->key(i), key) == 0 ? i : n_;
  }
  // The rows decoded so far are before `key`; the rest are stepped over, without keeping or
  // even building their keys, until one is not. `same`: how many leading bytes the row before
  // has in common with `key`. A row sharing more than `same` bytes with the row before it is
  // before `key` too (it has that row's smaller byte at `same`); one sharing fewer is after it
  // (its byte there is larger than that row's, which is `key`'s); else its own bytes decide.
  // The row before is the last one kept, or one stepped over by the Seek before (waiting_:
  // it shares waiting_same_ bytes with floor_, which is before `key`, and so
  // min(waiting_same_, the bytes floor_ shares with `key`) with `key`).
  size_t same = 0, prev_size = 0;
  if (waiting_) {
    same =
        CommonPrefix(floor_.view().data(), key.data(), std::min<size_t>(waiting_same_, key.size()));
    prev_size = waiting_size_;
  } else if (n_ > 0) {
    std::string_view last = this->key(n_ - 1);
    same = CommonPrefix(last.data(), key.data(), std::min(last.size(), key.size()));
    prev_size = last.size();
  }
  if (bad_) return n_;
  const char* p = rest_.data();
  const char* const end = p + rest_.size();
  bool stepped = false;
  uint64_t left = left_;  // a local: the loop keeps it in a register
  // The last restart point ahead that is not after `key`: the rows before it are before `key`.
  if (const Restart jump = RestartBefore(key, end, left); jump.at) {
    p = jump.at;
    left = jump.left;
    same = prev_size = 0;  // a restart row's key is whole: its own bytes decide
    stepped = true;
  } else if (bad_) {
    return n_;
  }
  RowWalk w{p, left, same, prev_size};
  WalkBefore(key, end, &w);
  bad_ = bad_ || w.bad;
  stepped = stepped || w.left < left;  // rows passed
  left = w.left;
  p = w.p;
  same = w.same;
  prev_size = w.prev_size;
  const char* const found = !w.bad && w.left > 0 ? w.row : nullptr;  // the row at or after `key`
  const bool exact = found && w.exact;                               // ... and it is `key`
  left_ = left;
  // A row after `key` is left as it is, not decoded: the next Seek starts from it, knowing how
  // much the row before it shares with `key` (floor_).
  const bool wait = found && !exact;
  if (stepped || wait) {
    skipped_ = true;
    floor_.assign(key);
  }
  waiting_ = (waiting_ && !stepped) || wait;  // still (or now) after a row not kept
  if (wait) {
    waiting_same_ = same;
    waiting_size_ = prev_size;
  }
  if (!found) {
    rest_ = std::string_view(p, static_cast<size_t>(end - p));
    return n_;
  }
  rest_ = std::string_view(found, static_cast<size_t>(end - found));
  if (!exact) return n_;
  waiting_ = false;
  return DecodeRow(key.data(), key.size(), prev_size) ? n_ - 1 : n_;
}

size_t TextChunk::Find(std::string_view key, bool inclusive) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = KeyOrder(this->key(mid), key);
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
