// The value model of projd: what events, rows and expression results are.
//
// A Value is null, a boolean, an exact Decimal number, a UTF-8 string, an array or an object.
// Objects keep their members sorted by name (byte order, duplicate names: the last wins), so
// JSON output of a row is deterministic and member lookup is a binary search.
//
// Thread-safety: Value is a value type (deep copies); distinct objects may be used from any
// thread, one object from one thread at a time.
#ifndef PROJD_DSL_VALUE_H_
#define PROJD_DSL_VALUE_H_

#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dsl/decimal.h"

namespace projd {

class Value;
using Array = std::vector<Value>;

// Whether n bytes at a and b are equal: inline, for the short names of members and event
// types compared on every event (memcmp is a call).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  uint64_t x, y;
  if (n >= 8) {
    for (; n > 8; a += 8, b += 8, n -= 8) {
      std::memcpy(&x, a, 8);
      std::memcpy(&y, b, 8);
      if (x != y) return false;
    }
    std::memcpy(&x, a + n - 8, 8);  // the last 8 bytes, overlapping those compared
    std::memcpy(&y, b + n - 8, 8);
    return x == y;
  }
  if (n >= 4) {
    uint32_t p, q, r, s;
    std::memcpy(&p, a, 4);
    std::memcpy(&q, b, 4);
    std::memcpy(&r, a + n - 4, 4);
    std::memcpy(&s, b + n - 4, 4);
    return p == q && r == s;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// An object: members sorted by name.
class Object {
 public:
  using Member = std::pair<std::string, Value>;

  // Builds an object from members in any order; of duplicate names the last wins. Cheaper
  // than Set() per member for large objects (one sort instead of repeated inserts).
  static Object FromMembers(std::vector<Member> members);

  const Value* Find(std::string_view name) const;  // nullptr when absent
  Value* Find(std::string_view name);
  // Inserts or replaces; returns a reference to the stored value.
  Value& Set(std::string_view name, Value v);
  bool Erase(std::string_view name);  // true when a member was removed
  size_t size() const { return members_.size(); }
  bool empty() const { return members_.empty(); }
  const std::vector<Member>& members() const { return members_; }
  bool operator==(const Object& o) const;
  bool operator!=(const Object& o) const { return !(*this == o); }

 private:
  std::vector<Member> members_;
};

class Value {
 public:
  // kString and the types after it keep their payload on the heap (released by Destroy).
  enum class Type : uint8_t { kNull = 0, kBool, kNumber, kString, kArray, kObject };

  Value() = default;  // null
  Value(const Value& o);
  Value(Value&& o) noexcept;
  Value& operator=(const Value& o);
  Value& operator=(Value&& o) noexcept;
  ~Value();

  static Value Null() { return Value(); }
  static Value Bool(bool b);
  static Value Number(Decimal d);
  static Value String(std::string s);
  static Value MakeArray(Array a);
  static Value MakeObject(Object o);

  // Makes this value the string `s`, reusing its storage when it already is a string (values
  // refilled per event allocate nothing once warm).
  void SetString(std::string_view s);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors; calling one for the wrong type is a programmer error (asserts).
  bool as_bool() const;
  Decimal as_number() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Deep equality; numbers compare by value.
  bool operator==(const Value& o) const;
  bool operator!=(const Value& o) const { return !(*this == o); }

  static const char* TypeName(Type t);  // "null", "bool", "number", "string", "array", "object"

 private:
  void Destroy();
  void CopyFrom(const Value& o);

  // One active member, chosen by type_. Strings and containers live on the heap so a Value
  // is 24 bytes; the number is kept as two 64-bit halves (not __int128) to avoid 16-byte
  // alignment padding.
  union Payload {
    bool boolean;
    uint64_t number[2];  // Decimal raw value: low half, high half
    std::string* string;
    Array* array;
    Object* object;
  };

  Type type_ = Type::kNull;
  Payload payload_{};
};

// The moves, the destructor and the scalar makers are inline too: every statement, event slot
// and row field goes through them, and only a heap payload's release (Destroy) needs a call.
inline Value::Value(Value&& o) noexcept : type_(o.type_), payload_(o.payload_) {
  o.type_ = Type::kNull;
}

inline Value& Value::operator=(Value&& o) noexcept {
  if (this == &o) return *this;
  // Detach `o` before destroying our payload, which may own it.
  Type type = o.type_;
  Payload payload = o.payload_;
  o.type_ = Type::kNull;
  if (type_ >= Type::kString) Destroy();
  type_ = type;
  payload_ = payload;
  return *this;
}

inline Value::~Value() {
  if (type_ >= Type::kString) Destroy();
}

inline Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.payload_.boolean = b;
  return v;
}

inline Value Value::Number(Decimal d) {
  Value v;
  auto raw = static_cast<unsigned __int128>(d.raw());
  v.type_ = Type::kNumber;
  v.payload_.number[0] = static_cast<uint64_t>(raw);
  v.payload_.number[1] = static_cast<uint64_t>(raw >> 64);
  return v;
}

// The accessors are inline: every statement of a handler reads values through them.
inline bool Value::as_bool() const {
  assert(type_ == Type::kBool);
  return type_ == Type::kBool && payload_.boolean;
}

inline Decimal Value::as_number() const {
  assert(type_ == Type::kNumber);
  if (type_ != Type::kNumber) return Decimal();
  unsigned __int128 raw =
      (static_cast<unsigned __int128>(payload_.number[1]) << 64) | payload_.number[0];
  return Decimal::FromRaw(static_cast<__int128>(raw));
}

inline const std::string& Value::as_string() const {
  assert(type_ == Type::kString);
  return *payload_.string;
}

inline const Array& Value::as_array() const {
  assert(type_ == Type::kArray);
  return *payload_.array;
}

inline Array& Value::as_array() {
  assert(type_ == Type::kArray);
  return *payload_.array;
}

inline const Object& Value::as_object() const {
  assert(type_ == Type::kObject);
  return *payload_.object;
}

inline Object& Value::as_object() {
  assert(type_ == Type::kObject);
  return *payload_.object;
}

// Parses JSON text into a Value with exact decimals. Returns false and sets *error to a reason
// naming the byte offset (for example "invalid JSON at byte 17: expected ':'") on malformed
// input, numbers out of range (|n| >= 10^20), invalid UTF-8, or nesting deeper than 64.
bool ParseJson(std::string_view text, Value* out, std::string* error);

// A set of top-level member names to read from JSON objects, each with a slot: its index in
// the list given to the constructor.
class JsonFieldSet {
 public:
  JsonFieldSet() = default;
  explicit JsonFieldSet(std::vector<std::string> names);
  size_t size() const { return names_.size(); }
  const std::vector<std::string>& names() const { return names_; }
  int Slot(std::string_view name) const;  // -1 when not in the set

 private:
  static constexpr size_t kShort = 32;  // names shorter than this are found by their length
  std::vector<std::string> names_;
  // The slots of the short names by length: by_length_[first_[n] .. first_[n + 1]).
  std::vector<uint16_t> by_length_;
  uint16_t first_[kShort + 1] = {};
};

// Reads only the members of `fields` from a JSON object into slots[0..fields.size()): a member
// absent from the text leaves its slot null, and of duplicate members the last wins. Every
// other member is checked exactly as ParseJson checks it but not kept, so a text is accepted
// or rejected (with the same *error) as ParseJson would. Returns kNotObject, with the slots
// unspecified, when the text is not an object (valid or not: ParseJson then says which).
enum class MemberRead : uint8_t { kObject, kNotObject, kInvalid };
MemberRead ParseJsonMembers(std::string_view text, const JsonFieldSet& fields, Value* slots,
                            std::string* error);

// Appends compact JSON (no spaces). Numbers in shortest exact form; object members in their
// (sorted) order; strings escaped per RFC 8259 (\n, \t, \r, other control characters as \u00XX).
void WriteJson(const Value& v, std::string* out);
std::string ToJson(const Value& v);
// The same for a string and an object, without a Value around them.
void WriteJsonString(std::string_view s, std::string* out);
void WriteJsonObject(const Object& o, std::string* out);
// Same, indented by two spaces per level, for people (projctl output).
void WritePrettyJson(const Value& v, std::string* out);

// A compact binary encoding for storage; DecodeBinary returns false on corrupt input.
void EncodeBinary(const Value& v, std::string* out);
// Appends an object's encoding, the same bytes as EncodeBinary(Value::MakeObject(o)), without
// copying it into a Value first.
void EncodeBinary(const Object& o, std::string* out);
// The same in two steps, for an encoder that writes more around it into one buffer: the bytes
// an object's encoding takes, and the encoding written at `p` (that many bytes of room),
// returning the end.
size_t EncodedBinarySize(const Object& o);
char* WriteBinary(const Object& o, char* p);
// In one step, where the size is likely known (a row encoded again after a small change): the
// encoding written at `p` when it fits before `end`, returning its end; else nullptr (the
// bytes in [p, end) are then unspecified).
char* WriteBinaryWithin(const Object& o, char* p, const char* end);
bool DecodeBinary(std::string_view data, Value* out);
// Appends the compact JSON of an encoded value: the bytes WriteJson gives for what DecodeBinary
// decodes, without building the value. false (*out as it was) where DecodeBinary is false.
bool BinaryToJson(std::string_view data, std::string* out);
// Whether an encoding starts as an object's (its tag only; the rest is not checked).
bool StartsEncodedObject(std::string_view data);

}  // namespace projd

#endif  // PROJD_DSL_VALUE_H_
