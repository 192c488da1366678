#include "connectors/s3_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>

namespace projd {
namespace {

namespace pt = boost::property_tree;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - _ . ~) as
// they are, every other byte as %XX (upper-case hex); '/' kept when `keep_slash` (object keys:
// S3 encodes each path segment once).
std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The canonical query string: names and values encoded, sorted by name. libcurl 7.88 signs the
// query exactly as sent, so it must be canonical already.
std::string CanonicalQuery(const std::map<std::string, std::string>& params) {
  std::map<std::string, std::string> encoded;
  for (const auto& [name, value] : params)
    encoded[UriEncode(name, false)] = UriEncode(value, false);
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool ParseXml(const std::string& text, pt::ptree* out) {
  std::istringstream in(text);
  try {
    pt::read_xml(in, *out);
    return true;
  } catch (const pt::ptree_error&) {
    return false;
  }
}

size_t WriteToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct Upload {
  std::string_view data;
  size_t sent = 0;
};

size_t ReadFromUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  size_t n = std::min(size * count, upload->data.size() - upload->sent);
  if (n) upload->data.copy(buffer, n, upload->sent);
  upload->sent += n;
  return n;
}

// Restarting an upload (a retried request on a reused connection) starts from the beginning.
int SeekUpload(void* user, curl_off_t offset, int origin) {
  auto* upload = static_cast<Upload*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > upload->data.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  upload->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

bool S3OptionsFromEnvironment(const std::string& endpoint, S3Options* out, std::string* error) {
  S3Options o;
  o.endpoint = endpoint;
  o.access_key = Env("AWS_ACCESS_KEY_ID");
  o.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  o.session_token = Env("AWS_SESSION_TOKEN");
  std::string region = Env("AWS_REGION");
  if (region.empty()) region = Env("AWS_DEFAULT_REGION");
  if (!region.empty()) o.region = region;
  if (o.access_key.empty() || o.secret_key.empty()) {
    *error = o.access_key.empty() ? "AWS_ACCESS_KEY_ID is not set" : "";
    if (o.secret_key.empty()) {
      *error += std::string(error->empty() ? "" : " and ") + "AWS_SECRET_ACCESS_KEY is not set";
    }
    *error += ": S3 needs credentials from the environment";
    return false;
  }
  *out = std::move(o);
  return true;
}

S3Client::S3Client(S3Options options) : options_(std::move(options)) {
  GlobalInit();
  if (options_.region.empty()) options_.region = "us-east-1";
  base_url_ = options_.endpoint.empty() ? "https://s3." + options_.region + ".amazonaws.com"
                                        : options_.endpoint;
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  sigv4_ = "aws:amz:" + options_.region + ":s3";
  curl_ = curl_easy_init();
}

S3Client::~S3Client() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

bool S3Client::Request(const char* method, const std::string& what, const std::string& path,
                       const std::string& query, std::string_view body, Response* response,
                       std::string* error) {
  response->status = 0;
  response->code.clear();
  response->body.clear();
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) {
    *error = what + ": curl_easy_init failed";
    return false;
  }
  // Options from the last request go; the connection (keep-alive) stays.
  curl_easy_reset(c);
  std::string url = base_url_ + path;
  if (!query.empty()) url += "?" + query;
  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Keys are not paths: "a/../b" and "a/./b" are sent (and signed) as they are.
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.timeout_ms, 10000L));
  if (options_.stall_ms > 0) {
    // A server that stops sending (hung, or a paused process) fails the request this soon,
    // however long the whole transfer may take.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, options_.stall_ms / 1000));
  }
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteToString);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response->body);

  // libcurl 7.88 signs every header set here (names lower-cased), so each must be sent as it
  // is: no "Name:" header removals (they would be signed but not sent). S3 requires
  // x-amz-content-sha256; libcurl takes the payload hash from it.
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  if (!options_.access_key.empty()) {
    add_header("x-amz-content-sha256: " + Sha256Hex(body));
    if (!options_.session_token.empty()) {
      add_header("x-amz-security-token: " + options_.session_token);
    }
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.access_key.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.secret_key.c_str());
  }
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  Upload upload{body};
  if (std::string_view(method) == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadFromUpload);
    curl_easy_setopt(c, CURLOPT_READDATA, &upload);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, SeekUpload);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &upload);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }

  CURLcode rc = curl_easy_perform(c);
  // The error buffer, the headers and the callbacks' data live on this stack frame only.
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    *error = what + ": " + (curl_error[0] ? curl_error : curl_easy_strerror(rc));
    return false;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response->status);
  if (response->status >= 200 && response->status < 300) return true;

  *error = what + ": HTTP " + std::to_string(response->status);
  pt::ptree xml;
  if (ParseXml(response->body, &xml)) {
    response->code = xml.get("Error.Code", "");
    std::string message = xml.get("Error.Message", "");
    if (!response->code.empty()) *error += " " + response->code;
    if (!message.empty()) *error += ": " + message;
  } else if (!response->body.empty()) {
    // Not S3's XML (a proxy's page, say): its start, on one line.
    std::string start = response->body.substr(0, 200);
    for (char& ch : start) {
      if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    }
    *error += ": " + start;
  }
  return false;
}

bool S3Client::List(const std::string& bucket, const std::string& prefix, std::vector<Object>* out,
                    std::string* error) {
  out->clear();
  const std::string what = "S3 list s3://" + bucket + "/" + prefix;
  const std::string path = "/" + UriEncode(bucket, false);
  std::string token;
  Response response;
  for (int page = 1;; ++page) {
    std::map<std::string, std::string> params{{"list-type", "2"}};
    if (!prefix.empty()) params["prefix"] = prefix;
    if (!token.empty()) params["continuation-token"] = token;
    if (!Request("GET", what, path, CanonicalQuery(params), {}, &response, error)) return false;
    pt::ptree xml;
    if (!ParseXml(response.body, &xml)) {
      *error = what + ": page " + std::to_string(page) + " is not XML";
      return false;
    }
    auto result = xml.get_child_optional("ListBucketResult");
    if (!result) {
      *error = what + ": page " + std::to_string(page) + " has no ListBucketResult";
      return false;
    }
    try {
      for (const auto& [name, child] : *result) {
        if (name != "Contents") continue;
        Object o;
        o.key = child.get<std::string>("Key");
        o.size = child.get<uint64_t>("Size");
        out->push_back(std::move(o));
      }
    } catch (const pt::ptree_error& e) {
      *error = what + ": page " + std::to_string(page) + ": bad Contents (" + e.what() + ")";
      return false;
    }
    if (result->get("IsTruncated", "false") != "true") return true;
    std::string next = result->get("NextContinuationToken", "");
    if (next.empty() || next == token) {
      *error = what + ": page " + std::to_string(page) +
               " is truncated but gives no new NextContinuationToken";
      return false;
    }
    token = std::move(next);
  }
}

bool S3Client::Get(const std::string& bucket, const std::string& key, std::string* body,
                   std::string* error) {
  const std::string what = "S3 GET s3://" + bucket + "/" + key;
  if (key.empty()) {
    *error = what + ": empty key";
    return false;
  }
  Response response;
  if (!Request("GET", what, "/" + UriEncode(bucket, false) + "/" + UriEncode(key, true), "", {},
               &response, error)) {
    return false;
  }
  *body = std::move(response.body);
  return true;
}

bool S3Client::Put(const std::string& bucket, const std::string& key, std::string_view body,
                   std::string* error) {
  const std::string what = "S3 PUT s3://" + bucket + "/" + key;
  if (key.empty()) {
    *error = what + ": empty key";
    return false;
  }
  Response response;
  return Request("PUT", what, "/" + UriEncode(bucket, false) + "/" + UriEncode(key, true), "", body,
                 &response, error);
}

bool S3Client::CreateBucket(const std::string& bucket, std::string* error) {
  const std::string what = "S3 create bucket " + bucket;
  // AWS wants any region but us-east-1 named in the body (as the regional endpoint's). Other
  // servers make buckets where they are configured to, and s3proxy, for one, rejects a
  // LocationConstraint it does not know: they get no body.
  std::string body;
  if (options_.endpoint.empty() && options_.region != "us-east-1") {
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        options_.region + "</LocationConstraint></CreateBucketConfiguration>";
  }
  Response response;
  if (Request("PUT", what, "/" + UriEncode(bucket, false), "", body, &response, error)) {
    return true;
  }
  if (response.code == "BucketAlreadyOwnedByYou") {
    error->clear();
    return true;
  }
  return false;
}

}  // namespace projd
