// PollReader (engine/poll_reader.h): the messages of a poll read on its thread or, when the
// applying thread catches up, on that one; either way each message's ReadEvent is what
// Projector::Read makes of it, poll after poll, also after a poll ended early.
#include "engine/poll_reader.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dsl/compiler.h"
#include "store/row_map.h"
#include "store/string_set.h"

namespace {

std::shared_ptr<const projd::Projection> Compile() {
  auto compiled = projd::CompileFile("r.proj", R"(
projection r {
  from "t"
  key event.k
  id event.id
  time event.ts
  on E { total += event.n }
}
)");
  REQUIRE(compiled.ok());
  return compiled.projections[0];
}

// A poll's values: events, events of another type, events whose time is wrong, and lines that
// are not JSON; `tag` makes each poll's values its own.
std::vector<std::string> Values(size_t n, int tag, std::mt19937* rng) {
  std::vector<std::string> values;
  for (size_t i = 0; i < n; ++i) {
    std::string id = std::to_string(tag) + "-" + std::to_string(i);
    switch ((*rng)() % 8) {
      case 0:
        values.push_back("not json " + id);
        break;
      case 1:
        values.push_back(R"({"type":"F","k":"k)" + id + R"("})");
        break;
      case 2:
        values.push_back(R"({"type":"E","k":"k)" + id + R"(","id":")" + id +
                         R"(","ts":"yesterday","n":1})");
        break;
      default:
        values.push_back(R"({"type":"E","k":"k)" + id + R"(","id":")" + id +
                         R"(","ts":"2026-12-05T10:00:00Z","n":)" + std::to_string(i) + "}");
    }
  }
  return values;
}

// What Read made of a message, as text (what Apply uses of it).
std::string Summary(const projd::ReadEvent& r) {
  using Status = projd::ReadEvent::Status;
  const projd::PreparedEvent& e = r.prepared;
  std::string s = std::to_string(static_cast<int>(r.status)) + "|" + r.error;
  if (r.status == Status::kUnprepared && e.has_key) s += "|" + e.key;
  if (r.status == Status::kReady && e.handler) {
    s += "|" + e.key + "|" + (e.has_id ? e.id : "-") + "|" + std::to_string(e.event_time_ms);
  }
  return s;
}

}  // namespace

TEST_CASE("poll reader: every message read as Projector::Read reads it, poll after poll",
          "[engine]") {
  auto p = Compile();
  projd::Projector projector(p);
  projd::PollReader reader(&projector, true, "test");
  std::mt19937 rng(3);
  int tag = 0;
  size_t peeked = 0, peek_differ = 0;  // events seen 8 ahead, read (Peek) or not yet
  // Poll sizes that grow and shrink; each way of taking them: at once (the applying thread
  // claims what the reader has not), after a pause (the reader is ahead), slowly, or ended
  // early (the rest is never asked for).
  for (size_t n : {size_t{3000}, size_t{300}, size_t{5000}, size_t{1}, size_t{2000}}) {
    for (int way = 0; way < 4; ++way) {
      INFO("poll of " << n << ", way " << way);
      std::vector<std::string> values = Values(n, ++tag, &rng);
      std::vector<projd::Message> messages(n);
      for (size_t i = 0; i < n; ++i) {
        messages[i].topic = "t";
        messages[i].offset = static_cast<int64_t>(i);
        messages[i].value = values[i];
      }
      reader.Start(messages.data(), n);
      if (way == 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      size_t asked = way == 3 ? n / 2 : n;
      projd::ReadEvent expected;
      size_t differ = 0;
      std::string first;
      for (size_t i = 0; i < asked; ++i) {
        if (way == 2 && i % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        // An event 8 ahead the reader has read: as Read reads it, with the hashes of its key
        // and id (the applying thread's prefetch hints).
        if (const projd::ReadEvent* ahead = reader.Peek(i + 8)) {
          ++peeked;
          projd::ReadEvent e;
          projector.Read(messages[i + 8], &e);
          bool ready = e.status == projd::ReadEvent::Status::kReady && e.prepared.handler;
          uint64_t key_hash = ready ? projd::RowMap::Hash(e.prepared.key) : 0;
          uint64_t id_hash = ready && e.prepared.has_id ? projd::StringSet::Hash(e.prepared.id) : 0;
          if (Summary(*ahead) != Summary(e) || ahead->key_hash != key_hash ||
              ahead->id_hash != id_hash) {
            ++peek_differ;
          }
        }
        projd::ReadEvent* got = reader.Get(i);
        projector.Read(messages[i], &expected);
        if (Summary(*got) != Summary(expected) && differ++ == 0) {
          first = std::to_string(i) + ": " + Summary(*got) + " != " + Summary(expected);
        }
      }
      reader.Finish();  // before the messages go
      CHECK(differ == 0);
      CHECK(first.empty());
    }
  }
  CHECK(peeked > 0);
  CHECK(peek_differ == 0);
}
