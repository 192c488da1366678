// Values as JSON text: WriteJson, ToJson and WritePrettyJson of dsl/value.h.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "dsl/value.h"
#include "dsl/value_internal.h"

namespace projd {
namespace {

using value_internal::Utf8SequenceLength;

// Bytes a JSON string can hold verbatim without further checks: printable ASCII except '"'
// and '\\'. Everything else takes the slow path (escape or UTF-8 validation).
struct PlainByteTable {
  bool plain[256];
  constexpr PlainByteTable() : plain() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainByteTable kPlainByte;

// Whether any of the 8 bytes in x is not plain: below 0x20, '"', '\\' or 0x80 and above
// (the "has a byte less than / equal to" bit tricks, exact for the whole word).
inline bool HasNonPlain(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t quote = x ^ (kOnes * '"');
  uint64_t backslash = x ^ (kOnes * '\\');
  uint64_t below = (x - kOnes * 0x20) & ~x;
  uint64_t is_quote = (quote - kOnes) & ~quote;
  uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  return ((below | is_quote | is_backslash | x) & kHigh) != 0;
}

// The length of the plain prefix of p[0, n): eight bytes at a time, the last eight (overlapping
// the ones before) for the tail of a string of at least eight.
size_t PlainPrefix(const unsigned char* p, size_t n) {
  size_t i = 0;
  if (n >= 8) {
    uint64_t word;
    for (; i + 8 <= n; i += 8) {
      std::memcpy(&word, p + i, 8);
      if (HasNonPlain(word)) break;
    }
    if (i + 8 > n) {  // every whole word was plain
      if (i == n) return n;
      std::memcpy(&word, p + n - 8, 8);
      if (!HasNonPlain(word)) return n;
    }
  }
  while (i < n && kPlainByte.plain[p[i]]) ++i;
  return i;
}

void AppendQuoted(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = PlainPrefix(p, n);
  if (i == n && n <= 62) {  // nearly always: the quotes and the bytes in one append
    char quoted[64];
    quoted[0] = '"';
    std::copy(s.begin(), s.end(), quoted + 1);
    quoted[n + 1] = '"';
    out->append(quoted, n + 2);
    return;
  }
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  while (i < n) {
    unsigned char c = p[i];
    if (kPlainByte.plain[c]) {
      ++i;
      continue;
    }
    size_t len = c < 0x80 ? 0 : Utf8SequenceLength(p, n, i);
    if (len != 0) {  // well-formed multi-byte character: copied as is
      i += len;
      continue;
    }
    out->append(s.data() + run, i - run);
    if (c == '"') {
      out->append("\\\"");
    } else if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out->append(esc, 6);
    } else {
      // Invalid UTF-8 (possible from non-JSON sources) would make the output invalid JSON.
      out->append("\\ufffd");
    }
    ++i;
    run = i;
  }
  out->append(s.data() + run, n - run);
  out->push_back('"');
}

void WriteCompactObject(const Object& o, std::string* out);

void WriteCompact(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kNull:
      out->append("null");
      return;
    case Value::Type::kBool:
      out->append(v.as_bool() ? "true" : "false");
      return;
    case Value::Type::kNumber:
      v.as_number().AppendTo(out);
      return;
    case Value::Type::kString:
      AppendQuoted(v.as_string(), out);
      return;
    case Value::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const Value& item : v.as_array()) {
        if (!first) out->push_back(',');
        first = false;
        WriteCompact(item, out);
      }
      out->push_back(']');
      return;
    }
    case Value::Type::kObject:
      WriteCompactObject(v.as_object(), out);
      return;
  }
}

void WriteCompactObject(const Object& o, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const auto& [name, item] : o.members()) {
    if (!first) out->push_back(',');
    first = false;
    AppendQuoted(name, out);
    out->push_back(':');
    WriteCompact(item, out);
  }
  out->push_back('}');
}

void WritePretty(const Value& v, int indent, std::string* out) {
  auto newline = [out](int level) {
    out->push_back('\n');
    out->append(static_cast<size_t>(level) * 2, ' ');
  };
  if (v.is_array() && !v.as_array().empty()) {
    out->push_back('[');
    bool first = true;
    for (const Value& item : v.as_array()) {
      if (!first) out->push_back(',');
      first = false;
      newline(indent + 1);
      WritePretty(item, indent + 1, out);
    }
    newline(indent);
    out->push_back(']');
  } else if (v.is_object() && !v.as_object().empty()) {
    out->push_back('{');
    bool first = true;
    for (const auto& [name, item] : v.as_object().members()) {
      if (!first) out->push_back(',');
      first = false;
      newline(indent + 1);
      AppendQuoted(name, out);
      out->append(": ");
      WritePretty(item, indent + 1, out);
    }
    newline(indent);
    out->push_back('}');
  } else {
    WriteCompact(v, out);  // scalars, [] and {}
  }
}

}  // namespace

void WriteJson(const Value& v, std::string* out) { WriteCompact(v, out); }
void WriteJsonString(std::string_view s, std::string* out) { AppendQuoted(s, out); }
void WriteJsonObject(const Object& o, std::string* out) { WriteCompactObject(o, out); }

std::string ToJson(const Value& v) {
  std::string s;
  WriteCompact(v, &s);
  return s;
}

void WritePrettyJson(const Value& v, std::string* out) { WritePretty(v, 0, out); }

}  // namespace projd
