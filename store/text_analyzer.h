// The full-text analyzer of `index text FIELD [language ...]` and of `FIELD matches "pattern"`:
// both the index and the queries turn text into terms here, so that they agree. Words are ICU's
// word boundaries (UAX #29 with ICU's dictionaries), NFKC-normalised and fully case-folded
// (NFKC_Casefold), then stemmed by Snowball for English. ICU's dictionaries cut Chinese and
// Japanese into words that depend on the text around them, so a segment of ideographs or kana is
// split further into its characters (a phrase of them finds the word anywhere), but for a run
// of katakana, which is one word (Unicode's rule WB13).
//
// Thread-safety: every function may be called from any thread; each thread keeps its own ICU
// break iterators and Snowball stemmer.
#ifndef PROJD_STORE_TEXT_ANALYZER_H_
#define PROJD_STORE_TEXT_ANALYZER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace projd {

// The language of a text index: which stemmer, if any, its terms go through.
enum class TextLanguage : uint8_t { kSimple, kEnglish };

// "simple" or "english" -> true and *out; anything else -> false.
bool ParseTextLanguage(std::string_view name, TextLanguage* out);
// "simple" or "english".
const char* TextLanguageName(TextLanguage l);

// The longest term, in bytes. A longer word's term is its first bytes (at most kLongTermHead,
// cut at a UTF-8 character boundary), the byte kLongTermMark and the 16 hex digits of a 64-bit
// FNV-1a hash of the whole word: two long words that share their start stay two terms, and a
// prefix of up to kLongTermHead bytes still finds them.
constexpr size_t kMaxTermBytes = 64;
constexpr size_t kLongTermHead = kMaxTermBytes - 17;
constexpr char kLongTermMark = '\x02';

// (Any change to the terms made here raises kTextAnalyzerVersion in dsl/program.h.)
// On a stemmed field (kEnglish) the index also keeps each word as written (folded, not
// stemmed), as a term that starts with this byte, for prefix searches: "payments*" must find
// "payments", whose stem is "payment". No analyzed word starts with it.
constexpr char kWordTermMark = '\x01';

// A term of a text and the index of its word among the text's words (0, 1, 2...).
struct TextToken {
  std::string term;
  uint32_t position;
};

// Appends to *out the terms of UTF-8 `text`: its words (ICU word boundaries; only segments whose
// rule status is a word with letters, numbers, kana or ideographs — not spaces, punctuation or
// emoji; a segment of ideographs or hiragana gives one word per character, a run of katakana
// one word), NFKC-normalised and
// fully case-folded, then stemmed by Snowball for kEnglish (not for kSimple). Curly apostrophes
// are read as '. A term longer than kMaxTermBytes is shortened as kLongTermHead says. Invalid
// UTF-8 is read as U+FFFD. With `for_index` and kEnglish, each stem is followed by the word's
// kWordTermMark term at the same position (TextWords counts words, not tokens).
void AnalyzeText(std::string_view text, TextLanguage lang, std::vector<TextToken>* out,
                 bool for_index = false);

// How many words the tokens of one text stand for (the text's length for BM25).
inline uint32_t TextWords(const std::vector<TextToken>& tokens) {
  return tokens.empty() ? 0 : tokens.back().position + 1;
}

// An item of a `matches` pattern: terms.size() > 1 is a phrase (the terms at consecutive
// positions); prefix (then terms.size() == 1): any term starting with terms[0].
struct TextPatternItem {
  std::vector<std::string> terms;
  bool prefix = false;
};

// A parsed `matches` pattern: a row matches when all of its items occur in the field.
struct TextPattern {
  std::vector<TextPatternItem> items;
};

// Parses a `matches` pattern: items separated by white space (Unicode's), all of which must
// occur:
//   word      -> its analyzed term(s); a word that analyzes into several terms ("e-mail") is a
//                phrase of them
//   word*     -> prefix: the word NFKC-normalised and case-folded (NOT stemmed); any word that
//                starts with it (on a kEnglish field, its kWordTermMark terms). The * is
//                recognised only at the end of an unquoted item, the word must be one word
//                (letters or numbers) of at most kLongTermHead bytes.
//   "a b c"   -> phrase: the analyzed terms at consecutive positions
// A " (\" in the query's string literal) starts or ends a phrase wherever it stands. Items that
// analyze to no terms (punctuation only) are dropped. false with *error (a reason for the user)
// when the pattern has no words left, a quote is not closed, a prefix has no word before the *,
// more than one or a longer one, or a * follows a quoted phrase.
bool ParseTextPattern(std::string_view pattern, TextLanguage lang, TextPattern* out,
                      std::string* error);

}  // namespace projd

#endif  // PROJD_STORE_TEXT_ANALYZER_H_
