// Value -> Avro binary: a value of the JSON model put into an Avro C value of the schema, then
// written (AvroSchema::Encode; projctl test --schema, test producers, benchmarks).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dsl/time.h"
#include "formats/avro_internal.h"

namespace projd {
namespace {

using Kind = AvroNode::Kind;
using Logical = AvroNode::Logical;
using avro_internal::AvroError;
using avro_internal::DecimalToTwosComplement;
using avro_internal::DecodeBase64;

// --- Value -> Avro C value ----------------------------------------------------------------------

std::string Where(const std::string& path) { return path.empty() ? "value" : path; }

bool Fill(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
          std::string* error, int depth);

bool FillUnion(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
               std::string* error, int depth) {
  std::string last;
  for (size_t i = 0; i < n->children.size(); ++i) {
    avro_value_t branch;
    if (avro_value_set_branch(dst, static_cast<int>(i), &branch)) {
      *error = AvroError("cannot set union branch");
      return false;
    }
    std::string e;
    if (Fill(&branch, v, n->children[i], path, &e, depth + 1)) return true;
    if (last.empty() || n->children[i]->kind != Kind::kNull) last = e;
  }
  // The Avro JSON encoding of a union: {"TYPE NAME": value}.
  if (v.is_object() && v.as_object().size() == 1) {
    const auto& [name, inner] = v.as_object().members()[0];
    static const char* kNames[] = {"null",   "boolean", "int",    "long",   "float",
                                   "double", "bytes",   "string", "record", "enum",
                                   "array",  "map",     "union",  "fixed"};
    for (size_t i = 0; i < n->children.size(); ++i) {
      const AvroNode* c = n->children[i];
      std::string short_name = c->name.substr(c->name.rfind('.') + 1);
      if (name == kNames[static_cast<int>(c->kind)] || (!c->name.empty() && name == c->name) ||
          (!c->name.empty() && name == short_name)) {
        avro_value_t branch;
        if (avro_value_set_branch(dst, static_cast<int>(i), &branch)) {
          *error = AvroError("cannot set union branch");
          return false;
        }
        return Fill(&branch, inner, c, path, error, depth + 1);
      }
    }
  }
  *error = Where(path) + ": fits no branch of the union (" + last + ")";
  return false;
}

bool IntegerOf(const Value& v, int64_t* out) { return v.is_number() && v.as_number().ToInt64(out); }

// The error of value `v` at `path` that is not of the type wanted.
bool Wrong(const Value& v, const std::string& path, const char* want, std::string* error) {
  *error = Where(path) + ": expected " + want + ", got " + Value::TypeName(v.type());
  return false;
}

// The result of an avro_value_set_* call: true when it returned 0.
bool SetDone(int rc, std::string* error) {
  if (rc) {
    *error = AvroError("cannot set Avro value");
    return false;
  }
  return true;
}

// An int from an integer, or from a date "YYYY-MM-DD" (logical type date).
bool FillInt(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
             std::string* error) {
  int64_t i = 0;
  if (n->logical == Logical::kDate && v.is_string()) {
    int64_t ms = 0;
    if (!ParseRfc3339(v.as_string(), &ms) || ms % 86400000 != 0) {
      *error = Where(path) + ": '" + v.as_string() + "' is not a date YYYY-MM-DD";
      return false;
    }
    i = ms / 86400000;
  } else if (!IntegerOf(v, &i)) {
    return Wrong(v, path, "an integer", error);
  }
  if (i < INT32_MIN || i > INT32_MAX) {
    *error = Where(path) + ": " + std::to_string(i) + " does not fit an Avro int";
    return false;
  }
  return SetDone(avro_value_set_int(dst, static_cast<int32_t>(i)), error);
}

// A long from an integer, or from an RFC 3339 time (logical types timestamp-*).
bool FillLong(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
              std::string* error) {
  int64_t l = 0;
  bool ts = n->logical == Logical::kTimestampMillis || n->logical == Logical::kTimestampMicros;
  if (ts && v.is_string()) {
    int64_t us = 0;
    if (!ParseRfc3339Micros(v.as_string(), &us)) {
      *error = Where(path) + ": '" + v.as_string() + "' is not an RFC 3339 time";
      return false;
    }
    // Digits finer than the type's unit are dropped (toward the earlier time).
    l = n->logical == Logical::kTimestampMicros ? us
                                                : (us >= 0 ? us / 1000 : -((-us + 999) / 1000));
  } else if (!IntegerOf(v, &l)) {
    return Wrong(v, path, "an integer", error);
  }
  return SetDone(avro_value_set_long(dst, l), error);
}

bool FillFloating(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
                  std::string* error) {
  if (!v.is_number()) return Wrong(v, path, "a number", error);
  double d = std::strtod(v.as_number().ToString().c_str(), nullptr);
  return SetDone(n->kind == Kind::kFloat ? avro_value_set_float(dst, static_cast<float>(d))
                                         : avro_value_set_double(dst, d),
                 error);
}

// Text made of a number's characters (whose value Decimal::Parse may still refuse).
bool LooksNumeric(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return false;
    }
  }
  return true;
}

// Bytes or a fixed from a decimal number or its text (logical type decimal), else from base64.
bool FillBytes(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
               std::string* error) {
  std::string bytes;
  if (n->logical == Logical::kDecimal) {
    Decimal d;
    if (v.is_number()) {
      d = v.as_number();
    } else if (!v.is_string()) {
      return Wrong(v, path, "a decimal number", error);
    } else if (!Decimal::Parse(v.as_string(), &d)) {
      if (!LooksNumeric(v.as_string())) return Wrong(v, path, "a decimal number", error);
      *error = Where(path) + ": decimal out of range (magnitude 10^20 or more)";
      return false;
    }
    std::string e;
    if (!DecimalToTwosComplement(d, n->scale, n->kind == Kind::kFixed ? n->fixed_size : 0, &bytes,
                                 &e)) {
      *error = Where(path) + ": " + e;
      return false;
    }
  } else if (!v.is_string() || !DecodeBase64(v.as_string(), &bytes)) {
    return Wrong(v, path, "a base64 string", error);
  }
  if (n->kind == Kind::kFixed) {
    if (static_cast<int64_t>(bytes.size()) != n->fixed_size) {
      *error = Where(path) + ": fixed(" + std::to_string(n->fixed_size) + ") wants " +
               std::to_string(n->fixed_size) + " bytes, got " + std::to_string(bytes.size());
      return false;
    }
    return SetDone(avro_value_set_fixed(dst, bytes.data(), bytes.size()), error);
  }
  return SetDone(avro_value_set_bytes(dst, bytes.data(), bytes.size()), error);
}

bool FillEnum(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
              std::string* error) {
  if (!v.is_string()) return Wrong(v, path, "an enum symbol", error);
  for (size_t i = 0; i < n->symbols.size(); ++i) {
    if (n->symbols[i] == v.as_string()) {
      return SetDone(avro_value_set_enum(dst, static_cast<int>(i)), error);
    }
  }
  *error = Where(path) + ": '" + v.as_string() + "' is not a symbol of enum " + n->name;
  return false;
}

// A record from an object: each field from the member of its name, else from the field's
// default, else from null.
bool FillRecord(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
                std::string* error, int depth) {
  if (!v.is_object()) return Wrong(v, path, "an object", error);
  for (size_t i = 0; i < n->children.size(); ++i) {
    avro_value_t child;
    if (avro_value_get_by_index(dst, i, &child, nullptr)) {
      *error = AvroError("cannot reach record field");
      return false;
    }
    const std::string& fname = n->field_names[i];
    std::string fpath = path;  // "PATH.FIELD", or "FIELD" at the top
    if (!fpath.empty()) fpath += '.';
    fpath += fname;
    const Value* fv = v.as_object().Find(fname);
    Value null_value;
    if (!fv) {
      if (n->has_default[i]) {
        fv = &n->defaults[i];
        // A union's default is a value of its first branch.
        if (n->children[i]->kind == Kind::kUnion && !n->children[i]->children.empty()) {
          avro_value_t branch;
          if (avro_value_set_branch(&child, 0, &branch)) {
            *error = AvroError("cannot set union branch");
            return false;
          }
          if (!Fill(&branch, *fv, n->children[i]->children[0], fpath, error, depth + 1)) {
            return false;
          }
          continue;
        }
      } else {
        fv = &null_value;  // fits a null or a union with null; else an error below
      }
    }
    if (!Fill(&child, *fv, n->children[i], fpath, error, depth + 1)) return false;
  }
  return true;
}

bool FillArray(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
               std::string* error, int depth) {
  if (!v.is_array()) return Wrong(v, path, "an array", error);
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    avro_value_t child;
    if (avro_value_append(dst, &child, nullptr)) {
      *error = AvroError("cannot append to array");
      return false;
    }
    if (!Fill(&child, v.as_array()[i], n->children[0], path + "[" + std::to_string(i) + "]", error,
              depth + 1)) {
      return false;
    }
  }
  return true;
}

bool FillMap(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
             std::string* error, int depth) {
  if (!v.is_object()) return Wrong(v, path, "an object", error);
  for (const auto& [key, mv] : v.as_object().members()) {
    avro_value_t child;
    if (avro_value_add(dst, key.c_str(), &child, nullptr, nullptr)) {
      *error = AvroError("cannot add to map");
      return false;
    }
    std::string kpath = path;  // "PATH.KEY"
    kpath += '.';
    kpath += key;
    if (!Fill(&child, mv, n->children[0], kpath, error, depth + 1)) return false;
  }
  return true;
}

bool Fill(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
          std::string* error, int depth) {
  if (depth > 64) {
    *error = "value nested too deeply";
    return false;
  }
  switch (n->kind) {
    case Kind::kNull:
      if (!v.is_null()) return Wrong(v, path, "null", error);
      return SetDone(avro_value_set_null(dst), error);
    case Kind::kBoolean:
      if (!v.is_bool()) return Wrong(v, path, "a boolean", error);
      return SetDone(avro_value_set_boolean(dst, v.as_bool() ? 1 : 0), error);
    case Kind::kInt:
      return FillInt(dst, v, n, path, error);
    case Kind::kLong:
      return FillLong(dst, v, n, path, error);
    case Kind::kFloat:
    case Kind::kDouble:
      return FillFloating(dst, v, n, path, error);
    case Kind::kBytes:
    case Kind::kFixed:
      return FillBytes(dst, v, n, path, error);
    case Kind::kString:
      if (!v.is_string()) return Wrong(v, path, "a string", error);
      return SetDone(
          avro_value_set_string_len(dst, v.as_string().c_str(), v.as_string().size() + 1), error);
    case Kind::kEnum:
      return FillEnum(dst, v, n, path, error);
    case Kind::kUnion:
      return FillUnion(dst, v, n, path, error, depth);
    case Kind::kRecord:
      return FillRecord(dst, v, n, path, error, depth);
    case Kind::kArray:
      return FillArray(dst, v, n, path, error, depth);
    case Kind::kMap:
      return FillMap(dst, v, n, path, error, depth);
  }
  return true;
}

}  // namespace

bool AvroSchema::Encode(const Value& v, std::string* out, std::string* error) {
  Impl& m = *impl_;
  avro_value_reset(&m.value);
  if (!Fill(&m.value, v, m.root, "", error, 0)) return false;
  size_t size = 0;
  if (avro_value_sizeof(&m.value, &size)) {
    *error = AvroError("cannot size Avro value");
    return false;
  }
  out->resize(size);
  avro_writer_t w = avro_writer_memory(out->data(), static_cast<int64_t>(size));
  int rc = avro_value_write(w, &m.value);
  avro_writer_free(w);
  if (rc) {
    *error = AvroError("cannot write Avro value");
    return false;
  }
  return true;
}

}  // namespace projd
