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
        if (!m.reader->ExpandPrefix(pi.terms[0], kMaxPrefixTerms, &item.terms)) {
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
        item.rows = item.prefix ? item.rows + item.df.back() : std::min(item.rows, item.df.back());
      }
      if (item.terms.empty()) item.rows = 0;  // a prefix no indexed word has
      item.caches.resize(item.terms.size());
      m.items.push_back(std::move(item));
    }
    matches_.push_back(std::move(m));
  }
  cached_match_.assign(matches_.size(), false);
  return true;
}

bool QueryText::Check(const Match& m, std::string_view key, double* score) const {
  *score = 0;
  TextPosting p;
  for (const Item& item : m.items) {
    if (item.prefix) {
      bool any = false;
      for (size_t t = 0; t < item.terms.size(); ++t) {
        if (!m.reader->Lookup(item.terms[t], key, &p, &item.caches[t])) continue;
        any = true;
        double tf = static_cast<double>(p.positions.size());
        double norm = kK1 * (1 - kB + kB * p.length / std::max(m.avg_length, 1e-9));
        *score += Idf(m.rows, static_cast<double>(item.df[t])) * tf * (kK1 + 1) / (tf + norm);
      }
      if (!any) return false;
      continue;
    }
    // A term, or a phrase: every term, and (for a phrase) at consecutive positions.
    std::vector<std::vector<uint32_t>> positions;
    for (size_t t = 0; t < item.terms.size(); ++t) {
      if (!m.reader->Lookup(item.terms[t], key, &p, &item.caches[t])) return false;
      double tf = static_cast<double>(p.positions.size());
      double norm = kK1 * (1 - kB + kB * p.length / std::max(m.avg_length, 1e-9));
      *score += Idf(m.rows, static_cast<double>(item.df[t])) * tf * (kK1 + 1) / (tf + norm);
      positions.push_back(std::move(p.positions));
    }
    if (positions.size() > 1) {
      bool found = false;
      for (uint32_t start : positions[0]) {
        bool all = true;
        for (size_t t = 1; t < positions.size() && all; ++t) {
          all = std::binary_search(positions[t].begin(), positions[t].end(),
                                   start + static_cast<uint32_t>(t));
        }
        if (all) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
  }
  return true;
}

bool QueryText::Matches(int slot, std::string_view key, bool* out, std::string* error) const {
  if (slot < 0 || static_cast<size_t>(slot) >= matches_.size()) {
    *error = "matches: the query's text conditions were not prepared";
    return false;
  }
  if (!cached_ || cached_key_ != key) {
    cached_key_.assign(key);
    cached_ = true;
    cached_score_ = 0;
    for (size_t i = 0; i < matches_.size(); ++i) {
      double s = 0;
      cached_match_[i] = Check(matches_[i], key, &s);
      if (cached_match_[i]) cached_score_ += s;
    }
  }
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

void QueryText::ForEachCandidate(int slot, const std::string& from, bool inclusive,
                                 const std::string& key_prefix,
                                 const std::function<bool(const std::string&)>& fn,
                                 uint64_t* examined) const {
  const Match& m = matches_[static_cast<size_t>(slot)];
  if (m.items.empty()) return;
  const Item& item = m.items[RarestItem(m)];
  // The item's term with the fewest rows drives a term or phrase; a prefix merges the postings
  // of all its terms.
  std::vector<std::string> drive;
  if (item.prefix) {
    drive = item.terms;
  } else {
    size_t t =
        static_cast<size_t>(std::min_element(item.df.begin(), item.df.end()) - item.df.begin());
    if (t < item.terms.size()) drive.push_back(item.terms[t]);
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
  // A k-way merge in key order (one iterator but for prefixes).
  auto later = [&its](size_t a, size_t b) { return its[a]->posting().key > its[b]->posting().key; };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < its.size(); ++i) {
    if (its[i]->Valid()) heap.push(i);
  }
  std::string last;
  bool any = false;
  while (!heap.empty()) {
    size_t i = heap.top();
    heap.pop();
    std::string key = its[i]->posting().key;
    ++*examined;
    its[i]->Next();
    if (its[i]->Valid()) heap.push(i);
    if (any && key == last) continue;  // a row with several of a prefix's terms
    if (!key_prefix.empty() && key.compare(0, key_prefix.size(), key_prefix) != 0) return;
    any = true;
    last = key;
    if (!fn(key)) return;
  }
}

}  // namespace projd
