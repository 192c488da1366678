#include "formats/schema_registry.h"

#include <set>
#include <utility>

#include "dsl/value.h"

namespace projd {
namespace {

// Percent-encodes a subject name for a URL path segment.
std::string EscapePath(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// The "message" of a registry error body, or the body itself cut short.
std::string ErrorText(const std::string& body) {
  Value v;
  std::string ignored;
  if (ParseJson(body, &v, &ignored) && v.is_object()) {
    const Value* m = v.as_object().Find("message");
    if (m && m->is_string()) return m->as_string();
  }
  return body.substr(0, 200);
}

bool IsPrimitive(const std::string& s) {
  static const char* const kPrimitives[] = {"null",  "boolean", "int",   "long",
                                            "float", "double",  "bytes", "string"};
  for (const char* p : kPrimitives) {
    if (s == p) return true;
  }
  return false;
}

// The namespace a named schema object sets for the names inside it.
std::string InnerNamespace(const Object& o, const std::string& ns) {
  const Value* name = o.Find("name");
  if (name && name->is_string() && name->as_string().find('.') != std::string::npos) {
    return name->as_string().substr(0, name->as_string().rfind('.'));
  }
  const Value* n = o.Find("namespace");
  return n && n->is_string() ? n->as_string() : ns;
}

// Makes a schema with references whole: the first use of each referenced type name (a string
// where a type goes, resolved in its namespace) is replaced by that type's schema, later uses
// stay names, as Avro wants each named type defined once before use.
void InlineReferences(Value* type, const std::string& ns, const std::map<std::string, Value>& named,
                      std::set<std::string>* defined, int depth) {
  if (depth > 64) return;
  if (type->is_string()) {
    const std::string& s = type->as_string();
    if (IsPrimitive(s)) return;
    std::string full = s.find('.') != std::string::npos || ns.empty() ? s : ns + "." + s;
    auto it = named.find(full);
    if (it == named.end()) it = named.find(s);
    if (it == named.end() || !defined->insert(it->first).second) return;
    Value def = it->second;
    // A referenced type keeps its own full name wherever it lands.
    if (def.is_object() && it->first.find('.') != std::string::npos) {
      Object& o = def.as_object();
      const Value* name = o.Find("name");
      if (name && name->is_string() && name->as_string().find('.') == std::string::npos &&
          !o.Find("namespace")) {
        o.Set("namespace", Value::String(it->first.substr(0, it->first.rfind('.'))));
      }
    }
    *type = std::move(def);
    InlineReferences(type, ns, named, defined, depth + 1);
    return;
  }
  if (type->is_array()) {
    for (Value& branch : type->as_array()) InlineReferences(&branch, ns, named, defined, depth + 1);
    return;
  }
  if (!type->is_object()) return;
  Object& o = type->as_object();
  Value* t = o.Find("type");
  if (!t) return;
  if (!t->is_string()) return InlineReferences(t, ns, named, defined, depth + 1);
  const std::string kind = t->as_string();
  if (kind == "record" || kind == "error" || kind == "enum" || kind == "fixed") {
    std::string inner = InnerNamespace(o, ns);
    const Value* name = o.Find("name");
    if (name && name->is_string()) {
      const std::string& n = name->as_string();
      defined->insert(n.find('.') != std::string::npos || inner.empty() ? n : inner + "." + n);
    }
    Value* fields = o.Find("fields");
    if (fields && fields->is_array()) {
      for (Value& f : fields->as_array()) {
        Value* ft = f.is_object() ? f.as_object().Find("type") : nullptr;
        if (ft) InlineReferences(ft, inner, named, defined, depth + 1);
      }
    }
  } else if (kind == "array") {
    if (Value* items = o.Find("items")) InlineReferences(items, ns, named, defined, depth + 1);
  } else if (kind == "map") {
    if (Value* values = o.Find("values")) InlineReferences(values, ns, named, defined, depth + 1);
  } else {
    InlineReferences(t, ns, named, defined, depth + 1);  // {"type": "bank.Money"}
  }
}

}  // namespace

std::shared_ptr<SchemaRegistry> SchemaRegistry::Connect(const std::string& url, RegistryHttpFn http,
                                                        std::string* error) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    *error = "schema registry URL must start with http:// (got '" + url + "')";
    return nullptr;
  }
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string host = hostport;
  uint16_t port = 80;
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {
    std::string p = hostport.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) > 65535 || std::stoi(p) == 0) {
      *error = "schema registry URL has a bad port: '" + url + "'";
      return nullptr;
    }
    port = static_cast<uint16_t>(std::stoi(p));
    host = hostport.substr(0, colon);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    *error = "schema registry URL has no host: '" + url + "'";
    return nullptr;
  }
  std::shared_ptr<SchemaRegistry> r(new SchemaRegistry());
  r->url_ = url;
  r->host_ = host;
  r->port_ = port;
  r->base_path_ = path;
  r->http_ = std::move(http);
  return r;
}

std::shared_ptr<SchemaRegistry> SchemaRegistry::Fixed(std::map<int32_t, std::string> schemas) {
  std::shared_ptr<SchemaRegistry> r(new SchemaRegistry());
  r->fixed_ = true;
  r->url_ = "(schema file)";
  r->cache_ = std::move(schemas);
  return r;
}

SchemaRegistry::Lookup SchemaRegistry::Get(int32_t id, std::string* schema_json,
                                           std::string* error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(id);
    if (it != cache_.end()) {
      *schema_json = it->second;
      return Lookup::kFound;
    }
  }
  if (fixed_) {
    *error = "unknown schema id " + std::to_string(id) + " (not in the schema file)";
    return Lookup::kNotFound;
  }
  RegistryHttpRequest req;
  req.method = "GET";
  req.host = host_;
  req.port = port_;
  req.target = base_path_ + "/schemas/ids/" + std::to_string(id);
  RegistryHttpResponse resp;
  std::string err;
  if (!http_(req, &resp, &err)) {
    *error = "schema registry " + url_ + " unreachable: " + err;
    return Lookup::kUnavailable;
  }
  if (resp.status == 404) {
    *error =
        "unknown schema id " + std::to_string(id) + " (registry: " + ErrorText(resp.body) + ")";
    return Lookup::kNotFound;
  }
  if (resp.status != 200) {
    *error = "schema registry " + url_ + " answered " + std::to_string(resp.status) +
             " for schema id " + std::to_string(id) + ": " + ErrorText(resp.body);
    return Lookup::kUnavailable;
  }
  Value v;
  if (!ParseJson(resp.body, &v, &err) || !v.is_object() || !v.as_object().Find("schema") ||
      !v.as_object().Find("schema")->is_string()) {
    *error = "schema registry " + url_ + " gave no schema for id " + std::to_string(id) + ": " +
             resp.body.substr(0, 200);
    return Lookup::kUnavailable;
  }
  const Value* type = v.as_object().Find("schemaType");
  if (type && type->is_string() && type->as_string() != "AVRO") {
    *error = "schema id " + std::to_string(id) + " is a " + type->as_string() + " schema, not Avro";
    return Lookup::kNotFound;
  }
  *schema_json = v.as_object().Find("schema")->as_string();
  // Schema references (Confluent 5.5+): the types this schema names from other subjects are
  // fetched and written into it, so that it stands alone.
  const Value* refs = v.as_object().Find("references");
  if (refs && refs->is_array() && !refs->as_array().empty()) {
    std::map<std::string, Value> named;
    Lookup l = FetchReferences(*refs, &named, 0, error);
    if (l != Lookup::kFound) {
      error->insert(0, "schema id " + std::to_string(id) + ": ");
      return l;
    }
    Value doc;
    if (!ParseJson(*schema_json, &doc, &err)) {
      *error = "schema id " + std::to_string(id) + " is not JSON: " + err;
      return Lookup::kNotFound;
    }
    std::set<std::string> defined;
    InlineReferences(&doc, "", named, &defined, 0);
    *schema_json = ToJson(doc);
  }
  std::lock_guard<std::mutex> lock(mu_);
  cache_[id] = *schema_json;
  return Lookup::kFound;
}

SchemaRegistry::Lookup SchemaRegistry::FetchReferences(const Value& refs,
                                                       std::map<std::string, Value>* named,
                                                       int depth, std::string* error) {
  if (depth > 16) {
    *error = "schema references nested more than 16 deep";
    return Lookup::kNotFound;
  }
  for (const Value& ref : refs.as_array()) {
    const Value* name = ref.is_object() ? ref.as_object().Find("name") : nullptr;
    const Value* subject = ref.is_object() ? ref.as_object().Find("subject") : nullptr;
    const Value* version = ref.is_object() ? ref.as_object().Find("version") : nullptr;
    if (!name || !name->is_string() || !subject || !subject->is_string() || !version) {
      *error = "a schema reference without name, subject and version: " + ToJson(ref);
      return Lookup::kNotFound;
    }
    if (named->count(name->as_string())) continue;
    RegistryHttpRequest req;
    req.method = "GET";
    req.host = host_;
    req.port = port_;
    std::string v = version->is_string() ? version->as_string() : ToJson(*version);
    req.target =
        base_path_ + "/subjects/" + EscapePath(subject->as_string()) + "/versions/" + EscapePath(v);
    RegistryHttpResponse resp;
    std::string err;
    if (!http_(req, &resp, &err)) {
      *error = "schema registry " + url_ + " unreachable: " + err;
      return Lookup::kUnavailable;
    }
    std::string what = "reference " + name->as_string() + " (subject " + subject->as_string() +
                       " version " + v + ")";
    if (resp.status == 404) {
      *error = "unknown " + what + ": " + ErrorText(resp.body);
      return Lookup::kNotFound;
    }
    Value answer, schema;
    if (resp.status != 200 || !ParseJson(resp.body, &answer, &err) || !answer.is_object()) {
      *error = "schema registry " + url_ + " answered " + std::to_string(resp.status) + " for " +
               what + ": " + ErrorText(resp.body);
      return Lookup::kUnavailable;
    }
    const Value* text = answer.as_object().Find("schema");
    if (!text || !text->is_string() || !ParseJson(text->as_string(), &schema, &err)) {
      *error = what + " has no schema that parses";
      return Lookup::kNotFound;
    }
    const Value* inner = answer.as_object().Find("references");
    if (inner && inner->is_array() && !inner->as_array().empty()) {
      Lookup l = FetchReferences(*inner, named, depth + 1, error);
      if (l != Lookup::kFound) return l;
    }
    (*named)[name->as_string()] = std::move(schema);
  }
  return Lookup::kFound;
}

bool SchemaRegistry::Register(const std::string& subject, const std::string& schema_json,
                              int32_t* id, std::string* error, const std::string& references_json) {
  if (fixed_) {
    *error = "cannot register schemas in a schema file";
    return false;
  }
  Object body;
  body.Set("schema", Value::String(schema_json));
  if (!references_json.empty()) {
    Value refs;
    std::string err;
    if (!ParseJson(references_json, &refs, &err) || !refs.is_array()) {
      *error = "references are not a JSON array: " + err;
      return false;
    }
    body.Set("references", std::move(refs));
  }
  RegistryHttpRequest req;
  req.method = "POST";
  req.host = host_;
  req.port = port_;
  req.target = base_path_ + "/subjects/" + EscapePath(subject) + "/versions";
  req.body = ToJson(Value::MakeObject(std::move(body)));
  req.timeout = std::chrono::milliseconds(10000);
  RegistryHttpResponse resp;
  std::string err;
  if (!http_(req, &resp, &err)) {
    *error = "schema registry " + url_ + " unreachable: " + err;
    return false;
  }
  Value v;
  if (resp.status != 200 || !ParseJson(resp.body, &v, &err) || !v.is_object() ||
      !v.as_object().Find("id") || !v.as_object().Find("id")->is_number()) {
    *error = "registering under " + subject + ": " + std::to_string(resp.status) + " " +
             ErrorText(resp.body);
    return false;
  }
  int64_t n = 0;
  if (!v.as_object().Find("id")->as_number().ToInt64(&n) || n < 0 || n > INT32_MAX) {
    *error = "registry gave a bad schema id: " + resp.body;
    return false;
  }
  *id = static_cast<int32_t>(n);
  if (!references_json.empty()) return true;  // Get makes it whole when asked
  std::lock_guard<std::mutex> lock(mu_);
  cache_[*id] = schema_json;
  return true;
}

}  // namespace projd
