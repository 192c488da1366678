// The local replay (engine/replay.h) reads events ahead of their apply on other threads: the
// view, the provenance, the dead letters and a stop must be exactly those of the events
// applied one by one in the file's order, whatever the batch size.
#include "engine/replay.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "connectors/source.h"
#include "dsl/compiler.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

fs::path TestDir(const std::string& name) { return projd_test::FreshUnitDir(name); }

std::shared_ptr<const projd::Projection> Compile(const std::string& text) {
  auto compiled = projd::CompileFile("t.proj", text);
  for (const auto& d : compiled.diagnostics) INFO(d.Format());
  REQUIRE(compiled.ok());
  return compiled.projections[0];
}

std::string FieldJson(const projd::RowRecord& rec, const char* name) {
  const projd::Value* v = rec.fields.Find(name);
  return v ? projd::ToJson(*v) : "absent";
}

// Replays `events` (JSONL text) through the projection `text` in a fresh folder `name`.
projd::ReplayResult ReplayText(const std::string& name, const std::string& text,
                               const std::string& events) {
  std::string path = (TestDir(name) / "events.jsonl").string();
  std::ofstream(path) << events;
  projd::ReplayResult r;
  std::string error;
  bool ok = projd::Replay(Compile(text), path, &r, &error);
  INFO(error);
  REQUIRE(ok);
  return r;
}

// What a row should hold after the events, computed here one event at a time.
struct ModelRow {
  int64_t count = 0, last = 0, partition = 0, offset = 0;
  std::string message_key, correlation;
};

}  // namespace

TEST_CASE("replay: events read ahead apply in the file's order, in every batch size", "[engine]") {
  fs::path dir = TestDir("replay_ahead");
  auto p = Compile(R"(
projection ahead {
  from "t"
  key event.k
  correlation meta.headers["c"]
  on E { last = event.n  count += 1  message_key = meta.key  part = meta.partition
         off = meta.offset }
  on D { delete }
}
)");
  // Envelopes over two topics and three partitions; message keys escaped and long (they live
  // in the source's storage of their poll, not in the file); lines that are not JSON.
  std::string path = (dir / "events.jsonl").string();
  std::map<std::string, ModelRow> model;
  std::map<std::pair<std::string, int>, int64_t> next_offset;
  std::vector<int64_t> dead_offsets;  // partition 0 of "t": the lines that are not JSON
  int64_t wanted = 0;
  {
    std::ofstream out(path);
    std::mt19937 rng(7);
    for (int i = 0; i < 12000; ++i) {
      if (rng() % 97 == 0) {
        out << "not json {" << i << "\n";
        dead_offsets.push_back(next_offset[{"t", 0}]++);
        ++wanted;
        continue;
      }
      std::string topic = rng() % 5 == 0 ? "other" : "t";
      int partition = static_cast<int>(rng() % 3);
      std::string k = "acc-" + std::to_string(rng() % 41);
      bool del = rng() % 50 == 0;
      std::string message_key = "message-key-" + std::to_string(i) + "-\u00e9";
      std::string correlation = "correlation-" + std::to_string(i) + "-of-the-command";
      out << R"({"topic":")" << topic << R"(","partition":)" << partition
          << R"(,"key":"message\u002dkey-)" << i << R"(-\u00e9","headers":{"c":")" << correlation
          << R"("},"value":{"type":")" << (del ? "D" : "E") << R"(","k":")" << k << R"(","n":)" << i
          << "}}\n";
      int64_t offset = next_offset[{topic, partition}]++;
      if (topic != "t") continue;
      ++wanted;
      if (del) {
        model.erase(k);
        continue;
      }
      ModelRow& row = model[k];
      ++row.count;
      row.last = i;
      row.partition = partition;
      row.offset = offset;
      row.message_key = message_key;
      row.correlation = correlation;
    }
  }
  // Several readers finish their chunks out of order; the applying thread takes them in order.
  for (int readers : {1, 3}) {
    projd::SetReplayReaders(readers);
    for (size_t batch_size : {size_t{65536}, size_t{1000}, size_t{1}, size_t{5000}}) {
      INFO("readers " << readers << ", batch size " << batch_size);
      projd::ReplayResult r;
      std::string error;
      REQUIRE(projd::Replay(p, path, &r, &error, batch_size));
      CHECK(!r.stopped);
      CHECK(r.events == wanted);
      REQUIRE(r.rows.size() == model.size());
      for (const auto& [k, m] : model) {
        INFO("row " << k);
        auto it = r.rows.find(k);
        REQUIRE(it != r.rows.end());
        const projd::RowRecord& rec = it->second;
        CHECK(FieldJson(rec, "count") == std::to_string(m.count));
        CHECK(FieldJson(rec, "last") == std::to_string(m.last));
        CHECK(FieldJson(rec, "part") == std::to_string(m.partition));
        CHECK(FieldJson(rec, "off") == std::to_string(m.offset));
        CHECK(FieldJson(rec, "message_key") == projd::ToJson(projd::Value::String(m.message_key)));
        CHECK(rec.updated_by.offset == m.offset);
        CHECK(rec.updated_by.partition == m.partition);
        CHECK(rec.updated_by.has_correlation);
        CHECK(rec.updated_by.correlation == m.correlation);
      }
      REQUIRE(r.dead_letters.size() == dead_offsets.size());
      for (size_t i = 0; i < dead_offsets.size(); ++i) {
        CHECK(r.dead_letters[i].offset == dead_offsets[i]);
        CHECK(r.dead_letters[i].event.rfind("not json {", 0) == 0);
      }
    }
  }
  projd::SetReplayReaders(0);
}

TEST_CASE("replay: errors stop stops at the failing event with only the events before it",
          "[engine]") {
  fs::path dir = TestDir("replay_stop");
  auto p = Compile(R"(
projection stopping {
  from "t"
  key event.k
  errors stop
  on E { total += event.amount  count += 1 }
}
)");
  std::string path = (dir / "events.jsonl").string();
  constexpr int kBad = 7777;  // its amount is a string: the sum fails there
  std::map<std::string, int64_t> counts;
  {
    std::ofstream out(path);
    for (int i = 0; i < 12000; ++i) {
      std::string k = "k" + std::to_string(i % 13);
      out << R"({"type":"E","k":")" << k << R"(","amount":)"
          << (i == kBad ? std::string("\"ten\"") : std::to_string(i)) << "}\n";
      if (i < kBad) ++counts[k];
    }
  }
  for (int readers : {1, 3}) {
    projd::SetReplayReaders(readers);
    for (size_t batch_size : {size_t{65536}, size_t{3000}}) {
      INFO("readers " << readers << ", batch size " << batch_size);
      projd::ReplayResult r;
      std::string error;
      REQUIRE(projd::Replay(p, path, &r, &error, batch_size));
      CHECK(r.stopped);
      CHECK(r.stop_at == "t:0:" + std::to_string(kBad));
      CHECK(r.events == kBad);
      CHECK(r.applied == kBad);
      REQUIRE(r.rows.size() == counts.size());
      for (const auto& [k, n] : counts)
        CHECK(FieldJson(r.rows.at(k), "count") == std::to_string(n));
    }
  }
  projd::SetReplayReaders(0);
}

TEST_CASE("file source: a poll's messages stay valid for the polls it is asked to keep",
          "[engine]") {
  fs::path dir = TestDir("file_source_polls");
  std::string path = (dir / "events.jsonl").string();
  {
    std::ofstream out(path);
    for (int i = 0; i < 40; ++i) {
      // Escaped keys and headers: the source unescapes them into storage of its own.
      out << R"({"topic":"t","key":"key\u002dnumber-)" << i
          << R"(-long-enough","headers":{"h":"header-)" << i << R"(-long-enough"},"value":{"n":1}})"
          << "\n";
    }
  }
  std::string error;
  auto source = projd::NewFileSource(path, "t", &error, 3);
  REQUIRE(source);
  std::vector<std::vector<projd::Message>> polls(3);
  int first = 0;
  for (int poll = 0; poll < 10; ++poll) {
    auto& messages = polls[poll % 3];
    REQUIRE(source->Poll(&messages, 4, std::chrono::milliseconds(0)));
    REQUIRE(messages.size() == 4);
    // Every message of this poll and of the two before it is still as the file has it.
    for (int back = 0; back < 3 && back <= poll; ++back) {
      int at = first - 4 * back;
      const auto& older = polls[(poll - back) % 3];
      for (int i = 0; i < 4; ++i) {
        std::string n = std::to_string(at + i);
        CHECK(older[i].key == "key-number-" + n + "-long-enough");
        REQUIRE(older[i].header_count == 1);
        CHECK(older[i].headers[0].value == "header-" + n + "-long-enough");
      }
    }
    first += 4;
  }
}

TEST_CASE("projector: meta.headers[name] reads one header as meta.headers has it", "[engine]") {
  auto p = Compile(R"(
projection h {
  from "t"
  key event.k
  correlation meta.headers["c"]
  on * { user = meta.headers["user"]  bin = meta.headers["bin"]  none = meta.headers["none"]
         all = meta.headers }
}
)");
  // A repeated name (the last wins), bytes that are not UTF-8 (base64), an absent name.
  std::vector<projd::MessageHeader> headers = {{"user", "alice"},
                                               {"bin", std::string_view("\xff\xfe\x01", 3)},
                                               {"c", "cmd-7"},
                                               {"user", "bob"}};
  projd::Message m;
  m.topic = "t";
  m.value = R"({"k":"a"})";
  m.headers = headers.data();
  m.header_count = headers.size();
  projd::Projector projector(p);
  projd::ReadEvent read;
  projector.Read(m, &read);
  REQUIRE(read.status == projd::ReadEvent::Status::kReady);
  CHECK(read.prepared.correlation == "cmd-7");
  projd::Batch batch;
  struct NoRows : projd::RowSource {
    bool LoadRow(const std::string&, projd::RowRecord*) override { return false; }
    bool SeenId(const std::string&, uint64_t) override { return false; }
    bool ClaimId(const std::string&, uint64_t) override { return false; }
    void ForgetId(const std::string&) override {}
  } rows;
  std::string reason;
  REQUIRE(projector.Apply(m, &read, &rows, &batch, &reason) == projd::Projector::Outcome::kApplied);
  const projd::RowRecord& rec = batch.rows.at("a");
  CHECK(FieldJson(rec, "user") == "\"bob\"");
  CHECK(FieldJson(rec, "bin") == "\"//4B\"");
  CHECK(FieldJson(rec, "none") == "null");
  const projd::Value* all = rec.fields.Find("all");
  REQUIRE(all);
  CHECK(projd::ToJson(*all->as_object().Find("user")) == FieldJson(rec, "user"));
  CHECK(projd::ToJson(*all->as_object().Find("bin")) == FieldJson(rec, "bin"));
}

TEST_CASE("replay: envelope headers that are not strings read as their JSON text", "[engine]") {
  fs::path dir = TestDir("replay_headers");
  auto p = Compile(R"(
projection h {
  from "t"
  key event.k
  on * { n = meta.headers["n"]  b = meta.headers["b"]  z = meta.headers["z"]
         s = meta.headers["s"]  o = meta.headers["o"] }
}
)");
  std::string path = (dir / "events.jsonl").string();
  std::ofstream(path)
      << R"({"topic":"t","headers":{"n":5,"b":true,"z":null,"s":"x","o":{"a":[1]}},)"
      << R"("value":{"k":"a"}})"
      << "\n";
  projd::ReplayResult r;
  std::string error;
  REQUIRE(projd::Replay(p, path, &r, &error));
  REQUIRE(r.rows.count("a") == 1);
  const projd::RowRecord& row = r.rows["a"];
  CHECK(FieldJson(row, "n") == R"("5")");
  CHECK(FieldJson(row, "b") == R"("true")");
  CHECK(FieldJson(row, "s") == R"("x")");
  CHECK(FieldJson(row, "o") == R"("{\"a\":[1]}")");
  CHECK(FieldJson(row, "z") == "null");  // null: no header, which reads as null
}

TEST_CASE("replay: an event failing on a number past 10^20 is a dead letter of its row",
          "[engine]") {
  fs::path dir = TestDir("replay_big_numbers");
  auto p = Compile(R"(
projection v {
  from "t"
  key event.k
  on D { n += event.amount }
}
)");
  std::string path = (dir / "events.jsonl").string();
  std::ofstream(path)
      << R"({"type":"D","k":"a","amount":1})"
      << "\n"
      << R"({"type":"D","k":"a","amount":100000000000000000000})"
      << "\n"
      << R"({"type":"D","k":"a","ref":-4111111111111111111111,"amount":1})"
      << "\n"
      << R"({"type":"D","k":123456789012345678901234,"amount":1})"
      << "\n"
      << R"({"type":"D","k":"b\"x 1e30","amount":1e30,"s":"12345678901234567890123"})"
      << "\n";
  projd::ReplayResult r;
  std::string error;
  REQUIRE(projd::Replay(p, path, &r, &error));
  REQUIRE(r.rows.count("a") == 1);
  CHECK(FieldJson(r.rows["a"], "n") == "1");
  REQUIRE(r.dead_letters.size() == 4);
  for (const auto& d : r.dead_letters) {
    INFO(d.offset << ": " << d.reason);
    CHECK(d.reason.find("number out of range") != std::string::npos);
  }
  // The row is named when the key itself is not the number that failed.
  CHECK(r.dead_letters[0].has_key);
  CHECK(r.dead_letters[0].key == "a");
  CHECK(r.dead_letters[1].has_key);
  CHECK(r.dead_letters[1].key == "a");
  CHECK_FALSE(r.dead_letters[2].has_key);
  CHECK(r.dead_letters[3].has_key);
  CHECK(r.dead_letters[3].key == "b\"x 1e30");
}

TEST_CASE("replay: an envelope with \"value\": null is a Kafka tombstone, a dead letter saying so",
          "[engine]") {
  projd::ReplayResult r = ReplayText("replay_tombstone", R"(
projection v {
  from "t"
  key event.k
  on D { n += 1 }
}
)",
                                     "{\"type\":\"D\",\"k\":\"a\"}\n"
                                     "{\"key\":\"a\",\"value\":null}\n"
                                     "{\"type\":\"D\",\"k\":\"a\"}\n");
  CHECK(FieldJson(r.rows["a"], "n") == "2");
  REQUIRE(r.dead_letters.size() == 1);
  CHECK(r.dead_letters[0].offset == 1);
  CHECK(r.dead_letters[0].reason == "a tombstone (a message without a value): no event");
  CHECK(r.dead_letters[0].event.empty());
}

TEST_CASE("replay: an event failing on bytes that are not UTF-8 is a dead letter of its row",
          "[engine]") {
  // A Latin-1 owner (0xFC), then the bad byte in the key itself: that row is not named (the
  // key read with the byte replaced is not the event's).
  projd::ReplayResult r =
      ReplayText("replay_not_utf8", R"(
projection v {
  from "t"
  key event.k
  on D { n += event.amount }
}
)",
                 "{\"type\":\"D\",\"k\":\"a\",\"amount\":1}\n"
                 "{\"type\":\"D\",\"k\":\"a\",\"owner\":\"Z\xfcrich\",\"amount\":1}\n"
                 "{\"type\":\"D\",\"k\":\"b\xfc\",\"amount\":1}\n");
  CHECK(FieldJson(r.rows["a"], "n") == "1");
  REQUIRE(r.dead_letters.size() == 2);
  CHECK(r.dead_letters[0].reason.find("invalid UTF-8") != std::string::npos);
  CHECK(r.dead_letters[0].has_key);
  CHECK(r.dead_letters[0].key == "a");
  CHECK(r.dead_letters[1].reason.find("invalid UTF-8") != std::string::npos);
  CHECK_FALSE(r.dead_letters[1].has_key);
}

TEST_CASE("replay: an envelope whose partition is no partition fails the replay, naming the line",
          "[engine]") {
  const std::string proj = "projection e { from \"t\" key event.k on E { n += 1 } }";
  for (const char* bad : {"-1", "1.5", "1048576", "\"1\"", "true"}) {
    INFO("partition " << bad);
    std::string path = (TestDir("replay_bad_partition") / "events.jsonl").string();
    std::ofstream(path) << R"({"value":{"type":"E","k":"a"},"partition":1})"
                        << "\n"
                        << R"({"value":{"type":"E","k":"b"},"partition":)" << bad << "}\n";
    projd::ReplayResult r;
    std::string error;
    CHECK_FALSE(projd::Replay(Compile(proj), path, &r, &error));
    CHECK(error.rfind("events file line 2: \"partition\" must be a whole number from 0 to "
                      "1048575, not ",
                      0) == 0);
  }
  // A partition of the allowed range replays as given.
  projd::ReplayResult ok = ReplayText("replay_good_partition", proj,
                                      R"({"value":{"type":"E","k":"a"},"partition":1048575})"
                                      "\n");
  CHECK(ok.rows.count("a") == 1);
}
