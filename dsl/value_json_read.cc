// JSON text into Values (simdjson on demand, exact decimals): ParseJson, ParseJsonMembers and
// JsonFieldSet of dsl/value.h. Both try the quick reader (dsl/value_json_quick.cc) first.
#include <simdjson.h>

#include <cstring>
#include <string>

#include "dsl/value.h"
#include "dsl/value_internal.h"

namespace projd {
namespace {

using value_internal::IsJsonSpace;
using value_internal::JsonStacks;
using value_internal::SortMembers;
using value_internal::Utf8SequenceLength;

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

constexpr int kMaxJsonDepth = 64;

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

// Per-thread state reused across ParseJson calls, beside the stacks shared with the quick
// reader (value_internal::ThreadJsonStacks).
struct JsonScratch {
  simdjson::ondemand::parser parser;
  std::string padded;      // the input plus SIMDJSON_PADDING bytes
  std::vector<bool> seen;  // ParseJsonMembers: the slots filled so far
};

class JsonReader {
 public:
  JsonReader(std::string_view text, JsonScratch* scratch, std::string* error)
      : text_(text),
        base_(scratch->padded.data()),
        scratch_(scratch),
        stacks_(&value_internal::ThreadJsonStacks()),
        error_(error) {}

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
  JsonStacks* stacks_;
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
      std::vector<Value>& stack = stacks_->elements;
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
      std::vector<Member>& stack = stacks_->members;
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
  value_internal::ThreadJsonStacks().Reset();
  // Do not keep the memory of one huge document forever.
  constexpr size_t kKeepBytes = 4 << 20;  // above the default --max-event-bytes
  if (scratch->padded.size() > kKeepBytes) std::string().swap(scratch->padded);
}

}  // namespace

bool value_internal::FullParseJson(std::string_view text, Value* out, std::string* error) {
  size_t capacity;
  JsonScratch& scratch = PaddedScratch(text, &capacity);
  JsonReader reader(text, &scratch, error);
  Value result;
  bool ok = reader.Read(capacity, &result);
  TrimScratch(&scratch);
  if (ok) *out = std::move(result);
  return ok;
}

MemberRead value_internal::FullParseJsonMembers(std::string_view text, const JsonFieldSet& fields,
                                                Value* slots, std::string* error) {
  size_t capacity;
  JsonScratch& scratch = PaddedScratch(text, &capacity);
  JsonReader reader(text, &scratch, error);
  MemberRead result = reader.ReadMembers(capacity, fields, slots);
  TrimScratch(&scratch);
  return result;
}

value_internal::JsonStacks& value_internal::ThreadJsonStacks() {
  thread_local JsonStacks stacks;
  return stacks;
}

bool ParseJson(std::string_view text, Value* out, std::string* error) {
  return value_internal::QuickParseJson(text, out) ||
         value_internal::FullParseJson(text, out, error);
}

MemberRead ParseJsonMembers(std::string_view text, const JsonFieldSet& fields, Value* slots,
                            std::string* error) {
  if (value_internal::QuickParseJsonMembers(text, fields, slots)) return MemberRead::kObject;
  return value_internal::FullParseJsonMembers(text, fields, slots, error);
}

JsonFieldSet::JsonFieldSet(std::vector<std::string> names) : names_(std::move(names)) {
  for (size_t n = 0; n < kShort; ++n) {
    first_[n] = static_cast<uint16_t>(by_length_.size());
    for (size_t i = 0; i < names_.size() && i <= UINT16_MAX; ++i) {
      if (names_[i].size() == n) by_length_.push_back(static_cast<uint16_t>(i));
    }
  }
  first_[kShort] = static_cast<uint16_t>(by_length_.size());
}

int JsonFieldSet::Slot(std::string_view name) const {
  // Projections read a handful of event fields: the few of the name's length are compared.
  if (name.size() < kShort) {
    for (size_t k = first_[name.size()]; k < first_[name.size() + 1]; ++k) {
      const std::string& n = names_[by_length_[k]];
      if (SameBytes(n.data(), name.data(), n.size())) return by_length_[k];
    }
    return -1;
  }
  for (size_t i = 0; i < names_.size(); ++i) {
    const std::string& n = names_[i];
    if (n.size() == name.size() && SameBytes(n.data(), name.data(), n.size())) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace projd
