// Internals shared by the value model (dsl/value.cc) and its codecs (dsl/value_json_read.cc,
// dsl/value_json_write.cc, dsl/value_binary.cc), and the tests and benchmark that compare the
// two JSON readers.
#ifndef PROJD_DSL_VALUE_INTERNAL_H_
#define PROJD_DSL_VALUE_INTERNAL_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "dsl/value.h"

namespace projd {
namespace value_internal {

// Moves m[0..n) into a new vector sorted by name, keeping the last of duplicate names. Sorts
// indices rather than members, so each member is moved once and small objects (the usual
// event) need no temporary allocation.
std::vector<Object::Member> SortMembers(Object::Member* m, size_t n);

// JSON's whitespace (RFC 8259): space, tab, line feed, carriage return.
inline bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The stacks both JSON readers collect the members and elements of the containers being read
// on, then move into one exactly sized vector per container; one set per thread.
struct JsonStacks {
  std::vector<Object::Member> members;
  std::vector<Value> elements;
  // After a read, whole or failed (which leaves partial containers): empty, and not keeping
  // the memory of one huge text.
  void Reset() {
    members.clear();
    elements.clear();
    if (members.capacity() > 4096) std::vector<Object::Member>().swap(members);
    if (elements.capacity() > 4096) std::vector<Value>().swap(elements);
  }
};
JsonStacks& ThreadJsonStacks();  // dsl/value_json_read.cc

// Length (1..4) of the well-formed UTF-8 sequence starting at s[i], or 0 when it is not
// well-formed (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
inline size_t Utf8SequenceLength(const unsigned char* s, size_t n, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  auto cont = [&](size_t k, unsigned char lo, unsigned char hi) {
    return i + k < n && s[i + k] >= lo && s[i + k] <= hi;
  };
  if (c < 0xC2) return 0;
  if (c < 0xE0) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c < 0xF0) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c < 0xF5) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

// The quick reader (dsl/value_json_quick.cc), tried before the full one: a single pass over
// plain JSON (objects and arrays up to 32 levels, strings without escapes, numbers, literals).
// true: the text is read, exactly as ParseJson / ParseJsonMembers would read it. false: the
// quick reader is unsure (anything else, including every malformed text), *out or the slots
// are unspecified, and the full reader decides.
bool QuickParseJson(std::string_view text, Value* out);
bool QuickParseJsonMembers(std::string_view text, const JsonFieldSet& fields, Value* slots);
// The full reader alone (simdjson on demand, dsl/value_json_read.cc): what ParseJson and
// ParseJsonMembers run when the quick reader is unsure. For tests and the benchmark.
bool FullParseJson(std::string_view text, Value* out, std::string* error);
MemberRead FullParseJsonMembers(std::string_view text, const JsonFieldSet& fields, Value* slots,
                                std::string* error);

}  // namespace value_internal
}  // namespace projd

#endif  // PROJD_DSL_VALUE_INTERNAL_H_
