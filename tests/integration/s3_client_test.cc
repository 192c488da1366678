// The S3 client (connectors/s3_client.h) against a real S3-compatible server: s3proxy from
// scripts/s3.sh (PROJD_S3_ENDPOINT; access key projd-test, secret projd-test-secret), which
// checks AWS SigV4 signatures the way S3 does.
#include "connectors/s3_client.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

// REQUIRE that a client call succeeds, showing its error when it does not.
#define REQUIRE_OK(call)     \
  do {                       \
    const bool ok_ = (call); \
    INFO(error);             \
    REQUIRE(ok_);            \
  } while (0)

namespace {

using projd::S3Client;
using projd::S3Options;

const char kAccessKey[] = "projd-test";
const char kSecretKey[] = "projd-test-secret";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The server for [s3] tests (PROJD_S3_ENDPOINT); "" with a warning when it is not set, and a
// failed test when PROJD_KAFKA_REQUIRED is set too (as projd::testing::KafkaOrSkip does).
std::string S3EndpointOrSkip() {
  std::string endpoint = Env("PROJD_S3_ENDPOINT");
  if (endpoint.empty()) {
    if (!Env("PROJD_KAFKA_REQUIRED").empty()) {
      FAIL("PROJD_KAFKA_REQUIRED is set but PROJD_S3_ENDPOINT is not");
    }
    WARN("PROJD_S3_ENDPOINT not set: S3 test not run (scripts/s3.sh start; scripts/test.sh)");
  }
  return endpoint;
}

S3Options TestOptions(const std::string& endpoint) {
  S3Options o;
  o.endpoint = endpoint;
  o.access_key = kAccessKey;
  o.secret_key = kSecretKey;
  o.timeout_ms = 10000;
  return o;
}

// A bucket name of its own for a test (lower case, digits and '-').
std::string UniqueBucket(const std::string& base) {
  return base + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

std::vector<std::string> Keys(const std::vector<S3Client::Object>& objects) {
  std::vector<std::string> keys;
  for (const auto& o : objects) keys.push_back(o.key);
  return keys;
}

// Sets (or, with nullopt, unsets) an environment variable for the scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_CASE("S3 client: bucket, Kafka Connect archive keys, exact bytes", "[s3]") {
  std::string endpoint = S3EndpointOrSkip();
  if (endpoint.empty()) return;
  S3Client s3(TestOptions(endpoint));
  std::string error;
  const std::string bucket = UniqueBucket("projd-archive");
  REQUIRE_OK(s3.CreateBucket(bucket, &error));
  // Creating it again is fine: it is ours.
  REQUIRE_OK(s3.CreateBucket(bucket, &error));

  // The sink's layout: '+' and '=' in keys. Put out of order; listed in key order.
  const std::string dir = "archive/topics/t/partition=0/";
  const std::map<std::string, std::string> objects = {
      {dir + "t+0+0000000100.json", "{\"n\":100}\n{\"n\":101}\n"},
      {dir + "t+0+0000000000.json",
       "{\"name\":\"Zoë\",\"city\":\"Kraków\",\"note\":\"日本語 ✓\"}\n"
       "{\"n\":1,\"crlf\":\"a\\r\\nb\"}\r\n"
       "line with\ttab and no newline at the end"},
      {dir + "t+0+0000000200.json", ""},
      {"archive/topics/t/partition=1/t+1+0000000000.json", "{\"p\":1}\n"},
      {"archive/topics/tt/partition=0/tt+0+0000000000.json", "{\"other\":\"topic\"}\n"},
      {"archive/odd keys/a b&c=d?e#f%g+h ü.json", "odd\n"},
  };
  for (auto it = objects.rbegin(); it != objects.rend(); ++it) {
    INFO(it->first);
    REQUIRE_OK(s3.Put(bucket, it->first, it->second, &error));
  }
  // Binary bytes too: every byte value, NULs included.
  std::string binary;
  for (int i = 0; i < 512; ++i) binary += static_cast<char>(i % 256);
  REQUIRE_OK(s3.Put(bucket, "archive/binary.bin", binary, &error));
  // A body over libcurl's 1 MB threshold for "Expect: 100-continue".
  std::string big;
  for (int i = 0; big.size() < 3 * 1024 * 1024; ++i)
    big += "{\"line\":" + std::to_string(i) + "}\n";
  REQUIRE_OK(s3.Put(bucket, "big/big+0+0000000000.json", big, &error));

  std::vector<S3Client::Object> listed;
  REQUIRE_OK(s3.List(bucket, dir, &listed, &error));
  CHECK(Keys(listed) == std::vector<std::string>{dir + "t+0+0000000000.json",
                                                 dir + "t+0+0000000100.json",
                                                 dir + "t+0+0000000200.json"});
  for (const auto& o : listed) {
    INFO(o.key);
    CHECK(o.size == objects.at(o.key).size());
  }
  // A prefix that is not a folder: "archive/topics/t" holds t/ and tt/ objects.
  REQUIRE_OK(s3.List(bucket, "archive/topics/t", &listed, &error));
  CHECK(listed.size() == 5);
  REQUIRE_OK(s3.List(bucket, "archive/topics/t/partition=1/", &listed, &error));
  CHECK(Keys(listed) ==
        std::vector<std::string>{"archive/topics/t/partition=1/t+1+0000000000.json"});
  REQUIRE_OK(s3.List(bucket, "archive/odd keys/a b&c", &listed, &error));
  CHECK(Keys(listed) == std::vector<std::string>{"archive/odd keys/a b&c=d?e#f%g+h ü.json"});
  REQUIRE_OK(s3.List(bucket, "nothing/here/", &listed, &error));
  CHECK(listed.empty());
  // No prefix: the whole bucket.
  REQUIRE_OK(s3.List(bucket, "", &listed, &error));
  CHECK(listed.size() == objects.size() + 2);

  for (const auto& [key, body] : objects) {
    INFO(key);
    std::string got = "stale";
    REQUIRE_OK(s3.Get(bucket, key, &got, &error));
    CHECK(got == body);
  }
  std::string got;
  REQUIRE_OK(s3.Get(bucket, "archive/binary.bin", &got, &error));
  CHECK(got == binary);
  REQUIRE_OK(s3.Get(bucket, "big/big+0+0000000000.json", &got, &error));
  CHECK(got.size() == big.size());
  CHECK(got == big);
  // Put replaces.
  REQUIRE_OK(s3.Put(bucket, dir + "t+0+0000000200.json", "{\"n\":200}\n", &error));
  REQUIRE_OK(s3.Get(bucket, dir + "t+0+0000000200.json", &got, &error));
  CHECK(got == "{\"n\":200}\n");
}

TEST_CASE("S3 client: list follows continuation tokens past a page", "[s3]") {
  std::string endpoint = S3EndpointOrSkip();
  if (endpoint.empty()) return;
  S3Client s3(TestOptions(endpoint));
  std::string error;
  const std::string bucket = UniqueBucket("projd-pages");
  REQUIRE_OK(s3.CreateBucket(bucket, &error));
  const int kObjects = 1100;
  const std::string dir = "archive/topics/big/partition=3/";
  std::vector<std::string> keys;
  for (int i = 0; i < kObjects; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "big+3+%010d.json", i * 10);
    keys.push_back(dir + name);
    // Sizes differ: 1 to 10 lines.
    std::string body;
    for (int line = 0; line <= i % 10; ++line) body += "{\"i\":" + std::to_string(i) + "}\n";
    INFO(keys.back());
    REQUIRE_OK(s3.Put(bucket, keys.back(), body, &error));
  }
  REQUIRE_OK(
      s3.Put(bucket, "archive/topics/big/partition=30/big+30+0000000000.json", "x\n", &error));

  // The server pages: one page of ListObjectsV2 (as curl sends it) is truncated.
  std::string page;
  projd::testing::Run("curl -sS --aws-sigv4 aws:amz:us-east-1:s3 --user " +
                          std::string(kAccessKey) + ":" + kSecretKey +
                          " -H 'x-amz-content-sha256: "
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' '" +
                          endpoint + "/" + bucket + "?list-type=2&prefix=archive%2F'",
                      &page);
  INFO(page.substr(0, 400));
  CHECK(page.find("<IsTruncated>true</IsTruncated>") != std::string::npos);
  CHECK(page.find("<NextContinuationToken>") != std::string::npos);

  std::vector<S3Client::Object> listed;
  REQUIRE_OK(s3.List(bucket, dir, &listed, &error));
  REQUIRE(listed.size() == keys.size());
  CHECK(Keys(listed) == keys);
  for (int i = 0; i < kObjects; ++i) {
    if (listed[i].size != static_cast<uint64_t>((i % 10 + 1) * (7 + std::to_string(i).size()))) {
      FAIL_CHECK(listed[i].key << " has size " << listed[i].size);
    }
  }
  // The bucket's whole "archive/" prefix: the other partition's object comes after.
  REQUIRE_OK(s3.List(bucket, "archive/", &listed, &error));
  REQUIRE(listed.size() == keys.size() + 1);
  CHECK(listed.back().key == "archive/topics/big/partition=30/big+30+0000000000.json");
}

TEST_CASE("S3 client: errors name the HTTP status and S3's code", "[s3]") {
  std::string endpoint = S3EndpointOrSkip();
  if (endpoint.empty()) return;
  S3Client s3(TestOptions(endpoint));
  std::string error;
  const std::string bucket = UniqueBucket("projd-errors");
  REQUIRE_OK(s3.CreateBucket(bucket, &error));
  REQUIRE_OK(s3.Put(bucket, "archive/a.json", "{}\n", &error));

  SECTION("a wrong secret") {
    S3Options o = TestOptions(endpoint);
    o.secret_key = "not-the-secret-XYZ";
    S3Client wrong(o);
    std::string body;
    CHECK_FALSE(wrong.Get(bucket, "archive/a.json", &body, &error));
    INFO(error);
    CHECK(error.find("HTTP 403") != std::string::npos);
    CHECK(error.find("SignatureDoesNotMatch") != std::string::npos);
    CHECK(error.find("s3://" + bucket + "/archive/a.json") != std::string::npos);
    CHECK(error.find("not-the-secret-XYZ") == std::string::npos);
    std::vector<S3Client::Object> listed;
    CHECK_FALSE(wrong.List(bucket, "archive/", &listed, &error));
    CHECK(error.find("HTTP 403") != std::string::npos);
    CHECK_FALSE(wrong.Put(bucket, "archive/b.json", "{}\n", &error));
    CHECK(error.find("HTTP 403") != std::string::npos);
  }
  SECTION("an unknown access key") {
    S3Options o = TestOptions(endpoint);
    o.access_key = "nobody";
    S3Client wrong(o);
    std::string body;
    CHECK_FALSE(wrong.Get(bucket, "archive/a.json", &body, &error));
    INFO(error);
    CHECK(error.find("HTTP 403") != std::string::npos);
    CHECK(error.find("InvalidAccessKeyId") != std::string::npos);
  }
  SECTION("a missing key") {
    std::string body;
    CHECK_FALSE(s3.Get(bucket, "archive/missing+0+0000000000.json", &body, &error));
    INFO(error);
    CHECK(error.find("HTTP 404") != std::string::npos);
    CHECK(error.find("NoSuchKey") != std::string::npos);
    CHECK(error.find("archive/missing+0+0000000000.json") != std::string::npos);
    // The client still works after an error (same connection).
    REQUIRE_OK(s3.Get(bucket, "archive/a.json", &body, &error));
    CHECK(body == "{}\n");
  }
  SECTION("a missing bucket") {
    std::vector<S3Client::Object> listed;
    CHECK_FALSE(s3.List(bucket + "-missing", "archive/", &listed, &error));
    INFO(error);
    CHECK(error.find("HTTP 404") != std::string::npos);
    CHECK(error.find("NoSuchBucket") != std::string::npos);
  }
  SECTION("no server") {
    // Port 1 (tcpmux): nothing listens there.
    S3Options o = TestOptions("http://127.0.0.1:1");
    o.timeout_ms = 2000;
    S3Client nowhere(o);
    std::string body;
    CHECK_FALSE(nowhere.Get(bucket, "archive/a.json", &body, &error));
    INFO(error);
    CHECK(error.find("S3 GET s3://" + bucket + "/archive/a.json: ") == 0);
    CHECK(error.find("HTTP") == std::string::npos);
  }
}

TEST_CASE("S3 client: another region is signed", "[s3]") {
  std::string endpoint = S3EndpointOrSkip();
  if (endpoint.empty()) return;
  S3Options o = TestOptions(endpoint);
  o.region = "eu-west-1";
  S3Client s3(o);
  std::string error;
  const std::string bucket = UniqueBucket("projd-region");
  REQUIRE_OK(s3.CreateBucket(bucket, &error));
  REQUIRE_OK(s3.CreateBucket(bucket, &error));
  REQUIRE_OK(s3.Put(bucket, "k+1=2", "v\n", &error));
  std::string body;
  REQUIRE_OK(s3.Get(bucket, "k+1=2", &body, &error));
  CHECK(body == "v\n");
}

TEST_CASE("S3 client: a session token is sent and signed", "[s3]") {
  std::string endpoint = S3EndpointOrSkip();
  if (endpoint.empty()) return;
  // s3proxy has no session tokens: it checks the signature first (403 when it does not match),
  // then answers 501 NotImplemented for x-amz-security-token. So 501 means the header was sent
  // and the signature covering it was right.
  S3Options o = TestOptions(endpoint);
  o.session_token = "FwoGZXIvYXdzEXAMPLE/token+with=chars";
  std::string error, body;
  {
    S3Client s3(o);
    CHECK_FALSE(s3.Get("projd-token", "k", &body, &error));
    INFO(error);
    CHECK(error.find("HTTP 501 NotImplemented") != std::string::npos);
    CHECK(error.find("FwoGZXIvYXdzEXAMPLE") == std::string::npos);
  }
  o.secret_key = "wrong";
  S3Client wrong(o);
  CHECK_FALSE(wrong.Get("projd-token", "k", &body, &error));
  INFO(error);
  CHECK(error.find("HTTP 403 SignatureDoesNotMatch") != std::string::npos);
}

TEST_CASE("S3 options from the environment", "[s3]") {
  ScopedEnv key("AWS_ACCESS_KEY_ID", std::nullopt);
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", std::nullopt);
  ScopedEnv token("AWS_SESSION_TOKEN", std::nullopt);
  ScopedEnv region("AWS_REGION", std::nullopt);
  ScopedEnv default_region("AWS_DEFAULT_REGION", std::nullopt);
  S3Options o;
  o.access_key = "untouched";
  std::string error;

  SECTION("nothing set") {
    CHECK_FALSE(projd::S3OptionsFromEnvironment("http://s3.example:9000", &o, &error));
    CHECK(error.find("AWS_ACCESS_KEY_ID") != std::string::npos);
    CHECK(error.find("AWS_SECRET_ACCESS_KEY") != std::string::npos);
    CHECK(o.access_key == "untouched");
  }
  SECTION("the secret missing") {
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);  // empty counts as missing
    CHECK_FALSE(projd::S3OptionsFromEnvironment("", &o, &error));
    CHECK(error.find("AWS_SECRET_ACCESS_KEY") != std::string::npos);
    CHECK(error.find("AWS_ACCESS_KEY_ID") == std::string::npos);
  }
  SECTION("the key id missing") {
    setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
    CHECK_FALSE(projd::S3OptionsFromEnvironment("", &o, &error));
    CHECK(error.find("AWS_ACCESS_KEY_ID") != std::string::npos);
    CHECK(error.find("s3cr3t") == std::string::npos);
  }
  SECTION("key and secret: region us-east-1, no token") {
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
    REQUIRE(projd::S3OptionsFromEnvironment("http://s3.example:9000", &o, &error));
    CHECK(o.endpoint == "http://s3.example:9000");
    CHECK(o.access_key == "AKIDEXAMPLE");
    CHECK(o.secret_key == "s3cr3t");
    CHECK(o.session_token.empty());
    CHECK(o.region == "us-east-1");
  }
  SECTION("everything, AWS_REGION over AWS_DEFAULT_REGION") {
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    setenv("AWS_REGION", "eu-central-1", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    REQUIRE(projd::S3OptionsFromEnvironment("", &o, &error));
    CHECK(o.endpoint.empty());
    CHECK(o.session_token == "tok");
    CHECK(o.region == "eu-central-1");
  }
  SECTION("AWS_DEFAULT_REGION alone") {
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    REQUIRE(projd::S3OptionsFromEnvironment("", &o, &error));
    CHECK(o.region == "ap-south-1");
  }
}

}  // namespace
