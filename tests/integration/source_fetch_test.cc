// The Kafka source's consumer queue, against the embedded broker: librdkafka stops fetching a
// partition once the queue holds queued.max.messages.kbytes and looks again only when its
// broker thread wakes. A consumer slower than the fetch fills the queue again and again; the
// source wakes the fetchers each time it has run down (FetchWaker), and every message still
// arrives once, in order.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "connectors/source.h"
#include "tests/integration/harness.h"

TEST_CASE("Kafka source: a full consumer queue is refilled, every message once", "[embedded]") {
  using Clock = std::chrono::steady_clock;
  std::string error;
  auto broker = projd::EmbeddedBroker::Start(2, &error);
  REQUIRE(broker);
  std::string topic = projd::testing::UniqueTopic("fetch-wake");
  REQUIRE(broker->CreateTopic(topic, &error));
  constexpr int kMessages = 20000;
  const std::string padding(80, 'x');
  std::vector<std::string> values;
  for (int i = 0; i < kMessages; ++i) {
    values.push_back(R"({"n":)" + std::to_string(i) + R"(,"pad":")" + padding + "\"}");
  }
  projd::testing::ProduceValues(broker->bootstrap(), topic, values);

  // Polls of 200 messages drain the queue a little at a time; polls of 5,000 take all of it
  // at once (large events, or a small queue), and must wake the fetchers right away.
  for (size_t poll : {size_t{200}, size_t{5000}}) {
    DYNAMIC_SECTION("polls of " << poll) {
      projd::KafkaOptions options;
      options.brokers = broker->bootstrap();
      options.group_id = "fetch-wake-" + topic + "-" + std::to_string(poll);
      // A queue of 256 KiB holds about 2,000 of these messages: it fills many times over.
      options.properties = {{"queued.max.messages.kbytes", "256"}};
      auto source = projd::NewKafkaSource(options, "fetch-wake-test");
      REQUIRE(source->Start(
          {topic}, [](const projd::TopicPartition&) { return int64_t{0}; }, &error));

      std::map<int32_t, int64_t> next;  // per partition, the offset expected next
      int received = 0;
      std::vector<projd::Message> batch;
      double longest_wait = 0;
      auto last = Clock::now();
      auto deadline = last + std::chrono::seconds(120);
      while (received < kMessages && Clock::now() < deadline) {
        source->Poll(&batch, poll, std::chrono::milliseconds(100));
        if (batch.empty()) continue;
        auto now = Clock::now();
        if (received > 0) {
          longest_wait = std::max(longest_wait, std::chrono::duration<double>(now - last).count());
        }
        last = now;
        for (const projd::Message& m : batch) {
          REQUIRE(m.offset == next[m.partition]);  // no message lost or delivered twice
          next[m.partition] = m.offset + 1;
        }
        received += static_cast<int>(batch.size());
        // Slower than the fetch: the queue fills and the fetchers pause.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      INFO("longest wait between batches: " << longest_wait << " s");
      REQUIRE(received == kMessages);
      int64_t total = 0;
      for (const auto& [partition, offset] : next) total += offset;
      CHECK(total == kMessages);
      CHECK(source->Status().fetch_wakes > 0);
    }
  }
}
