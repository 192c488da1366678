// Checksums, snapshots and restores of a view, end to end: the real projd and projctl programs,
// LMDB files, HTTP on loopback, the embedded broker or the real one ([kafka]).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "connectors/source.h"
#include "tests/integration/harness.h"

namespace {

namespace fs = std::filesystem;
using projd::Value;
using projd::testing::ProjdProcess;

const char kSnap[] = R"(
projection snap {
  from "TOPIC"
  key event.k
  on * { total += event.n  count += 1  last = event.s }
}
)";

std::string SnapOn(const std::string& topic, const std::string& extra = "") {
  std::string proj = kSnap;
  proj.replace(proj.find("TOPIC"), 5, topic);
  if (!extra.empty()) proj.replace(proj.find("count += 1"), 10, "count += 1  " + extra);
  return proj;
}

// Events [from, to): 53 keys; decimals, and text with escapes.
std::vector<std::string> Events(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) {
    out.push_back("{\"k\":\"k" + std::to_string(i % 53) + "\",\"n\":" + std::to_string(i) +
                  ".50,\"s\":\"x\\\"" + std::to_string(i) + "\\n\"}");
  }
  return out;
}

using projd::testing::FieldText;
using projd::testing::ProduceValues;

std::string Projctl(const std::string& args, int* code) {
  std::string out;
  *code = projd::testing::Run(std::string(PROJCTL_BIN) + " " + args, &out);
  return out;
}

std::string Server(const ProjdProcess& p) {
  return "--server http://127.0.0.1:" + std::to_string(p.port());
}

using projd::testing::KafkaOrSkip;
using projd::testing::UniqueTopic;

}  // namespace

TEST_CASE("snapshot: the checksum equals projctl test --checksum, across a rebuild and a restart",
          "[embedded]") {
  std::string dir =
      projd::testing::ProjectionFolder("snapshot-checksum", "p.proj", SnapOn("snap-events"));
  std::string data = dir + "/data";
  auto events = Events(0, 2000);
  {
    std::ofstream out(dir + "/events.jsonl");
    for (const auto& e : events) out << e << "\n";
  }
  std::string error;
  std::vector<std::string> args = {"--partitions", "1"};
  auto p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  ProduceValues(p->embedded_brokers(), "snap-events", events);
  REQUIRE(p->WaitCaughtUp("snap", 2000));
  int status = 0;
  Value sum = p->GetJson("/v1/views/snap/checksum", &status);
  REQUIRE(status == 200);
  std::string digest = FieldText(sum, "digest");
  CHECK(digest.size() == 64);
  CHECK(FieldText(sum, "position") == "snap-events:0:2000");
  CHECK(FieldText(sum, "rows") == "53");
  CHECK(FieldText(sum, "definition_hash") ==
        FieldText(p->GetJson("/v1/views/snap"), "definition_hash"));

  // The local replay of the same events gives the same digest.
  int code = 0;
  std::string local = Projctl(
      "test " + dir + "/projections/p.proj --events " + dir + "/events.jsonl --checksum", &code);
  CHECK(code == 0);
  CHECK(local == digest + "\n");
  // projctl checksum: the digest alone, as projctl test --checksum prints it (the position and
  // rows on stderr), or the JSON answer.
  std::string line;
  code = projd::testing::Run("(" + std::string(PROJCTL_BIN) + " checksum snap " + Server(*p) +
                                 " 2>" + dir + "/checksum.err)",
                             &line);
  CHECK(code == 0);
  CHECK(line == local);
  CHECK(projd::testing::ReadFile(dir + "/checksum.err") ==
        "position snap-events:0:2000  rows 53\n");
  std::string json = Projctl("checksum snap --json " + Server(*p), &code);
  CHECK(json.find("\"digest\": \"" + digest + "\"") != std::string::npos);
  // A changed row changes the digest.
  ProduceValues(p->embedded_brokers(), "snap-events", Events(2000, 2001));
  REQUIRE(p->WaitCaughtUp("snap", 2001));
  Value changed = p->GetJson("/v1/views/snap/checksum");
  CHECK(FieldText(changed, "digest") != digest);
  CHECK(FieldText(changed, "position") == "snap-events:0:2001");
  digest = FieldText(changed, "digest");

  // A rebuild from offset 0 ends at the same position with the same digest.
  auto r = p->Call("POST", "/v1/views/snap/rebuild");
  REQUIRE(r.status == 202);
  REQUIRE(p->WaitRebuilt("snap"));
  REQUIRE(p->WaitCaughtUp("snap", 2001));
  Value rebuilt = p->GetJson("/v1/views/snap/checksum");
  CHECK(FieldText(rebuilt, "digest") == digest);
  CHECK(FieldText(rebuilt, "position") == "snap-events:0:2001");
  CHECK(p->Terminate() == 0);

  // After a restart (the embedded broker starts empty; the store keeps its rows).
  p = ProjdProcess::StartIn(dir, args, &error, "projd2.log");
  REQUIRE(p);
  Value again = p->GetJson("/v1/views/snap/checksum");
  CHECK(FieldText(again, "digest") == digest);
  CHECK(FieldText(again, "position") == "snap-events:0:2001");
  CHECK(p->Terminate() == 0);
}

TEST_CASE("snapshot: restored into a new data folder, a view resumes from its offsets", "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = UniqueTopic("snap");
  std::string dir = projd::testing::ProjectionFolder("snapshot-restore", "p.proj", SnapOn(topic));
  std::string error;
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 1, &error));
  ProduceValues(brokers, topic, Events(0, 3000));
  auto a = ProjdProcess::Start({"--projections", dir + "/projections", "--data", dir + "/a",
                                "--brokers", brokers, "--group", "a-" + topic},
                               dir + "/a.log", &error);
  REQUIRE(a);
  REQUIRE(a->WaitCaughtUp("snap", 3000));
  int code = 0;
  std::string file = dir + "/snap.mdb";
  std::string out = Projctl("snapshot snap -o " + file + " " + Server(*a), &code);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("position " + topic + ":0:3000\n") != std::string::npos);
  CHECK(out.find("definition_hash " + FieldText(a->GetJson("/v1/views/snap"), "definition_hash")) !=
        std::string::npos);
  CHECK(fs::file_size(file) > 0);
  // No snapshot copy is left behind in the view's folder.
  int left = 0;
  for (const auto& e : fs::directory_iterator(dir + "/a/views/snap")) {
    left += e.path().filename().string().rfind("snapshot-", 0) == 0;
  }
  CHECK(left == 0);

  // Refused while a projd holds the data folder, naming its pid.
  out = Projctl("restore --data " + dir + "/a snap " + file, &code);
  CHECK(code == 1);
  CHECK(out.find("pid " + std::to_string(a->pid())) != std::string::npos);

  // A truncated snapshot: the error names it, and nothing is installed.
  {
    std::string bytes = projd::testing::ReadFile(file);
    projd::testing::WriteFile(dir + "/truncated.mdb", bytes.substr(0, bytes.size() / 3));
    out = Projctl("restore --data " + dir + "/c snap " + dir + "/truncated.mdb", &code);
    CHECK(code == 1);
    CHECK(out.find(dir + "/truncated.mdb is not a usable snapshot: its store is damaged") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir + "/c/views/snap/CURRENT"));
  }
  out = Projctl("restore --data " + dir + "/b snap " + file, &code);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(projd::testing::ReadFile(dir + "/b/views/snap/CURRENT") == "gen-1\n");

  // Events after the snapshot: the restored view applies only those.
  ProduceValues(brokers, topic, Events(3000, 4000));
  auto b = ProjdProcess::Start({"--projections", dir + "/projections", "--data", dir + "/b",
                                "--brokers", brokers, "--group", "b-" + topic},
                               dir + "/b.log", &error);
  REQUIRE(b);
  REQUIRE(b->WaitCaughtUp("snap", 4000));
  REQUIRE(a->WaitCaughtUp("snap", 4000));
  CHECK(FieldText(b->GetJson("/v1/views/snap"), "events_applied") == "1000");
  Value sa = a->GetJson("/v1/views/snap/checksum");
  Value sb = b->GetJson("/v1/views/snap/checksum");
  CHECK(FieldText(sb, "position") == topic + ":0:4000");
  CHECK(FieldText(sa, "position") == FieldText(sb, "position"));
  CHECK(FieldText(sa, "digest") == FieldText(sb, "digest"));
  CHECK(FieldText(sa, "rows") == "53");
  CHECK(b->Terminate() == 0);
  CHECK(a->Terminate() == 0);
}

TEST_CASE("snapshot: a snapshot of another definition is refused at start", "[embedded]") {
  std::string dir =
      projd::testing::ProjectionFolder("snapshot-other-definition", "p.proj", SnapOn("snap-other"));
  std::string error;
  std::vector<std::string> args = {"--projections", dir + "/projections", "--data",
                                   dir + "/a",      "--partitions",       "1"};
  auto a = ProjdProcess::Start(args, dir + "/a.log", &error);
  REQUIRE(a);
  ProduceValues(a->embedded_brokers(), "snap-other", Events(0, 100));
  REQUIRE(a->WaitCaughtUp("snap", 100));
  std::string old_hash = FieldText(a->GetJson("/v1/views/snap"), "definition_hash");
  int code = 0;
  std::string file = dir + "/snap.mdb";
  std::string out = Projctl("snapshot snap -o " + file + " " + Server(*a), &code);
  REQUIRE(code == 0);
  CHECK(a->Terminate() == 0);

  // The definition changes, then the old snapshot is restored: projd refuses to start.
  fs::create_directories(dir + "/changed");
  projd::testing::WriteFile(dir + "/changed/p.proj", SnapOn("snap-other", "twice += 2"));
  out = Projctl("restore --data " + dir + "/b snap " + file, &code);
  REQUIRE(code == 0);
  out.clear();
  code = projd::testing::Run("timeout 30 " + std::string(PROJD_BIN) + " --projections " + dir +
                                 "/changed --data " + dir + "/b --listen 127.0.0.1:0",
                             &out);
  INFO(out);
  CHECK(code == 1);
  CHECK(out.find("view snap") != std::string::npos);
  CHECK(out.find(old_hash) != std::string::npos);
  CHECK(out.find(fs::absolute(file).string()) != std::string::npos);
  CHECK(out.find(dir + "/changed/p.proj") != std::string::npos);

  // With the snapshot's own definition it starts and serves the snapshot's rows; the mark is
  // then cleared, so a later definition change rebuilds as usual.
  args[3] = dir + "/b";
  auto b = ProjdProcess::Start(args, dir + "/b.log", &error);
  REQUIRE(b);
  Value sum = b->GetJson("/v1/views/snap/checksum");
  CHECK(FieldText(sum, "position") == "snap-other:0:100");
  CHECK(FieldText(sum, "rows") == "53");
  CHECK(b->Terminate() == 0);
  auto c = ProjdProcess::Start(
      {"--projections", dir + "/changed", "--data", dir + "/b", "--partitions", "1"},
      dir + "/c.log", &error);
  REQUIRE(c);
  CHECK(c->Terminate() == 0);
}
