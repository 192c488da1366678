// Hostile input and careless operation, end to end: the real projd program, LMDB files, HTTP on
// loopback and the embedded broker. Each case is a way projd was once broken.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "connectors/source.h"
#include "tests/integration/harness.h"

namespace {

namespace fs = std::filesystem;
using projd::Value;
using projd::testing::ProjdProcess;

// A test folder with one projections file; *data is its data folder.
std::string Folder(const std::string& name, const std::string& proj, std::string* data) {
  std::string dir = projd::testing::ProjectionFolder(name, "p.proj", proj);
  *data = dir + "/data";
  return dir;
}

using projd::testing::FieldText;
using projd::testing::ProduceValues;

// Waits until the view's state is `state`; false after `timeout`.
bool WaitState(ProjdProcess& p, const std::string& view, const std::string& state,
               std::chrono::seconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (FieldText(p.GetJson("/v1/views/" + view), "state") == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Runs projd with `args` expecting it to refuse to start; returns its exit code (128 + signal
// when a signal ended it, 124 when it was still running after 30 s) and its output in *out.
int RunProjd(const std::string& args, std::string* out) {
  return projd::testing::Run(
      "timeout 30 " + std::string(PROJD_BIN) + " " + args + " --listen 127.0.0.1:0", out);
}

}  // namespace

TEST_CASE("keys: empty and over-long keys are dead letters; long ids, indexed values, history",
          "[embedded]") {
  std::string data;
  std::string dir = Folder("long-keys", R"(
projection keys {
  from "kt"
  key event.k
  id event.id
  dedupe
  on * { n += 1  memo = event.memo }
  index memo
  history all
}
)",
                           &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {"--partitions", "1"}, &error);
  REQUIRE(p);
  std::string key511(511, 'y'), id600(600, 'i'), memo(2000, 'm');
  auto ev = [](const std::string& k, const std::string& id, const std::string& m) {
    return "{\"k\":\"" + k + "\",\"id\":\"" + id + "\",\"memo\":\"" + m + "\"}";
  };
  ProduceValues(p->embedded_brokers(), "kt",
                {ev("before", "1", "a"), ev("", "2", "a"), ev("after", "3", "a"),
                 ev(std::string(512, 'x'), "4", "a"), ev(key511, id600, memo),
                 ev("dup", id600, "a"), ev("w", "", std::string(503, 'n'))});
  REQUIRE(p->WaitCaughtUp("keys", 7));
  Value st = p->GetJson("/v1/views/keys");
  CHECK(FieldText(st, "state") == "live");
  CHECK(FieldText(st, "dead_letters") == "2");
  CHECK(p->Call("GET", "/v1/views/keys/rows/before").status == 200);
  CHECK(p->Call("GET", "/v1/views/keys/rows/after").status == 200);
  CHECK(p->Call("GET", "/v1/views/keys/rows/dup").status == 404);  // a duplicate id
  auto row = p->Call("GET", "/v1/views/keys/rows/" + key511);
  CHECK(row.status == 200);
  CHECK(p->Call("GET", "/v1/views/keys/rows/" + key511 + "/history").status == 200);
  CHECK(p->Call("GET", "/v1/views/keys/rows/" + key511 + "?as_of=2100-01-01T00:00:00Z").status ==
        200);
  Value dl = p->GetJson("/v1/views/keys/dead-letters");
  std::string reasons = projd::ToJson(dl);
  CHECK(reasons.find("the key is empty") != std::string::npos);
  CHECK(reasons.find("the key is 512 bytes long") != std::string::npos);
  // The index finds the 2,000-byte value, without a scan.
  auto q = p->Call("POST", "/v1/query", "from keys where memo == \"" + memo + "\" select key");
  REQUIRE(q.status == 200);
  CHECK(q.body.find(key511) != std::string::npos);
  CHECK(q.body.find("\"scanned\":1") != std::string::npos);
  // A later batch: the 600-byte id, read back from LMDB, is still a duplicate.
  ProduceValues(p->embedded_brokers(), "kt", {ev("dup2", id600, "a")});
  REQUIRE(p->WaitCaughtUp("keys", 8));
  CHECK(p->Call("GET", "/v1/views/keys/rows/dup2").status == 404);
  CHECK(FieldText(p->GetJson("/v1/views/keys"), "state") == "live");
}

TEST_CASE("readiness counts every view and needs no token; the dashboard page without one is 401",
          "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("readyz", "p.proj", R"(
projection alpha { from "t" key event.k on * { n += 1 } }
projection beta { from "nowhere" key event.k on * { n += 1 } }
)");
  std::string tokens = dir + "/tokens.toml";
  projd::testing::WriteFile(tokens, R"(
[[token]]
token = "met"
role  = "metrics"
[[token]]
token = "rd-alpha"
role  = "reader"
views = ["alpha"]
)");
  fs::permissions(tokens, fs::perms::owner_read | fs::perms::owner_write);
  std::string error;
  // Kafka that does not answer: no view can catch up, so projd is not ready, whoever asks.
  auto p = ProjdProcess::StartIn(dir, {"--auth", tokens, "--brokers", "127.0.0.1:1"}, &error);
  REQUIRE(p);
  auto none = p->Call("GET", "/readyz");
  CHECK(none.status == 503);
  CHECK(none.body.find("\"error\":\"not ready\"") != std::string::npos);
  CHECK(none.body.find("\"detail\":\"2 views have not caught up") != std::string::npos);
  CHECK(none.body.find("\"views_not_ready\":2") != std::string::npos);
  CHECK(none.body.find("alpha") == std::string::npos);  // no names without a token
  auto met = p->Call("GET", "/readyz", "", {{"Authorization", "Bearer met"}});
  CHECK(met.status == 503);
  auto rd = p->Call("GET", "/readyz", "", {{"Authorization", "Bearer rd-alpha"}});
  CHECK(rd.status == 503);
  CHECK(rd.body.find("\"views_not_ready\":2") != std::string::npos);
  CHECK(rd.body.find("alpha") != std::string::npos);
  CHECK(rd.body.find("beta") == std::string::npos);  // counted, not named
  CHECK(p->Call("GET", "/healthz").status == 200);
  std::string code;
  REQUIRE(projd::testing::Run("curl -s -o /dev/null -I -w '%{http_code}' http://127.0.0.1:" +
                                  std::to_string(p->port()) + "/",
                              &code) == 0);
  // The dashboard: without a token 401 (only /healthz and /readyz need none), its body still
  // the page, which asks for one; with any valid token 200. (503: built without it.)
  CHECK((code == "401" || code == "503"));
  auto page = p->Call("GET", "/");
  if (page.status != 503) {
    CHECK(page.status == 401);
    CHECK(page.body.find("<html") != std::string::npos);
    CHECK(p->Call("GET", "/", "", {{"Authorization", "Bearer met"}}).status == 200);
    CHECK(p->Call("GET", "/", "", {{"Authorization", "Bearer wrong"}}).status == 401);
  }
  CHECK(p->Call("GET", "/metrics").status == 401);
  CHECK(p->Call("GET", "/v1/views").status == 401);
}

TEST_CASE("full-scan queries run on their own pool: liveness and point reads stay fast",
          "[embedded]") {
  std::string data;
  std::string dir = Folder("query-pool", R"(
projection wide { from "w" key event.k on * { n = event.n  pad = event.pad } }
)",
                           &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  // 60,000 rows of ~240 bytes: 14 MB, more than the embedded broker keeps of a partition
  // (about 5 MiB; it deletes the oldest events past that). Produced 15,000 at a time, each part
  // read by the view before the next, so that none is deleted before the view read it (the
  // view would then be held, stalled, and never catch up).
  std::string pad(200, 'p');
  for (int part = 0; part < 4; ++part) {
    std::vector<std::string> events;
    for (int i = part * 15000; i < (part + 1) * 15000; ++i) {
      events.push_back("{\"k\":\"k" + std::to_string(i) + "\",\"n\":" + std::to_string(i) +
                       ",\"pad\":\"" + pad + "\"}");
    }
    ProduceValues(p->embedded_brokers(), "w", events);
    REQUIRE(p->WaitCaughtUp("wide", (part + 1) * 15000, std::chrono::seconds(120)));
  }
  // 16 clients, each running full scans back to back (a where on an unindexed field).
  std::atomic<bool> stop{false};
  std::atomic<int> scans{0}, busy{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        auto r = p->Call("POST", "/v1/query", "from wide where n < 0 select count()");
        if (r.status == 200) ++scans;
        if (r.status == 503) ++busy;
      }
    });
  }
  struct Joiner {
    std::atomic<bool>* stop;
    std::vector<std::thread>* threads;
    ~Joiner() {
      *stop = true;
      for (auto& t : *threads) t.join();
    }
  } joiner{&stop, &clients};
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::vector<double> health_ms, read_ms;
  for (int i = 0; i < 100; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    CHECK(p->Call("GET", "/healthz").status == 200);
    auto t1 = std::chrono::steady_clock::now();
    CHECK(p->Call("GET", "/v1/views/wide/rows/k" + std::to_string(i * 17)).status == 200);
    auto t2 = std::chrono::steady_clock::now();
    health_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    read_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::sort(health_ms.begin(), health_ms.end());
  std::sort(read_ms.begin(), read_ms.end());
  INFO("healthz p99 " << health_ms[98] << " ms, point read p99 " << read_ms[98] << " ms, " << scans
                      << " scans done, " << busy << " answered busy");
  CHECK(scans > 0);  // the scans ran (how many depends on the build: ASan is slow)
  // The contract's bound is 50 ms; the test machine is shared and noisy, so allow twice that
  // here (on the code before the pool, healthz took seconds). bench/ reports the real figure.
  CHECK(health_ms[98] < 100);
  CHECK(read_ms[98] < 100);
}

TEST_CASE("a damaged store or CURRENT file stops projd with a message naming the file",
          "[embedded]") {
  std::string data;
  std::string dir = Folder("damaged", R"(
projection d { from "d" key event.k on * { n += 1 } }
)",
                           &data);
  std::string error;
  {
    auto p = ProjdProcess::StartIn(dir, {}, &error);
    REQUIRE(p);
    std::vector<std::string> events;
    for (int i = 0; i < 20000; ++i) events.push_back("{\"k\":\"key" + std::to_string(i) + "\"}");
    ProduceValues(p->embedded_brokers(), "d", events);
    REQUIRE(p->WaitCaughtUp("d", 20000));
    CHECK(p->Terminate() == 0);
  }
  std::string args = "--projections " + dir + "/projections --data " + data;
  std::string file = data + "/views/d/gen-1/data.mdb";
  std::string saved = projd::testing::ReadFile(file);
  REQUIRE(saved.size() > 100000);
  std::string out;
  // Half the file: a clear error, exit 1, no SIGBUS.
  fs::resize_file(file, saved.size() / 2);
  CHECK(RunProjd(args, &out) == 1);
  CHECK(out.find(file) != std::string::npos);
  CHECK(out.find("truncated") != std::string::npos);
  // Empty: never silently an empty view.
  fs::resize_file(file, 0);
  CHECK(RunProjd(args, &out) == 1);
  CHECK(out.find(file + " is damaged") != std::string::npos);
  // Garbage.
  projd::testing::WriteFile(file, std::string(65536, 'g'));
  CHECK(RunProjd(args, &out) == 1);
  CHECK(out.find(file + " is damaged") != std::string::npos);
  // Random bytes over pages the store uses (LMDB keeps no checksums: without a check it
  // asserts and aborts, faults, or reads garbage as rows): refused, naming the file, never a
  // crash. The pages: the root of LMDB's table of tables, which the meta page of the latest
  // transaction names (page 0 or 1: an 8-byte root at byte 128, the transaction id at 144), and
  // the pages after it.
  auto u64 = [&saved](size_t at) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(saved[at + i]);
    return v;
  };
  size_t meta = u64(4096 + 144) > u64(144) ? 4096 : 0;
  uint64_t root = u64(meta + 128);
  INFO("root of the table of tables: page " << root);
  REQUIRE(root >= 2);
  REQUIRE((root + 1) * 4096 <= saved.size());
  std::mt19937 rng(11);
  for (size_t pages : {size_t{1}, size_t{4}}) {
    std::string damaged = saved;
    for (size_t i = root * 4096; i < (root + pages) * 4096 && i < damaged.size(); ++i) {
      damaged[i] = static_cast<char>(rng());
    }
    projd::testing::WriteFile(file, damaged);
    INFO(pages << " pages from the root");
    CHECK(RunProjd(args, &out) == 1);
    CHECK(out.find(file + " is damaged") != std::string::npos);
  }
  // The store file gone while CURRENT names its generation: refused, not an empty view.
  fs::remove(file);
  CHECK(RunProjd(args, &out) == 1);
  CHECK(out.find(file + " is missing") != std::string::npos);
  // The file back whole, and CURRENT garbled: refused too, and the data is still there.
  projd::testing::WriteFile(file, saved);
  projd::testing::WriteFile(data + "/views/d/CURRENT", "\x01garbage");
  CHECK(RunProjd(args, &out) == 1);
  CHECK(out.find(data + "/views/d/CURRENT is damaged") != std::string::npos);
  CHECK(fs::file_size(file) == saved.size());
  // CURRENT gone altogether: refused as well (it was taken for a new view, and the store
  // wiped for a catch-up from offset 0).
  fs::remove(data + "/views/d/CURRENT");
  CHECK(RunProjd(args, &out) == 1);
  CHECK(out.find(data + "/views/d/CURRENT is missing") != std::string::npos);
  CHECK(fs::file_size(file) == saved.size());
  projd::testing::WriteFile(data + "/views/d/CURRENT", "gen-1\n");
  auto p = ProjdProcess::StartIn(dir, {}, &error, "projd2.log");
  REQUIRE(p);
  CHECK(FieldText(p->GetJson("/v1/views/d"), "rows") == "20000");
}

TEST_CASE("one projd per data folder: a second one exits 1 naming the holder's pid", "[embedded]") {
  std::string data;
  std::string dir = Folder("lock", R"(
projection l { from "l" key event.k on * { n += 1 } }
)",
                           &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  std::string out;
  CHECK(RunProjd("--projections " + dir + "/projections --data " + data, &out) == 1);
  CHECK(out.find("in use by another projd (pid " + std::to_string(p->pid()) + ")") !=
        std::string::npos);
  CHECK(p->Call("GET", "/healthz").status == 200);
  // Once the first is gone (even by kill -9), the folder is free again.
  p->Kill9();
  p = ProjdProcess::StartIn(dir, {}, &error, "projd2.log");
  CHECK(p);
}

TEST_CASE("a stored position beyond the log end fails the view until it is rebuilt", "[embedded]") {
  std::string data;
  std::string dir = Folder("beyond", R"(
projection b { from "b" key event.k on * { n += 1 } }
)",
                           &data);
  std::string error;
  auto start = [&](const std::string& log) {
    return ProjdProcess::StartIn(dir, {"--partitions", "1"}, &error, log);
  };
  auto p = start("projd.log");
  REQUIRE(p);
  std::vector<std::string> events;
  for (int i = 0; i < 50; ++i) events.push_back("{\"k\":\"k" + std::to_string(i % 5) + "\"}");
  ProduceValues(p->embedded_brokers(), "b", events);
  REQUIRE(p->WaitCaughtUp("b", 50));
  CHECK(p->Terminate() == 0);
  // The embedded broker keeps nothing across restarts: the topic comes back empty, as a
  // recreated topic would. 10 new events: the stored position 50 lies beyond the log end 10.
  p = start("projd2.log");
  REQUIRE(p);
  ProduceValues(p->embedded_brokers(), "b", std::vector<std::string>(10, "{\"k\":\"new\"}"));
  REQUIRE(WaitState(*p, "b", "failed"));
  Value st = p->GetJson("/v1/views/b");
  std::string reason = FieldText(st, "reason");
  CHECK(reason.find("b:0:50 is beyond the partition's log end") != std::string::npos);
  CHECK(p->Call("GET", "/readyz").status == 503);
  CHECK(p->Call("POST", "/v1/views/b/skip").status == 409);
  // A rebuild reads the new log from offset 0 and swaps in.
  CHECK(p->Call("POST", "/v1/views/b/rebuild").status == 202);
  REQUIRE(WaitState(*p, "b", "live"));
  auto row = p->GetJson("/v1/views/b/rows/new");
  CHECK(projd::ToJson(*row.as_object().Find("row")) == "{\"n\":10}");
  CHECK(p->Call("GET", "/v1/views/b/rows/k1").status == 404);
  CHECK(p->Call("GET", "/readyz").status == 200);
}

TEST_CASE("SIGTERM with Kafka unreachable: the view with stored offsets stops at once, exit 0",
          "[embedded]") {
  std::string data;
  std::string dir = Folder("term-unreachable", R"(
projection t { from "t" key event.k on * { n += 1 } }
)",
                           &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {"--partitions", "1"}, &error);
  REQUIRE(p);
  std::vector<std::string> events;
  for (int i = 0; i < 20; ++i) events.push_back("{\"k\":\"k" + std::to_string(i % 4) + "\"}");
  ProduceValues(p->embedded_brokers(), "t", events);
  REQUIRE(p->WaitCaughtUp("t", 20));
  CHECK(p->Terminate() == 0);
  // Again with its offsets stored, and no broker where --brokers points: the Kafka client
  // cannot close (nor commit to its group), which must not hold up the stop (SPEC: SIGTERM
  // finishes the batch in hand, commits, exits 0).
  p = ProjdProcess::StartIn(dir, {"--brokers", "127.0.0.1:1"}, &error, "projd2.log");
  REQUIRE(p);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  auto t0 = std::chrono::steady_clock::now();
  CHECK(p->Terminate(std::chrono::seconds(25)) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("the open files limit is raised, the connection cap kept below it", "[embedded]") {
  std::string data;
  std::string dir = Folder("nofile", R"(
projection f { from "f" key event.k on * { n += 1 } }
)",
                           &data);
  // Soft limit 256, hard 600: projd raises the soft one to 600 and caps connections below it.
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl;
    rl.rlim_cur = 256;
    rl.rlim_max = 600;
    setrlimit(RLIMIT_NOFILE, &rl);
    std::string log = dir + "/projd.log";
    FILE* f = fopen(log.c_str(), "a");
    if (f) dup2(fileno(f), 2);
    std::string projections = dir + "/projections";
    execl(PROJD_BIN, PROJD_BIN, "--projections", projections.c_str(), "--data", data.c_str(),
          "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string log;
  for (int i = 0; i < 200 && log.find("HTTP API listening") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = projd::testing::ReadFile(dir + "/projd.log");
  }
  std::string limits = projd::testing::ReadFile("/proc/" + std::to_string(pid) + "/limits");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  INFO(log);
  CHECK(log.find("HTTP connections capped at 440 (not 1024): the open files limit is 600") !=
        std::string::npos);
  size_t at = limits.find("Max open files");
  REQUIRE(at != std::string::npos);
  std::istringstream fields(limits.substr(at + 14));
  std::string soft, hard;
  fields >> soft >> hard;
  CHECK(soft == "600");
  CHECK(hard == "600");
  CHECK(WIFEXITED(status));
}

TEST_CASE("a full disk stalls the view with 'no space left on device', then resumes exact",
          "[embedded]") {
  std::string data;
  std::string dir = Folder("disk-full", R"(
projection big { from "big" key event.k on * { pad = event.pad  n += 1 } }
)",
                           &data);
  fs::create_directories(data);
  std::string out;
  // A small file system of its own (tmpfs needs root; elsewhere the case is not run).
  if (projd::testing::Run("mount -t tmpfs -o size=3m projd-test " + data, &out) != 0) {
    WARN("cannot mount a tmpfs here (" + out + "): full-disk case not run");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() {
      std::string ignored;
      projd::testing::Run("umount -l " + path, &ignored);
    }
  } unmount{data};
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  std::vector<std::string> events;
  // About 4.5 MB in all: more than the 3 MB file system holds once in LMDB, less than the
  // embedded broker keeps of one partition (5 MiB: past it the oldest events are dropped,
  // unread if the view has not fetched them yet).
  std::string pad(650, 'p');
  for (int i = 0; i < 6000; ++i) {
    events.push_back("{\"k\":\"k" + std::to_string(i) + "\",\"pad\":\"" + pad + "\"}");
  }
  ProduceValues(p->embedded_brokers(), "big", events);
  REQUIRE(WaitState(*p, "big", "stalled"));
  std::string reason = FieldText(p->GetJson("/v1/views/big"), "reason");
  CHECK(reason.find("no space left on device") != std::string::npos);
  CHECK(reason.find(data + "/views/big/gen-1/data.mdb") != std::string::npos);
  CHECK(p->Call("GET", "/healthz").status == 200);
  // Room again: the view resumes where it stopped, nothing lost, nothing twice.
  REQUIRE(projd::testing::Run("mount -o remount,size=256m " + data, &out) == 0);
  REQUIRE(p->WaitCaughtUp("big", 6000, std::chrono::seconds(120)));
  CHECK(FieldText(p->GetJson("/v1/views/big"), "rows") == "6000");
  CHECK(FieldText(p->GetJson("/v1/views/big"), "events_applied") == "6000");
  CHECK(p->Terminate() == 0);
}
