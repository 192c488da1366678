// The canonical digest of a view's rows, shared by the daemon (ViewStore::Checksum) and by
// projctl's local replay (projctl test --checksum), so that both give the same digest for the
// same rows.
//
// The digest is SHA-256 over, for each row in key order (byte order of the keys):
//   the key as a JSON string, "\n", the row as compact JSON (members sorted by name, numbers in
//   shortest exact form, as dsl's WriteJson writes it), "\n".
// An empty view hashes the empty input. Rows must be added in key order; the class does not
// sort them. Header-only: OpenSSL's EVP interface is reached through the store library's link.
#ifndef PROJD_STORE_ROW_DIGEST_H_
#define PROJD_STORE_ROW_DIGEST_H_

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "dsl/hex.h"
#include "dsl/value.h"

namespace projd {

class RowDigest {
 public:
  RowDigest() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("SHA-256 is not available");
    }
  }

  // Adds one row: its key and its fields (an object value).
  void Add(const std::string& key, const Value& row) {
    buf_.clear();
    WriteJson(Value::String(key), &buf_);
    buf_.push_back('\n');
    WriteJson(row, &buf_);
    buf_.push_back('\n');
    EVP_DigestUpdate(ctx_.get(), buf_.data(), buf_.size());
    ++rows_;
  }

  uint64_t rows() const { return rows_; }

  // The digest in lower-case hex (64 characters). Call once, after the last Add.
  std::string HexDigest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    return HexEncode(std::string_view(reinterpret_cast<const char*>(md), n));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
  std::string buf_;
  uint64_t rows_ = 0;
};

}  // namespace projd

#endif  // PROJD_STORE_ROW_DIGEST_H_
