// meta.headers through the real path: headers produced by librdkafka on the real broker, read
// by a projection in projd, kept in the rows it writes.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connectors/source.h"
#include "dsl/compiler.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;

std::string Field(const Value& row, const std::string& name) {
  const Value* r = row.is_object() ? row.as_object().Find("row") : nullptr;
  const Value* f = r && r->is_object() ? r->as_object().Find(name) : nullptr;
  if (!f) return "(absent)";
  return f->is_string() ? f->as_string() : projd::ToJson(*f);
}

}  // namespace

TEST_CASE("real Kafka: meta.headers reads the headers librdkafka sent", "[kafka]") {
  std::string brokers = projd::testing::KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = projd::testing::UniqueTopic("headers");
  std::string error;
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 2, &error));
  std::string dir = projd::testing::ProjectionFolder("headers", "cmd.proj", R"(
projection commands {
  from ")" + topic + R"("
  key event.id
  on * {
    user = coalesce(meta.headers["user"], "nobody")
    command = meta.headers["correlation-id"]
    raw = meta.headers["bin"]
    headers = meta.headers
  }
}
)");
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  // A repeated name (the last wins), a value that is not UTF-8 (read as base64), no headers.
  REQUIRE(producer->ProduceAsync(topic, "a", R"({"id":"a"})",
                                 {{"user", "alice"},
                                  {"correlation-id", "cmd-1"},
                                  {"user", "carol"},
                                  {"bin", std::string("\xff\x00\x01", 3)}},
                                 &error));
  REQUIRE(producer->ProduceAsync(topic, "b", R"({"id":"b"})", &error));
  REQUIRE(producer->Flush(std::chrono::seconds(30), &error));
  // A header without a value (null, as Java's new RecordHeader("user", null) sends it) and an
  // empty one: null and "".
  {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr)) ==
            RD_KAFKA_CONF_OK);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    REQUIRE(rk);
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "user", -1, nullptr, 0);
    rd_kafka_header_add(hdrs, "correlation-id", -1, "", 0);
    const char value[] = R"({"id":"c"})";
    REQUIRE(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value), sizeof(value) - 1),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                              RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
  }
  REQUIRE(p->WaitCaughtUp("commands", 3));
  Value c = p->GetJson("/v1/views/commands/rows/c");
  CHECK(Field(c, "user") == "nobody");
  CHECK(Field(c, "command") == "");
  CHECK(Field(c, "headers") == R"({"correlation-id":"","user":null})");
  Value a = p->GetJson("/v1/views/commands/rows/a");
  CHECK(Field(a, "user") == "carol");
  CHECK(Field(a, "command") == "cmd-1");
  CHECK(Field(a, "raw") == "/wAB");
  CHECK(Field(a, "headers") == R"({"bin":"/wAB","correlation-id":"cmd-1","user":"carol"})");
  Value b = p->GetJson("/v1/views/commands/rows/b");
  CHECK(Field(b, "user") == "nobody");
  CHECK(Field(b, "command") == "null");
  CHECK(Field(b, "headers") == "{}");
}

TEST_CASE("real Kafka: a source skips headers only for projections without meta.headers",
          "[kafka]") {
  // The flag a view tells its source by: meta.headers anywhere (here only in correlation).
  auto with = projd::CompileFile("with.proj", R"(
projection with_headers {
  from "t"
  key event.id
  correlation meta.headers["correlation-id"]
  on * { n += 1 }
}
projection without_headers {
  from "t"
  key meta.key
  on * { topic = meta.topic  n += 1 }
}
)");
  REQUIRE(with.ok());
  REQUIRE(with.projections.size() == 2);
  CHECK(with.projections[0]->reads_headers());
  CHECK_FALSE(with.projections[1]->reads_headers());

  std::string brokers = projd::testing::KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = projd::testing::UniqueTopic("skip-headers");
  std::string error;
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 1, &error));
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  REQUIRE(producer->ProduceAsync(topic, "a", R"({"id":"a"})", {{"user", "alice"}}, &error));
  REQUIRE(producer->Flush(std::chrono::seconds(30), &error));
  // The first message of the topic as a source delivers it, with or without SkipHeaders.
  auto first = [&](bool skip) {
    projd::KafkaOptions ko;
    ko.brokers = brokers;
    auto source = projd::NewKafkaSource(ko, "headers-test");
    if (skip) source->SkipHeaders();
    std::string err;
    REQUIRE(source->Start(
        {topic}, [](const projd::TopicPartition&) { return int64_t{0}; }, &err));
    std::vector<projd::Message> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got.empty() && std::chrono::steady_clock::now() < deadline) {
      source->Poll(&got, 10, std::chrono::milliseconds(200));
    }
    REQUIRE(got.size() == 1);
    std::vector<std::pair<std::string, std::string>> headers;
    for (size_t i = 0; i < got[0].header_count; ++i) {
      headers.emplace_back(got[0].headers[i].name, got[0].headers[i].value);
    }
    CHECK(got[0].value == R"({"id":"a"})");
    return headers;
  };
  CHECK(first(false) == std::vector<std::pair<std::string, std::string>>{{"user", "alice"}});
  CHECK(first(true).empty());
}
