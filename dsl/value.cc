#include "dsl/value.h"

#include <simdjson.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "dsl/varint.h"

namespace projd {
namespace {

using u128 = unsigned __int128;

bool NameLess(const Object::Member& m, std::string_view name) {
  // string_view compares through char_traits<char>, i.e. as unsigned bytes.
  return std::string_view(m.first) < name;
}

bool MembersSorted(const Object::Member* m, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    if (!(std::string_view(m[i - 1].first) < std::string_view(m[i].first))) return false;
  }
  return true;
}

// Moves m[0..n) into a new vector sorted by name, keeping the last of duplicate names. Sorts
// indices rather than members, so each member is moved once and small objects (the usual
// event) need no temporary allocation.
std::vector<Object::Member> SortMembers(Object::Member* m, size_t n) {
  std::vector<Object::Member> out;
  out.reserve(n);
  if (MembersSorted(m, n)) {
    for (size_t i = 0; i < n; ++i) out.push_back(std::move(m[i]));
    return out;
  }
  constexpr size_t kSmall = 32;
  uint32_t small[kSmall];
  std::vector<uint32_t> large;
  uint32_t* idx = small;
  if (n > kSmall) {
    large.resize(n);
    idx = large.data();
  }
  for (size_t i = 0; i < n; ++i) idx[i] = static_cast<uint32_t>(i);
  // Both sorts are stable: equal names stay in input order, so the last of a run wins.
  auto less = [m](uint32_t a, uint32_t b) {
    return std::string_view(m[a].first) < std::string_view(m[b].first);
  };
  if (n <= kSmall) {
    for (size_t i = 1; i < n; ++i) {
      uint32_t cur = idx[i];
      size_t j = i;
      for (; j > 0 && less(cur, idx[j - 1]); --j) idx[j] = idx[j - 1];
      idx[j] = cur;
    }
  } else {
    std::stable_sort(idx, idx + n, less);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n && m[idx[i]].first == m[idx[i + 1]].first) continue;
    out.push_back(std::move(m[idx[i]]));
  }
  return out;
}

// Length (1..4) of the well-formed UTF-8 sequence starting at s[i], or 0 when it is not
// well-formed (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(const unsigned char* s, size_t n, size_t i) {
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

// Offset of the first byte that is not part of well-formed UTF-8, or npos.
size_t FirstInvalidUtf8(std::string_view text) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(s, n, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// JSON reading

constexpr int kMaxJsonDepth = 64;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// True when `text` follows the JSON number grammar (used only to word error messages).
bool IsNumberSyntax(std::string_view t) {
  size_t i = 0, n = t.size();
  auto digits = [&] {
    size_t b = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > b;
  };
  if (i < n && t[i] == '-') ++i;
  if (i < n && t[i] == '0') {
    ++i;
  } else if (i >= n || t[i] < '1' || t[i] > '9' || !digits()) {
    return false;
  }
  if (i < n && t[i] == '.' && (++i, !digits())) return false;
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

// Error-path helper: walks the text outside and inside strings to place problems that
// simdjson reports without a position.
struct TextScan {
  size_t control_in_string = std::string_view::npos;  // raw control character in a string
  size_t unclosed_string = std::string_view::npos;    // opening quote never closed
  size_t trailing = std::string_view::npos;           // content after the top-level value
  size_t mismatched = std::string_view::npos;         // closing bracket of the wrong kind

  explicit TextScan(std::string_view t) {
    std::string open;  // the brackets currently open
    bool seen_value = false;
    for (size_t i = 0; i < t.size(); ++i) {
      char c = t[i];
      if (seen_value && open.empty() && !IsJsonSpace(c)) {
        if (trailing == std::string_view::npos) trailing = i;
      }
      if (c == '"') {
        size_t start = i++;
        while (i < t.size() && t[i] != '"') {
          if (static_cast<unsigned char>(t[i]) < 0x20 &&
              control_in_string == std::string_view::npos) {
            control_in_string = i;
          }
          if (t[i] == '\\') ++i;
          ++i;
        }
        if (i >= t.size()) {
          unclosed_string = start;
          return;
        }
        if (open.empty()) seen_value = true;
      } else if (c == '[' || c == '{') {
        open.push_back(c);
      } else if (c == ']' || c == '}') {
        if (open.empty() || open.back() != (c == ']' ? '[' : '{')) {
          if (mismatched == std::string_view::npos) mismatched = i;
          continue;
        }
        open.pop_back();
        if (open.empty()) seen_value = true;
      } else if (!IsJsonSpace(c) && open.empty()) {
        // A bare scalar at the top level ends at the next space or structural character.
        while (i + 1 < t.size() && !IsJsonSpace(t[i + 1]) && t[i + 1] != '"' && t[i + 1] != '[' &&
               t[i + 1] != '{' && t[i + 1] != ']' && t[i + 1] != '}' && t[i + 1] != ',') {
          ++i;
        }
        seen_value = true;
      }
    }
  }
};

// Per-thread state reused across ParseJson calls. Members and elements of the containers
// being read are collected on the two stacks, then moved into one exactly-sized vector per
// container.
struct JsonScratch {
  simdjson::ondemand::parser parser;
  std::string padded;  // the input plus SIMDJSON_PADDING bytes
  std::vector<Object::Member> members;
  std::vector<Value> elements;
  std::vector<bool> seen;  // ParseJsonMembers: the slots filled so far
};

class JsonReader {
 public:
  JsonReader(std::string_view text, JsonScratch* scratch, std::string* error)
      : text_(text), base_(scratch->padded.data()), scratch_(scratch), error_(error) {}

  bool Read(size_t capacity, Value* out);
  // ParseJsonMembers: the members of `fields` into slots, the others checked only.
  MemberRead ReadMembers(size_t capacity, const JsonFieldSet& fields, Value* slots);

 private:
  using Member = Object::Member;

  // Reads a value into *out; with a null `out` only checks it (same walk, same errors).
  bool ReadValue(simdjson::ondemand::value v, int depth, Value* out);
  bool ReadNumber(std::string_view token, Value* out);
  bool ReadRootScalar(simdjson::ondemand::json_type type, Value* out);

  size_t Offset(const char* p) const { return static_cast<size_t>(p - base_); }
  bool Fail(size_t offset, const std::string& reason);
  bool FailIterate(simdjson::error_code err);
  bool FailAtCurrent(simdjson::error_code err);

  std::string_view text_;
  const char* base_;  // padded copy of text_
  JsonScratch* scratch_;
  std::string* error_;
  simdjson::ondemand::document doc_;
};

bool JsonReader::Fail(size_t offset, const std::string& reason) {
  if (error_ != nullptr) {
    *error_ = "invalid JSON at byte " + std::to_string(offset) + ": " + reason;
  }
  return false;
}

bool JsonReader::FailIterate(simdjson::error_code err) {
  using simdjson::error_code;
  switch (err) {
    case error_code::EMPTY: {
      size_t i = 0;
      while (i < text_.size() && IsJsonSpace(text_[i])) ++i;
      return Fail(i, "no value");
    }
    case error_code::UTF8_ERROR: {
      size_t at = FirstInvalidUtf8(text_);
      return Fail(at == std::string_view::npos ? 0 : at, "invalid UTF-8");
    }
    case error_code::UNESCAPED_CHARS: {
      TextScan scan(text_);
      size_t at = scan.control_in_string;
      return Fail(at == std::string_view::npos ? 0 : at, "unescaped control character in string");
    }
    case error_code::UNCLOSED_STRING: {
      TextScan scan(text_);
      size_t at = scan.unclosed_string;
      return Fail(at == std::string_view::npos ? text_.size() : at, "unterminated string");
    }
    default:
      return Fail(0, simdjson::error_message(err));
  }
}

// Reports an error raised while walking the document, at simdjson's current position.
bool JsonReader::FailAtCurrent(simdjson::error_code err) {
  using simdjson::error_code;
  if (err == error_code::INCOMPLETE_ARRAY_OR_OBJECT) {
    // simdjson only notices that the first and last brackets do not match; say which way.
    TextScan scan(text_);
    if (scan.unclosed_string != std::string_view::npos) {
      return Fail(scan.unclosed_string, "unterminated string");
    }
    if (scan.mismatched != std::string_view::npos &&
        (scan.trailing == std::string_view::npos || scan.mismatched < scan.trailing)) {
      return Fail(scan.mismatched,
                  std::string("unexpected character '") + text_[scan.mismatched] + "'");
    }
    if (scan.trailing != std::string_view::npos) {
      return Fail(scan.trailing, "unexpected content after the value");
    }
    return Fail(text_.size(), "unexpected end of input (unclosed array or object)");
  }
  size_t offset = text_.size();
  const char* loc = nullptr;
  if (!doc_.current_location().get(loc)) offset = std::min(Offset(loc), text_.size());
  std::string reason;
  switch (err) {
    case error_code::STRING_ERROR:
      reason = "invalid string (bad escape or unpaired surrogate)";
      break;
    case error_code::INCORRECT_TYPE:
    case error_code::T_ATOM_ERROR:
    case error_code::F_ATOM_ERROR:
    case error_code::N_ATOM_ERROR:
      reason = "invalid literal";
      break;
    case error_code::DEPTH_ERROR:
      reason = "nesting deeper than " + std::to_string(kMaxJsonDepth);
      break;
    default:
      if (offset >= text_.size()) {
        reason = "unexpected end of input";
      } else {
        unsigned char c = static_cast<unsigned char>(text_[offset]);
        if (c >= 0x21 && c < 0x7F) {
          reason = std::string("unexpected character '") + static_cast<char>(c) + "'";
        } else {
          static const char kHex[] = "0123456789abcdef";
          reason = std::string("unexpected byte 0x") + kHex[c >> 4] + kHex[c & 15];
        }
      }
  }
  return Fail(offset, reason);
}

bool JsonReader::ReadNumber(std::string_view token, Value* out) {
  size_t offset = Offset(token.data());
  while (!token.empty() && IsJsonSpace(token.back())) token.remove_suffix(1);
  Decimal d;
  if (!Decimal::Parse(token, &d)) {
    return Fail(offset,
                IsNumberSyntax(token) ? "number out of range (|n| >= 10^20)" : "invalid number");
  }
  if (out) *out = Value::Number(d);
  return true;
}

bool JsonReader::ReadValue(simdjson::ondemand::value v, int depth, Value* out) {
  using simdjson::ondemand::json_type;
  json_type type;
  if (auto err = v.type().get(type)) return FailAtCurrent(err);
  switch (type) {
    case json_type::number:
      return ReadNumber(v.raw_json_token(), out);
    case json_type::string: {
      const char* start = v.raw_json_token().data();  // simdjson reports string errors past it
      std::string_view s;
      if (v.get_string().get(s)) {
        return Fail(Offset(start), "invalid string (bad escape or unpaired surrogate)");
      }
      if (out) out->SetString(s);
      return true;
    }
    case json_type::boolean: {
      bool b;
      if (auto err = v.get_bool().get(b)) return FailAtCurrent(err);
      if (out) *out = Value::Bool(b);
      return true;
    }
    case json_type::null: {
      bool is_null = false;
      if (auto err = v.is_null().get(is_null)) return FailAtCurrent(err);
      if (!is_null) return Fail(Offset(v.raw_json_token().data()), "invalid literal");
      if (out) *out = Value();
      return true;
    }
    case json_type::array: {
      if (depth > kMaxJsonDepth) {
        return Fail(Offset(v.raw_json_token().data()),
                    "nesting deeper than " + std::to_string(kMaxJsonDepth));
      }
      simdjson::ondemand::array array;
      if (auto err = v.get_array().get(array)) return FailAtCurrent(err);
      std::vector<Value>& stack = scratch_->elements;
      const size_t base = stack.size();
      for (auto element : array) {
        simdjson::ondemand::value child;
        if (auto err = element.get(child)) return FailAtCurrent(err);
        if (!out) {
          if (!ReadValue(child, depth + 1, nullptr)) return false;
          continue;
        }
        Value item;
        if (!ReadValue(child, depth + 1, &item)) return false;
        stack.push_back(std::move(item));
      }
      if (!out) return true;
      Array items(std::make_move_iterator(stack.begin() + static_cast<std::ptrdiff_t>(base)),
                  std::make_move_iterator(stack.end()));
      stack.resize(base);
      *out = Value::MakeArray(std::move(items));
      return true;
    }
    case json_type::object: {
      if (depth > kMaxJsonDepth) {
        return Fail(Offset(v.raw_json_token().data()),
                    "nesting deeper than " + std::to_string(kMaxJsonDepth));
      }
      simdjson::ondemand::object object;
      if (auto err = v.get_object().get(object)) return FailAtCurrent(err);
      std::vector<Member>& stack = scratch_->members;
      const size_t base = stack.size();
      for (auto field_result : object) {
        simdjson::ondemand::field field;
        if (auto err = std::move(field_result).get(field)) return FailAtCurrent(err);
        std::string_view key;
        if (auto err = field.unescaped_key().get(key)) return FailAtCurrent(err);
        if (!out) {
          if (!ReadValue(field.value(), depth + 1, nullptr)) return false;
          continue;
        }
        std::string name(key);
        Value item;
        if (!ReadValue(field.value(), depth + 1, &item)) return false;
        stack.emplace_back(std::move(name), std::move(item));
      }
      if (!out) return true;
      std::vector<Member> members = SortMembers(stack.data() + base, stack.size() - base);
      stack.resize(base);
      *out = Value::MakeObject(Object::FromMembers(std::move(members)));
      return true;
    }
  }
  return Fail(Offset(v.raw_json_token().data()), "unexpected value");
}

// Top-level scalars: simdjson's root accessors are lenient or vague about what follows, so
// literals and numbers are checked by hand against the rest of the text.
bool JsonReader::ReadRootScalar(simdjson::ondemand::json_type type, Value* out) {
  using simdjson::ondemand::json_type;
  if (type == json_type::string) {
    std::string_view s;
    if (auto err = doc_.get_string().get(s)) return FailAtCurrent(err);
    *out = Value::String(std::string(s));
    const char* loc = nullptr;
    if (!doc_.current_location().get(loc)) {
      return Fail(Offset(loc), "unexpected content after the value");
    }
    return true;
  }
  std::string_view raw;
  if (auto err = doc_.raw_json_token().get(raw)) return FailAtCurrent(err);
  size_t start = Offset(raw.data());
  size_t end = start + raw.size();
  // The token itself first (so "not json" is an invalid literal at 0), then what follows.
  auto nothing_after = [&]() {
    for (size_t i = end; i < text_.size(); ++i) {
      if (!IsJsonSpace(text_[i])) return Fail(i, "unexpected content after the value");
    }
    return true;
  };
  std::string_view token = raw;
  while (!token.empty() && IsJsonSpace(token.back())) token.remove_suffix(1);
  switch (type) {
    case json_type::number:
      return nothing_after() && ReadNumber(raw, out);
    case json_type::boolean:
      if (token == "true" || token == "false") {
        *out = Value::Bool(token == "true");
        return nothing_after();
      }
      break;
    case json_type::null:
      if (token == "null") {
        *out = Value();
        return nothing_after();
      }
      break;
    default:
      break;
  }
  return Fail(start, "invalid literal");
}

bool JsonReader::Read(size_t capacity, Value* out) {
  using simdjson::ondemand::json_type;
  if (auto err = scratch_->parser.iterate(base_, text_.size(), capacity).get(doc_)) {
    return FailIterate(err);
  }
  json_type type;
  if (auto err = doc_.type().get(type)) return FailAtCurrent(err);
  if (type != json_type::array && type != json_type::object) return ReadRootScalar(type, out);
  simdjson::ondemand::value root;
  if (auto err = doc_.get_value().get(root)) return FailAtCurrent(err);
  if (!ReadValue(root, 1, out)) return false;
  const char* loc = nullptr;
  if (!doc_.current_location().get(loc)) {
    return Fail(Offset(loc), "unexpected content after the value");
  }
  return true;
}

MemberRead JsonReader::ReadMembers(size_t capacity, const JsonFieldSet& fields, Value* slots) {
  using simdjson::ondemand::json_type;
  if (scratch_->parser.iterate(base_, text_.size(), capacity).get(doc_)) {
    return MemberRead::kNotObject;  // ParseJson words the error
  }
  json_type type;
  if (doc_.type().get(type) || type != json_type::object) return MemberRead::kNotObject;
  auto invalid = [this](simdjson::error_code err) {
    FailAtCurrent(err);
    return MemberRead::kInvalid;
  };
  simdjson::ondemand::value root;
  simdjson::ondemand::object object;
  if (auto err = doc_.get_value().get(root)) return invalid(err);
  if (auto err = root.get_object().get(object)) return invalid(err);
  std::vector<bool>& seen = scratch_->seen;  // the slots this text fills
  seen.assign(fields.size(), false);
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (auto err = std::move(field_result).get(field)) return invalid(err);
    // A plain name is compared where it stands; a name with escapes is unescaped first.
    const char* raw = field.key().raw();
    const char* end = raw;
    while (*end != '"' && *end != '\\') ++end;
    std::string_view key(raw, static_cast<size_t>(end - raw));
    if (*end == '\\') {
      if (auto err = field.unescaped_key().get(key)) return invalid(err);
    }
    int slot = fields.Slot(key);
    if (!ReadValue(field.value(), 2, slot < 0 ? nullptr : &slots[slot])) {
      return MemberRead::kInvalid;
    }
    if (slot >= 0) seen[static_cast<size_t>(slot)] = true;
  }
  const char* loc = nullptr;
  if (!doc_.current_location().get(loc)) {
    Fail(Offset(loc), "unexpected content after the value");
    return MemberRead::kInvalid;
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) slots[i] = Value();
  }
  return MemberRead::kObject;
}

// ---------------------------------------------------------------------------------------------
// JSON writing

// Bytes a JSON string can hold verbatim without further checks: printable ASCII except '"'
// and '\\'. Everything else takes the slow path (escape or UTF-8 validation).
struct PlainByteTable {
  bool plain[256];
  constexpr PlainByteTable() : plain() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainByteTable kPlainByte;

void AppendQuoted(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  size_t i = 0;
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
    case Value::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [name, item] : v.as_object().members()) {
        if (!first) out->push_back(',');
        first = false;
        AppendQuoted(name, out);
        out->push_back(':');
        WriteCompact(item, out);
      }
      out->push_back('}');
      return;
    }
  }
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

// ---------------------------------------------------------------------------------------------
// Binary encoding: one tag byte, then
//   number: 16 bytes, the raw two's-complement value, little-endian;
//   string: varint byte length, bytes;
//   array:  varint count, elements;
//   object: varint count, then per member varint name length, name bytes, value.
// Varints are LEB128 (7 bits per byte, low first).

enum BinaryTag : uint8_t {
  kTagNull = 0,
  kTagFalse = 1,
  kTagTrue = 2,
  kTagNumber = 3,
  kTagString = 4,
  kTagArray = 5,
  kTagObject = 6,
};

// Raw Decimal magnitudes stay below 10^38 (values below 10^20).
constexpr u128 kRawLimit = static_cast<u128>(10000000000000000000ULL) * 10000000000000000000ULL;

// Deeper than any JSON input (64) plus the levels rows and lists add around event values.
constexpr int kMaxBinaryDepth = 256;

void Encode(const Value& v, std::string* out);

void EncodeObject(const Object& o, std::string* out) {
  out->push_back(static_cast<char>(kTagObject));
  PutVarint(out, o.size());
  for (const auto& [name, item] : o.members()) {
    PutVarint(out, name.size());
    out->append(name);
    Encode(item, out);
  }
}

void Encode(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kNull:
      out->push_back(static_cast<char>(kTagNull));
      return;
    case Value::Type::kBool:
      out->push_back(static_cast<char>(v.as_bool() ? kTagTrue : kTagFalse));
      return;
    case Value::Type::kNumber: {
      u128 raw = static_cast<u128>(v.as_number().raw());
      char bytes[17];
      bytes[0] = static_cast<char>(kTagNumber);
      for (int i = 0; i < 16; ++i) bytes[1 + i] = static_cast<char>(raw >> (8 * i));
      out->append(bytes, sizeof(bytes));
      return;
    }
    case Value::Type::kString: {
      const std::string& s = v.as_string();
      out->push_back(static_cast<char>(kTagString));
      PutVarint(out, s.size());
      out->append(s);
      return;
    }
    case Value::Type::kArray:
      out->push_back(static_cast<char>(kTagArray));
      PutVarint(out, v.as_array().size());
      for (const Value& item : v.as_array()) Encode(item, out);
      return;
    case Value::Type::kObject:
      EncodeObject(v.as_object(), out);
      return;
  }
}

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view data) : data_(data) {}

  bool AtEnd() const { return pos_ == data_.size(); }

  bool ReadValue(int depth, Value* out) {
    if (pos_ >= data_.size()) return false;
    uint8_t tag = static_cast<uint8_t>(data_[pos_++]);
    switch (tag) {
      case kTagNull:
        *out = Value();
        return true;
      case kTagFalse:
      case kTagTrue:
        *out = Value::Bool(tag == kTagTrue);
        return true;
      case kTagNumber: {
        if (data_.size() - pos_ < 16) return false;
        u128 raw = 0;
        for (int i = 15; i >= 0; --i) {
          raw = (raw << 8) | static_cast<uint8_t>(data_[pos_ + static_cast<size_t>(i)]);
        }
        pos_ += 16;
        __int128 value = static_cast<__int128>(raw);
        // An out-of-range number cannot have been encoded from a valid Value.
        if ((value < 0 ? -raw : raw) >= kRawLimit) return false;
        *out = Value::Number(Decimal::FromRaw(value));
        return true;
      }
      case kTagString: {
        std::string_view s;
        if (!ReadBytes(&s)) return false;
        *out = Value::String(std::string(s));
        return true;
      }
      case kTagArray: {
        uint64_t count;
        // Each element takes at least one byte, which bounds the reservation below.
        if (depth >= kMaxBinaryDepth || !ReadVarint(&count) || count > data_.size() - pos_) {
          return false;
        }
        Array items;
        items.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          items.emplace_back();
          if (!ReadValue(depth + 1, &items.back())) return false;
        }
        *out = Value::MakeArray(std::move(items));
        return true;
      }
      case kTagObject: {
        uint64_t count;
        // Each member takes at least two bytes (name length and value tag).
        if (depth >= kMaxBinaryDepth || !ReadVarint(&count) || count > (data_.size() - pos_) / 2) {
          return false;
        }
        std::vector<Object::Member> members;
        members.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          std::string_view name;
          if (!ReadBytes(&name)) return false;
          // The encoder writes names strictly ascending; anything else is corruption.
          if (i > 0 && !(std::string_view(members.back().first) < name)) return false;
          members.emplace_back(std::string(name), Value());
          if (!ReadValue(depth + 1, &members.back().second)) return false;
        }
        *out = Value::MakeObject(Object::FromMembers(std::move(members)));
        return true;
      }
      default:
        return false;
    }
  }

 private:
  bool ReadVarint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      if (shift == 63 && (b & 0x7E) != 0) return false;  // more than 64 bits
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        // Only the shortest form is valid, so every value has exactly one encoding.
        if (b == 0 && shift > 0) return false;
        *out = v;
        return true;
      }
    }
    return false;
  }

  bool ReadBytes(std::string_view* out) {
    uint64_t len;
    if (!ReadVarint(&len) || len > data_.size() - pos_) return false;
    *out = data_.substr(pos_, len);
    pos_ += len;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Object

Object Object::FromMembers(std::vector<Member> members) {
  Object o;
  if (MembersSorted(members.data(), members.size())) {
    o.members_ = std::move(members);
  } else {
    o.members_ = SortMembers(members.data(), members.size());
  }
  return o;
}

namespace {

// The member named `name` in sorted members [b, e), or e. Small objects (rows, events) are
// scanned comparing sizes first, which beats a binary search of string comparisons.
template <typename It>
It FindMember(It b, It e, std::string_view name) {
  if (e - b <= 16) {
    for (It it = b; it != e; ++it) {
      if (it->first.size() == name.size() &&
          SameBytes(it->first.data(), name.data(), name.size())) {
        return it;
      }
    }
    return e;
  }
  It it = std::lower_bound(b, e, name, NameLess);
  return it != e && it->first == name ? it : e;
}

}  // namespace

const Value* Object::Find(std::string_view name) const {
  auto it = FindMember(members_.begin(), members_.end(), name);
  return it != members_.end() ? &it->second : nullptr;
}

Value* Object::Find(std::string_view name) {
  auto it = FindMember(members_.begin(), members_.end(), name);
  return it != members_.end() ? &it->second : nullptr;
}

Value& Object::Set(std::string_view name, Value v) {
  auto it = FindMember(members_.begin(), members_.end(), name);
  if (it != members_.end()) {
    it->second = std::move(v);
    return it->second;
  }
  it = std::lower_bound(members_.begin(), members_.end(), name, NameLess);
  return members_.emplace(it, std::string(name), std::move(v))->second;
}

bool Object::Erase(std::string_view name) {
  auto it = std::lower_bound(members_.begin(), members_.end(), name, NameLess);
  if (it == members_.end() || it->first != name) return false;
  members_.erase(it);
  return true;
}

bool Object::operator==(const Object& o) const { return members_ == o.members_; }

// ---------------------------------------------------------------------------------------------
// Value

Value::Value(const Value& o) { CopyFrom(o); }

Value::Value(Value&& o) noexcept : type_(o.type_), payload_(o.payload_) { o.type_ = Type::kNull; }

Value& Value::operator=(const Value& o) {
  // Copy first: `o` may live inside this value (v = v.as_array()[0]).
  Value copy(o);
  return *this = std::move(copy);
}

Value& Value::operator=(Value&& o) noexcept {
  if (this == &o) return *this;
  // Detach `o` before destroying our payload, which may own it.
  Type type = o.type_;
  Payload payload = o.payload_;
  o.type_ = Type::kNull;
  Destroy();
  type_ = type;
  payload_ = payload;
  return *this;
}

Value::~Value() { Destroy(); }

void Value::Destroy() {
  switch (type_) {
    case Type::kString:
      delete payload_.string;
      break;
    case Type::kArray:
      delete payload_.array;
      break;
    case Type::kObject:
      delete payload_.object;
      break;
    default:
      break;
  }
  type_ = Type::kNull;
}

// Requires *this to hold no payload (null).
void Value::CopyFrom(const Value& o) {
  switch (o.type_) {
    case Type::kString:
      payload_.string = new std::string(*o.payload_.string);
      break;
    case Type::kArray:
      payload_.array = new Array(*o.payload_.array);
      break;
    case Type::kObject:
      payload_.object = new Object(*o.payload_.object);
      break;
    default:
      payload_ = o.payload_;
      break;
  }
  type_ = o.type_;
}

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.payload_.boolean = b;
  return v;
}

Value Value::Number(Decimal d) {
  Value v;
  u128 raw = static_cast<u128>(d.raw());
  v.type_ = Type::kNumber;
  v.payload_.number[0] = static_cast<uint64_t>(raw);
  v.payload_.number[1] = static_cast<uint64_t>(raw >> 64);
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.payload_.string = new std::string(std::move(s));
  v.type_ = Type::kString;
  return v;
}

void Value::SetString(std::string_view s) {
  if (type_ == Type::kString) {
    payload_.string->assign(s.data(), s.size());
    return;
  }
  *this = String(std::string(s));
}

Value Value::MakeArray(Array a) {
  Value v;
  v.payload_.array = new Array(std::move(a));
  v.type_ = Type::kArray;
  return v;
}

Value Value::MakeObject(Object o) {
  Value v;
  v.payload_.object = new Object(std::move(o));
  v.type_ = Type::kObject;
  return v;
}

bool Value::as_bool() const {
  assert(type_ == Type::kBool);
  return type_ == Type::kBool && payload_.boolean;
}

Decimal Value::as_number() const {
  assert(type_ == Type::kNumber);
  if (type_ != Type::kNumber) return Decimal();
  u128 raw = (static_cast<u128>(payload_.number[1]) << 64) | payload_.number[0];
  return Decimal::FromRaw(static_cast<__int128>(raw));
}

const std::string& Value::as_string() const {
  assert(type_ == Type::kString);
  return *payload_.string;
}

const Array& Value::as_array() const {
  assert(type_ == Type::kArray);
  return *payload_.array;
}

Array& Value::as_array() {
  assert(type_ == Type::kArray);
  return *payload_.array;
}

const Object& Value::as_object() const {
  assert(type_ == Type::kObject);
  return *payload_.object;
}

Object& Value::as_object() {
  assert(type_ == Type::kObject);
  return *payload_.object;
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return payload_.boolean == o.payload_.boolean;
    case Type::kNumber:
      return payload_.number[0] == o.payload_.number[0] &&
             payload_.number[1] == o.payload_.number[1];
    case Type::kString:
      return *payload_.string == *o.payload_.string;
    case Type::kArray:
      return *payload_.array == *o.payload_.array;
    case Type::kObject:
      return *payload_.object == *o.payload_.object;
  }
  return false;
}

const char* Value::TypeName(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Free functions

namespace {

// The per-thread scratch holding a padded copy of `text`: simdjson reads up to
// SIMDJSON_PADDING bytes past the end. The buffer and the parser are reused per thread to keep
// the ingest path allocation-light.
JsonScratch& PaddedScratch(std::string_view text, size_t* capacity) {
  thread_local JsonScratch scratch;
  std::string& padded = scratch.padded;
  *capacity = text.size() + simdjson::SIMDJSON_PADDING;
  if (padded.size() < *capacity) padded.resize(*capacity);
  std::memcpy(padded.data(), text.data(), text.size());
  std::memset(padded.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  return scratch;
}

void TrimScratch(JsonScratch* scratch) {
  // After an error the stacks still hold partial containers.
  scratch->members.clear();
  scratch->elements.clear();
  // Do not keep the memory of one huge document forever.
  constexpr size_t kKeepBytes = 4 << 20;  // above the default --max-event-bytes
  if (scratch->padded.size() > kKeepBytes) std::string().swap(scratch->padded);
  if (scratch->members.capacity() > 4096) std::vector<Object::Member>().swap(scratch->members);
  if (scratch->elements.capacity() > 4096) std::vector<Value>().swap(scratch->elements);
}

}  // namespace

bool ParseJson(std::string_view text, Value* out, std::string* error) {
  size_t capacity;
  JsonScratch& scratch = PaddedScratch(text, &capacity);
  JsonReader reader(text, &scratch, error);
  Value result;
  bool ok = reader.Read(capacity, &result);
  TrimScratch(&scratch);
  if (ok) *out = std::move(result);
  return ok;
}

MemberRead ParseJsonMembers(std::string_view text, const JsonFieldSet& fields, Value* slots,
                            std::string* error) {
  size_t capacity;
  JsonScratch& scratch = PaddedScratch(text, &capacity);
  JsonReader reader(text, &scratch, error);
  MemberRead result = reader.ReadMembers(capacity, fields, slots);
  TrimScratch(&scratch);
  return result;
}

JsonFieldSet::JsonFieldSet(std::vector<std::string> names) : names_(std::move(names)) {}

int JsonFieldSet::Slot(std::string_view name) const {
  // Projections read a handful of event fields: a scan comparing sizes first beats hashing.
  for (size_t i = 0; i < names_.size(); ++i) {
    const std::string& n = names_[i];
    if (n.size() == name.size() && SameBytes(n.data(), name.data(), n.size())) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void WriteJson(const Value& v, std::string* out) { WriteCompact(v, out); }

std::string ToJson(const Value& v) {
  std::string s;
  WriteCompact(v, &s);
  return s;
}

void WritePrettyJson(const Value& v, std::string* out) { WritePretty(v, 0, out); }

void EncodeBinary(const Value& v, std::string* out) { Encode(v, out); }
void EncodeBinary(const Object& o, std::string* out) { EncodeObject(o, out); }

bool DecodeBinary(std::string_view data, Value* out) {
  BinaryReader reader(data);
  Value result;
  if (!reader.ReadValue(0, &result) || !reader.AtEnd()) return false;
  *out = std::move(result);
  return true;
}

}  // namespace projd
