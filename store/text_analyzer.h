// The full-text analyzer of `index text FIELD [language ...]` and of `FIELD matches "pattern"`:
// both the index and the queries turn text into terms here, so that they agree. Words are ICU's
// word boundaries (UAX #29 with ICU's dictionaries), NFKC-normalised and fully case-folded
// (NFKC_Casefold), then stemmed by Snowball for English. ICU's dictionaries cut Chinese and
// Japanese into words that depend on the text around them, so a segment of ideographs or kana is
// split further into its characters (a phrase of them finds the word anywhere).
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

// The longest term, in bytes; a longer one is cut at a UTF-8 character boundary.
constexpr size_t kMaxTermBytes = 64;

// A term of a text and the index of its word among the text's words (0, 1, 2...).
struct TextToken {
  std::string term;
  uint32_t position;
};

// Appends to *out the terms of UTF-8 `text`: its words (ICU word boundaries; only segments whose
// rule status is a word with letters, numbers, kana or ideographs — not spaces, punctuation or
// emoji; a segment of ideographs or kana gives one word per character), NFKC-normalised and
// fully case-folded, then stemmed by Snowball for kEnglish (not for kSimple). Curly apostrophes
// are read as '. A term longer than kMaxTermBytes is cut at a character boundary. Invalid UTF-8
// is read as U+FFFD.
void AnalyzeText(std::string_view text, TextLanguage lang, std::vector<TextToken>* out);

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
//   word*     -> prefix: the word NFKC-normalised and case-folded (NOT stemmed); any term that
//                starts with it. The * is recognised only at the end of an unquoted item, and
//                the word must be one word (letters or numbers).
//   "a b c"   -> phrase: the analyzed terms at consecutive positions
// A " (\" in the query's string literal) starts or ends a phrase wherever it stands. Items that
// analyze to no terms (punctuation only) are dropped. false with *error (a reason for the user)
// when the pattern has no words left, a quote is not closed, a prefix has no word before the *
// or more than one, or a * follows a quoted phrase.
bool ParseTextPattern(std::string_view pattern, TextLanguage lang, TextPattern* out,
                      std::string* error);

}  // namespace projd

#endif  // PROJD_STORE_TEXT_ANALYZER_H_
