// Writer schemas by id, from a Confluent-compatible schema registry (SPEC §3
// `--schema-registry URL`), or from a fixed set (projctl test --schema).
//
// The registry is asked GET {URL}/schemas/ids/{id}; the answer {"schema": "..."} is cached for
// good (a schema id never changes meaning). A schema with "references" (types from other
// subjects) is made whole: each referenced subject version is fetched and its type written in at
// its first use. A 404 means the id is unknown (an event error for
// the message that names it); no answer, a timeout or a 5xx means the registry is unavailable
// (the view holds and retries). Only http:// URLs are supported.
//
// Thread-safety: all methods may be called from any thread.
#ifndef PROJD_CONNECTORS_SCHEMA_REGISTRY_H_
#define PROJD_CONNECTORS_SCHEMA_REGISTRY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace projd {

class Value;

// One HTTP exchange: false with *error when no answer came (connect failure, timeout).
struct RegistryHttpRequest {
  std::string method;  // GET or POST
  std::string host;
  uint16_t port = 0;
  std::string target;  // path and query
  std::string body;    // POST body (JSON)
  std::chrono::milliseconds timeout{2000};
};
struct RegistryHttpResponse {
  int status = 0;
  std::string body;
};
using RegistryHttpFn = std::function<bool(const RegistryHttpRequest& request,
                                          RegistryHttpResponse* response, std::string* error)>;

class SchemaRegistry {
 public:
  enum class Lookup { kFound, kNotFound, kUnavailable };

  // A registry at `url` ("http://host:port[/base path]"), reached through `http`.
  // nullptr with *error when the URL is not usable.
  static std::shared_ptr<SchemaRegistry> Connect(const std::string& url, RegistryHttpFn http,
                                                 std::string* error);
  // A fixed set of schemas (id -> schema JSON); nothing else is ever found.
  static std::shared_ptr<SchemaRegistry> Fixed(std::map<int32_t, std::string> schemas);

  // The writer schema JSON of `id`. kNotFound / kUnavailable set *error to the reason.
  Lookup Get(int32_t id, std::string* schema_json, std::string* error);

  // Registers `schema_json` under `subject` (POST /subjects/{subject}/versions) and returns
  // its id; `references_json`, when given, is its "references" array ([{"name", "subject",
  // "version"}]). For tests, tools and benchmarks. false with *error.
  bool Register(const std::string& subject, const std::string& schema_json, int32_t* id,
                std::string* error, const std::string& references_json = "");

  const std::string& url() const { return url_; }

 private:
  SchemaRegistry() = default;
  // Fetches the schemas a schema references (GET /subjects/{subject}/versions/{version}), and
  // theirs, into *named (reference name -> schema).
  Lookup FetchReferences(const Value& refs, std::map<std::string, Value>* named, int depth,
                         std::string* error);

  std::string url_;
  std::string host_;
  uint16_t port_ = 0;
  std::string base_path_;  // "" or "/apis/ccompat/v7" (no trailing slash)
  RegistryHttpFn http_;
  bool fixed_ = false;
  std::mutex mu_;
  std::map<int32_t, std::string> cache_;  // guarded by mu_
};

}  // namespace projd

#endif  // PROJD_CONNECTORS_SCHEMA_REGISTRY_H_
