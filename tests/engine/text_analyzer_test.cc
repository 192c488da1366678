#include "store/text_analyzer.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace projd {
namespace {

std::vector<std::string> Terms(std::string_view text, TextLanguage lang = TextLanguage::kSimple) {
  std::vector<TextToken> tokens;
  AnalyzeText(text, lang, &tokens);
  std::vector<std::string> terms;
  for (const TextToken& t : tokens) terms.push_back(t.term);
  return terms;
}

std::vector<std::string> English(std::string_view text) {
  return Terms(text, TextLanguage::kEnglish);
}

using V = std::vector<std::string>;

// Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

TEST_CASE("Text language names", "[engine]") {
  TextLanguage l = TextLanguage::kSimple;
  CHECK(ParseTextLanguage("english", &l));
  CHECK(l == TextLanguage::kEnglish);
  CHECK(ParseTextLanguage("simple", &l));
  CHECK(l == TextLanguage::kSimple);
  CHECK_FALSE(ParseTextLanguage("English", &l));
  CHECK_FALSE(ParseTextLanguage("french", &l));
  CHECK_FALSE(ParseTextLanguage("", &l));
  CHECK(l == TextLanguage::kSimple);
  CHECK(std::string(TextLanguageName(TextLanguage::kEnglish)) == "english");
  CHECK(std::string(TextLanguageName(TextLanguage::kSimple)) == "simple");
}

TEST_CASE("AnalyzeText splits words at ICU boundaries, without spaces or punctuation", "[engine]") {
  CHECK(Terms("Hello, world!  How are\tyou?\n") == V{"hello", "world", "how", "are", "you"});
  CHECK(Terms("(a) [b] {c}; d: e/f|g") == V{"a", "b", "c", "d", "e", "f", "g"});
  CHECK(Terms("e-mail") == V{"e", "mail"});
  // Between letters, . : and _ keep a word together (UAX #29).
  CHECK(Terms("example.com foo_bar U.S.A") == V{"example.com", "foo_bar", "u.s.a"});
  CHECK(Terms("").empty());
  CHECK(Terms("   \t\n ").empty());
  CHECK(Terms("-- ... !!! ?").empty());
  // Emoji and symbols are not words.
  CHECK(Terms("I \xE2\x9D\xA4 tea \xF0\x9F\x98\x80 + \xE2\x82\xAC") == V{"i", "tea"});
}

TEST_CASE("AnalyzeText numbers words from 0 among the words only", "[engine]") {
  std::vector<TextToken> tokens;
  AnalyzeText("  The quick -- brown fox, jumps!", TextLanguage::kSimple, &tokens);
  REQUIRE(tokens.size() == 5);
  for (uint32_t i = 0; i < tokens.size(); ++i) CHECK(tokens[i].position == i);
  CHECK(tokens[3].term == "fox");
  // Appends to what is there.
  AnalyzeText("again", TextLanguage::kSimple, &tokens);
  REQUIRE(tokens.size() == 6);
  CHECK(tokens[5].term == "again");
  CHECK(tokens[5].position == 0);
}

TEST_CASE("AnalyzeText normalises (NFKC) and case-folds", "[engine]") {
  CHECK(Terms("Straße STRASSE strasse") == V{"strasse", "strasse", "strasse"});
  CHECK(Terms("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3") == V{"abc"});             // fullwidth ABC
  CHECK(Terms("\xEF\xAC\x81ne") == V{"fine"});                                  // the ligature fi
  CHECK(Terms("x\xC2\xB2") == V{"x2"});                                         // x²: one word
  CHECK(Terms("Caf\xC3\xA9 Cafe\xCC\x81") == V{"caf\xC3\xA9", "caf\xC3\xA9"});  // é composed
  CHECK(Terms("pay\xC2\xADment") == V{"payment"});                              // a soft hyphen
  // Greek: full folding, final sigma as sigma.
  CHECK(Terms("\xCE\xA3\xCE\x8A\xCE\xA3\xCE\xA5\xCE\xA6\xCE\x9F\xCE\xA3 "
              "\xCF\x83\xCE\xAF\xCF\x83\xCF\x85\xCF\x86\xCE\xBF\xCF\x82") ==
        V{"\xCF\x83\xCE\xAF\xCF\x83\xCF\x85\xCF\x86\xCE\xBF\xCF\x83",
          "\xCF\x83\xCE\xAF\xCF\x83\xCF\x85\xCF\x86\xCE\xBF\xCF\x83"});
  // Turkish: default folding (İ is i + a combining dot, ı stays); nothing special, no crash.
  CHECK(Terms("\xC4\xB0stanbul ISTANBUL \xC4\xB1stanbul") ==
        V{"i\xCC\x87stanbul", "istanbul", "\xC4\xB1stanbul"});
  CHECK(English("\xC4\xB0STANBUL'DA") == V{"i\xCC\x87stanbul'da"});
}

TEST_CASE("AnalyzeText stems English with Snowball, and simple not at all", "[engine]") {
  CHECK(English("payments") == V{"payment"});
  CHECK(English("running") == V{"run"});
  CHECK(English("The Payments were RUNNING late") == V{"the", "payment", "were", "run", "late"});
  CHECK(English("happy happiness") == V{"happi", "happi"});
  CHECK(Terms("payments running happiness") == V{"payments", "running", "happiness"});
}

TEST_CASE("AnalyzeText keeps numbers whole", "[engine]") {
  CHECK(Terms("42.50") == V{"42.50"});
  CHECK(English("costs 42.50 or 3,000 units") == V{"cost", "42.50", "or", "3,000", "unit"});
  CHECK(Terms("v1.2.3 abc123 4a") == V{"v1.2.3", "abc123", "4a"});
  CHECK(Terms("42.") == V{"42"});
  CHECK(Terms("-7") == V{"7"});
}

TEST_CASE("AnalyzeText keeps apostrophes inside words, curly ones as '", "[engine]") {
  CHECK(Terms("don't") == V{"don't"});
  CHECK(Terms("Don\xE2\x80\x99t") == V{"don't"});
  CHECK(Terms("'quoted'") == V{"quoted"});
  CHECK(English("don't") == V{"don't"});
  CHECK(English("Paul's paul\xE2\x80\x99s") == V{"paul", "paul"});
  CHECK(Terms("l'homme") == V{"l'homme"});
}

TEST_CASE("AnalyzeText makes each ideograph and hiragana a word, a run of katakana one",
          "[engine]") {
  std::vector<TextToken> tokens;
  // 中华人民共和国 (ICU's dictionary: 中华 人民 共和国).
  AnalyzeText(
      "\xE4\xB8\xAD\xE5\x8D\x8E\xE4\xBA\xBA\xE6\xB0\x91\xE5\x85\xB1\xE5\x92\x8C\xE5\x9B\xBD",
      TextLanguage::kEnglish, &tokens);
  REQUIRE(tokens.size() == 7);
  CHECK(tokens[0].term == "\xE4\xB8\xAD");
  CHECK(tokens[6].term == "\xE5\x9B\xBD");
  for (uint32_t i = 0; i < tokens.size(); ++i) CHECK(tokens[i].position == i);
  // 東京タワー, then a Latin word: the katakana タワー (with its ー) is one word, as Unicode's
  // word segmentation has it; positions go on.
  CHECK(Terms("\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x82\xBF\xE3\x83\xAF\xE3\x83\xBC Tower") ==
        V{"\xE6\x9D\xB1", "\xE4\xBA\xAC", "\xE3\x82\xBF\xE3\x83\xAF\xE3\x83\xBC", "tower"});
  // コーヒーショップ: one word, however ICU's dictionary cuts it; a hiragana の between two
  // katakana words ends the first; the hiragana are a word each.
  const std::string coffee = "\xE3\x82\xB3\xE3\x83\xBC\xE3\x83\x92\xE3\x83\xBC";  // コーヒー
  const std::string shop = "\xE3\x82\xB7\xE3\x83\xA7\xE3\x83\x83\xE3\x83\x97";    // ショップ
  CHECK(Terms(coffee + shop) == V{coffee + shop});
  CHECK(Terms(coffee + "\xE3\x81\xAE" + shop) == V{coffee, "\xE3\x81\xAE", shop});
  CHECK(Terms("\xE3\x81\x82\xE3\x82\x8A") == V{"\xE3\x81\x82", "\xE3\x82\x8A"});  // あり
  // Half-width katakana ｶﾞ is NFKC ガ, one character.
  CHECK(Terms("\xEF\xBD\xB6\xEF\xBE\x9E") == V{"\xE3\x82\xAC"});
  // Hangul and Thai are words (Thai by ICU's dictionary), not characters.
  CHECK(Terms("\xEC\x95\x88\xEB\x85\x95 \xEC\x84\xB8\xEA\xB3\x84") ==
        V{"\xEC\x95\x88\xEB\x85\x95", "\xEC\x84\xB8\xEA\xB3\x84"});
  CHECK(Terms("\xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5"
              "\xE0\xB8\x84\xE0\xB8\xA3\xE0\xB8\xB1\xE0\xB8\x9A")
            .size() == 2);
}

// A long word's term: its head (at most kLongTermHead bytes), kLongTermMark and a hash.
bool IsLongTerm(const std::string& term, const std::string& word) {
  size_t mark = term.find(kLongTermMark);
  return term.size() <= kMaxTermBytes && mark != std::string::npos && mark <= kLongTermHead &&
         term.size() == mark + 17 && word.compare(0, mark, term, 0, mark) == 0;
}

TEST_CASE("AnalyzeText keeps long words apart: a head cut at a character boundary and a hash",
          "[engine]") {
  V t = Terms(std::string(100, 'a'));
  REQUIRE(t.size() == 1);
  CHECK(IsLongTerm(t[0], std::string(100, 'a')));
  CHECK(t[0].find(kLongTermMark) == kLongTermHead);
  CHECK(Terms(std::string(64, 'b')) == V{std::string(64, 'b')});
  // Two long words that share their first 70 bytes are two terms; the same word one term.
  const std::string common(70, 'c');
  V two = Terms(common + "_failed " + common + "_succeeded " + common + "_failed");
  REQUIRE(two.size() == 3);
  CHECK(two[0] != two[1]);
  CHECK(two[0] == two[2]);
  CHECK(Terms(std::string(2000, 'a')) != Terms(std::string(1000, 'a')));
  CHECK(Terms(std::string(2000, 'a')) != Terms(std::string(64, 'a')));
  // "ab" then é (2 bytes) 40 times: byte 47 is inside an é, so the head is 46 bytes.
  std::string e2 = "ab";
  for (int i = 0; i < 40; ++i) e2 += "\xC3\xA9";
  t = Terms(e2);
  REQUIRE(t.size() == 1);
  CHECK(t[0].find(kLongTermMark) == kLongTermHead - 1);
  CHECK(IsLongTerm(t[0], e2));
  // ж (2 bytes) and a 3-byte letter (ḁ, U+1E01) mixed.
  std::string mixed;
  for (int i = 0; i < 30; ++i) mixed += "\xD0\xB6\xE1\xB8\x81";
  t = Terms(mixed);
  REQUIRE(t.size() == 1);
  CHECK(IsLongTerm(t[0], mixed));
  CHECK(ValidUtf8(t[0].substr(0, t[0].find(kLongTermMark))));
  // Stemmed, then shortened.
  t = English(std::string(70, 'x') + "ing");
  REQUIRE(t.size() == 1);
  CHECK(IsLongTerm(t[0], std::string(70, 'x')));
  CHECK(t == English(std::string(70, 'x') + "ings"));
}

TEST_CASE("AnalyzeText for an index of a stemmed field keeps each word beside its stem",
          "[engine]") {
  std::vector<TextToken> tokens;
  AnalyzeText("Payments were PAID, coffee", TextLanguage::kEnglish, &tokens, true);
  std::vector<std::pair<std::string, uint32_t>> got;
  for (const TextToken& t : tokens) got.emplace_back(t.term, t.position);
  const std::string w(1, kWordTermMark);
  CHECK(got == std::vector<std::pair<std::string, uint32_t>>{{"payment", 0},
                                                             {w + "payments", 0},
                                                             {"were", 1},
                                                             {w + "were", 1},
                                                             {"paid", 2},
                                                             {w + "paid", 2},
                                                             {"coffe", 3},
                                                             {w + "coffee", 3}});
  CHECK(TextWords(tokens) == 4);
  // Not for a query's words, nor on a field that is not stemmed.
  tokens.clear();
  AnalyzeText("Payments were", TextLanguage::kEnglish, &tokens);
  CHECK(tokens.size() == 2);
  tokens.clear();
  AnalyzeText("Payments were", TextLanguage::kSimple, &tokens, true);
  CHECK(tokens.size() == 2);
  CHECK(TextWords(tokens) == 2);
}

TEST_CASE("AnalyzeText survives invalid UTF-8", "[engine]") {
  CHECK(Terms("ab\xFF\xFE"
              "cd") == V{"ab", "cd"});
  CHECK(Terms("caf\xC3") == V{"caf"});
  CHECK(Terms("\xE2\x82 euro \xC0\xAF \xED\xA0\x80 x") == V{"euro", "x"});
  CHECK(Terms(std::string("nul\0inside", 10)) == V{"nul", "inside"});
  std::mt19937 rng(11);
  for (int round = 0; round < 3000; ++round) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) {
      uint32_t r = rng();
      // Mostly letters and bytes of multi-byte sequences, some spaces.
      c = static_cast<char>(r % 4 == 0 ? 'a' + r % 26 : r % 11 == 0 ? ' ' : r >> 8);
    }
    for (TextLanguage lang : {TextLanguage::kSimple, TextLanguage::kEnglish}) {
      std::vector<TextToken> tokens;
      AnalyzeText(s, lang, &tokens);
      for (uint32_t i = 0; i < tokens.size(); ++i) {
        CHECK(tokens[i].position == i);
        CHECK_FALSE(tokens[i].term.empty());
        CHECK(tokens[i].term.size() <= kMaxTermBytes);
        CHECK(ValidUtf8(tokens[i].term));
      }
    }
  }
}

// Each thread has its own break iterators and stemmer.
TEST_CASE("AnalyzeText runs on many threads at once", "[engine]") {
  const std::string text = "The payments were RUNNING late: 42.50 \xE6\x9D\xB1\xE4\xBA\xAC, don't";
  const V expected = English(text);
  REQUIRE(expected.size() == 9);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int good = 0;
      for (int i = 0; i < 500; ++i) good += English(text) == expected && Terms(text).size() == 9;
      ok[t] = good;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int good : ok) CHECK(good == 500);
}

// The items of a pattern, as "term term" with a trailing * for a prefix.
V Items(std::string_view pattern, TextLanguage lang = TextLanguage::kSimple) {
  TextPattern p;
  std::string error;
  if (!ParseTextPattern(pattern, lang, &p, &error)) return V{"error: " + error};
  V items;
  for (const TextPatternItem& item : p.items) {
    std::string s;
    for (const std::string& t : item.terms) s += (s.empty() ? "" : " ") + t;
    if (item.prefix) {
      CHECK(item.terms.size() == 1);
      s += "*";
    }
    items.push_back(s);
  }
  return items;
}

std::string PatternError(std::string_view pattern) {
  TextPattern p;
  p.items.push_back(TextPatternItem{{"untouched"}, false});
  std::string error;
  if (ParseTextPattern(pattern, TextLanguage::kEnglish, &p, &error)) return "parsed";
  CHECK(p.items.size() == 1);  // left as it was
  CHECK_FALSE(error.empty());
  return error;
}

TEST_CASE("ParseTextPattern reads words, prefixes and phrases", "[engine]") {
  CHECK(Items("payment refund") == V{"payment", "refund"});
  CHECK(Items("  Payments\tREFUNDS\n", TextLanguage::kEnglish) == V{"payment", "refund"});
  // A word of several terms is a phrase of them.
  CHECK(Items("e-mail") == V{"e mail"});
  CHECK(Items("\xE6\x9D\xB1\xE4\xBA\xAC") == V{"\xE6\x9D\xB1 \xE4\xBA\xAC"});  // 東京
  // Prefixes: folded, not stemmed.
  CHECK(Items("pay*") == V{"pay*"});
  CHECK(Items("Runnin* PAYMENTS*", TextLanguage::kEnglish) == V{"runnin*", "payments*"});
  CHECK(Items("Stra\xC3\x9F*") == V{"strass*"});
  CHECK(Items("42.5*") == V{"42.5*"});
  // Katakana runs are one word, so a prefix of one is too (コー*).
  CHECK(Items("\xE3\x82\xB3\xE3\x83\xBC*") == V{"\xE3\x82\xB3\xE3\x83\xBC*"});
  CHECK(Items(std::string(kLongTermHead, 'q') + "*") == V{std::string(kLongTermHead, 'q') + "*"});
  CHECK(PatternError(std::string(kLongTermHead + 1, 'q') + "*") ==
        "a prefix before * in matches pattern is at most 47 bytes (UTF-8)");
  // A * inside a quoted phrase is punctuation.
  CHECK(Items("\"fo*o bar\"") == V{"fo o bar"});
  // Phrases: analyzed terms at consecutive positions.
  CHECK(Items("\"quick brown fox\"") == V{"quick brown fox"});
  CHECK(Items("\"The Running Dogs\"", TextLanguage::kEnglish) == V{"the run dog"});
  CHECK(Items("\"single\"") == V{"single"});
  CHECK(Items("pay* \"a b\" c") == V{"pay*", "a b", "c"});
  // A quote starts or ends a phrase wherever it stands.
  CHECK(Items("foo\"bar baz\"qux") == V{"foo", "bar baz", "qux"});
  CHECK(Items("pre*\"a b\"") == V{"pre*", "a b"});
  // Items without words are dropped.
  CHECK(Items("foo -- bar ... \"\" \"!?\"") == V{"foo", "bar"});
  // Unicode white space separates items too (no-break space, ideographic space).
  CHECK(Items("foo\xC2\xA0"
              "bar\xE3\x80\x80"
              "baz") == V{"foo", "bar", "baz"});
}

TEST_CASE("ParseTextPattern rejects bad patterns with a reason", "[engine]") {
  CHECK(PatternError("") == "matches pattern has no words");
  CHECK(PatternError("   ") == "matches pattern has no words");
  CHECK(PatternError("-- !! \"...\" \"\"") == "matches pattern has no words");
  CHECK(PatternError("\"unterminated") == "unterminated quote in matches pattern");
  CHECK(PatternError("foo \"bar baz") == "unterminated quote in matches pattern");
  CHECK(PatternError("\"a\" \"b") == "unterminated quote in matches pattern");
  CHECK(PatternError("*") == "a prefix needs at least one letter before * in matches pattern");
  CHECK(PatternError("foo -*") == "a prefix needs at least one letter before * in matches pattern");
  // One * ends a prefix, after a word that is all of it.
  const std::string star = "a * in matches pattern ends a prefix, once, after its word (\"caf*\"): ";
  CHECK(PatternError("**") == star + "'**'");
  CHECK(PatternError("pay**") == star + "'pay**'");
  CHECK(PatternError("pa*y") == star + "'pa*y'");
  CHECK(PatternError("fo*o *bar") == star + "'fo*o'");
  CHECK(PatternError("*bar") == star + "'*bar'");
  CHECK(PatternError("rent'*").find("a prefix must be a single word") == 0);
  CHECK(PatternError("bar.*").find("a prefix must be a single word") == 0);
  CHECK(PatternError("\xE6\x9D\xB1\xE4\xBA\xAC*").find("a prefix must be a single word") == 0);
  CHECK(PatternError("\"a b\"*") ==
        "a prefix (*) on a quoted phrase is not supported in matches patterns");
  CHECK(PatternError("\"a\"*") ==
        "a prefix (*) on a quoted phrase is not supported in matches patterns");
  CHECK(PatternError("e-ma*").find("a prefix must be a single word") == 0);
  CHECK(PatternError("\xE6\x9D\xB1\xE4\xBA\xAC*").find("a prefix must be a single word") == 0);
  // Invalid UTF-8 in a pattern is read, not a crash.
  CHECK(Items("ab\xFF"
              "cd \xC3") == V{"ab cd"});
  CHECK(PatternError("\xFF*") == "a prefix needs at least one letter before * in matches pattern");
}

}  // namespace
}  // namespace projd
