#include "formats/avro.h"

#include <avro.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "dsl/time.h"

namespace projd {

// The schema as projd needs it beside Avro C's: the kind of each node, its logical type (Avro
// C 1.11 drops logicalType attributes), record field names and defaults, enum symbols.
struct AvroNode {
  enum class Kind {
    kNull,
    kBoolean,
    kInt,
    kLong,
    kFloat,
    kDouble,
    kBytes,
    kString,
    kRecord,
    kEnum,
    kArray,
    kMap,
    kUnion,
    kFixed
  };
  enum class Logical {
    kNone,
    kDecimal,
    kDate,
    kTimeMillis,
    kTimeMicros,
    kTimestampMillis,
    kTimestampMicros
  };
  Kind kind = Kind::kNull;
  Logical logical = Logical::kNone;
  int scale = 0;
  int64_t fixed_size = 0;
  std::string name;  // full name of a named type (record, enum, fixed)
  // Record fields / union branches / the array's items / the map's values.
  std::vector<const AvroNode*> children;
  std::vector<std::string> field_names;
  std::vector<bool> has_default;
  std::vector<Value> defaults;
  std::vector<std::string> symbols;  // enum
};

namespace {

using Kind = AvroNode::Kind;
using Logical = AvroNode::Logical;

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void AppendBase64(const unsigned char* p, size_t n, std::string* out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out->push_back(kBase64[v >> 18]);
    out->push_back(kBase64[(v >> 12) & 63]);
    out->push_back(kBase64[(v >> 6) & 63]);
    out->push_back(kBase64[v & 63]);
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out->push_back(kBase64[v >> 18]);
    out->push_back(kBase64[(v >> 12) & 63]);
    out->append("==");
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out->push_back(kBase64[v >> 18]);
    out->push_back(kBase64[(v >> 12) & 63]);
    out->push_back(kBase64[(v >> 6) & 63]);
    out->push_back('=');
  }
}

bool DecodeBase64(std::string_view s, std::string* out) {
  out->clear();
  if (s.size() % 4 != 0) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    int v;
    if (c == '=') {
      if (i + 2 < s.size()) return false;
      ++pad;
      continue;
    }
    if (pad) return false;
    const char* at = std::strchr(kBase64, c);
    if (c == 0 || at == nullptr) return false;
    v = static_cast<int>(at - kBase64);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

bool ValidUtf8(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

__int128 Pow10(int n) {
  __int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

const __int128 kMaxRaw = Pow10(38);  // Decimal magnitude bound 10^20, scaled by 10^18

// An exact Decimal from a big-endian two's-complement unscaled integer and a scale.
bool DecimalFromTwosComplement(const unsigned char* p, size_t n, int scale, Decimal* out,
                               std::string* error) {
  if (n == 0) {
    *out = Decimal();
    return true;
  }
  bool negative = (p[0] & 0x80) != 0;
  // Only 16 bytes fit __int128: longer values must be sign extension in front.
  while (n > 16) {
    if (p[0] != (negative ? 0xFF : 0x00)) {
      *error = "decimal out of range (magnitude 10^20 or more)";
      return false;
    }
    ++p;
    --n;
  }
  if (n == 16 && ((p[0] & 0x80) != 0) != negative) {
    *error = "decimal out of range (magnitude 10^20 or more)";
    return false;
  }
  unsigned __int128 u = negative ? ~static_cast<unsigned __int128>(0) : 0;
  for (size_t i = 0; i < n; ++i) u = (u << 8) | p[i];
  __int128 v = static_cast<__int128>(u);
  if (negative && v == -static_cast<__int128>(~static_cast<unsigned __int128>(0) >> 1) - 1) {
    *error = "decimal out of range (magnitude 10^20 or more)";
    return false;
  }
  __int128 mag = v < 0 ? -v : v;
  __int128 raw;
  if (scale <= Decimal::kScale) {
    if (mag >= Pow10(20 + scale)) {
      *error = "decimal out of range (magnitude 10^20 or more)";
      return false;
    }
    raw = mag * Pow10(Decimal::kScale - scale);
  } else if (scale - Decimal::kScale > 38) {
    raw = 0;  // below half of the smallest unit at 18 places
  } else {
    __int128 div = Pow10(scale - Decimal::kScale);
    __int128 q = mag / div, r = mag % div;
    if (r * 2 > div || (r * 2 == div && (q & 1))) ++q;  // half-even
    raw = q;
  }
  if (raw >= kMaxRaw) {
    *error = "decimal out of range (magnitude 10^20 or more)";
    return false;
  }
  *out = Decimal::FromRaw(v < 0 ? -raw : raw);
  return true;
}

// The unscaled integer of `d` at `scale`, as minimal big-endian two's complement (or
// sign-extended to `width` bytes when width > 0).
bool DecimalToTwosComplement(Decimal d, int scale, int64_t width, std::string* out,
                             std::string* error) {
  __int128 raw = d.raw();
  __int128 unscaled;
  if (scale <= Decimal::kScale) {
    __int128 div = Pow10(Decimal::kScale - scale);
    if (raw % div != 0) {
      *error = "decimal " + d.ToString() + " has more than " + std::to_string(scale) +
               " digits after the point";
      return false;
    }
    unscaled = raw / div;
  } else {
    int up = scale - Decimal::kScale;
    __int128 mag = raw < 0 ? -raw : raw;
    if (up > 38 || (mag != 0 && static_cast<unsigned __int128>(mag) >
                                    (~static_cast<unsigned __int128>(0) >> 1) / Pow10(up))) {
      *error = "decimal scale " + std::to_string(scale) + " is too large to encode " + d.ToString();
      return false;
    }
    unscaled = raw * Pow10(up);
  }
  unsigned char buf[16];
  unsigned __int128 u = static_cast<unsigned __int128>(unscaled);
  for (int i = 15; i >= 0; --i) {
    buf[i] = static_cast<unsigned char>(u & 0xFF);
    u >>= 8;
  }
  int start = 0;
  bool negative = unscaled < 0;
  while (start < 15 && buf[start] == (negative ? 0xFF : 0x00) &&
         ((buf[start + 1] & 0x80) != 0) == negative) {
    ++start;
  }
  size_t len = 16 - static_cast<size_t>(start);
  out->clear();
  if (width > 0) {
    if (static_cast<int64_t>(len) > width) {
      *error = "decimal " + d.ToString() + " does not fit fixed(" + std::to_string(width) + ")";
      return false;
    }
    out->assign(static_cast<size_t>(width) - len, negative ? '\xFF' : '\0');
  }
  out->append(reinterpret_cast<const char*>(buf) + start, len);
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string FormatDate(int64_t days) {
  CivilTime t = ToCivil(days * 86400000);
  char buf[32];
  snprintf(buf, sizeof(buf), "%04lld-%02d-%02d", static_cast<long long>(t.year), t.month, t.day);
  return buf;
}

// "HH:MM:SS" with ".fff" or ".ffffff" when there is a fraction.
std::string FormatTimeOfDay(int64_t micros) {
  int64_t secs = FloorDiv(micros, 1000000);
  int64_t frac = micros - secs * 1000000;
  secs = ((secs % 86400) + 86400) % 86400;
  char buf[48];
  int n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d", static_cast<int>(secs / 3600),
                   static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  if (frac != 0) {
    if (frac % 1000 == 0) {
      snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ".%03d",
               static_cast<int>(frac / 1000));
    } else {
      snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ".%06d", static_cast<int>(frac));
    }
  }
  return buf;
}

std::string FormatTimestampMicros(int64_t micros) {
  int64_t ms = FloorDiv(micros, 1000);
  int64_t sub = micros - ms * 1000;
  std::string s = FormatRfc3339(ms);
  if (sub == 0) return s;
  // "...:SS[.mmm]Z" -> "...:SS.mmmuuuZ"
  s.pop_back();  // Z
  size_t dot = s.find('.', s.size() >= 4 ? s.size() - 4 : 0);
  int64_t ms_part = ((ms % 1000) + 1000) % 1000;
  if (dot != std::string::npos) s.resize(dot);
  char buf[16];
  int64_t micros_part = ms_part * 1000 + sub;  // 0 to 999999
  snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(micros_part));
  return s + buf + "Z";
}

bool NumberFromDouble(double d, Decimal* out, std::string* error) {
  if (!std::isfinite(d)) {
    *error = "floating-point value is not a finite number";
    return false;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  if (!Decimal::Parse(text, out)) {
    *error = "floating-point value " + std::string(text) + " is out of range";
    return false;
  }
  return true;
}

bool NumberFromFloat(float f, Decimal* out, std::string* error) {
  if (!std::isfinite(f)) {
    *error = "floating-point value is not a finite number";
    return false;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), f);
  std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  if (!Decimal::Parse(text, out)) {
    *error = "floating-point value " + std::string(text) + " is out of range";
    return false;
  }
  return true;
}

// --- schema JSON -> AvroNode ------------------------------------------------------------------

class NodeBuilder {
 public:
  explicit NodeBuilder(std::vector<std::unique_ptr<AvroNode>>* nodes) : nodes_(nodes) {}

  const AvroNode* Build(const Value& v, const std::string& ns, std::string* error) {
    if (++depth_ > 64) {
      *error = "schema nested too deeply";
      return nullptr;
    }
    const AvroNode* n = BuildInner(v, ns, error);
    --depth_;
    return n;
  }

 private:
  AvroNode* New(Kind k) {
    nodes_->push_back(std::make_unique<AvroNode>());
    nodes_->back()->kind = k;
    return nodes_->back().get();
  }

  static bool Primitive(const std::string& s, Kind* k) {
    static const std::pair<const char*, Kind> kPrims[] = {
        {"null", Kind::kNull},   {"boolean", Kind::kBoolean}, {"int", Kind::kInt},
        {"long", Kind::kLong},   {"float", Kind::kFloat},     {"double", Kind::kDouble},
        {"bytes", Kind::kBytes}, {"string", Kind::kString}};
    for (const auto& [name, kind] : kPrims) {
      if (s == name) {
        *k = kind;
        return true;
      }
    }
    return false;
  }

  static std::string FullName(const Object& o, const std::string& ns, std::string* new_ns) {
    const Value* name = o.Find("name");
    std::string n = name && name->is_string() ? name->as_string() : "";
    if (n.find('.') != std::string::npos) {
      *new_ns = n.substr(0, n.rfind('.'));
      return n;
    }
    const Value* nsv = o.Find("namespace");
    *new_ns = nsv && nsv->is_string() ? nsv->as_string() : ns;
    return new_ns->empty() ? n : *new_ns + "." + n;
  }

  const AvroNode* BuildInner(const Value& v, const std::string& ns, std::string* error) {
    if (v.is_string()) return BuildReference(v.as_string(), ns, error);
    if (v.is_array()) return BuildUnion(v.as_array(), ns, error);
    if (!v.is_object()) {
      *error = "schema has a type that is not a string, array or object";
      return nullptr;
    }
    const Object& o = v.as_object();
    const Value* type = o.Find("type");
    if (!type) {
      *error = "schema object without \"type\"";
      return nullptr;
    }
    if (!type->is_string()) return Build(*type, ns, error);
    const std::string& t = type->as_string();
    AvroNode* n = nullptr;
    Kind k;
    if (Primitive(t, &k)) {
      n = New(k);
    } else if (t == "record" || t == "error" || t == "enum" || t == "fixed") {
      n = BuildNamed(o, t, ns, error);
    } else if (t == "array" || t == "map") {
      n = BuildContainer(o, t, ns, error);
    } else {
      return Build(*type, ns, error);  // a named type referenced as {"type": "Name"}
    }
    if (!n) return nullptr;
    SetLogicalType(o, n);
    return n;
  }

  // A type named by a string: a primitive, or a named type defined before (looked up in the
  // enclosing namespace `ns` first).
  const AvroNode* BuildReference(const std::string& s, const std::string& ns, std::string* error) {
    Kind k;
    if (Primitive(s, &k)) return New(k);
    auto it = named_.find(s.find('.') == std::string::npos && !ns.empty() ? ns + "." + s : s);
    if (it == named_.end()) it = named_.find(s);
    if (it == named_.end()) {
      *error = "schema names unknown type '" + s + "'";
      return nullptr;
    }
    return it->second;
  }

  const AvroNode* BuildUnion(const Array& branches, const std::string& ns, std::string* error) {
    AvroNode* u = New(Kind::kUnion);
    for (const Value& b : branches) {
      const AvroNode* c = Build(b, ns, error);
      if (!c) return nullptr;
      u->children.push_back(c);
    }
    return u;
  }

  // A record (or error), enum or fixed: `t` is its "type". Known by its full name from here on,
  // so that its own fields may refer to it.
  AvroNode* BuildNamed(const Object& o, const std::string& t, const std::string& ns,
                       std::string* error) {
    std::string inner_ns;
    std::string full = FullName(o, ns, &inner_ns);
    AvroNode* n = New(t == "enum" ? Kind::kEnum : t == "fixed" ? Kind::kFixed : Kind::kRecord);
    n->name = full;
    named_[full] = n;
    if (n->kind == Kind::kFixed) return ReadFixedSize(o, n, error) ? n : nullptr;
    if (n->kind == Kind::kEnum) return ReadEnumSymbols(o, n, error) ? n : nullptr;
    return ReadRecordFields(o, inner_ns, n, error) ? n : nullptr;
  }

  static bool ReadFixedSize(const Object& o, AvroNode* n, std::string* error) {
    const Value* size = o.Find("size");
    int64_t sz = 0;
    if (!size || !size->is_number() || !size->as_number().ToInt64(&sz) || sz < 0) {
      *error = "fixed " + n->name + " has no valid size";
      return false;
    }
    n->fixed_size = sz;
    return true;
  }

  static bool ReadEnumSymbols(const Object& o, AvroNode* n, std::string* error) {
    const Value* symbols = o.Find("symbols");
    if (!symbols || !symbols->is_array()) {
      *error = "enum " + n->name + " has no symbols";
      return false;
    }
    for (const Value& s : symbols->as_array()) {
      if (!s.is_string()) {
        *error = "enum " + n->name + " has a symbol that is not a string";
        return false;
      }
      n->symbols.push_back(s.as_string());
    }
    return true;
  }

  // The fields of record `n`, their types resolved in the record's namespace `inner_ns`.
  bool ReadRecordFields(const Object& o, const std::string& inner_ns, AvroNode* n,
                        std::string* error) {
    const Value* fields = o.Find("fields");
    if (!fields || !fields->is_array()) {
      *error = "record " + n->name + " has no fields";
      return false;
    }
    for (const Value& f : fields->as_array()) {
      const Value* fname = f.is_object() ? f.as_object().Find("name") : nullptr;
      const Value* ftype = f.is_object() ? f.as_object().Find("type") : nullptr;
      if (!fname || !fname->is_string() || !ftype) {
        *error = "record " + n->name + " has a field without name or type";
        return false;
      }
      const AvroNode* c = Build(*ftype, inner_ns, error);
      if (!c) return false;
      n->children.push_back(c);
      n->field_names.push_back(fname->as_string());
      const Value* def = f.as_object().Find("default");
      n->has_default.push_back(def != nullptr);
      n->defaults.push_back(def ? *def : Value());
    }
    return true;
  }

  // An array (its "items") or a map (its "values"): `t` is its "type".
  AvroNode* BuildContainer(const Object& o, const std::string& t, const std::string& ns,
                           std::string* error) {
    AvroNode* n = New(t == "array" ? Kind::kArray : Kind::kMap);
    const Value* inner = o.Find(t == "array" ? "items" : "values");
    if (!inner) {
      *error = t + " without " + (t == "array" ? "items" : "values");
      return nullptr;
    }
    const AvroNode* c = Build(*inner, ns, error);
    if (!c) return nullptr;
    n->children.push_back(c);
    return n;
  }

  // The "logicalType" of schema object `o` on its node `n`; an invalid one is ignored (the Avro
  // specification says so).
  static void SetLogicalType(const Object& o, AvroNode* n) {
    const Value* logical = o.Find("logicalType");
    std::string lt = logical && logical->is_string() ? logical->as_string() : "";
    if (lt == "decimal" && (n->kind == Kind::kBytes || n->kind == Kind::kFixed)) {
      const Value* precision = o.Find("precision");
      const Value* scale = o.Find("scale");
      int64_t p = 0, s = 0;
      bool ok = precision && precision->is_number() && precision->as_number().ToInt64(&p) &&
                p >= 1 && (!scale || (scale->is_number() && scale->as_number().ToInt64(&s))) &&
                s >= 0 && s <= p;
      if (ok) {
        n->logical = Logical::kDecimal;
        n->scale = static_cast<int>(s);
      }
    } else if (lt == "date" && n->kind == Kind::kInt) {
      n->logical = Logical::kDate;
    } else if (lt == "time-millis" && n->kind == Kind::kInt) {
      n->logical = Logical::kTimeMillis;
    } else if (lt == "time-micros" && n->kind == Kind::kLong) {
      n->logical = Logical::kTimeMicros;
    } else if ((lt == "timestamp-millis" || lt == "local-timestamp-millis") &&
               n->kind == Kind::kLong) {
      n->logical = Logical::kTimestampMillis;
    } else if ((lt == "timestamp-micros" || lt == "local-timestamp-micros") &&
               n->kind == Kind::kLong) {
      n->logical = Logical::kTimestampMicros;
    }
  }

  std::vector<std::unique_ptr<AvroNode>>* nodes_;
  std::map<std::string, AvroNode*> named_;
  int depth_ = 0;
};

std::string AvroError(const char* what) {
  const char* e = avro_strerror();
  std::string s = e && *e ? e : "unknown error";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return std::string(what) + ": " + s;
}

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

// An int: a number, or a date or time of day (logical types date and time-millis).
bool ConvertInt(avro_value_t* v, const AvroNode* n, Value* out, std::string* error) {
  int32_t i = 0;
  if (avro_value_get_int(v, &i)) return CannotRead(error);
  if (n->logical == Logical::kDate) {
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
    *out = Value::String(FormatRfc3339(l));
  } else if (n->logical == Logical::kTimestampMicros) {
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
    int64_t ms = 0;
    if (!ParseRfc3339(v.as_string(), &ms)) {
      *error = Where(path) + ": '" + v.as_string() + "' is not an RFC 3339 time";
      return false;
    }
    l = n->logical == Logical::kTimestampMicros ? ms * 1000 : ms;
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

// Bytes or a fixed from a decimal number or its text (logical type decimal), else from base64.
bool FillBytes(avro_value_t* dst, const Value& v, const AvroNode* n, const std::string& path,
               std::string* error) {
  std::string bytes;
  if (n->logical == Logical::kDecimal) {
    Decimal d;
    if (v.is_number()) {
      d = v.as_number();
    } else if (!v.is_string() || !Decimal::Parse(v.as_string(), &d)) {
      return Wrong(v, path, "a decimal number", error);
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

// --- AvroSchema ----------------------------------------------------------------------------------

struct AvroSchema::Impl {
  std::vector<std::unique_ptr<AvroNode>> nodes;
  const AvroNode* root = nullptr;
  avro_schema_t schema = nullptr;
  avro_value_iface_t* iface = nullptr;
  avro_value_t value{};
  bool has_value = false;
  avro_reader_t reader = nullptr;

  ~Impl() {
    if (reader) avro_reader_free(reader);
    if (has_value) avro_value_decref(&value);
    if (iface) avro_value_iface_decref(iface);
    if (schema) avro_schema_decref(schema);
  }
};

AvroSchema::AvroSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AvroSchema::~AvroSchema() = default;

std::unique_ptr<AvroSchema> AvroSchema::Parse(std::string_view json, std::string* error) {
  auto impl = std::make_unique<Impl>();
  Value doc;
  if (!ParseJson(json, &doc, error)) {
    *error = "schema is not JSON: " + *error;
    return nullptr;
  }
  NodeBuilder builder(&impl->nodes);
  impl->root = builder.Build(doc, "", error);
  if (!impl->root) {
    *error = "bad Avro schema: " + *error;
    return nullptr;
  }
  // Avro C wants a NUL-terminated copy.
  std::string text(json);
  if (avro_schema_from_json_length(text.c_str(), text.size(), &impl->schema)) {
    impl->schema = nullptr;
    *error = AvroError("bad Avro schema");
    return nullptr;
  }
  impl->iface = avro_generic_class_from_schema(impl->schema);
  if (!impl->iface) {
    *error = AvroError("unusable Avro schema");
    return nullptr;
  }
  if (avro_generic_value_new(impl->iface, &impl->value)) {
    *error = AvroError("unusable Avro schema");
    return nullptr;
  }
  impl->has_value = true;
  impl->reader = avro_reader_memory("", 0);
  if (!impl->reader) {
    *error = "cannot create an Avro reader";
    return nullptr;
  }
  return std::unique_ptr<AvroSchema>(new AvroSchema(std::move(impl)));
}

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

// --- framing
// ---------------------------------------------------------------------------------------

bool SplitConfluentFrame(std::string_view message, int32_t* schema_id, std::string_view* datum,
                         std::string* error) {
  if (message.size() < 5 || message[0] != 0) {
    *error =
        message.size() < 5
            ? "not Confluent Avro: " + std::to_string(message.size()) + " bytes, need 5 or more"
            : "not Confluent Avro: magic byte is " +
                  std::to_string(static_cast<unsigned char>(message[0])) + ", not 0";
    return false;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(message.data());
  uint32_t id = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
  *schema_id = static_cast<int32_t>(id);
  *datum = message.substr(5);
  return true;
}

void AppendConfluentFrame(int32_t schema_id, std::string_view datum, std::string* out) {
  uint32_t id = static_cast<uint32_t>(schema_id);
  out->push_back('\0');
  out->push_back(static_cast<char>(id >> 24));
  out->push_back(static_cast<char>((id >> 16) & 0xFF));
  out->push_back(static_cast<char>((id >> 8) & 0xFF));
  out->push_back(static_cast<char>(id & 0xFF));
  out->append(datum);
}

// --- AvroEventDecoder ----------------------------------------------------------------------------

AvroEventDecoder::AvroEventDecoder(std::shared_ptr<SchemaRegistry> registry)
    : registry_(std::move(registry)) {}

AvroEventDecoder::~AvroEventDecoder() = default;

bool AvroEventDecoder::Load(int32_t id, Entry** out, std::string* problem) {
  auto it = schemas_.find(id);
  if (it != schemas_.end()) {
    *out = &it->second;
    return true;
  }
  if (!registry_) {
    *problem = "no schema registry configured (start projd with --schema-registry URL)";
    return false;
  }
  std::string json, error;
  Entry e;
  switch (registry_->Get(id, &json, &error)) {
    case SchemaRegistry::Lookup::kUnavailable:
      *problem = error;
      return false;
    case SchemaRegistry::Lookup::kNotFound:
      e.error = error;
      break;
    case SchemaRegistry::Lookup::kFound:
      e.schema = AvroSchema::Parse(json, &error);
      if (!e.schema) e.error = "schema id " + std::to_string(id) + ": " + error;
      break;
  }
  *out = &schemas_.emplace(id, std::move(e)).first->second;
  return true;
}

bool AvroEventDecoder::Prefetch(const std::vector<Message>& messages, std::string* problem) {
  int32_t last = -1;
  for (const Message& m : messages) {
    int32_t id;
    std::string_view datum;
    std::string ignored;
    if (!m.error.empty() || !SplitConfluentFrame(m.value, &id, &datum, &ignored)) continue;
    if (id == last) continue;
    last = id;
    Entry* e;
    if (!Load(id, &e, problem)) return false;
  }
  return true;
}

bool AvroEventDecoder::Decode(std::string_view value, Value* out, std::string* error,
                              bool* unavailable) {
  *unavailable = false;
  int32_t id;
  std::string_view datum;
  if (!SplitConfluentFrame(value, &id, &datum, error)) return false;
  Entry* e = last_;
  if (id != last_id_ || !e) {
    if (!Load(id, &e, error)) {
      *unavailable = true;
      return false;
    }
    last_id_ = id;
    last_ = e;
  }
  if (!e->schema) {
    *error = e->error;
    return false;
  }
  if (!e->schema->Decode(datum, out, error)) {
    *error = "schema id " + std::to_string(id) + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace projd
