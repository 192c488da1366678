// The full-text index (store/text_index.cc) and `matches` queries (engine/query_text.cc,
// engine/query_exec.cc) against a reference model: seeded random puts, updates and deletes of
// rows with a text field, in batches of random sizes, over keys of varied lengths (short,
// sharing prefixes, ~300 bytes, and 501 bytes in groups whose postings chunk keys are cut to the
// same LMDB key), so that postings chunks split, shrink, empty and gain rows before their first
// key. Every other batch the index itself is compared with the model (postings, positions,
// document frequencies, Seek, Lookup, prefix expansion, statistics); every few batches random
// patterns (words, prefixes, phrases) are answered by RunQuery in pages, in a key prefix, on a
// scan and counted, and score() is compared with BM25 computed from the model.
#include "store/text_index.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "dsl/compiler.h"
#include "engine/projector.h"
#include "engine/query_exec.h"
#include "store/view_store.h"
#include "tests/dsl/test_views.h"

namespace {

namespace fs = std::filesystem;

const char kProjection[] = R"(
projection t { from "t" key event.id on Put { memo = event.memo } on Del { delete } index text memo }
)";

// The sizes of the model test (under 4 s in a Release build; queries cost the most).
constexpr int kRounds = 5;           // seeds 1..kRounds
constexpr size_t kEvents = 3000;     // events per round
constexpr int kIndexEvery = 2;       // batches between checks of the index itself
constexpr int kQueriesEvery = 12;    // batches between checks of queries
constexpr int kQueriesPerCheck = 8;  // patterns per check (and kFinalQueries at the end)
constexpr int kFinalQueries = 20;
constexpr int kSkew = 3;  // PickWord: the least of kSkew draws, so that some terms are in most rows

// Lowercase ASCII words, on which ICU's segmentation and case folding agree with Words() below.
// Some are prefixes of others (fee/fees, ca*: cafe, caffeine, card, cash).
const std::vector<std::string> kVocabulary = {"coffee", "bank", "berlin",   "card", "fee",
                                              "fees",   "cafe", "caffeine", "bean", "paris",
                                              "rent",   "tax",  "atm",      "cash", "wire"};

// The reference tokenizer: lowercased, split on anything but ASCII letters and digits.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A fresh folder under the temp dir (with the pid in its name), removed at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : parent_(fs::temp_directory_path() / ("projd-text-index-" + std::to_string(getpid()))),
        path_(parent_ / name) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::remove(parent_, ec);  // when no other folder is left in it
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path parent_, path_;
};

std::shared_ptr<const projd::Projection> CompileProjection() {
  projd::CompiledFile compiled = projd::CompileFile("t.proj", kProjection);
  std::string diags;
  for (const auto& d : compiled.diagnostics) diags += d.Format();
  INFO(diags);
  REQUIRE(compiled.ok());
  return compiled.projections[0];
}

std::unique_ptr<projd::ViewStore> OpenStore(const std::string& dir, const projd::Projection& p) {
  projd::KvOptions options;
  options.sync = projd::SyncMode::kNone;
  std::string error;
  auto store = projd::ViewStore::Open(dir, options, &error);
  INFO(error);
  REQUIRE(store);
  store->UseIndexesOf(p);
  return store;
}

// A row of the model: its memo when it is a string (else the row has no text).
struct RefRow {
  std::optional<std::string> text;
};

// One item of a pattern, as the model checks it.
struct RefItem {
  enum Kind { kWord, kPrefix, kPhrase } kind = kWord;
  std::vector<std::string> words;  // lowercase
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A row key for messages: long keys by their length, head and tail.
// The posting of `key` in a term's model postings (in key order), or null when it has none.
const projd::TextPosting* FindPosting(const std::vector<projd::TextPosting>& list,
                                      const std::string& key) {
  auto at =
      std::lower_bound(list.begin(), list.end(), key,
                       [](const projd::TextPosting& p, const std::string& k) { return p.key < k; });
  return at != list.end() && at->key == key ? &*at : nullptr;
}

std::string Short(const std::string& key) {
  if (key.size() <= 40) return key;
  return key.substr(0, 12) + "...(" + std::to_string(key.size()) + " bytes)..." +
         key.substr(key.size() - 8);
}

// "" when `got` is `want`; else what differs: rows missing, rows too many, or the order.
std::string Diff(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  if (got == want) return "";
  std::string out =
      "got " + std::to_string(got.size()) + " rows, want " + std::to_string(want.size());
  std::set<std::string> g(got.begin(), got.end()), w(want.begin(), want.end());
  int shown = 0;
  for (const auto& k : want) {
    if (!g.count(k) && shown++ < 5) out += "\n  missing " + Short(k);
  }
  shown = 0;
  for (const auto& k : got) {
    if (!w.count(k) && shown++ < 5) out += "\n  extra " + Short(k);
  }
  if (g == w) out += g.size() == got.size() ? "\n  (out of order)" : "\n  (repeated rows)";
  return out;
}

class TextModel {
 public:
  TextModel(uint32_t seed, const std::string& dir)
      : seed_(seed),
        rng_(seed),
        qrng_(seed + 1000),
        dir_(dir),
        proj_(CompileProjection()),
        projector_(proj_) {
    store_ = OpenStore(dir_, *proj_);
    // Keys of varied lengths and shared prefixes.
    for (int i = 0; i < 250; ++i) keys_.push_back("acct-" + std::to_string(i));
    for (int i = 0; i < 60; ++i) keys_.push_back("b" + std::to_string(i * 7));
    for (int i = 0; i < 60; ++i) {
      keys_.push_back("acct-7" + std::string(290 + i % 20, 'x') + std::to_string(i));
    }
    for (int i = 0; i < 20; ++i) {
      keys_.push_back("acct-1" + std::string(250 + i, 'z') + std::to_string(i));
    }
    // 501 bytes, in 20 groups of 16 among the short keys: the keys of a group share their first
    // 499 bytes, so their chunk keys (the term's 11 to 16 bytes, then the row key, cut at 511
    // bytes) are the same.
    for (int g = 0; g < 20; ++g) {
      std::string head = "acct-" + std::to_string(g * 12);
      for (int m = 0; m < 16; ++m) {
        keys_.push_back(head + std::string(499 - head.size(), 'q') + std::to_string(10 + m));
      }
    }
    for (const char* k : {"!", "0", "A", "Z", "a", "acct-", "acct-1", "b", "zz", "~", "~~~"}) {
      keys_.push_back(k);
    }
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
  }

  void Reopen() {
    store_.reset();
    store_ = OpenStore(dir_, *proj_);
  }

  size_t rows() const { return model_.size(); }

  // A word of the vocabulary, skewed towards its first words (so some terms are in most rows).
  static const std::string& PickWord(std::mt19937& rng) {
    size_t a = rng() % kVocabulary.size();
    for (int i = 1; i < kSkew; ++i) a = std::min<size_t>(a, rng() % kVocabulary.size());
    return kVocabulary[a];
  }

  static std::string RandomCase(const std::string& w, std::mt19937& rng) {
    std::string s = w;
    switch (rng() % 10) {
      case 0:
      case 1:
        s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
        break;
      case 2:
        for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        break;
      case 3:
        for (char& c : s) {
          if (rng() % 2) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        break;
      default:
        break;
    }
    return s;
  }

  std::string RandomText() {
    size_t n = 1 + rng_() % 8;
    std::string text;
    if (rng_() % 10 == 0) text = " ";
    std::string prev;
    for (size_t i = 0; i < n; ++i) {
      std::string w = (!prev.empty() && rng_() % 5 == 0) ? prev : PickWord(rng_);
      prev = w;
      if (i > 0) {
        switch (rng_() % 20) {
          case 0:
          case 1:
          case 2:
            text += ", ";
            break;
          case 3:
            text += " - ";
            break;
          case 4:
            text += "; ";
            break;
          case 5:
            text += "  ";
            break;
          default:
            text += " ";
        }
      }
      text += RandomCase(w, rng_);
    }
    if (rng_() % 8 == 0) text += (rng_() % 2) ? "." : "!";
    return text;
  }

  // The same words in other case and punctuation: the text changes, its terms do not.
  std::string Respell(const std::string& text) {
    std::string out;
    for (const auto& w : Words(text)) {
      if (!out.empty()) out += (rng_() % 2) ? ", " : " ";
      out += RandomCase(w, rng_);
    }
    return out;
  }

  // One random event; updates the model.
  std::string RandomEvent() {
    const std::string& key = keys_[rng_() % keys_.size()];
    auto it = model_.find(key);
    unsigned r = rng_() % 100;
    std::string id = "\"id\":" + JsonString(key);
    if (r < 16 || (r < 20 && it == model_.end())) {  // delete (also of missing rows, from r < 20)
      model_.erase(key);
      return "{\"type\":\"Del\"," + id + "}";
    }
    std::string memo_json;
    std::optional<std::string> text;
    if (r < 28 && it != model_.end() && it->second.text) {  // the same memo again
      text = it->second.text;
    } else if (r < 34 && it != model_.end() && it->second.text) {  // respelled
      text = Respell(*it->second.text);
    } else if (r < 36) {  // a memo that is not a string: not indexed
      memo_json = "42";
    } else if (r < 37) {
      text = "";
    } else if (r < 38) {
      text = "!! -- ,";  // a string without words
    } else {
      text = RandomText();
    }
    if (text) memo_json = JsonString(*text);
    model_[key].text = text;
    return "{\"type\":\"Put\"," + id + ",\"memo\":" + memo_json + "}";
  }

  // Applies `n` random events in one batch.
  void ApplyBatch(size_t n) {
    std::vector<std::string> values;
    for (size_t i = 0; i < n; ++i) values.push_back(RandomEvent());
    projd_test::ApplyTestBatch(projector_, store_.get(), values, &offset_, true);
    ++batches_;
  }

  void ApplyRandomBatch() { ApplyBatch(1 + rng_() % 200); }

  // ---- the model's answers ----

  static bool ItemIn(const RefItem& item, const std::vector<std::string>& words) {
    switch (item.kind) {
      case RefItem::kWord:
        return std::find(words.begin(), words.end(), item.words[0]) != words.end();
      case RefItem::kPrefix:
        return std::any_of(words.begin(), words.end(), [&](const std::string& w) {
          return w.compare(0, item.words[0].size(), item.words[0]) == 0;
        });
      case RefItem::kPhrase:
        for (size_t i = 0; i + item.words.size() <= words.size(); ++i) {
          if (std::equal(item.words.begin(), item.words.end(), words.begin() + i)) return true;
        }
        return false;
    }
    return false;
  }

  // Keys (in byte order) whose memo holds every item, within `key_prefix`.
  std::vector<std::string> Expected(const std::vector<RefItem>& items,
                                    const std::string& key_prefix = "") const {
    std::vector<std::string> out;
    for (const auto& [key, row] : model_) {
      if (!row.text || key.compare(0, key_prefix.size(), key_prefix) != 0) continue;
      std::vector<std::string> words = Words(*row.text);
      bool all = true;
      for (const auto& item : items) all = all && ItemIn(item, words);
      if (all) out.push_back(key);
    }
    return out;
  }

  // A random pattern: its text in the query language and its items for the model.
  std::string RandomPattern(std::vector<RefItem>* items) {
    items->clear();
    std::vector<std::string> parts;
    auto word = [&]() {
      RefItem it;
      // Now and then a word no row has.
      it.words.push_back(qrng_() % 25 == 0 ? std::string("zebra") : PickWord(qrng_));
      parts.push_back(RandomCase(it.words[0], qrng_));
      items->push_back(it);
    };
    auto prefix = [&]() {
      static const std::vector<std::string> kPrefixes = {"ca",  "fe", "c",      "b",  "caf",
                                                         "fee", "ta", "coffee", "zz", "r"};
      RefItem it;
      it.kind = RefItem::kPrefix;
      it.words.push_back(kPrefixes[qrng_() % kPrefixes.size()]);
      parts.push_back(RandomCase(it.words[0], qrng_) + "*");
      items->push_back(it);
    };
    auto phrase = [&](size_t n) {
      RefItem it;
      it.kind = RefItem::kPhrase;
      std::string p = "\"";
      for (size_t i = 0; i < n; ++i) {
        it.words.push_back(i > 0 && qrng_() % 6 == 0 ? it.words.back() : PickWord(qrng_));
        if (i > 0) p += " ";
        p += RandomCase(it.words.back(), qrng_);
      }
      parts.push_back(p + "\"");
      items->push_back(it);
    };
    switch (qrng_() % 8) {
      case 0:
      case 1:
        word();
        break;
      case 2:
        word();
        word();
        break;
      case 3:
        word();
        word();
        word();
        break;
      case 4:
        prefix();
        break;
      case 5:
        prefix();
        word();
        break;
      case 6:
        phrase(2);
        break;
      default:
        if (qrng_() % 2) {
          phrase(3);
        } else {
          phrase(2);
          word();
        }
        break;
    }
    std::shuffle(parts.begin(), parts.end(), qrng_);
    std::string pattern;
    for (const auto& p : parts) pattern += (pattern.empty() ? "" : " ") + p;
    return pattern;
  }

  // ---- queries ----

  std::unique_ptr<projd::Query> Compile(const std::string& text) {
    projd::Diagnostic diag;
    auto q = projd::CompileQuery(
        text,
        [&](const std::string& v) -> std::shared_ptr<const projd::Projection> {
          return v == "t" ? proj_ : nullptr;
        },
        &diag);
    INFO(text << "\n" << diag.Format());
    REQUIRE(q);
    return q;
  }

  // Every row of the query's answer, following next_cursor with pages of `page` rows.
  std::vector<projd::Value> RunAll(const std::string& text, size_t page, std::string* plan) {
    auto q = Compile(text);
    projd::QueryLimits limits;
    limits.default_rows = page;
    std::vector<projd::Value> rows;
    std::string cursor;
    for (int pages = 0;; ++pages) {
      REQUIRE(pages < 10000);
      projd::QueryAnswer answer;
      std::string error;
      INFO(text << " (cursor " << cursor << ")");
      bool ok = projd::RunQuery(*q, store_.get(), cursor, limits, &answer, &error);
      INFO(error);
      REQUIRE(ok);
      REQUIRE(answer.rows.size() <= page);
      if (pages == 0) *plan = answer.plan;
      REQUIRE(answer.plan == *plan);
      rows.insert(rows.end(), answer.rows.begin(), answer.rows.end());
      if (answer.next_cursor.empty()) break;
      REQUIRE(!answer.rows.empty());
      cursor = answer.next_cursor;
    }
    return rows;
  }

  static std::vector<std::string> KeysOf(const std::vector<projd::Value>& rows) {
    std::vector<std::string> keys;
    for (const auto& r : rows) {
      REQUIRE(r.is_object());
      const projd::Value* k = r.as_object().Find("key");
      REQUIRE(k);
      REQUIRE(k->is_string());
      keys.push_back(k->as_string());
    }
    return keys;
  }

  // Runs `n` random patterns in several forms and compares them with the model.
  void CheckQueries(int n) {
    static const std::vector<std::string> kKeyPrefixes = {"acct-1", "acct-5", "acct-7", "b",
                                                          "acct-"};
    for (int i = 0; i < n; ++i) {
      std::vector<RefItem> items;
      std::string pattern = RandomPattern(&items);
      std::string cond = "memo matches " + JsonString(pattern);
      INFO("seed " << seed_ << ", after batch " << batches_ << " (" << offset_
                   << " events), pattern " << pattern);
      std::vector<std::string> want = Expected(items);
      std::string plan;
      // Small pages, following the cursors.
      auto got = KeysOf(RunAll("from t select key where " + cond, 7, &plan));
      CHECK(plan == "text memo");
      REQUIRE(Diff(got, want) == "");
      if (qrng_() % 4 == 0) {
        // One page.
        got = KeysOf(RunAll("from t select key where " + cond, 100000, &plan));
        REQUIRE(Diff(got, want) == "");
      }
      // Within a key prefix.
      const std::string& kp = kKeyPrefixes[qrng_() % kKeyPrefixes.size()];
      got = KeysOf(
          RunAll("from t select key where " + cond + " and key starts_with " + JsonString(kp),
                 2 + qrng_() % 19, &plan));
      CHECK(plan == "text memo in key prefix");
      REQUIRE(Diff(got, Expected(items, kp)) == "");
      if (qrng_() % 6 == 0) {
        // On a scan: the condition is checked row by row (Lookup), not from postings.
        got = KeysOf(
            RunAll("from t select key where " + cond + " or key == \"nope\"", 100000, &plan));
        CHECK(plan == "scan");
        REQUIRE(Diff(got, want) == "");
      }
      if (qrng_() % 6 == 0) {
        auto rows = RunAll("from t select count() as n where " + cond, 100, &plan);
        REQUIRE(rows.size() == 1);
        const projd::Value* v = rows[0].as_object().Find("n");
        REQUIRE(v);
        CHECK(v->as_number().ToString() == std::to_string(want.size()));
      }
    }
  }

  // The BM25 score the model expects for a query of `terms` (each word's part summed) on row
  // `key`.
  double ExpectedScore(const std::vector<std::string>& terms, const std::string& key) {
    if (score_batches_ != batches_) {
      score_batches_ = batches_;
      score_df_.clear();
      score_rows_ = score_terms_ = 0;
      for (const auto& [k, row] : model_) {
        if (!row.text) continue;
        ++score_rows_;
        score_terms_ += static_cast<double>(Words(*row.text).size());
      }
    }
    auto words = Words(*model_.at(key).text);
    double avg = score_terms_ / score_rows_, sum = 0;
    for (const std::string& term : terms) {
      auto at = score_df_.find(term);
      if (at == score_df_.end()) {
        double df = 0;
        for (const auto& [k, row] : model_) {
          if (!row.text) continue;
          auto w = Words(*row.text);
          if (std::find(w.begin(), w.end(), term) != w.end()) ++df;
        }
        at = score_df_.emplace(term, df).first;
      }
      double tf = static_cast<double>(std::count(words.begin(), words.end(), term));
      double idf = std::log(1.0 + (score_rows_ - at->second + 0.5) / (at->second + 0.5));
      double norm = 1.2 * (1 - 0.75 + 0.75 * static_cast<double>(words.size()) / avg);
      sum += idf * tf * 2.2 / (tf + norm);
    }
    return sum;
  }

  // score(): a query of one word, two words or a 2-word phrase, ordered by score, answers every
  // matching row, with the model's BM25 scores, in descending order (ties by key).
  void CheckScores() {
    std::vector<RefItem> items(1);
    std::string pattern;
    std::vector<std::string> terms = {PickWord(qrng_)};
    switch (qrng_() % 3) {
      case 0:  // one word
        items[0].words = terms;
        pattern = terms[0];
        break;
      case 1:  // two words
        terms.push_back(PickWord(qrng_));
        items.resize(2);
        items[0].words = {terms[0]};
        items[1].words = {terms[1]};
        pattern = terms[0] + " " + terms[1];
        break;
      default:  // a phrase
        terms.push_back(PickWord(qrng_));
        items[0].kind = RefItem::kPhrase;
        items[0].words = terms;
        pattern = "\"" + terms[0] + " " + terms[1] + "\"";
        break;
    }
    INFO("seed " << seed_ << ", after batch " << batches_ << ", score of " << pattern);
    std::vector<std::string> want = Expected(items);
    std::string plan;
    auto rows = RunAll("from t select key, score() as s where memo matches " + JsonString(pattern) +
                           " order by s desc",
                       25 + qrng_() % 100, &plan);
    CHECK(plan == "text memo");
    auto keys = KeysOf(rows);
    std::vector<std::string> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(Diff(sorted, want) == "");
    double prev = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const projd::Value* s = rows[i].as_object().Find("s");
      REQUIRE(s);
      REQUIRE(s->is_number());
      double got = std::stod(s->as_number().ToString());
      INFO("row " << Short(keys[i]) << " score " << got);
      CHECK(got > 0);
      CHECK(std::fabs(got - ExpectedScore(terms, keys[i])) < 4e-6);
      if (i > 0) {
        CHECK(got <= prev);
        if (got == prev) CHECK(keys[i - 1] < keys[i]);
      }
      prev = got;
    }
  }

  // The index itself: every term's postings (rows, lengths, positions) in key order, its
  // document frequency, Lookup, Seek, prefix expansion and the field's statistics.
  void CheckIndex() {
    INFO("seed " << seed_ << ", after batch " << batches_);
    std::string error;
    auto reader = store_->TextReader("memo", &error);
    REQUIRE(reader);
    // The model's postings.
    std::map<std::string, std::vector<projd::TextPosting>> want;
    uint64_t rows = 0, terms = 0;
    for (const auto& [key, row] : model_) {
      if (!row.text) continue;
      auto words = Words(*row.text);
      ++rows;
      terms += words.size();
      for (uint32_t i = 0; i < words.size(); ++i) {
        auto& list = want[words[i]];
        if (list.empty() || list.back().key != key) {
          projd::TextPosting p;
          p.key = key;
          p.length = static_cast<uint32_t>(words.size());
          list.push_back(p);
        }
        list.back().positions.push_back(i);
      }
    }
    uint64_t got_rows = 0, got_terms = 0;
    reader->Stats(&got_rows, &got_terms);
    CHECK(got_rows == rows);
    CHECK(got_terms == terms);
    std::vector<std::string> all_terms;
    REQUIRE(reader->ExpandPrefix("", 1000, &all_terms));
    std::vector<std::string> want_terms;
    for (const auto& [t, list] : want) want_terms.push_back(t);
    CHECK(all_terms == want_terms);
    for (const char* prefix : {"ca", "fe", "c", "zz"}) {
      std::vector<std::string> got, exp;
      REQUIRE(reader->ExpandPrefix(prefix, 1000, &got));
      for (const auto& t : want_terms) {
        if (t.compare(0, std::strlen(prefix), prefix) == 0) exp.push_back(t);
      }
      CHECK(got == exp);
    }
    for (const auto& term : kVocabulary) {
      INFO("term " << term);
      const auto& list = want[term];
      CHECK(reader->DocFreq(term) == list.size());
      auto it = reader->Postings(term);
      it->Seek("", true);
      std::vector<std::string> got_keys, want_keys;
      std::vector<projd::TextPosting> read;
      for (; it->Valid() && read.size() <= list.size(); it->Next()) read.push_back(it->posting());
      for (const auto& p : read) got_keys.push_back(p.key);
      for (const auto& p : list) want_keys.push_back(p.key);
      REQUIRE(Diff(got_keys, want_keys) == "");
      for (size_t i = 0; i < list.size(); ++i) {
        INFO("row " << Short(list[i].key));
        CHECK(read[i].length == list[i].length);
        CHECK(read[i].positions == list[i].positions);
      }
      // Seek to random keys, inclusive or not.
      for (int s = 0; s < 8; ++s) {
        const std::string& from = keys_[qrng_() % keys_.size()];
        bool inclusive = qrng_() % 2;
        auto pos =
            inclusive
                ? std::lower_bound(
                      list.begin(), list.end(), from,
                      [](const projd::TextPosting& p, const std::string& k) { return p.key < k; })
                : std::upper_bound(
                      list.begin(), list.end(), from,
                      [](const std::string& k, const projd::TextPosting& p) { return k < p.key; });
        auto sit = reader->Postings(term);
        sit->Seek(from, inclusive);
        INFO("seek " << Short(from) << " inclusive " << inclusive);
        if (pos == list.end()) {
          CHECK_FALSE(sit->Valid());
        } else {
          REQUIRE(sit->Valid());
          CHECK(Diff({sit->posting().key}, {pos->key}) == "");
        }
      }
      // Lookup of rows that have the term and of rows that do not.
      for (int s = 0; s < 8; ++s) {
        const std::string& key = keys_[qrng_() % keys_.size()];
        const projd::TextPosting* found = FindPosting(list, key);
        projd::TextPosting p;
        INFO("lookup " << Short(key));
        CHECK(reader->Lookup(term, key, &p) == (found != nullptr));
        if (found) CHECK(p.positions == found->positions);
      }
      // One lookup used for many rows, as a query's checks use it: rows in key order (rows of
      // a chunk stepped over, the cursor stepped on to the next chunk), then in random order
      // (back before rows stepped over: the chunk is decoded again).
      // Half of the rows drawn hold the term.
      std::vector<std::string> probe;
      for (int s = 0; s < 80; ++s) {
        bool listed = !list.empty() && s % 2 == 0;
        probe.push_back(listed ? list[qrng_() % list.size()].key : keys_[qrng_() % keys_.size()]);
      }
      std::sort(probe.begin(), probe.begin() + 40);
      auto lookup = reader->Lookup(term);
      for (const auto& key : probe) {
        const projd::TextPosting* found = FindPosting(list, key);
        projd::TextPostingRef ref;
        INFO("reused lookup " << Short(key));
        REQUIRE(lookup->Find(key, &ref) == (found != nullptr));
        if (found) {
          CHECK(ref.length == found->length);
          CHECK(std::vector<uint32_t>(ref.positions, ref.positions + ref.freq) == found->positions);
        }
      }
    }
  }

 private:
  uint32_t seed_;
  std::mt19937 rng_;   // the events
  std::mt19937 qrng_;  // the queries and checks
  std::string dir_;
  std::shared_ptr<const projd::Projection> proj_;
  projd::Projector projector_;
  std::unique_ptr<projd::ViewStore> store_;
  std::vector<std::string> keys_;
  std::map<std::string, RefRow> model_;
  int64_t offset_ = 0;
  int batches_ = 0;
  // The statistics ExpectedScore() read after score_batches_ batches: rows with text, their
  // words, and each term's rows.
  int score_batches_ = -1;
  double score_rows_ = 0, score_terms_ = 0;
  std::map<std::string, double> score_df_;
};

}  // namespace

TEST_CASE("text index and matches queries agree with a model under random changes", "[engine]") {
  for (uint32_t seed = 1; seed <= kRounds; ++seed) {
    TempDir dir("model-" + std::to_string(seed));
    TextModel model(seed, dir.path());
    size_t events = 0;
    int batch = 0;
    std::mt19937 pace(seed * 7919);
    while (events < kEvents) {
      size_t n = 1 + pace() % 200;
      model.ApplyBatch(n);
      events += n;
      ++batch;
      if (batch % kIndexEvery == 0) model.CheckIndex();
      if (batch % kQueriesEvery == 0) {
        model.CheckQueries(kQueriesPerCheck);
        model.CheckScores();
      }
    }
    model.CheckIndex();
    model.CheckQueries(kFinalQueries);
    model.CheckScores();
    CHECK(model.rows() > 300);
  }
}

// Row keys of 501 bytes that share their first 499: their postings chunks' LMDB keys (the
// field, the term, then the first row key cut to 511 bytes in all) are the same. A chunk whose
// rows before such a key are deleted must not take the LMDB key of the next chunk.
TEST_CASE("text index: long row keys whose chunk keys are cut alike keep their postings",
          "[engine]") {
  TempDir dir("long-keys");
  auto proj = CompileProjection();
  auto store = OpenStore(dir.path(), *proj);
  projd::Projector projector(proj);
  int64_t offset = 0;
  auto apply = [&](const std::vector<std::string>& events) {
    projd_test::ApplyTestBatch(projector, store.get(), events, &offset, true);
  };
  auto long_key = [](int n) { return "acct-5" + std::string(494, 'q') + std::to_string(n); };
  auto short_key = [](int n) { return "acct-4" + std::to_string(1000 + n); };
  auto put = [](const std::string& k) {
    return R"({"type":"Put","id":")" + k + R"(","memo":"coffee"})";
  };
  auto del = [](const std::string& k) { return R"({"type":"Del","id":")" + k + R"("})"; };
  // 129 rows: chunks of 64, 64 and 1 (the long key L2000 alone, under its cut key).
  std::vector<std::string> events;
  for (int i = 0; i < 128; ++i) events.push_back(put(short_key(i)));
  events.push_back(put(long_key(2000)));
  apply(events);
  // L1000 < L2000 goes at the end of the second chunk.
  apply({put(long_key(1000))});
  // The second chunk's other rows go: it starts with L1000 now, and its key is L2000's chunk's.
  events.clear();
  for (int i = 64; i < 128; ++i) events.push_back(del(short_key(i)));
  apply(events);

  std::string error;
  auto reader = store->TextReader("memo", &error);
  REQUIRE(reader);
  std::vector<std::string> want;
  for (int i = 0; i < 64; ++i) want.push_back(short_key(i));
  want.push_back(long_key(1000));
  want.push_back(long_key(2000));
  std::vector<std::string> got;
  auto it = reader->Postings("coffee");
  for (it->Seek("", true); it->Valid(); it->Next()) got.push_back(it->posting().key);
  CHECK(Diff(got, want) == "");
  CHECK(reader->DocFreq("coffee") == 66);
  projd::TextPosting p;
  CHECK(reader->Lookup("coffee", long_key(2000), &p));
  CHECK(reader->Lookup("coffee", long_key(1000), &p));
  projd::Diagnostic diag;
  auto q =
      projd::CompileQuery(R"(from t select key where memo matches "coffee")",
                          [&](const std::string& v) -> std::shared_ptr<const projd::Projection> {
                            return v == "t" ? proj : nullptr;
                          },
                          &diag);
  REQUIRE(q);
  projd::QueryAnswer answer;
  REQUIRE(projd::RunQuery(*q, store.get(), "", projd::QueryLimits(), &answer, &error));
  got.clear();
  for (const auto& r : answer.rows) got.push_back(r.as_object().Find("key")->as_string());
  CHECK(Diff(got, want) == "");
}

// BM25: of two rows of the same length, the one with the word more often scores higher.
TEST_CASE("score() ranks a row with the word more often higher", "[engine]") {
  TempDir dir("score");
  auto proj = CompileProjection();
  auto store = OpenStore(dir.path(), *proj);
  projd::Projector projector(proj);
  std::string error;
  std::vector<std::string> events = {
      R"({"type":"Put","id":"r1","memo":"coffee bank tax coffee"})",
      R"({"type":"Put","id":"r2","memo":"Coffee bank tax wire"})",
      R"({"type":"Put","id":"r3","memo":"rent paris"})",
      R"({"type":"Put","id":"r4","memo":"cash atm fee"})",
  };
  int64_t offset = 0;
  projd_test::ApplyTestBatch(projector, store.get(), events, &offset, true);
  projd::Diagnostic diag;
  auto q = projd::CompileQuery(
      R"(from t select key, score() as s where memo matches "coffee" order by s desc)",
      [&](const std::string& v) -> std::shared_ptr<const projd::Projection> {
        return v == "t" ? proj : nullptr;
      },
      &diag);
  INFO(diag.Format());
  REQUIRE(q);
  projd::QueryAnswer answer;
  REQUIRE(projd::RunQuery(*q, store.get(), "", projd::QueryLimits(), &answer, &error));
  CHECK(answer.plan == "text memo");
  REQUIRE(answer.rows.size() == 2);
  const auto& a = answer.rows[0].as_object();
  const auto& b = answer.rows[1].as_object();
  CHECK(a.Find("key")->as_string() == "r1");
  CHECK(b.Find("key")->as_string() == "r2");
  double sa = std::stod(a.Find("s")->as_number().ToString());
  double sb = std::stod(b.Find("s")->as_number().ToString());
  CHECK(sb > 0);
  CHECK(sa > sb);
}

// The index lives in the store: closed and opened again, it answers the same, and keeps being
// maintained by later batches.
TEST_CASE("a text index answers the same after the store is reopened", "[engine]") {
  TempDir dir("reopen");
  TextModel model(42, dir.path());
  for (int i = 0; i < 12; ++i) model.ApplyRandomBatch();
  std::vector<std::string> queries = {
      R"(from t select key where memo matches "coffee")",
      R"(from t select key where memo matches "ca* bank")",
      R"(from t select key where memo matches "\"coffee berlin\"")",
      R"(from t select key where memo matches "fee" and key starts_with "acct-1")",
      R"(from t select key, score() as s where memo matches "bank" order by s desc)",
  };
  std::vector<std::vector<projd::Value>> before;
  std::string plan;
  for (const auto& q : queries) before.push_back(model.RunAll(q, 100000, &plan));
  model.Reopen();
  for (size_t i = 0; i < queries.size(); ++i) {
    INFO(queries[i]);
    auto after = model.RunAll(queries[i], 7, &plan);
    CHECK(after == before[i]);
    CHECK(!after.empty());
  }
  model.CheckIndex();
  model.CheckQueries(10);
  model.CheckScores();
  for (int i = 0; i < 5; ++i) {
    model.ApplyRandomBatch();
    model.CheckIndex();
  }
  model.CheckQueries(10);
}

namespace {

// A chunk as written before restart points: varint row count, then the rows front-coded
// against the row before, each with its length, frequency and position deltas.
std::string EncodeWithoutRestarts(const std::vector<projd::TextPosting>& rows) {
  std::string out;
  auto put = [&out](uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  };
  put(rows.size());
  std::string prev;
  for (const auto& r : rows) {
    size_t shared = 0;
    while (shared < prev.size() && shared < r.key.size() && prev[shared] == r.key[shared]) {
      ++shared;
    }
    put(shared);
    put(r.key.size() - shared);
    out.append(r.key, shared, std::string::npos);
    put(r.length);
    put(r.positions.size());
    uint32_t last = 0;
    for (uint32_t p : r.positions) {
      put(p - last);
      last = p;
    }
    prev = r.key;
  }
  return out;
}

}  // namespace

TEST_CASE("a postings chunk seeks alike with restart points and as written before them",
          "[engine]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 60; ++round) {
    // Keys that share prefixes of varied lengths (a short alphabet), some long.
    std::set<std::string> key_set;
    const size_t n = 1 + rng() % 300;
    while (key_set.size() < n) {
      std::string k = "acct-" + std::to_string(rng() % 7);
      for (size_t len = 1 + rng() % 6; len > 0; --len) k.push_back("abc"[rng() % 3]);
      if (rng() % 20 == 0) k.append(200 + rng() % 100, 'z');
      key_set.insert(k);
    }
    std::vector<projd::TextPosting> rows;
    for (const auto& k : key_set) {
      projd::TextPosting p;
      p.key = k;
      p.length = 1 + rng() % 300;
      uint32_t at = 0;
      for (uint32_t f = 1 + (rng() % 5 == 0 ? rng() % 40 : 0); f > 0; --f) {
        at += rng() % 200;
        p.positions.push_back(at++);
      }
      rows.push_back(p);
    }
    std::vector<projd::TextPostingRef> refs;
    for (const auto& r : rows) {
      refs.push_back(
          {r.key, r.length, r.positions.data(), static_cast<uint32_t>(r.positions.size())});
    }
    std::string with;
    projd::EncodeTextChunk(refs.data(), refs.size(), &with);
    const std::string without = EncodeWithoutRestarts(rows);
    REQUIRE(with[0] == '\0');  // the form with restart points
    // Probes: rows of the chunk, keys between and around them; in order, then at random.
    std::vector<std::string> probe;
    for (int s = 0; s < 120; ++s) {
      std::string k = rows[rng() % rows.size()].key;
      if (s % 3 == 1) k.push_back('b');
      if (s % 3 == 2) k.pop_back();
      probe.push_back(k);
    }
    std::sort(probe.begin(), probe.begin() + 80);
    for (const std::string* chunk_bytes : {static_cast<const std::string*>(&with), &without}) {
      INFO((chunk_bytes == &with ? "with restart points" : "without")
           << ", " << rows.size() << " rows");
      projd::TextChunk whole;
      REQUIRE(whole.Decode(*chunk_bytes));
      REQUIRE(whole.size() == rows.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        CHECK(std::string(whole.key(i)) == rows[i].key);
        CHECK(whole.Posting(i).positions == rows[i].positions);
      }
      projd::TextChunk lazy;
      lazy.Reset(*chunk_bytes);
      for (const auto& k : probe) {
        INFO("seek " << Short(k));
        auto want = std::lower_bound(
            rows.begin(), rows.end(), k,
            [](const projd::TextPosting& p, const std::string& key) { return p.key < key; });
        size_t i = lazy.Seek(k);
        REQUIRE_FALSE(lazy.bad());
        if (want == rows.end() || want->key != k) {
          CHECK(i == lazy.size());
          continue;
        }
        REQUIRE(i < lazy.size());
        CHECK(std::string(lazy.key(i)) == want->key);
        CHECK(lazy.length(i) == want->length);
        CHECK(std::vector<uint32_t>(lazy.positions(i), lazy.positions(i) + lazy.freq(i)) ==
              want->positions);
      }
    }
    // A restart offset pointing outside the rows is a chunk that does not decode for Seek (and
    // no read outside its bytes).
    if (rows.size() > projd::kTextChunkRestart) {
      std::string broken = with;
      size_t table = 1;
      while (static_cast<uint8_t>(broken[table]) & 0x80) ++table;  // the row count
      ++table;
      while (static_cast<uint8_t>(broken[table]) & 0x80) ++table;  // the restart count
      ++table;
      // The last restart: a seek past every row visits it.
      broken[table + 4 * ((rows.size() - 1) / projd::kTextChunkRestart - 1) + 3] = '\x7f';
      projd::TextChunk bad;
      bad.Reset(broken);
      bad.Seek(rows.back().key + "z");
      CHECK(bad.bad());
    }
  }
}

// A term's postings iterator over chunks of both forms, written straight into a table: every
// row read in order, SkipTo to targets in order (rows, keys between them, far jumps that pass
// over whole chunks and take the B-tree), mixed with Next, against the sorted keys.
TEST_CASE("a postings iterator skips alike over chunks of both forms", "[engine]") {
  TempDir dir("iterator");
  std::string error;
  auto env = projd::KvEnv::Open(dir.path(), {"text"}, projd::KvOptions(), &error);
  REQUIRE(env);
  const std::string field = "memo";
  auto term_base = [&field](const std::string& term) {
    std::string k;
    k.push_back(static_cast<char>(field.size() >> 8));
    k.push_back(static_cast<char>(field.size() & 0xFF));
    return k + field + '\x01' + term + '\x00';
  };
  std::mt19937 rng(11);
  for (int round = 0; round < 12; ++round) {
    INFO("round " << round);
    // Keys that share prefixes of varied lengths, some long.
    std::set<std::string> key_set;
    const size_t n = 1 + rng() % (round < 4 ? 300 : 4000);
    while (key_set.size() < n) {
      std::string k = "acct-" + std::to_string(rng() % 50);
      for (size_t len = 1 + rng() % 8; len > 0; --len) k.push_back("abcd"[rng() % 4]);
      if (rng() % 30 == 0) k.append(20 + rng() % 100, 'z');
      key_set.insert(k);
    }
    std::vector<projd::TextPosting> rows;
    for (const auto& k : key_set) {
      projd::TextPosting p;
      p.key = k;
      p.length = 1 + rng() % 300;
      uint32_t at = 0;
      for (uint32_t f = 1 + (rng() % 5 == 0 ? rng() % 40 : 0); f > 0; --f) {
        at += rng() % 200;
        p.positions.push_back(at++);
      }
      rows.push_back(p);
    }
    // The term's chunks (1 to 128 rows, either form), between two other terms' chunks.
    std::vector<std::pair<std::string, std::string>> chunks;  // LMDB key and value
    {
      auto txn = env->BeginWrite(&error);
      REQUIRE(txn);
      REQUIRE(txn->Clear(0));
      for (const char* other : {"cof", "coffeez"}) {
        std::vector<projd::TextPosting> one(rows.begin(), rows.begin() + 1);
        REQUIRE(txn->Put(0, term_base(other) + one[0].key, EncodeWithoutRestarts(one)));
      }
      for (size_t at = 0; at < rows.size();) {
        const size_t size = std::min<size_t>(rows.size() - at, 1 + rng() % 128);
        std::vector<projd::TextPosting> part(rows.begin() + at, rows.begin() + at + size);
        std::string value;
        if (rng() % 2) {
          std::vector<projd::TextPostingRef> refs;
          for (const auto& r : part) {
            refs.push_back(
                {r.key, r.length, r.positions.data(), static_cast<uint32_t>(r.positions.size())});
          }
          projd::EncodeTextChunk(refs.data(), refs.size(), &value);
        } else {
          value = EncodeWithoutRestarts(part);
        }
        REQUIRE(txn->Put(0, term_base("coffee") + part[0].key, value));
        chunks.emplace_back(term_base("coffee") + part[0].key, value);
        at += size;
      }
      REQUIRE(txn->Commit());
    }
    auto txn = env->BeginRead(&error);
    REQUIRE(txn);
    projd::TextIndexReader reader(txn.get(), 0, field);
    // Every row in order, positions decoded for some.
    auto it = reader.Postings("coffee");
    it->Seek("", true);
    for (size_t i = 0; i < rows.size(); ++i, it->Next()) {
      REQUIRE(it->Valid());
      REQUIRE(std::string(it->key()) == rows[i].key);
      CHECK(it->length() == rows[i].length);
      REQUIRE(it->freq() == rows[i].positions.size());
      if (i % 3 == 0) CHECK(it->posting().positions == rows[i].positions);
    }
    CHECK_FALSE(it->Valid());
    CHECK_FALSE(it->bad());
    // Targets in order: rows, keys just after or before one, and now and then a far jump.
    for (int walk = 0; walk < 20; ++walk) {
      std::vector<std::string> targets;
      for (int s = 0; s < 60; ++s) {
        std::string k = rows[rng() % rows.size()].key;
        if (s % 3 == 1) k.push_back('b');
        if (s % 3 == 2) k.pop_back();
        targets.push_back(k);
      }
      std::sort(targets.begin(), targets.end());
      if (walk % 2 == 0) targets.resize(1 + rng() % 6);  // few targets: long skips
      auto lower = [&rows](const std::string& k) {
        return static_cast<size_t>(
            std::lower_bound(
                rows.begin(), rows.end(), k,
                [](const projd::TextPosting& p, const std::string& key) { return p.key < key; }) -
            rows.begin());
      };
      auto sit = reader.Postings("coffee");
      sit->Seek(targets[0], true);
      size_t want = lower(targets[0]);
      for (const auto& t : targets) {
        INFO("skip to " << Short(t));
        const bool at = sit->SkipTo(t);
        want = std::max(want, lower(t));
        CHECK(at == (want < rows.size() && rows[want].key == t));
        if (want == rows.size()) {
          CHECK_FALSE(sit->Valid());
          break;
        }
        REQUIRE(sit->Valid());
        REQUIRE(std::string(sit->key()) == rows[want].key);
        CHECK(sit->length() == rows[want].length);
        CHECK(std::vector<uint32_t>(sit->positions(), sit->positions() + sit->freq()) ==
              rows[want].positions);
        if (rng() % 4 == 0) {
          sit->Next();
          ++want;
          if (want == rows.size()) {
            CHECK_FALSE(sit->Valid());
            break;
          }
          REQUIRE(sit->Valid());
          CHECK(std::string(sit->key()) == rows[want].key);
        }
      }
      CHECK_FALSE(sit->bad());
    }
    it.reset();
    txn.reset();
    // Chunks with bytes changed at random: reading them ends (bad or not), and reads nothing
    // outside their bytes (the sanitizer build checks that).
    for (int damage = 0; damage < 4; ++damage) {
      {
        auto w = env->BeginWrite(&error);
        REQUIRE(w);
        for (const auto& [k, v] : chunks) {
          std::string broken = v;
          if (rng() % 3 == 0) {
            for (int b = 1 + rng() % 3; b > 0; --b)
              broken[rng() % broken.size()] ^= 1 + rng() % 255;
          }
          REQUIRE(w->Put(0, k, broken));
        }
        REQUIRE(w->Commit());
      }
      auto r = env->BeginRead(&error);
      REQUIRE(r);
      projd::TextIndexReader damaged(r.get(), 0, field);
      // Every row takes bytes: no more rows than the chunks' bytes.
      size_t bytes = 0;
      for (const auto& c : chunks) bytes += c.second.size();
      auto dit = damaged.Postings("coffee");
      size_t steps = 0;
      for (dit->Seek("", true); dit->Valid() && steps <= bytes; dit->Next(), ++steps) {
        (void)dit->positions();
      }
      CHECK(steps <= bytes);
      auto skip = damaged.Postings("coffee");
      skip->Seek(rows[0].key, true);
      for (size_t i = 0; i < rows.size() && skip->Valid(); i += 1 + rng() % 40) {
        skip->SkipTo(rows[i].key);
        if (skip->Valid()) (void)skip->positions();
      }
    }
  }
  // A chunk whose restart offset points outside its rows stops the iteration as bad, without
  // reading outside its bytes.
  std::vector<projd::TextPosting> rows;
  for (int i = 0; i < 100; ++i) {
    projd::TextPosting p;
    p.key = "r" + std::to_string(1000 + i);
    p.length = 3;
    p.positions = {1};
    rows.push_back(p);
  }
  std::vector<projd::TextPostingRef> refs;
  for (const auto& r : rows) refs.push_back({r.key, r.length, r.positions.data(), 1});
  std::string broken;
  projd::EncodeTextChunk(refs.data(), refs.size(), &broken);
  broken[3 + 4 * 3 + 3] = '\x7f';  // 00, count 100, 6 restarts: the 4th restart's offset
  {
    auto txn = env->BeginWrite(&error);
    REQUIRE(txn);
    REQUIRE(txn->Clear(0));
    REQUIRE(txn->Put(0, term_base("coffee") + rows[0].key, broken));
    REQUIRE(txn->Commit());
  }
  auto txn = env->BeginRead(&error);
  REQUIRE(txn);
  projd::TextIndexReader reader(txn.get(), 0, field);
  auto it = reader.Postings("coffee");
  it->Seek("", true);
  REQUIRE(it->Valid());
  it->SkipTo("r1090");
  CHECK_FALSE(it->Valid());
  CHECK(it->bad());
}
