// Full-text search in queries (SPEC §10): the `matches` conditions of a query, answered from
// the view's text index, and BM25 relevance for score().
//
// A condition's pattern is analysed like the indexed text (store/text_analyzer.h). A row
// matches when every item of the pattern occurs in its field: a term, any term with a prefix,
// or a phrase (terms at consecutive positions). Rows are checked through the index, never by
// reading their text; the planner drives a query from the postings of one condition's rarest
// item, in key order.
#ifndef PROJD_ENGINE_QUERY_TEXT_H_
#define PROJD_ENGINE_QUERY_TEXT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dsl/query.h"
#include "store/key_buffer.h"
#include "store/view_store.h"

namespace projd {

class QueryText final : public TextOracle {
 public:
  // A prefix may stand for at most this many indexed terms.
  static constexpr size_t kMaxPrefixTerms = 256;

  // Parses the query's patterns and reads the index statistics, in one read snapshot per
  // field. false with *error (for a 400 answer) on a bad pattern, or when LMDB cannot be read.
  bool Prepare(const Query& q, ViewStore* store, std::string* error);
  bool empty() const { return matches_.empty(); }

  bool Matches(int slot, std::string_view key, bool* out, std::string* error) const override;
  bool Score(std::string_view key, Value* out, std::string* error) const override;

  // Rows that match condition `slot`, in key order: keys >= from (> with !inclusive), until
  // `fn` returns false or a key leaves `key_prefix`. The candidates come from the postings of
  // the condition's rarest item and are checked in the index (never by reading their rows): one
  // that does not match (a word missing, a phrase apart) is not passed to `fn`, only counted in
  // *scanned, and the walk gives up (*gave_up) when *scanned reaches give_up_after (0: never).
  void ForEachMatch(int slot, const std::string& from, bool inclusive,
                    const std::string& key_prefix, const std::function<bool(std::string_view)>& fn,
                    uint64_t* scanned, uint64_t give_up_after, bool* gave_up) const;
  // The field of condition `slot`.
  const std::string& field(int slot) const { return matches_[static_cast<size_t>(slot)].field; }
  // The number of rows condition `slot`'s rarest item occurs in (how selective it is).
  uint64_t Selectivity(int slot) const;
  // About how many candidates ForEachMatch examines to find `want` rows that match condition
  // `slot` (0: all of them), from its words' row counts and the rows' mean length, as if words
  // occurred independently and anywhere in a row.
  uint64_t ExpectedChecks(int slot, uint64_t want) const;

 private:
  struct Item {
    std::vector<std::string> terms;  // one term, a phrase, or a prefix's expansions
    bool prefix = false;
    size_t first = 0;          // where its terms start among the condition's (Match::stats_at)
    std::vector<uint64_t> df;  // rows holding each term
    std::vector<double> idf;   // each term's BM25 IDF (from df and the field's rows)
    uint64_t rows = 0;         // rows holding the item (for a prefix: at most the sum)
    // Per term, its lookup (which keeps the chunk it decoded last).
    std::vector<std::unique_ptr<TextIndexReader::TermLookup>> lookups;
  };
  struct Match {
    std::string field;
    std::shared_ptr<const TextIndexReader> reader;
    std::vector<Item> items;
    std::vector<size_t> check_order;  // the items, rarest first: a row fails soonest
    size_t terms = 0;                 // of all its items
    size_t stats_at = 0;              // where its terms' entries in tf_ and len_ start
    double rows = 0, avg_length = 0;
  };
  // Whether the row matches condition m; notes what its BM25 score needs (tf_, len_).
  bool Check(const Match& m, std::string_view key) const;
  // Checks the row against every condition and caches the outcome (cached_match_) as the
  // row's when `keep` (else cached_ is false: a candidate that does not match is not asked
  // about again, and its key is not copied).
  void CheckRow(std::string_view key, bool keep) const;
  // Notes cached_match_ (and tf_, len_) as the outcome for row `key`.
  void KeepRow(std::string_view key) const;
  // The BM25 score for condition m of the row it matched last.
  double ScoreOf(const Match& m) const;
  size_t RarestItem(const Match& m) const;
  // Whether the query's one condition has two terms in all and no prefix (a 2-word phrase, or
  // two words): then the term that is not the driving one (*other's *other_term-th).
  bool OtherOfPair(const Match& m, const Item& item, size_t drive_term, const Item** other,
                   size_t* other_term) const;
  // ForEachMatch for such a condition: the driving term's postings from *it and the other
  // term's walked together, each skipping to the other's row (a phrase: a row both hold is
  // checked at the next position), without the general check's loops. A driving row the other
  // term lacks counts in *scanned; the driving rows skipped over do not.
  void WalkPair(const Match& m, const Item& item, size_t drive_term, const Item& other,
                size_t other_term, TextIndexReader::Iterator* it, const std::string& key_prefix,
                const std::function<bool(std::string_view)>& fn, uint64_t* scanned,
                uint64_t give_up_after, bool* gave_up) const;

  std::vector<Match> matches_;
  // The last row checked: its outcome per condition and its score.
  mutable KeyBuffer cached_key_;
  mutable bool cached_ = false;
  mutable std::vector<bool> cached_match_;
  mutable bool cached_scored_ = false;  // cached_score_ is the last row's
  mutable double cached_score_ = 0;
  mutable std::vector<TextPostingRef> phrase_;  // scratch: a phrase's postings in one row
  // Per term of every condition (Match::stats_at): its frequency (0: absent) and the row's
  // length in the last row checked.
  mutable std::vector<uint32_t> tf_, len_;
  // While ForEachMatch checks a candidate: the candidate's posting of the term driving it.
  struct Hint {
    const Match* match = nullptr;
    const Item* item = nullptr;
    size_t term = 0;
    TextPostingRef ref;
  };
  mutable Hint hint_;
};

}  // namespace projd

#endif  // PROJD_ENGINE_QUERY_TEXT_H_
