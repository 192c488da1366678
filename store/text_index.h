// The full-text index of a view (`index text FIELD`, SPEC §10): for each text-indexed field, an
// inverted index from terms (store/text_analyzer.h) to the rows that hold them, kept in the
// view's `text` table in the same LMDB transaction as the rows. The layout is in
// store/README.md ("The text index").
//
// Postings of a term are in row-key order, in chunks of up to kTextChunkEntries rows; a chunk's
// LMDB key is the field, the term and its first row key; its value front-codes the row keys and
// holds, per row, the row's length in terms and the term's positions (varints). Every
// kTextChunkRestart-th row's key is written whole and its place noted (a restart point), so a
// lookup jumps near the row it wants instead of stepping over the rows before it.
#ifndef PROJD_STORE_TEXT_INDEX_H_
#define PROJD_STORE_TEXT_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/key_buffer.h"
#include "store/kv.h"
#include "store/text_analyzer.h"

namespace projd {

struct TextIndexSpec {
  std::string field;
  TextLanguage language = TextLanguage::kSimple;
};

// One row of a term's postings.
struct TextPosting {
  std::string key;                  // the row key
  uint32_t length = 0;              // the row's text length, in terms
  std::vector<uint32_t> positions;  // where the term occurs in it (its frequency: size())
};

// The change a batch makes to one row's text of one field: its terms before (has_old) and
// after (has_new). Rows whose text did not change are left out.
struct TextDocChange {
  std::string key;
  bool has_old = false, has_new = false;
  std::vector<TextToken> old_tokens, new_tokens;
};

constexpr size_t kTextChunkEntries = 128;
constexpr size_t kTextChunkRestart = 16;

// Writes the changes (any order) of `field` into `table` of the write transaction.
bool WriteTextChanges(KvTxn* txn, int table, const std::string& field,
                      std::vector<TextDocChange>* changes, std::string* error);

// One row's posting, as a view into a TextChunk (valid until that chunk is replaced) or into
// the postings being written.
struct TextPostingRef {
  std::string_view key;
  uint32_t length = 0;
  const uint32_t* positions = nullptr;
  uint32_t freq = 0;
};

// Encodes rows [0, n) (in key order) as one chunk into *out, restart points included.
void EncodeTextChunk(const TextPostingRef* rows, size_t n, std::string* out);

// A decoded chunk of one term's postings: row keys, lengths and positions in flat buffers that
// are reused from one chunk to the next (decoding allocates nothing once they have grown).
class TextChunk {
 public:
  // Replaces the contents with the chunk `in` (with restart points or, as written before them,
  // without); false (and empty) when it does not decode.
  bool Decode(std::string_view in);
  // Starts decoding `in` lazily (Seek decodes as far as it must); `in` must outlive the use.
  void Reset(std::string_view in);
  // The row with key `key`, decoding rows until it is found; size() when the chunk has none
  // (or does not decode: bad()). Rows before `key` that were not decoded yet are jumped over
  // to the last restart point not after `key`, then stepped over without being kept, and the
  // row after `key` is not decoded (lookups come in key order: a later one never wants the
  // rows before it); a later Seek for a key before this one decodes the chunk again.
  size_t Seek(std::string_view key);
  bool bad() const { return bad_; }
  // The rows decoded so far.
  size_t size() const { return n_; }
  std::string_view key(size_t i) const {
    return std::string_view(keys_.data() + key_at_[i], key_at_[i + 1] - key_at_[i]);
  }
  uint32_t length(size_t i) const { return lengths_[i]; }
  // The term's positions in row i, and how many there are (its frequency).
  const uint32_t* positions(size_t i) const { return positions_.data() + pos_at_[i]; }
  uint32_t freq(size_t i) const { return pos_at_[i + 1] - pos_at_[i]; }
  // Among the rows decoded, the first with key >= `key` (> with !inclusive); size() when none.
  size_t Find(std::string_view key, bool inclusive) const;
  TextPosting Posting(size_t i) const;

 private:
  bool DecodeNext();  // one more row; false at the end or when the chunk does not decode
  // Where restart row kTextChunkRestart * (r + 1) starts; null when its offset is outside.
  const char* RestartAt(uint64_t r) const;
  // The last restart row at or after the next row to decode (`left` rows from the end) whose
  // key is not after `key`, and its rows to the end; at null when there is none (or the chunk
  // does not decode: bad_).
  struct Restart {
    const char* at = nullptr;
    uint64_t left = 0;
  };
  Restart RestartBefore(std::string_view key, const char* end, uint64_t left);
  // Decodes the next row, whose shared part is the first bytes of `prefix` (prefix_avail bytes
  // may be read there; prefix_size: the length of the key of the row before it, for the
  // check), or of the last row kept when `prefix` is null.
  bool DecodeRow(const char* prefix, size_t prefix_avail, size_t prefix_size);
  // The buffers only grow (a chunk's rows are written in place, no push_back per value): rows
  // [0, n_) are decoded, keys_ holds keys_n_ bytes and positions_ pos_n_ positions.
  std::vector<char> keys_;
  std::vector<uint32_t> key_at_;  // row i's key is keys_[key_at_[i], key_at_[i + 1])
  std::vector<uint32_t> lengths_;
  std::vector<uint32_t> pos_at_;  // row i's positions are positions_[pos_at_[i], pos_at_[i + 1])
  std::vector<uint32_t> positions_;
  size_t n_ = 0, keys_n_ = 0, pos_n_ = 0;
  std::string_view in_;   // the whole chunk (for decoding it again)
  bool skipped_ = false;  // Seek stepped over rows before floor_ without keeping them
  KeyBuffer floor_;
  // The row before rest_ was stepped over (not the last kept): it shares waiting_same_ bytes
  // with floor_, and its key is waiting_size_ bytes long.
  bool waiting_ = false;
  size_t waiting_same_ = 0, waiting_size_ = 0;
  std::string_view rest_;  // the bytes not decoded yet
  uint64_t left_ = 0;      // the rows not decoded yet
  uint64_t count_ = 0;     // the chunk's rows
  // Restart points: rows kTextChunkRestart * (r + 1) start at rows_ + the r-th u32 (little
  // endian) of restarts_ (none in a chunk written before they were).
  const char* rows_ = nullptr;
  const char* restarts_ = nullptr;
  uint64_t n_restarts_ = 0;
  // The restart RestartBefore looked at first last time (UINT64_MAX: none), where it starts
  // and its key.
  uint64_t near_ = UINT64_MAX;
  const char* near_at_ = nullptr;
  std::string_view near_key_;
  bool bad_ = false;
};

// Reads one field's index in a read transaction (which outlives the reader).
class TextIndexReader {
 public:
  TextIndexReader(KvTxn* txn, int table, const std::string& field);

  // Rows with the field indexed, and the sum of their lengths.
  void Stats(uint64_t* rows, uint64_t* terms) const;
  // Rows that hold `term`.
  uint64_t DocFreq(std::string_view term) const;

  // Looks rows up in one term's postings. Lookups in key order (a query's candidates) stay in
  // the chunk decoded last until a key lies past it; then one B-tree seek finds the chunk.
  class TermLookup {
   public:
    // The posting of the term in row `key`; false when the row does not hold the term. *out
    // stays valid until the next Find.
    bool Find(std::string_view key, TextPostingRef* out);

   private:
    friend class TextIndexReader;
    bool Load();  // decodes the chunk that target_ belongs to
    std::unique_ptr<KvCursor> cursor_;
    std::string base_;    // the prefix of the term's chunk keys
    std::string target_;  // scratch: a row key's chunk key
    bool valid_ = false;  // chunk_ holds the chunk keyed chunk_key_
    std::string chunk_key_;
    bool has_next_ = false;
    std::string next_key_;  // the next chunk's key: rows at or past its cut belong there
    TextChunk chunk_;
  };
  std::unique_ptr<TermLookup> Lookup(std::string_view term) const;
  // One lookup (tests, tools): the posting of `term` in row `key`.
  bool Lookup(std::string_view term, std::string_view key, TextPosting* out) const;
  // Indexed terms that start with `prefix`, in order; false when there are more than `max`.
  bool ExpandPrefix(std::string_view prefix, size_t max, std::vector<std::string>* terms) const;

  // The postings of one term in key order, decoded a row at a time: a row's key, length and
  // frequency as the iterator reaches it, its positions only when asked for. Rows passed over
  // by SkipTo are not decoded where the chunks' restart points and keys tell they are before
  // the target.
  class Iterator {
   public:
    // Positions at the first row with key >= `from` (> with !inclusive).
    void Seek(std::string_view from, bool inclusive);
    bool Valid() const { return valid_; }
    // The row's key, valid until the iterator moves.
    std::string_view key() const { return std::string_view(key_.data(), key_size_); }
    uint32_t length() const { return length_; }
    uint32_t freq() const { return freq_; }
    // The term's positions in the row (freq() of them), decoded on the first ask; valid until
    // the iterator moves.
    const uint32_t* positions() { return pos_ready_ ? positions_.data() : DecodePositions(); }
    TextPostingRef ref() { return {key(), length_, positions(), freq_}; }
    TextPosting posting();
    void Next();
    // Moves on to the first row with key >= `target` (key() when it is not before `target`);
    // true when that row's key is `target`. Valid() is false when the term has no such row.
    // `target` must not point into this iterator's own key.
    bool SkipTo(std::string_view target);
    // A chunk did not decode (the iteration stopped there).
    bool bad() const { return bad_; }

   private:
    friend class TextIndexReader;
    // Makes row 0 of the chunk `value` the current row, or (an empty chunk) moves on.
    bool EnterChunk(std::string_view value);
    // Moves to the term's next chunk (the cursor stands on it). With `target`, chunks whose
    // rows are all before it (the chunk after them starts at or before it) are passed over,
    // and after kChunkSteps of them the B-tree is searched instead.
    bool NextChunk(const std::string_view* target);
    // Decodes the row at p_ as the current one; false (and bad_) when it does not decode.
    bool StepRow();
    // The current row's length, frequency and positions' bytes, at p_ (its key read).
    bool ReadRest();
    // Steps over the `left` rows from p (the row before p shares `same` bytes with `target`,
    // which is after it, and is prev_size bytes long) to the first row not before `target`,
    // and makes it the current row (key_'s first `kept` bytes are `target`'s already): kAt it
    // is `target`, kAfter it is after it, kRanOut every row is before it, kBad a row does not
    // decode (then !valid_ and bad_).
    enum class StepEnd { kAt, kAfter, kRanOut, kBad };
    StepEnd StepTo(std::string_view target, const char* p, uint64_t left, size_t same,
                   size_t prev_size, size_t kept);
    // Makes restart row r (kTextChunkRestart * (r + 1)) the current row.
    bool JumpToRestart(uint64_t r, const char* at);
    // The key of restart row r and where the row starts; false when it does not decode.
    bool RestartKeyAt(uint64_t r, const char** at, std::string_view* key);
    const uint32_t* DecodePositions();
    void Stop(bool bad) {
      valid_ = false;
      bad_ = bad_ || bad;
    }

    std::unique_ptr<KvCursor> cursor_;
    std::string base_;     // field, term and separator: the prefix of the term's chunk keys
    std::string scratch_;  // a chunk key being searched for
    bool valid_ = false, bad_ = false;
    bool has_next_ = false;  // the cursor stands on the term's chunk after the current one
    // The chunk at hand: its rows (restart row r starts at rows_ + the r-th u32 of restarts_)
    // and how many; the row after the current one starts at p_, `left_` rows remain after it.
    const char* rows_ = nullptr;
    const char* end_ = nullptr;
    const char* p_ = nullptr;
    const char* restarts_ = nullptr;
    uint64_t count_ = 0, left_ = 0, n_restarts_ = 0;
    // The restart SkipTo looked at first last time (UINT64_MAX: none), and its key and start.
    uint64_t near_ = UINT64_MAX;
    std::string_view near_key_;
    const char* near_at_ = nullptr;
    // The current row: its key (key_ keeps 16 bytes of slack past it for block copies), its
    // length and frequency, and its positions' bytes.
    std::vector<char> key_;
    size_t key_size_ = 0;
    uint32_t length_ = 0, freq_ = 0;
    const char* pos_bytes_ = nullptr;
    bool pos_ready_ = false;
    std::vector<uint32_t> positions_;
  };
  std::unique_ptr<Iterator> Postings(std::string_view term) const;

 private:
  KvTxn* txn_;
  int table_;
  std::string field_prefix_;
};

}  // namespace projd

#endif  // PROJD_STORE_TEXT_INDEX_H_
