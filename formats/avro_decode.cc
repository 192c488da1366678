// Avro binary -> Value: the datum checked against the writer schema, read by Avro C, and its
// value converted to projd's value model (AvroSchema::Decode).
#include <cstring>
#include <utility>

#include "dsl/time.h"
#include "formats/avro_internal.h"

namespace projd {
namespace {

using Kind = AvroNode::Kind;
using Logical = AvroNode::Logical;
using avro_internal::AppendBase64;
using avro_internal::AvroError;
using avro_internal::DecimalFromTwosComplement;
using avro_internal::FormatDate;
using avro_internal::FormatTimeOfDay;
using avro_internal::FormatTimestampMicros;
using avro_internal::NumberFromDouble;
using avro_internal::NumberFromFloat;
using avro_internal::ValidUtf8;

// --- validation of Avro binary ---------------------------------------------------------------
//
// Checks that a datum is well formed for the schema before Avro C reads it: Avro C leaks
// memory on some read failures (a string cut short), and would loop over huge block counts of
// zero-size items. After this, avro_value_read cannot run past the end.

bool ReadVarint(const unsigned char** p, const unsigned char* end, int max_bytes, int64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (*p >= end) return false;
    unsigned char b = *(*p)++;
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
      return true;
    }
  }
  return false;
}

bool Validate(const unsigned char** p, const unsigned char* end, const AvroNode* n, int depth,
              std::string* error) {
  if (depth > 64) {
    *error = "Avro value nested too deeply";
    return false;
  }
  auto cut = [&]() {
    *error = "Avro body does not decode: it ends too early or has a bad length";
    return false;
  };
  int64_t v = 0;
  switch (n->kind) {
    case Kind::kNull:
      return true;
    case Kind::kBoolean:
      if (*p >= end) return cut();
      if (**p > 1) {
        *error = "Avro body does not decode: bad boolean";
        return false;
      }
      ++*p;
      return true;
    case Kind::kInt:
      return ReadVarint(p, end, 5, &v) || cut();
    case Kind::kLong:
      return ReadVarint(p, end, 10, &v) || cut();
    case Kind::kFloat:
    case Kind::kDouble: {
      int64_t size = n->kind == Kind::kFloat ? 4 : 8;
      if (end - *p < size) return cut();
      *p += size;
      return true;
    }
    case Kind::kBytes:
    case Kind::kString:
      if (!ReadVarint(p, end, 10, &v) || v < 0 || v > end - *p) return cut();
      *p += v;
      return true;
    case Kind::kFixed:
      if (end - *p < n->fixed_size) return cut();
      *p += n->fixed_size;
      return true;
    case Kind::kEnum:
      if (!ReadVarint(p, end, 5, &v)) return cut();
      if (v < 0 || static_cast<size_t>(v) >= n->symbols.size()) {
        *error = "Avro body does not decode: enum index " + std::to_string(v) + " out of range";
        return false;
      }
      return true;
    case Kind::kUnion:
      if (!ReadVarint(p, end, 10, &v)) return cut();
      if (v < 0 || static_cast<size_t>(v) >= n->children.size()) {
        *error = "Avro body does not decode: union branch " + std::to_string(v) + " out of range";
        return false;
      }
      return Validate(p, end, n->children[static_cast<size_t>(v)], depth + 1, error);
    case Kind::kRecord:
      for (const AvroNode* c : n->children) {
        if (!Validate(p, end, c, depth + 1, error)) return false;
      }
      return true;
    case Kind::kArray:
    case Kind::kMap: {
      int64_t total = 0;
      while (true) {
        int64_t count;
        if (!ReadVarint(p, end, 10, &count)) return cut();
        if (count == 0) return true;
        if (count < 0) {
          if (count == INT64_MIN) return cut();
          count = -count;
          int64_t size;
          if (!ReadVarint(p, end, 10, &size) || size < 0) return cut();
        }
        // Items of zero bytes (null, empty records) are possible: bound the count anyway.
        total += count;
        if (count > (end - *p) + 65536 || total > (int64_t{1} << 24)) {
          *error = "Avro body does not decode: block of " + std::to_string(count) + " items";
          return false;
        }
        for (int64_t i = 0; i < count; ++i) {
          if (n->kind == Kind::kMap) {
            if (!ReadVarint(p, end, 10, &v) || v < 0 || v > end - *p) return cut();
            *p += v;
          }
          if (!Validate(p, end, n->children[0], depth + 1, error)) return false;
        }
      }
    }
  }
  return cut();
}

// --- Avro C value -> Value ----------------------------------------------------------------------

bool Convert(avro_value_t* v, const AvroNode* n, Value* out, std::string* error, int depth);

// The error of a value Avro C cannot read.
bool CannotRead(std::string* error) {
  *error = AvroError("cannot read Avro value");
  return false;
}

// A date or timestamp reads as an RFC 3339 string, whose year has four digits: one outside
// the years 0000-9999 is an event error (not a string that is not RFC 3339).
bool InRfc3339Range(int64_t epoch_ms, const char* logical, int64_t raw, std::string* error) {
  if (epoch_ms >= kRfc3339MinMs && epoch_ms <= kRfc3339MaxMs) return true;
  *error = std::string(logical) + " value " + std::to_string(raw) +
           " is outside the years 0000-9999 that RFC 3339 can write";
  return false;
}

// An int: a number, or a date or time of day (logical types date and time-millis).
bool ConvertInt(avro_value_t* v, const AvroNode* n, Value* out, std::string* error) {
  int32_t i = 0;
  if (avro_value_get_int(v, &i)) return CannotRead(error);
  if (n->logical == Logical::kDate) {
    if (!InRfc3339Range(int64_t{i} * 86400000, "date", i, error)) return false;
    *out = Value::String(FormatDate(i));
  } else if (n->logical == Logical::kTimeMillis) {
    *out = Value::String(FormatTimeOfDay(int64_t{i} * 1000));
  } else {
    *out = Value::Number(Decimal::FromInt(i));
  }
  return true;
}

// A long: a number, or a timestamp or time of day (logical types timestamp-* and time-micros).
bool ConvertLong(avro_value_t* v, const AvroNode* n, Value* out, std::string* error) {
  int64_t l = 0;
  if (avro_value_get_long(v, &l)) return CannotRead(error);
  if (n->logical == Logical::kTimestampMillis) {
    if (!InRfc3339Range(l, "timestamp-millis", l, error)) return false;
    *out = Value::String(FormatRfc3339(l));
  } else if (n->logical == Logical::kTimestampMicros) {
    int64_t ms = l >= 0 ? l / 1000 : -(-(l + 1) / 1000) - 1;  // floor, without overflow
    if (!InRfc3339Range(ms, "timestamp-micros", l, error)) return false;
    *out = Value::String(FormatTimestampMicros(l));
  } else if (n->logical == Logical::kTimeMicros) {
    *out = Value::String(FormatTimeOfDay(l));
  } else {
    *out = Value::Number(Decimal::FromInt(l));
  }
  return true;
}

// A float or a double: an exact decimal of its shortest text.
bool ConvertFloating(avro_value_t* v, const AvroNode* n, Value* out, std::string* error) {
  Decimal d;
  if (n->kind == Kind::kFloat) {
    float f = 0;
    if (avro_value_get_float(v, &f)) return CannotRead(error);
    if (!NumberFromFloat(f, &d, error)) return false;
  } else {
    double f = 0;
    if (avro_value_get_double(v, &f)) return CannotRead(error);
    if (!NumberFromDouble(f, &d, error)) return false;
  }
  *out = Value::Number(d);
  return true;
}

// Bytes or a fixed: a decimal (logical type decimal), else a base64 string.
bool ConvertBytes(avro_value_t* v, const AvroNode* n, Value* out, std::string* error) {
  const void* buf = nullptr;
  size_t size = 0;
  if (n->kind == Kind::kBytes ? avro_value_get_bytes(v, &buf, &size)
                              : avro_value_get_fixed(v, &buf, &size)) {
    return CannotRead(error);
  }
  const auto* p = static_cast<const unsigned char*>(buf);
  if (n->logical == Logical::kDecimal) {
    Decimal d;
    if (!DecimalFromTwosComplement(p, size, n->scale, &d, error)) return false;
    *out = Value::Number(d);
  } else {
    std::string s;
    s.reserve((size + 2) / 3 * 4);
    AppendBase64(p, size, &s);
    *out = Value::String(std::move(s));
  }
  return true;
}

bool ConvertString(avro_value_t* v, Value* out, std::string* error) {
  const char* s = nullptr;
  size_t size = 0;
  if (avro_value_get_string(v, &s, &size)) return CannotRead(error);
  size_t len = size > 0 ? size - 1 : 0;  // Avro C counts the terminating NUL
  if (!ValidUtf8(reinterpret_cast<const unsigned char*>(s), len)) {
    *error = "Avro string is not valid UTF-8";
    return false;
  }
  *out = Value::String(std::string(s, len));
  return true;
}

// An enum: its symbol.
bool ConvertEnum(avro_value_t* v, const AvroNode* n, Value* out, std::string* error) {
  int e = 0;
  if (avro_value_get_enum(v, &e)) return CannotRead(error);
  if (e < 0 || static_cast<size_t>(e) >= n->symbols.size()) {
    *error = "Avro enum index out of range";
    return false;
  }
  *out = Value::String(n->symbols[static_cast<size_t>(e)]);
  return true;
}

// A union: the value of its branch.
bool ConvertUnion(avro_value_t* v, const AvroNode* n, Value* out, std::string* error, int depth) {
  int disc = -1;
  avro_value_t branch;
  if (avro_value_get_discriminant(v, &disc) || avro_value_get_current_branch(v, &branch)) {
    return CannotRead(error);
  }
  if (disc < 0 || static_cast<size_t>(disc) >= n->children.size()) {
    *error = "Avro union branch out of range";
    return false;
  }
  return Convert(&branch, n->children[static_cast<size_t>(disc)], out, error, depth + 1);
}

// A record: an object of its fields in schema order.
bool ConvertRecord(avro_value_t* v, const AvroNode* n, Value* out, std::string* error, int depth) {
  std::vector<Object::Member> members;
  members.reserve(n->children.size());
  for (size_t i = 0; i < n->children.size(); ++i) {
    avro_value_t child;
    if (avro_value_get_by_index(v, i, &child, nullptr)) return false;
    Value cv;
    if (!Convert(&child, n->children[i], &cv, error, depth + 1)) return false;
    members.emplace_back(n->field_names[i], std::move(cv));
  }
  *out = Value::MakeObject(Object::FromMembers(std::move(members)));
  return true;
}

// An array (a list) or a map (an object of its keys in order).
bool ConvertArrayOrMap(avro_value_t* v, const AvroNode* n, Value* out, std::string* error,
                       int depth) {
  size_t size = 0;
  if (avro_value_get_size(v, &size)) return CannotRead(error);
  Array items;
  std::vector<Object::Member> members;
  for (size_t i = 0; i < size; ++i) {
    avro_value_t child;
    const char* key = nullptr;
    if (avro_value_get_by_index(v, i, &child, &key)) break;
    Value cv;
    if (!Convert(&child, n->children[0], &cv, error, depth + 1)) return false;
    if (n->kind == Kind::kArray) {
      items.push_back(std::move(cv));
    } else {
      if (!key || !ValidUtf8(reinterpret_cast<const unsigned char*>(key), strlen(key))) {
        *error = "Avro map key is not valid UTF-8";
        return false;
      }
      members.emplace_back(key, std::move(cv));
    }
  }
  *out = n->kind == Kind::kArray ? Value::MakeArray(std::move(items))
                                 : Value::MakeObject(Object::FromMembers(std::move(members)));
  return true;
}

bool Convert(avro_value_t* v, const AvroNode* n, Value* out, std::string* error, int depth) {
  if (depth > 64) {
    *error = "Avro value nested too deeply";
    return false;
  }
  switch (n->kind) {
    case Kind::kNull:
      *out = Value();
      return true;
    case Kind::kBoolean: {
      int b = 0;
      if (avro_value_get_boolean(v, &b)) return CannotRead(error);
      *out = Value::Bool(b != 0);
      return true;
    }
    case Kind::kInt:
      return ConvertInt(v, n, out, error);
    case Kind::kLong:
      return ConvertLong(v, n, out, error);
    case Kind::kFloat:
    case Kind::kDouble:
      return ConvertFloating(v, n, out, error);
    case Kind::kBytes:
    case Kind::kFixed:
      return ConvertBytes(v, n, out, error);
    case Kind::kString:
      return ConvertString(v, out, error);
    case Kind::kEnum:
      return ConvertEnum(v, n, out, error);
    case Kind::kUnion:
      return ConvertUnion(v, n, out, error, depth);
    case Kind::kRecord:
      return ConvertRecord(v, n, out, error, depth);
    case Kind::kArray:
    case Kind::kMap:
      return ConvertArrayOrMap(v, n, out, error, depth);
  }
  return CannotRead(error);
}

}  // namespace

bool AvroSchema::Decode(std::string_view datum, Value* out, std::string* error) {
  Impl& m = *impl_;
  const auto* p = reinterpret_cast<const unsigned char*>(datum.data());
  const unsigned char* end = p + datum.size();
  if (!Validate(&p, end, m.root, 0, error)) return false;
  if (p != end) {
    *error = "Avro body does not decode: bytes left after the value";
    return false;
  }
  avro_reader_memory_set_source(m.reader, datum.data(), static_cast<int64_t>(datum.size()));
  avro_value_reset(&m.value);
  if (avro_value_read(m.reader, &m.value)) {
    *error = AvroError("Avro body does not decode");
    return false;
  }
  return Convert(&m.value, m.root, out, error, 0);
}

}  // namespace projd
