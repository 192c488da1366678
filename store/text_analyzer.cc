#include "store/text_analyzer.h"

#include <libstemmer.h>
#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "dsl/query.h"

namespace projd {

bool ParseTextLanguage(std::string_view name, TextLanguage* out) {
  if (name == "simple") {
    *out = TextLanguage::kSimple;
  } else if (name == "english") {
    *out = TextLanguage::kEnglish;
  } else {
    return false;
  }
  return true;
}

const char* TextLanguageName(TextLanguage l) {
  switch (l) {
    case TextLanguage::kSimple:
      return "simple";
    case TextLanguage::kEnglish:
      return "english";
  }
  return "simple";
}

namespace {

// A thread's ICU state: break iterators are costly to create and not thread-safe, so each
// thread makes its own once and points them at each text.
struct Icu {
  icu::UnicodeString empty;  // what the iterators point at between calls
  std::unique_ptr<icu::BreakIterator> words;
  std::unique_ptr<icu::BreakIterator> chars;  // splits a segment of ideographs or kana
  const icu::Normalizer2* nfkc = nullptr;     // ICU's singletons, shared by all threads
  const icu::Normalizer2* nfkc_casefold = nullptr;
};

[[noreturn]] void IcuFailed(const char* what, UErrorCode status) {
  throw std::runtime_error(std::string("text analyzer: ") + what + ": " + u_errorName(status));
}

Icu& ThreadIcu() {
  thread_local Icu icu = [] {
    Icu i;
    UErrorCode status = U_ZERO_ERROR;
    i.words.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status) || !i.words) IcuFailed("no ICU word break iterator", status);
    i.chars.reset(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status) || !i.chars) IcuFailed("no ICU character break iterator", status);
    i.nfkc = icu::Normalizer2::getNFKCInstance(status);
    if (U_FAILURE(status)) IcuFailed("no ICU NFKC normalizer", status);
    i.nfkc_casefold = icu::Normalizer2::getNFKCCasefoldInstance(status);
    if (U_FAILURE(status)) IcuFailed("no ICU NFKC_Casefold normalizer", status);
    return i;
  }();
  return icu;
}

// A thread's Snowball stemmer (a stemmer is not thread-safe), made on first use.
struct Stemmer {
  sb_stemmer* english = nullptr;
  ~Stemmer() {
    if (english != nullptr) sb_stemmer_delete(english);
  }
};

sb_stemmer* EnglishStemmer() {
  thread_local Stemmer stemmer;
  if (stemmer.english == nullptr) {
    stemmer.english = sb_stemmer_new("english", "UTF_8");
    if (stemmer.english == nullptr) throw std::runtime_error("text analyzer: no Snowball stemmer");
  }
  return stemmer.english;
}

// Shortens valid UTF-8 `s` longer than kMaxTermBytes: its first bytes (at most kLongTermHead,
// at a character boundary), kLongTermMark and the hex FNV-1a hash of all of it.
void ShortenTerm(std::string* s) {
  if (s->size() <= kMaxTermBytes) return;
  uint64_t hash = 14695981039346656037ULL;
  for (char c : *s) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  size_t n = kLongTermHead;
  while (n > 0 && (static_cast<unsigned char>((*s)[n]) & 0xC0) == 0x80) --n;
  s->resize(n);
  s->push_back(kLongTermMark);
  static const char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) s->push_back(kHex[(hash >> shift) & 0xF]);
}

// Turns the words of one text into tokens, numbering them.
class TermSink {
 public:
  TermSink(Icu& icu, TextLanguage lang, bool words_too, std::vector<TextToken>* out)
      : icu_(icu), lang_(lang), words_too_(words_too), out_(out) {}

  // One word (NFKC text): case-folded, stemmed, cut, appended with the next position.
  void Word(const icu::UnicodeString& word) {
    UErrorCode status = U_ZERO_ERROR;
    // NFKC_Casefold: full case folding, kept in NFKC, default ignorables (soft hyphens,
    // joiners, variation selectors) removed.
    icu_.nfkc_casefold->normalize(word, folded_, status);
    if (U_FAILURE(status)) return;
    // Curly apostrophes (’ ‘ are inside words for ICU, as ' is) are read as ': "don’t" is "don't",
    // and the English stemmer knows only '.
    for (int32_t i = 0; i < folded_.length(); ++i) {
      char16_t c = folded_.charAt(i);
      if (c == 0x2018 || c == 0x2019) folded_.setCharAt(i, u'\'');
    }
    word_.clear();
    folded_.toUTF8String(word_);
    if (word_.size() > INT_MAX) ShortenTerm(&word_);  // beyond the stemmer's lengths
    if (word_.empty()) return;
    if (lang_ != TextLanguage::kEnglish) {
      ShortenTerm(&word_);
      out_->push_back(TextToken{word_, position_++});
      return;
    }
    sb_stemmer* stemmer = EnglishStemmer();
    const sb_symbol* stem = sb_stemmer_stem(
        stemmer, reinterpret_cast<const sb_symbol*>(word_.data()), static_cast<int>(word_.size()));
    if (stem == nullptr) throw std::bad_alloc();
    term_.assign(reinterpret_cast<const char*>(stem), sb_stemmer_length(stemmer));
    if (term_.empty()) return;
    ShortenTerm(&term_);
    out_->push_back(TextToken{term_, position_});
    if (words_too_) {
      ShortenTerm(&word_);
      out_->push_back(TextToken{kWordTermMark + word_, position_});
    }
    ++position_;
  }

 private:
  Icu& icu_;
  TextLanguage lang_;
  bool words_too_;  // the kWordTermMark terms after the stems
  std::vector<TextToken>* out_;
  uint32_t position_ = 0;
  icu::UnicodeString folded_;  // reused for every word
  std::string word_, term_;
};

// One UTF-8 character at s[i]: its length (1 for a bad byte) and code point (negative if bad).
size_t CharAt(std::string_view s, size_t i, UChar32* c) {
  int32_t at = 0;
  const int32_t n = static_cast<int32_t>(std::min<size_t>(s.size() - i, 4));
  U8_NEXT(reinterpret_cast<const uint8_t*>(s.data() + i), at, n, *c);
  return static_cast<size_t>(at);
}

// Whether all of `text` lies in segments that are words (no punctuation, symbol or space
// between or around them): "rent'" is a word and an apostrophe, so not a prefix of "rent's".
bool IsWordsOnly(std::string_view text) {
  Icu& icu = ThreadIcu();
  icu::UnicodeString src = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString normalized = icu.nfkc->normalize(src, status);
  if (U_FAILURE(status) || normalized.isBogus()) throw std::bad_alloc();
  icu::BreakIterator& words = *icu.words;
  words.setText(normalized);
  bool only = true;
  for (int32_t end = (words.first(), words.next()); end != icu::BreakIterator::DONE && only;
       end = words.next()) {
    const int32_t rule = words.getRuleStatus();
    only = rule >= UBRK_WORD_NUMBER && rule < UBRK_WORD_IDEO_LIMIT;
  }
  words.setText(icu.empty);
  return only;
}

}  // namespace

void AnalyzeText(std::string_view text, TextLanguage lang, std::vector<TextToken>* out,
                 bool for_index) {
  // ICU strings are at most INT32_MAX code units long.
  if (text.size() > INT32_MAX) text = text.substr(0, INT32_MAX);
  if (text.empty()) return;
  Icu& icu = ThreadIcu();
  // Bad bytes become U+FFFD; then NFKC before segmentation, so that "x²" or "ﬁne" are the
  // words they look like.
  icu::UnicodeString src = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (src.isBogus()) throw std::bad_alloc();
  UErrorCode status = U_ZERO_ERROR;
  if (icu.nfkc->quickCheck(src, status) != UNORM_YES && U_SUCCESS(status)) {
    icu::UnicodeString normalized = icu.nfkc->normalize(src, status);
    if (U_FAILURE(status) || normalized.isBogus()) throw std::bad_alloc();
    src = std::move(normalized);
  }

  TermSink sink(icu, lang, for_index && lang == TextLanguage::kEnglish, out);
  // A run of katakana is one word, as Unicode's word segmentation has it (rule WB13: コーヒー is
  // a word), whatever ICU's dictionary made of it; it may span segments.
  icu::UnicodeString katakana;
  auto end_katakana = [&] {
    if (katakana.isEmpty()) return;
    sink.Word(katakana);
    katakana.remove();
  };
  icu::BreakIterator& words = *icu.words;
  words.setText(src);
  for (int32_t start = words.first(), end = words.next(); end != icu::BreakIterator::DONE;
       start = end, end = words.next()) {
    // UBRK_WORD_NONE (0..99): spaces, punctuation, symbols, emoji.
    const int32_t rule = words.getRuleStatus();
    if (rule < UBRK_WORD_NUMBER || rule >= UBRK_WORD_IDEO_LIMIT) {
      end_katakana();
      continue;
    }
    icu::UnicodeString segment = src.tempSubStringBetween(start, end);
    if (rule < UBRK_WORD_KANA) {
      end_katakana();
      sink.Word(segment);
      continue;
    }
    // Ideographs and kana: ICU's dictionary words depend on the text around them (中华人民共和国
    // is 中华 人民 共和国, 人民共和国 alone something else), so each character is a word and a
    // phrase of them finds any run of characters; but for runs of katakana.
    icu::BreakIterator& chars = *icu.chars;
    chars.setText(segment);
    for (int32_t s = chars.first(), e = chars.next(); e != icu::BreakIterator::DONE;
         s = e, e = chars.next()) {
      if (u_getIntPropertyValue(segment.char32At(s), UCHAR_WORD_BREAK) == U_WB_KATAKANA) {
        katakana.append(segment, s, e - s);
        continue;
      }
      end_katakana();
      sink.Word(segment.tempSubStringBetween(s, e));
    }
    chars.setText(icu.empty);
  }
  end_katakana();
  // The iterator must not keep pointing at this call's string.
  words.setText(icu.empty);
}

bool ParseTextPattern(std::string_view pattern, TextLanguage lang, TextPattern* out,
                      std::string* error) {
  TextPattern parsed;
  std::vector<TextToken> tokens;
  // Adds the analyzed terms of `words` (none: nothing, as for punctuation only).
  auto add_terms = [&](std::string_view words) {
    tokens.clear();
    AnalyzeText(words, lang, &tokens);
    if (tokens.empty()) return;
    TextPatternItem item;
    for (TextToken& t : tokens) item.terms.push_back(std::move(t.term));
    parsed.items.push_back(std::move(item));
  };
  auto white_space_at = [&](size_t i) -> size_t {
    UChar32 c;
    size_t n = CharAt(pattern, i, &c);
    return c >= 0 && u_isUWhiteSpace(c) ? n : 0;
  };

  size_t i = 0;
  while (i < pattern.size()) {
    if (size_t n = white_space_at(i)) {
      i += n;
      continue;
    }
    if (pattern[i] == '"') {
      const size_t close = pattern.find('"', i + 1);
      if (close == std::string_view::npos) {
        *error = "unterminated quote in matches pattern";
        return false;
      }
      std::string_view phrase = pattern.substr(i + 1, close - i - 1);
      i = close + 1;
      if (i < pattern.size() && pattern[i] == '*') {
        *error = "a prefix (*) on a quoted phrase is not supported in matches patterns";
        return false;
      }
      add_terms(phrase);
      continue;
    }
    // An unquoted item: up to white space or a quote.
    const size_t start = i;
    while (i < pattern.size() && pattern[i] != '"' && white_space_at(i) == 0) {
      UChar32 c;
      i += CharAt(pattern, i, &c);
    }
    std::string_view word = pattern.substr(start, i - start);
    const size_t star = word.find('*');
    if (star == std::string_view::npos) {
      add_terms(word);
      continue;
    }
    // A prefix: folded, not stemmed (the terms it is compared with are stems, of words that
    // start with it). One * ends it: "pa*y" and "pay**" say something a prefix cannot.
    if (star + 1 != word.size()) {
      *error = "a * in matches pattern ends a prefix, once, after its word (\"caf*\"): '" +
               std::string(word) + "'";
      return false;
    }
    word.remove_suffix(1);
    tokens.clear();
    AnalyzeText(word, TextLanguage::kSimple, &tokens);
    if (tokens.empty()) {
      *error = "a prefix needs at least one letter before * in matches pattern";
      return false;
    }
    if (tokens.size() > 1 || !IsWordsOnly(word)) {
      *error =
          "a prefix must be a single word before * in matches pattern (\"e-ma*\" is two words; "
          "ideographs and hiragana are a word each)";
      return false;
    }
    if (tokens[0].term.size() > kLongTermHead) {
      *error = "a prefix before * in matches pattern is at most " + std::to_string(kLongTermHead) +
               " bytes (UTF-8)";
      return false;
    }
    TextPatternItem item;
    item.terms.push_back(std::move(tokens[0].term));
    item.prefix = true;
    parsed.items.push_back(std::move(item));
  }
  if (parsed.items.empty()) {
    *error = "matches pattern has no words";
    return false;
  }
  *out = std::move(parsed);
  return true;
}

namespace {

bool CheckMatchesPattern(const std::string& pattern, const std::string& language,
                         std::string* error) {
  TextLanguage lang = TextLanguage::kSimple;
  ParseTextLanguage(language, &lang);
  TextPattern parsed;
  return ParseTextPattern(pattern, lang, &parsed, error);
}

// Queries compiled where the analyzer is linked have their patterns checked at compile time.
[[maybe_unused]] const bool kMatchesPatternCheckSet = [] {
  SetMatchesPatternCheck(&CheckMatchesPattern);
  return true;
}();

}  // namespace

}  // namespace projd
