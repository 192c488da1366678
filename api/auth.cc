#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <cstdio>

namespace projd {
namespace {

std::array<unsigned char, 32> Sha256(const std::string& s) {
  std::array<unsigned char, 32> d;
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

bool FromHex(const std::string& hex, std::array<unsigned char, 32>* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (size_t k = 2 * i; k < 2 * i + 2; ++k) {
      char c = hex[k];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        return false;
      }
    }
    (*out)[i] = static_cast<unsigned char>(v);
  }
  return true;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::unique_ptr<Auth> Auth::Load(const std::string& path, std::string* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "cannot read auth file " + path;
    return nullptr;
  }
  // The tokens are secrets: no one but the owner may read the file, nor write it (that would
  // let them add a token of their own).
  if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    const char* what = st.st_mode & (S_IRGRP | S_IROTH) ? "read" : "written";
    *error = "auth file " + path + " can be " + what + " by other users (mode " + mode +
             "); run: chmod go-rw " + path;
    return nullptr;
  }
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    *error = path + ":" + std::to_string(e.source().begin.line) + ":" +
             std::to_string(e.source().begin.column) + ": " + std::string(e.description());
    return nullptr;
  }
  auto auth = std::unique_ptr<Auth>(new Auth());
  // A misspelt key must not be ignored: `view = [...]` for `views` would give a reader every
  // view. Anything the file holds that projd does not know refuses the start.
  for (const auto& [key, value] : tbl) {
    if (key.str() != "token") {
      *error = path + ": unknown key '" + std::string(key.str()) +
               "' (the file holds [[token]] tables only)";
      return nullptr;
    }
  }
  const toml::array* tokens = tbl["token"].as_array();
  if (!tokens || tokens->empty()) {
    *error = path + ": no [[token]] tables";
    return nullptr;
  }
  int n = 0;
  for (const auto& node : *tokens) {
    ++n;
    const toml::table* t = node.as_table();
    std::string where = path + ": token " + std::to_string(n);
    if (!t) {
      *error = where + " is not a table";
      return nullptr;
    }
    for (const auto& [key, value] : *t) {
      const std::string_view k = key.str();
      if (k != "token" && k != "sha256" && k != "role" && k != "views") {
        *error = where + ": unknown key '" + std::string(k) +
                 "' (a token has token or sha256, role, and for a reader views)";
        return nullptr;
      }
    }
    Entry e;
    auto token = (*t)["token"].value<std::string>();
    auto sha = (*t)["sha256"].value<std::string>();
    if (token.has_value() == sha.has_value()) {
      *error = where + " needs exactly one of token or sha256";
      return nullptr;
    }
    if (token) {
      if (token->empty()) {
        *error = where + " has an empty token";
        return nullptr;
      }
      e.digest = Sha256(*token);
    } else if (!FromHex(*sha, &e.digest)) {
      *error = where + ": sha256 must be 64 hex digits";
      return nullptr;
    }
    auto role = (*t)["role"].value<std::string>();
    if (!role || (*role != "admin" && *role != "reader" && *role != "metrics")) {
      *error = where + ": role must be admin, reader or metrics";
      return nullptr;
    }
    e.principal.role = *role == "admin"    ? Role::kAdmin
                       : *role == "reader" ? Role::kReader
                                           : Role::kMetrics;
    if (const toml::node_view views = (*t)["views"]) {
      const toml::array* arr = views.as_array();
      if (!arr || e.principal.role != Role::kReader) {
        *error = where + ": views must be a list of view names, for a reader";
        return nullptr;
      }
      e.principal.all_views = false;
      for (const auto& v : *arr) {
        auto name = v.value<std::string>();
        if (!name) {
          *error = where + ": views must be a list of view names";
          return nullptr;
        }
        e.principal.views.insert(*name);
      }
    }
    auth->entries_.push_back(std::move(e));
  }
  return auth;
}

const Principal* Auth::Check(const std::string& authorization) const {
  // "Bearer", in any case (auth schemes are case-insensitive, RFC 9110 §11.1), then one or more
  // spaces or tabs, then the token.
  static const char kBearer[] = "bearer";
  const size_t scheme = sizeof(kBearer) - 1;
  if (authorization.size() <= scheme) return nullptr;
  for (size_t i = 0; i < scheme; ++i) {
    if (Lower(authorization[i]) != kBearer[i]) return nullptr;
  }
  size_t start = scheme;
  while (start < authorization.size() && IsBlank(authorization[start])) ++start;
  if (start == scheme || start == authorization.size()) return nullptr;
  auto digest = Sha256(authorization.substr(start));
  const Principal* found = nullptr;
  // Compare with every entry in constant time, so timing says nothing about near misses.
  for (const auto& e : entries_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0 && !found) {
      found = &e.principal;
    }
  }
  return found;
}

}  // namespace projd
