// The Kafka source's commits to its consumer group, against the embedded broker: the final
// commit on a clean stop outlasts a group coordinator that answers "still loading" (a broker
// just started), so external lag tools see where projd stopped.
#include <librdkafka/rdkafka.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "connectors/source.h"
#include "tests/integration/harness.h"

namespace {

constexpr int16_t kOffsetCommit = 8;  // the Kafka API key of OffsetCommit requests

}  // namespace

TEST_CASE("Kafka source: the final group commit retries a coordinator still loading",
          "[embedded]") {
  std::string error;
  auto broker = projd::EmbeddedBroker::Start(1, &error);
  REQUIRE(broker);
  std::string topic = projd::testing::UniqueTopic("final-commit");
  REQUIRE(broker->CreateTopic(topic, &error));
  projd::testing::ProduceValues(broker->bootstrap(), topic,
                                {R"({"n":1})", R"({"n":1})", R"({"n":1})"});

  projd::KafkaOptions options;
  options.brokers = broker->bootstrap();
  options.group_id = "final-commit-" + topic;
  std::vector<std::string> logged;
  options.log = [&](const std::string&, const std::string& m) { logged.push_back(m); };
  auto source = projd::NewKafkaSource(options, "final-commit-test");
  REQUIRE(source->Start(
      {topic}, [](const projd::TopicPartition&) { return int64_t{0}; }, &error));
  std::vector<projd::Message> got, batch;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    source->Poll(&batch, 10, std::chrono::milliseconds(200));
    got.insert(got.end(), batch.begin(), batch.end());
  }
  REQUIRE(got.size() == 3);
  // The coordinator answers the next twelve commit requests "still loading": more than
  // librdkafka's own retries of one request (two) outlast, for the periodic (asynchronous)
  // commit and the final one together.
  broker->FailRequests(kOffsetCommit,
                       std::vector<int>(12, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS));
  projd::Position applied;
  applied[projd::TopicPartition{topic, 0}] = 3;
  source->Committed(applied);
  source.reset();  // the clean stop: the final commit

  std::map<int32_t, int64_t> committed;
  INFO(error);
  REQUIRE(
      projd::QueryCommitted(broker->bootstrap(), options.group_id, topic, 1, &committed, &error));
  for (const auto& m : logged) UNSCOPED_INFO(m);
  CHECK(committed[0] == 3);
}

TEST_CASE(
    "Kafka source: a position written within a second of the last commit still reaches the "
    "group while the source runs",
    "[embedded]") {
  std::string error;
  auto broker = projd::EmbeddedBroker::Start(1, &error);
  REQUIRE(broker);
  std::string topic = projd::testing::UniqueTopic("late-commit");
  REQUIRE(broker->CreateTopic(topic, &error));
  projd::testing::ProduceValues(broker->bootstrap(), topic,
                                {R"({"n":1})", R"({"n":1})", R"({"n":1})"});
  projd::KafkaOptions options;
  options.brokers = broker->bootstrap();
  options.group_id = "late-commit-" + topic;
  auto source = projd::NewKafkaSource(options, "late-commit-test");
  REQUIRE(source->Start(
      {topic}, [](const projd::TopicPartition&) { return int64_t{0}; }, &error));
  std::vector<projd::Message> batch;
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got < 3 && std::chrono::steady_clock::now() < deadline) {
    source->Poll(&batch, 10, std::chrono::milliseconds(200));
    got += batch.size();
  }
  REQUIRE(got == 3);
  // Two writes in quick succession: the first is committed at once, the second within the
  // same second is not; no further write comes (the view is idle at the log end).
  projd::Position applied;
  applied[projd::TopicPartition{topic, 0}] = 1;
  source->Committed(applied);
  applied[projd::TopicPartition{topic, 0}] = 3;
  source->Committed(applied);
  // The source keeps polling, as an idle view does: the last position reaches the group.
  std::map<int32_t, int64_t> committed;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    source->Poll(&batch, 10, std::chrono::milliseconds(200));
    REQUIRE(
        projd::QueryCommitted(broker->bootstrap(), options.group_id, topic, 1, &committed, &error));
    if (committed[0] == 3) break;
  }
  CHECK(committed[0] == 3);
}
