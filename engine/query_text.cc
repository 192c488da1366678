#include "engine/query_text.h"

#include <algorithm>
#include <cmath>
#include <queue>

namespace projd {
namespace {

// BM25's usual constants.
constexpr double kK1 = 1.2;
constexpr double kB = 0.75;

double Idf(double rows, double df) { return std::log(1.0 + (rows - df + 0.5) / (df + 0.5)); }

// The score as a decimal with 6 places.
Value ScoreValue(double score) {
  __int128 micro = static_cast<__int128>(std::llround(score * 1e6));
  __int128 scale = 1;
  for (int i = 0; i < 12; ++i) scale *= 10;
  return Value::Number(Decimal::FromRaw(micro * scale));
}

// Whether the n terms occur at consecutive positions somewhere (positions ascend in each).
bool PhraseAt(const TextPostingRef* terms, size_t n) {
  const TextPostingRef& first = terms[0];
  for (uint32_t i = 0; i < first.freq; ++i) {
    uint32_t start = first.positions[i];
    bool all = true;
    for (size_t t = 1; t < n && all; ++t) {
      const uint32_t* b = terms[t].positions;
      all = std::binary_search(b, b + terms[t].freq, start + static_cast<uint32_t>(t));
    }
    if (all) return true;
  }
  return false;
}

// A candidate that does not match: counted; false when the walk gives up there.
bool CountMiss(uint64_t* scanned, uint64_t give_up_after, bool* gave_up) {
  ++*scanned;
  *gave_up = give_up_after && *scanned >= give_up_after;
  return !*gave_up;
}

}  // namespace

bool QueryText::Prepare(const Query& q, ViewStore* store, std::string* error) {
  if (q.text_matches.empty()) return true;
  if (q.has_as_of) {
    *error = "matches cannot be used with as of (the text index holds the rows as they are now)";
    return false;
  }
  for (const auto& tm : q.text_matches) {
    Match m;
    m.field = tm.field;
    TextLanguage lang = TextLanguage::kSimple;
    ParseTextLanguage(tm.language, &lang);
    TextPattern pattern;
    std::string perr;
    if (!ParseTextPattern(tm.pattern, lang, &pattern, &perr)) {
      *error = tm.field + " matches \"" + tm.pattern + "\": " + perr;
      return false;
    }
    // One snapshot per field, shared by its conditions.
    for (const auto& other : matches_) {
      if (other.field == tm.field) m.reader = other.reader;
    }
    if (!m.reader) m.reader = store->TextReader(tm.field, error);
    if (!m.reader) return false;
    uint64_t rows = 0, terms = 0;
    m.reader->Stats(&rows, &terms);
    m.rows = static_cast<double>(rows);
    m.avg_length = rows ? static_cast<double>(terms) / static_cast<double>(rows) : 0;
    for (auto& pi : pattern.items) {
      Item item;
      item.prefix = pi.prefix;
      if (pi.prefix) {
        // On a stemmed field, the words as written (a prefix of a word need not be one of its
        // stem: "payments*" and the stem "payment").
        const std::string prefix =
            lang == TextLanguage::kEnglish ? kWordTermMark + pi.terms[0] : pi.terms[0];
        if (!m.reader->ExpandPrefix(prefix, kMaxPrefixTerms, &item.terms)) {
          *error = tm.field + " matches \"" + tm.pattern + "\": the prefix " + pi.terms[0] +
                   "* stands for more than " + std::to_string(kMaxPrefixTerms) +
                   " indexed words; make it longer";
          return false;
        }
      } else {
        item.terms = std::move(pi.terms);
      }
      item.rows = item.prefix ? 0 : UINT64_MAX;
      for (const auto& t : item.terms) {
        item.df.push_back(m.reader->DocFreq(t));
        item.idf.push_back(Idf(m.rows, static_cast<double>(item.df.back())));
        item.rows = item.prefix ? item.rows + item.df.back() : std::min(item.rows, item.df.back());
      }
      if (item.terms.empty()) item.rows = 0;  // a prefix no indexed word has
      for (const auto& t : item.terms) item.lookups.push_back(m.reader->Lookup(t));
      item.first = m.terms;
      m.terms += item.terms.size();
      m.items.push_back(std::move(item));
    }
    for (size_t i = 0; i < m.items.size(); ++i) m.check_order.push_back(i);
    m.stats_at = tf_.size();
    tf_.resize(tf_.size() + m.terms);
    len_.resize(len_.size() + m.terms);
    std::stable_sort(m.check_order.begin(), m.check_order.end(),
                     [&m](size_t a, size_t b) { return m.items[a].rows < m.items[b].rows; });
    matches_.push_back(std::move(m));
  }
  cached_match_.assign(matches_.size(), false);
  return true;
}

bool QueryText::Check(const Match& m, std::string_view key) const {
  TextPostingRef p;
  // Each term's frequency and the row's length, for a score (ScoreOf) if one is asked for.
  uint32_t* tf = tf_.data() + m.stats_at;
  uint32_t* len = len_.data() + m.stats_at;
  for (size_t i : m.check_order) {
    const Item& item = m.items[i];
    if (item.prefix) {
      bool any = false;
      for (size_t t = 0; t < item.terms.size(); ++t) {
        tf[item.first + t] = 0;
        if (!item.lookups[t]->Find(key, &p)) continue;
        any = true;
        tf[item.first + t] = p.freq;
        len[item.first + t] = p.length;
      }
      if (!any) return false;
      continue;
    }
    // A term, or a phrase: every term, and (for a phrase) at consecutive positions. Each
    // term's posting stays valid in its own lookup until that lookup's next Find.
    phrase_.clear();
    for (size_t t = 0; t < item.terms.size(); ++t) {
      if (hint_.match == &m && hint_.item == &item && hint_.term == t &&
          hint_.ref.key.data() == key.data() && hint_.ref.key.size() == key.size()) {
        p = hint_.ref;
      } else if (!item.lookups[t]->Find(key, &p)) {
        return false;
      }
      tf[item.first + t] = p.freq;
      len[item.first + t] = p.length;
      if (item.terms.size() > 1) phrase_.push_back(p);
    }
    if (phrase_.size() > 1 && !PhraseAt(phrase_.data(), phrase_.size())) return false;
  }
  return true;
}

double QueryText::ScoreOf(const Match& m) const {
  // Summed in the pattern's order, whatever order the items were checked in.
  double score = 0;
  for (const Item& item : m.items) {
    for (size_t t = 0; t < item.terms.size(); ++t) {
      size_t at = m.stats_at + item.first + t;
      double part = 0;
      if (tf_[at] > 0) {
        double f = static_cast<double>(tf_[at]);
        double norm = kK1 * (1 - kB + kB * len_[at] / std::max(m.avg_length, 1e-9));
        part = item.idf[t] * f * (kK1 + 1) / (f + norm);
      }
      score += part;
    }
  }
  return score;
}

void QueryText::KeepRow(std::string_view key) const {
  cached_key_.assign(key);
  cached_ = true;
}

void QueryText::CheckRow(std::string_view key, bool keep) const {
  cached_ = false;
  if (keep) KeepRow(key);
  cached_scored_ = false;
  for (size_t i = 0; i < matches_.size(); ++i) cached_match_[i] = Check(matches_[i], key);
}

bool QueryText::Matches(int slot, std::string_view key, bool* out, std::string* error) const {
  if (slot < 0 || static_cast<size_t>(slot) >= matches_.size()) {
    *error = "matches: the query's text conditions were not prepared";
    return false;
  }
  if (!cached_ || cached_key_.view() != key) CheckRow(key, true);  // once a row, all conditions
  *out = cached_match_[static_cast<size_t>(slot)];
  return true;
}

bool QueryText::Score(std::string_view key, Value* out, std::string* error) const {
  bool ignored = false;
  if (matches_.empty()) {
    *error = "score() needs a matches condition";
    return false;
  }
  if (!Matches(0, key, &ignored, error)) return false;
  if (!cached_scored_) {
    cached_score_ = 0;
    for (size_t i = 0; i < matches_.size(); ++i) {
      if (cached_match_[i]) cached_score_ += ScoreOf(matches_[i]);
    }
    cached_scored_ = true;
  }
  *out = ScoreValue(cached_score_);
  return true;
}

size_t QueryText::RarestItem(const Match& m) const {
  size_t best = 0;
  for (size_t i = 1; i < m.items.size(); ++i) {
    if (m.items[i].rows < m.items[best].rows) best = i;
  }
  return best;
}

uint64_t QueryText::Selectivity(int slot) const {
  const Match& m = matches_[static_cast<size_t>(slot)];
  return m.items.empty() ? 0 : m.items[RarestItem(m)].rows;
}

uint64_t QueryText::ExpectedChecks(int slot, uint64_t want) const {
  const Match& m = matches_[static_cast<size_t>(slot)];
  if (m.items.empty()) return 0;
  const Item& driver = m.items[RarestItem(m)];
  const double rows = std::max(m.rows, 1.0);
  // The chance that a candidate (a row of the driving term) holds the other terms, and each
  // of a phrase's next words right after the word before (one position of the row's length).
  double p = 1;
  const double next_to = 1 / std::max(m.avg_length, 1.0);
  for (const Item& item : m.items) {
    if (item.prefix) {
      if (&item != &driver) p *= std::min(1.0, static_cast<double>(item.rows) / rows);
      continue;
    }
    const size_t drive =
        &item == &driver ? static_cast<size_t>(std::min_element(item.df.begin(), item.df.end()) -
                                               item.df.begin())
                         : item.df.size();
    for (size_t t = 0; t < item.df.size(); ++t) {
      if (t != drive) p *= std::min(1.0, static_cast<double>(item.df[t]) / rows);
      if (t > 0) p *= next_to;
    }
  }
  const uint64_t candidates = driver.rows;
  if (want == 0 || p <= 0 || static_cast<double>(candidates) * p <= static_cast<double>(want)) {
    return candidates;
  }
  return std::min(candidates, static_cast<uint64_t>(std::ceil(static_cast<double>(want) / p)));
}

void QueryText::ForEachMatch(int slot, const std::string& from, bool inclusive,
                             const std::string& key_prefix,
                             const std::function<bool(std::string_view)>& fn, uint64_t* scanned,
                             uint64_t give_up_after, bool* gave_up) const {
  const Match& m = matches_[static_cast<size_t>(slot)];
  if (m.items.empty()) return;
  const Item& item = m.items[RarestItem(m)];
  // The item's term with the fewest rows drives a term or phrase; a prefix merges the postings
  // of all its terms.
  std::vector<std::string> drive;
  size_t drive_term = 0;
  if (item.prefix) {
    drive = item.terms;
  } else {
    drive_term =
        static_cast<size_t>(std::min_element(item.df.begin(), item.df.end()) - item.df.begin());
    if (drive_term < item.terms.size()) drive.push_back(item.terms[drive_term]);
  }
  std::string start = from;
  bool start_inclusive = inclusive;
  if (!key_prefix.empty() && start < key_prefix) {
    start = key_prefix;
    start_inclusive = true;
  }
  std::vector<std::unique_ptr<TextIndexReader::Iterator>> its;
  for (const auto& t : drive) {
    its.push_back(m.reader->Postings(t));
    its.back()->Seek(start, start_inclusive);
  }
  // Each candidate (a row key once) is checked against every condition; one that does not
  // match condition `slot` is counted, and false is returned when the walk gives up.
  auto keep_on = [&](std::string_view key) {
    CheckRow(key, false);  // each candidate once: no need to compare with the row checked last
    if (!cached_match_[static_cast<size_t>(slot)])
      return CountMiss(scanned, give_up_after, gave_up);
    KeepRow(key);  // the executor asks about it (Matches, Score)
    return fn(key);
  };
  std::string key, last;
  const Item* other = nullptr;
  size_t other_term = 0;
  if (its.size() == 1 && OtherOfPair(m, item, drive_term, &other, &other_term)) {
    WalkPair(m, item, drive_term, *other, other_term, its[0].get(), key_prefix, fn, scanned,
             give_up_after, gave_up);
    return;
  }
  if (its.size() == 1) {  // a term or a phrase: its postings as they are
    struct Unhint {
      const QueryText* t;
      ~Unhint() { t->hint_.match = nullptr; }
    } unhint{this};
    for (auto& it = its[0]; it->Valid(); it->Next()) {
      std::string_view key = it->key();  // valid until Next
      if (key.substr(0, key_prefix.size()) != key_prefix) return;
      // The candidate's posting of the driving term is at hand: Check need not look it up.
      hint_ = {&m, &item, drive_term, it->ref()};
      if (!keep_on(key)) return;
    }
    return;
  }
  // A k-way merge in key order (a prefix's terms).
  auto later = [&its](size_t a, size_t b) { return its[a]->key() > its[b]->key(); };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < its.size(); ++i) {
    if (its[i]->Valid()) heap.push(i);
  }
  bool any = false;
  while (!heap.empty()) {
    size_t i = heap.top();
    heap.pop();
    key.assign(its[i]->key());
    its[i]->Next();
    if (its[i]->Valid()) heap.push(i);
    if (any && key == last) continue;  // a row with several of a prefix's terms
    if (!key_prefix.empty() && key.compare(0, key_prefix.size(), key_prefix) != 0) return;
    any = true;
    last.assign(key);
    if (!keep_on(key)) return;
  }
}

bool QueryText::OtherOfPair(const Match& m, const Item& item, size_t drive_term, const Item** other,
                            size_t* other_term) const {
  if (matches_.size() != 1 || m.terms != 2 || item.prefix) return false;
  if (m.items.size() == 1 && item.terms.size() == 2) {  // a 2-word phrase
    *other = &item;
    *other_term = 1 - drive_term;
    return true;
  }
  if (m.items.size() != 2) return false;
  const Item& o = &m.items[0] == &item ? m.items[1] : m.items[0];
  if (o.prefix || o.terms.size() != 1 || item.terms.size() != 1) return false;
  *other = &o;
  *other_term = 0;
  return true;
}

void QueryText::WalkPair(const Match& m, const Item& item, size_t drive_term, const Item& other,
                         size_t other_term, TextIndexReader::Iterator* it,
                         const std::string& key_prefix,
                         const std::function<bool(std::string_view)>& fn, uint64_t* scanned,
                         uint64_t give_up_after, bool* gave_up) const {
  // The two terms' postings walked together in key order: each moves on to the other's row,
  // passing over the rows between without decoding them where the index allows.
  const bool phrase = &other == &item;
  uint32_t* tf = tf_.data() + m.stats_at;
  uint32_t* len = len_.data() + m.stats_at;
  if (!it->Valid()) return;
  auto other_it = m.reader->Postings(other.terms[other_term]);
  other_it->Seek(it->key(), true);
  while (it->Valid()) {
    std::string_view key = it->key();  // valid until `it` moves
    if (key.substr(0, key_prefix.size()) != key_prefix) return;
    const bool both = other_it->SkipTo(key);
    if (!other_it->Valid()) return;  // no row from here on holds the other term
    if (!both || phrase) {
      TextPostingRef pair[2];  // in the phrase's order
      if (both) {
        pair[drive_term] = it->ref();
        pair[1 - drive_term] = other_it->ref();
      }
      if (!both || !PhraseAt(pair, 2)) {
        if (!CountMiss(scanned, give_up_after, gave_up)) return;
        if (both) {
          it->Next();
        } else {
          it->SkipTo(other_it->key());  // the rows before it do not hold the other term
        }
        continue;
      }
    }
    // What Matches and Score are asked about this row (the rows that did not match are not).
    tf[item.first + drive_term] = it->freq();
    len[item.first + drive_term] = it->length();
    tf[other.first + other_term] = other_it->freq();
    len[other.first + other_term] = other_it->length();
    cached_match_[0] = true;
    cached_scored_ = false;
    KeepRow(key);
    if (!fn(key)) return;
    it->Next();
  }
}

}  // namespace projd
