// SkipJsonValue (json_extent.h): the bytewise scan, and the 64-byte one for objects and arrays.
#include "connectors/json_extent.h"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace projd {
namespace {

// Where a JSON string ends: `p` is just past its opening quote, or inside the string after a
// part that holds no backslash; returns the byte after the closing quote, or nullptr when the
// string is not closed before `end`.
const char* StringEnd(const char* p, const char* end) {
  const char* from = p;
  while (p < end) {
    p = static_cast<const char*>(std::memchr(p, '"', static_cast<size_t>(end - p)));
    if (!p) return nullptr;
    size_t backslashes = 0;
    for (const char* q = p; q > from && q[-1] == '\\'; --q) ++backslashes;
    if (backslashes % 2 == 0) return p + 1;
    ++p;
  }
  return nullptr;
}

// Bytes that end a run of bytes skipped inside an array or object.
struct StopTable {
  bool stop[256];
  constexpr StopTable() : stop() {
    stop[static_cast<unsigned char>('"')] = stop[static_cast<unsigned char>('{')] = true;
    stop[static_cast<unsigned char>('}')] = stop[static_cast<unsigned char>('[')] = true;
    stop[static_cast<unsigned char>(']')] = true;
  }
};
constexpr StopTable kStop;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Scans an object or array from `p` on, where `depth` brackets are open (0: p is at the
// opening one) and, with in_string, a string is open too (with no backslash in it before p):
// past the bracket that closes the first one, or nullptr when `end` comes first.
const char* ContainerEnd(const char* p, const char* end, int depth, bool in_string) {
  if (in_string) {
    p = StringEnd(p, end);
    if (!p) return nullptr;
  }
  do {
    while (p < end && !kStop.stop[static_cast<unsigned char>(*p)]) ++p;
    if (p >= end) return nullptr;
    char c = *p;
    if (c == '"') {
      p = StringEnd(p + 1, end);
      if (!p) return nullptr;
    } else {
      depth += (c == '{' || c == '[') ? 1 : -1;
      ++p;
    }
  } while (depth > 0);
  return p;
}

#if defined(__SSE2__)
// Bit i of each mask: byte i of the 64 at p is a quote, a backslash, an opening or a closing
// bracket ('[' | 0x20 == '{' and ']' | 0x20 == '}': no other byte maps onto either).
struct BlockMasks {
  uint64_t quote = 0, backslash = 0, open = 0, close = 0;
};

BlockMasks Classify(const char* p) {
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  const __m128i open = _mm_set1_epi8('{'), close = _mm_set1_epi8('}');
  const __m128i lower = _mm_set1_epi8(0x20);
  BlockMasks m;
  for (int k = 0; k < 4; ++k) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    __m128i folded = _mm_or_si128(v, lower);
    auto bits = [k](__m128i eq) {
      return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(eq))) << (16 * k);
    };
    m.quote |= bits(_mm_cmpeq_epi8(v, quote));
    m.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
    m.open |= bits(_mm_cmpeq_epi8(folded, open));
    m.close |= bits(_mm_cmpeq_epi8(folded, close));
  }
  return m;
}

// Bit i: the XOR of bits 0..i (1 from an opening quote up to its closing quote, exclusive).
uint64_t PrefixXor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}
#endif

// ContainerEnd for the object or array whose opening bracket is at p.
const char* ContainerEndFast(const char* p, const char* end) {
  int depth = 0;
  bool in_string = false;
#if defined(__SSE2__)
  while (end - p >= 64) {
    BlockMasks m = Classify(p);
    if (m.backslash != 0) break;  // escapes: the bytewise scan goes on from this block
    uint64_t inside = PrefixXor(m.quote) ^ (in_string ? ~uint64_t{0} : 0);
    uint64_t brackets = (m.open | m.close) & ~inside;
    while (brackets != 0) {
      int bit = __builtin_ctzll(brackets);
      depth += (m.open >> bit) & 1 ? 1 : -1;
      if (depth == 0) return p + bit + 1;
      brackets &= brackets - 1;
    }
    in_string = (inside >> 63) != 0;
    p += 64;
  }
#endif
  return ContainerEnd(p, end, depth, in_string);
}

template <bool kFast>
bool Skip(std::string_view s, size_t* i) {
  const char* const begin = s.data();
  const char* const end = begin + s.size();
  const char* p = begin + *i;
  while (p < end && IsSpace(*p)) ++p;
  if (p >= end) return false;
  if (*p == '}' || *p == ']') return false;
  if (*p == '"') {
    p = StringEnd(p + 1, end);
  } else if (*p != '{' && *p != '[') {
    // A scalar: up to the next delimiter.
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !IsSpace(*p)) ++p;
  } else {
    p = kFast ? ContainerEndFast(p, end) : ContainerEnd(p, end, 0, false);
  }
  if (!p) return false;
  *i = static_cast<size_t>(p - begin);
  return true;
}

}  // namespace

bool SkipJsonValue(std::string_view s, size_t* i) { return Skip<true>(s, i); }

bool SkipJsonValueBytewise(std::string_view s, size_t* i) { return Skip<false>(s, i); }

}  // namespace projd
