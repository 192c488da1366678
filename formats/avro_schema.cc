// Avro schema JSON -> AvroNode (the kinds, logical types, field names and defaults, and enum
// symbols projd needs beside Avro C's schema), and AvroSchema::Parse, which makes both.
#include <map>
#include <utility>

#include "formats/avro_internal.h"

namespace projd {
namespace {

using Kind = AvroNode::Kind;
using Logical = AvroNode::Logical;
using avro_internal::AvroError;

// --- schema JSON -> AvroNode ------------------------------------------------------------------

// The bytes of a bytes or fixed default: Avro writes them as a string of code points 0-255,
// one per byte. False when the text holds a code point above 255.
bool DefaultBytes(const std::string& text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if ((c & 0xE0) == 0xC0 && i + 1 < text.size()) {
      unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(text[++i]) & 0x3Fu);
      if (cp > 0xFF) return false;
      out->push_back(static_cast<char>(cp));
    } else {
      return false;
    }
  }
  return true;
}

// A field's default as the events given as JSON write the same value (what Encode reads): a
// bytes or fixed default (code points 0-255) becomes base64, or with logical type decimal its
// exact number. Records, arrays, maps and unions (their first branch) are converted member by
// member; anything else, or a default that does not fit, is kept as it is (Encode says why).
Value FromAvroDefault(const Value& def, const AvroNode* n, int depth) {
  if (!n || depth > 64) return def;
  switch (n->kind) {
    case Kind::kBytes:
    case Kind::kFixed: {
      std::string bytes;
      if (!def.is_string() || !DefaultBytes(def.as_string(), &bytes)) return def;
      if (n->logical == Logical::kDecimal) {
        Decimal d;
        std::string error;
        if (!avro_internal::DecimalFromTwosComplement(
                reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), n->scale, &d,
                &error)) {
          return def;
        }
        return Value::Number(d);
      }
      std::string b64;
      avro_internal::AppendBase64(reinterpret_cast<const unsigned char*>(bytes.data()),
                                  bytes.size(), &b64);
      return Value::String(std::move(b64));
    }
    case Kind::kUnion:
      return n->children.empty() ? def : FromAvroDefault(def, n->children[0], depth + 1);
    case Kind::kRecord: {
      if (!def.is_object()) return def;
      Object o = def.as_object();
      for (size_t i = 0; i < n->children.size() && i < n->field_names.size(); ++i) {
        if (Value* m = o.Find(n->field_names[i])) {
          *m = FromAvroDefault(*m, n->children[i], depth + 1);
        }
      }
      return Value::MakeObject(std::move(o));
    }
    case Kind::kArray: {
      if (!def.is_array() || n->children.empty()) return def;
      Array items;
      for (const Value& item : def.as_array()) {
        items.push_back(FromAvroDefault(item, n->children[0], depth + 1));
      }
      return Value::MakeArray(std::move(items));
    }
    case Kind::kMap: {
      if (!def.is_object() || n->children.empty()) return def;
      Object o = def.as_object();
      for (const auto& [name, member] : def.as_object().members()) {
        o.Set(name, FromAvroDefault(member, n->children[0], depth + 1));
      }
      return Value::MakeObject(std::move(o));
    }
    default:
      return def;
  }
}

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
      n->defaults.push_back(def ? FromAvroDefault(*def, c, 0) : Value());
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

}  // namespace

namespace avro_internal {

std::string AvroError(const char* what) {
  const char* e = avro_strerror();
  std::string s = e && *e ? e : "unknown error";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return std::string(what) + ": " + s;
}

}  // namespace avro_internal

namespace {

// The schema as Avro C is given it: without the members it does not need to read data written
// with this schema ("default" and "doc"). Avro C parses the text again with a JSON parser that
// refuses "\u0000" in strings, which a bytes or fixed default may hold (their defaults are
// strings of code points 0-255, and "\u0000" is a common zero decimal).
Value ForAvroC(const Value& v) {
  if (v.is_array()) {
    Array items;
    items.reserve(v.as_array().size());
    for (const Value& item : v.as_array()) items.push_back(ForAvroC(item));
    return Value::MakeArray(std::move(items));
  }
  if (v.is_object()) {
    std::vector<Object::Member> members;
    members.reserve(v.as_object().size());
    for (const auto& [name, member] : v.as_object().members()) {
      if (name == "default" || name == "doc") continue;
      members.emplace_back(name, ForAvroC(member));
    }
    return Value::MakeObject(Object::FromMembers(std::move(members)));
  }
  return v;
}

}  // namespace

// --- AvroSchema ----------------------------------------------------------------------------------

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
  std::string text = ToJson(ForAvroC(doc));
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

}  // namespace projd
