// The full-text index of a view (`index text FIELD`, SPEC §10): for each text-indexed field, an
// inverted index from terms (store/text_analyzer.h) to the rows that hold them, kept in the
// view's `text` table in the same LMDB transaction as the rows. The layout is in
// store/README.md ("The text index").
//
// Postings of a term are in row-key order, in chunks of up to kTextChunkEntries rows; a chunk's
// LMDB key is the field, the term and its first row key; its value front-codes the row keys and
// holds, per row, the row's length in terms and the term's positions (varints).
#ifndef PROJD_STORE_TEXT_INDEX_H_
#define PROJD_STORE_TEXT_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// Writes the changes (any order) of `field` into `table` of the write transaction.
bool WriteTextChanges(KvTxn* txn, int table, const std::string& field,
                      std::vector<TextDocChange>* changes, std::string* error);

// Reads one field's index in a read transaction (which outlives the reader).
class TextIndexReader {
 public:
  TextIndexReader(KvTxn* txn, int table, const std::string& field);

  // Rows with the field indexed, and the sum of their lengths.
  void Stats(uint64_t* rows, uint64_t* terms) const;
  // Rows that hold `term`.
  uint64_t DocFreq(std::string_view term) const;
  // The chunk a Lookup decoded last, kept by the caller: lookups of the same term that stay
  // inside it (a query's candidates come in key order) decode nothing again.
  struct LookupCache {
    bool valid = false;
    std::string lmdb_key;
    bool has_next = false;
    std::string next_lmdb_key;
    std::vector<TextPosting> entries;
  };
  // The posting of `term` in row `key`; false when the row does not hold the term. `cache`
  // (optional) must be used for one term only.
  bool Lookup(std::string_view term, std::string_view key, TextPosting* out,
              LookupCache* cache = nullptr) const;
  // Indexed terms that start with `prefix`, in order; false when there are more than `max`.
  bool ExpandPrefix(std::string_view prefix, size_t max, std::vector<std::string>* terms) const;

  // The postings of one term in key order.
  class Iterator {
   public:
    // Positions at the first row with key >= `from` (> with !inclusive).
    void Seek(std::string_view from, bool inclusive);
    bool Valid() const { return at_ < entries_.size(); }
    const TextPosting& posting() const { return entries_[at_]; }
    void Next();

   private:
    friend class TextIndexReader;
    bool LoadChunk();  // decodes the chunk at the cursor, if it belongs to the term
    std::unique_ptr<KvCursor> cursor_;
    std::string base_;  // field, term and separator: the prefix of the term's chunk keys
    std::vector<TextPosting> entries_;
    size_t at_ = 0;
  };
  std::unique_ptr<Iterator> Postings(std::string_view term) const;

 private:
  KvTxn* txn_;
  int table_;
  std::string field_prefix_;
};

}  // namespace projd

#endif  // PROJD_STORE_TEXT_INDEX_H_
