#include "formats/schema_registry.h"

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
  std::lock_guard<std::mutex> lock(mu_);
  cache_[id] = *schema_json;
  return Lookup::kFound;
}

bool SchemaRegistry::Register(const std::string& subject, const std::string& schema_json,
                              int32_t* id, std::string* error) {
  if (fixed_) {
    *error = "cannot register schemas in a schema file";
    return false;
  }
  Object body;
  body.Set("schema", Value::String(schema_json));
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
  std::lock_guard<std::mutex> lock(mu_);
  cache_[*id] = schema_json;
  return true;
}

}  // namespace projd
