// The quick JSON reader of dsl/value_internal.h: one hand-written pass over the plain JSON that
// events almost always are, in front of the full reader (dsl/value_json_read.cc).
//
// It accepts a subset of JSON and reads it exactly as the full reader does: objects and arrays
// up to 32 levels deep, strings without escapes (UTF-8 checked sequence by sequence), numbers
// that Decimal::Parse takes, the three literals, JSON whitespace. At anything else it stops
// and says it is unsure, and the caller runs the full reader over the same text, which then
// accepts it or words the error. So the quick reader never decides that a text is malformed.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dsl/value.h"
#include "dsl/value_internal.h"

namespace projd {
namespace value_internal {
namespace {

constexpr int kQuickMaxDepth = 32;  // deeper texts go to the full reader (its limit is 64)

// A byte that needs a look inside a string: the closing quote, a backslash, a control
// character or the start of a multi-byte sequence (bytes >= 0x80 are negative as signed).
bool IsStringSpecial(char c) { return c == '"' || c == '\\' || static_cast<signed char>(c) < 0x20; }

#if defined(__SSE2__)
// IsStringSpecial of the 16 bytes at p, as a mask (bit i: p[i]).
unsigned StringSpecialMask16(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i special = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
  return static_cast<unsigned>(_mm_movemask_epi8(special));
}
#endif

class QuickReader {
 public:
  explicit QuickReader(std::string_view text)
      : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()) {}

  void SkipSpace() {
    // Compact JSON has none: one comparison says so (every JSON space is below '!').
    if (p_ == end_ || static_cast<unsigned char>(*p_) > ' ') return;
    while (p_ < end_ && IsJsonSpace(*p_)) ++p_;
  }
  bool AtEnd() const { return p_ == end_; }
  bool At(char c) const { return p_ < end_ && *p_ == c; }
  void Next() { ++p_; }

  // A string at p_ (its opening quote) without escapes: *s is its text, p_ past its closing
  // quote. false (unsure) at a backslash, a control character, malformed UTF-8 or the end.
  bool ReadString(std::string_view* s) {
    const char* start = ++p_;
    for (;;) {
      bool found = false;  // p_ is at the byte the scalar loop below would stop at
#if defined(__SSE2__)
      while (end_ - p_ >= 16) {
        if (unsigned mask = StringSpecialMask16(p_)) {
          p_ += __builtin_ctz(mask);
          found = true;
          break;
        }
        p_ += 16;
      }
      // Fewer than 16 bytes left (the last members of an event): the 16 that end the text,
      // with the bits of those before p_ shifted out.
      if (!found && p_ < end_ && end_ - begin_ >= 16) {
        const int before = static_cast<int>(16 - (end_ - p_));  // bytes before p_
        const unsigned mask = StringSpecialMask16(end_ - 16) >> before;
        p_ = mask != 0 ? p_ + __builtin_ctz(mask) : end_;
        found = true;
      }
#endif
      if (!found) {
        while (p_ < end_ && !IsStringSpecial(*p_)) ++p_;
      }
      if (p_ == end_) return false;
      if (*p_ == '"') {
        *s = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (static_cast<unsigned char>(*p_) < 0x80) return false;  // a backslash or a control
      size_t len = Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_),
                                      static_cast<size_t>(end_ - p_), 0);
      if (len == 0) return false;
      p_ += len;
    }
  }

  // A value at p_ into *out (nullptr: checked only); p_ past it.
  bool ReadValue(int depth, Value* out) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': {
        std::string_view s;
        if (!ReadString(&s)) return false;
        if (out) out->SetString(s);
        return true;
      }
      case '{':
        return ReadObject(depth + 1, out);
      case '[':
        return ReadArray(depth + 1, out);
      case 't':
        return ReadLiteral("true", 4) && (!out || (*out = Value::Bool(true), true));
      case 'f':
        return ReadLiteral("false", 5) && (!out || (*out = Value::Bool(false), true));
      case 'n':
        return ReadLiteral("null", 4) && (!out || (*out = Value(), true));
      default:
        return ReadNumber(out);
    }
  }

  // The members of a top-level object: those named in `fields` into their slots, the others
  // checked only. p_ is at the opening brace.
  bool ReadMembers(const JsonFieldSet& fields, Value* slots) {
    if (fields.size() > 64) return false;
    uint64_t seen = 0;
    bool ok = ReadItems('}', [&] {
      std::string_view key;
      if (!ReadName(&key)) return false;
      int slot = fields.Slot(key);
      if (At('"')) {  // most members are strings: read here, not through ReadValue's switch
        std::string_view s;
        if (!ReadString(&s)) return false;
        if (slot >= 0) slots[slot].SetString(s);
      } else if (!ReadValue(1, slot < 0 ? nullptr : &slots[slot])) {
        return false;
      }
      if (slot >= 0) seen |= uint64_t{1} << slot;
      return true;
    });
    if (!ok) return false;
    for (size_t i = 0; i < fields.size(); ++i) {
      if ((seen >> i & 1) == 0) slots[i] = Value();
    }
    return true;
  }

 private:
  bool ReadLiteral(const char* word, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;  // what follows is checked by the container (a delimiter or unsure)
  }

  // A number token: the bytes a number can have, then Decimal::Parse (strict JSON grammar).
  bool ReadNumber(Value* out) {
    const char* start = p_;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '-' || *p_ == '.' || *p_ == 'e' ||
                         *p_ == 'E' || *p_ == '+')) {
      ++p_;
    }
    Decimal d;
    if (p_ == start ||
        !Decimal::Parse(std::string_view(start, static_cast<size_t>(p_ - start)), &d)) {
      return false;
    }
    if (out) *out = Value::Number(d);
    return true;
  }

  // A member's name and the ':' after it, with the spaces around that.
  bool ReadName(std::string_view* key) {
    if (!At('"') || !ReadString(key)) return false;
    SkipSpace();
    if (!At(':')) return false;
    ++p_;
    SkipSpace();
    return true;
  }

  // The items of the container whose opening bracket is at p_, closed by `close`: each read
  // by item() (false: unsure), separated by commas; p_ past the closing bracket.
  template <typename ReadItem>
  bool ReadItems(char close, ReadItem&& item) {
    ++p_;
    SkipSpace();
    if (At(close)) {
      ++p_;
      return true;
    }
    for (;;) {
      if (!item()) return false;
      SkipSpace();
      if (p_ == end_) return false;
      if (*p_ == close) {
        ++p_;
        return true;
      }
      if (*p_ != ',') return false;
      ++p_;
      SkipSpace();
    }
  }

  bool ReadObject(int depth, Value* out) {
    if (depth > kQuickMaxDepth) return false;
    std::vector<Object::Member>& stack = ThreadJsonStacks().members;
    const size_t base = stack.size();
    bool ok = ReadItems('}', [&] {
      std::string_view key;
      if (!ReadName(&key)) return false;
      if (!out) return ReadValue(depth, nullptr);
      Value item;
      if (!ReadValue(depth, &item)) return false;
      stack.emplace_back(std::string(key), std::move(item));
      return true;
    });
    if (!ok || !out) return ok;
    std::vector<Object::Member> members = SortMembers(stack.data() + base, stack.size() - base);
    stack.resize(base);
    *out = Value::MakeObject(Object::FromMembers(std::move(members)));
    return true;
  }

  bool ReadArray(int depth, Value* out) {
    if (depth > kQuickMaxDepth) return false;
    std::vector<Value>& stack = ThreadJsonStacks().elements;
    const size_t base = stack.size();
    bool ok = ReadItems(']', [&] {
      if (!out) return ReadValue(depth, nullptr);
      Value item;
      if (!ReadValue(depth, &item)) return false;
      stack.push_back(std::move(item));
      return true;
    });
    if (!ok || !out) return ok;
    Array items(std::make_move_iterator(stack.begin() + static_cast<std::ptrdiff_t>(base)),
                std::make_move_iterator(stack.end()));
    stack.resize(base);
    *out = Value::MakeArray(std::move(items));
    return true;
  }

  const char* p_;
  const char* const begin_;
  const char* const end_;
};

}  // namespace

bool QuickParseJson(std::string_view text, Value* out) {
  QuickReader r(text);
  r.SkipSpace();
  if (!r.At('{') && !r.At('[')) return false;  // top-level scalars: the full reader
  Value v;
  bool ok = r.ReadValue(0, &v);
  ThreadJsonStacks().Reset();
  if (!ok) return false;
  r.SkipSpace();
  if (!r.AtEnd()) return false;
  *out = std::move(v);
  return true;
}

bool QuickParseJsonMembers(std::string_view text, const JsonFieldSet& fields, Value* slots) {
  QuickReader r(text);
  r.SkipSpace();
  if (!r.At('{')) return false;
  bool ok = r.ReadMembers(fields, slots);
  ThreadJsonStacks().Reset();
  if (!ok) return false;
  r.SkipSpace();
  return r.AtEnd();
}

}  // namespace value_internal
}  // namespace projd
