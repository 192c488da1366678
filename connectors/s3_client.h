// A small S3 client: list, get and put objects, create buckets. For reading Kafka Connect S3
// sink archives (topics/TOPIC/partition=P/TOPIC+P+STARTOFFSET.json) from s3://BUCKET/PREFIX.
// HTTP and AWS Signature V4 come from libcurl (CURLOPT_AWS_SIGV4); list answers are read with
// Boost.PropertyTree's XML parser. Requests are path-style: ENDPOINT/BUCKET/KEY.
#ifndef PROJD_CONNECTORS_S3_CLIENT_H_
#define PROJD_CONNECTORS_S3_CLIENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace projd {

struct S3Options {
  // "http://127.0.0.1:9000" (path-style: ENDPOINT/BUCKET/KEY); "" means
  // https://s3.REGION.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  // The session token is optional (sent as x-amz-security-token when set).
  std::string access_key, secret_key, session_token;
  // For each request, connecting included.
  long timeout_ms = 30000;
  // A request during which less than a byte a second arrives for this long fails (0: only
  // timeout_ms applies).
  long stall_ms = 0;
};

// Fills `out` with `endpoint`, the credentials of AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, and the region of AWS_REGION (or else AWS_DEFAULT_REGION, or else
// us-east-1). false with *error when the key id or the secret is missing or empty (`out` is
// then left as it was).
bool S3OptionsFromEnvironment(const std::string& endpoint, S3Options* out, std::string* error);

// One libcurl easy handle, reused from request to request (its connection is kept alive).
// Not thread-safe: use one client per thread. Requests are signed with AWS SigV4 when
// access_key is set, and sent unsigned (anonymous, for public buckets) when it is empty.
// Errors name the request, the HTTP status and S3's error Code and Message (or curl's error),
// never the credentials.
class S3Client {
 public:
  explicit S3Client(S3Options options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  struct Object {
    std::string key;
    uint64_t size = 0;
  };

  // Every object whose key starts with `prefix`, in key order (ListObjectsV2, following
  // continuation tokens). `out` is replaced. false with *error on failure.
  bool List(const std::string& bucket, const std::string& prefix, std::vector<Object>* out,
            std::string* error);
  // The object's bytes, exactly.
  bool Get(const std::string& bucket, const std::string& key, std::string* body,
           std::string* error);
  bool Put(const std::string& bucket, const std::string& key, std::string_view body,
           std::string* error);
  // Succeeds when the bucket exists already and is ours (BucketAlreadyOwnedByYou). With AWS
  // (endpoint "") outside us-east-1 the region is sent as the LocationConstraint; other
  // endpoints get no body and make the bucket where they are configured to.
  bool CreateBucket(const std::string& bucket, std::string* error);

 private:
  struct Response {
    long status = 0;
    std::string code;  // S3's error Code, when the status is not 2xx
    std::string body;
  };
  // One signed request. `path` is encoded already, `query` canonical already (sorted, RFC 3986
  // encoded): libcurl 7.88 signs both as sent. false with *error when the transfer failed or
  // the status is not 2xx (the error then holds S3's Code and Message).
  bool Request(const char* method, const std::string& what, const std::string& path,
               const std::string& query, std::string_view body, Response* response,
               std::string* error);

  S3Options options_;
  std::string base_url_;  // scheme://host[:port], no trailing slash
  std::string sigv4_;     // "aws:amz:REGION:s3"
  void* curl_ = nullptr;  // CURL*
};

}  // namespace projd

#endif  // PROJD_CONNECTORS_S3_CLIENT_H_
