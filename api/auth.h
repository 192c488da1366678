// Bearer tokens and roles for the HTTP API (SPEC §5, --auth FILE).
//
// The file is TOML, one [[token]] table per token: `token = "..."` or `sha256 = "<hex>"`,
// `role = "admin" | "reader" | "metrics"`, and for readers optionally `views = [...]`. Tokens
// are kept only as SHA-256 digests and compared in constant time.
#ifndef PROJD_ENGINE_AUTH_H_
#define PROJD_ENGINE_AUTH_H_

#include <array>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace projd {

enum class Role { kAdmin, kReader, kMetrics };

struct Principal {
  Role role = Role::kReader;
  bool all_views = true;
  std::set<std::string> views;  // readers limited to these when !all_views
  bool CanRead(const std::string& view) const {
    return role == Role::kAdmin || (role == Role::kReader && (all_views || views.count(view)));
  }
};

class Auth {
 public:
  // Loads the token file. nullptr and *error when it cannot be read, does not parse, names an
  // unknown role, or can be read or written by others than its owner ("chmod go-rw FILE").
  static std::unique_ptr<Auth> Load(const std::string& path, std::string* error);

  // The principal of an `Authorization` header value ("Bearer TOKEN"; the scheme in any case,
  // any number of spaces or tabs before the token), or nullptr.
  const Principal* Check(const std::string& authorization) const;

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

}  // namespace projd

#endif  // PROJD_ENGINE_AUTH_H_
