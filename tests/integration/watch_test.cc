// projctl watch end to end: the real projctl following the real projd's change feed, across a
// kill -9 and restart of projd. The events live in the embedded broker of a second projd, which
// keeps running while the watched one is killed (an embedded broker keeps nothing across its
// own restarts).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "connectors/source.h"
#include "dsl/value.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;

const char kAccounts[] = R"(
projection accounts {
  from "bank"
  key event.account
  on Deposited { balance += event.amount }
}
)";

// A free loopback port (bound, then released), for a projd that must come back on it.
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

// Deposits of 1..n cents in turn to acc-0..acc-9 (keyed by account); *truth sums them.
void Deposit(const std::string& brokers, int first, int n, std::map<std::string, int64_t>* truth) {
  std::string error;
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (int i = first; i < first + n; ++i) {
    std::string acc = "acc-" + std::to_string(i % 10);
    (*truth)[acc] += i + 1;
    REQUIRE(producer->ProduceAsync(
        "bank", acc,
        R"({"type":"Deposited","account":")" + acc + R"(","amount":)" + std::to_string(i + 1) + "}",
        &error));
  }
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
}

// `projctl watch ...` as a child process, its stdout and stderr in files.
class WatchProcess {
 public:
  WatchProcess(const std::string& server, const std::vector<std::string>& args,
               const std::string& out)
      : out_(out), err_(out + ".err") {
    std::vector<std::string> argv = {PROJCTL_BIN, "--server", server, "watch"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      FILE* o = fopen(out_.c_str(), "w");
      FILE* e = fopen(err_.c_str(), "w");
      if (o) dup2(fileno(o), 1);
      if (e) dup2(fileno(e), 2);
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
  }
  ~WatchProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The complete lines it printed.
  std::vector<std::string> Lines() const {
    std::string text = projd::testing::ReadFile(out_);
    std::vector<std::string> lines;
    std::istringstream in(text.substr(0, text.rfind('\n') + 1));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  std::string Stderr() const { return projd::testing::ReadFile(err_); }
  bool WaitLines(size_t n, std::chrono::seconds timeout = std::chrono::seconds(60)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Lines().size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Lines().size() >= n;
  }
  // Its exit code once it exits (-1: not within `timeout`, or it died of a signal).
  int Wait(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  // SIGTERM; the exit code.
  int Stop() {
    kill(pid_, SIGTERM);
    return Wait(std::chrono::seconds(10));
  }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
};

// What the printed lines hold: each a change, each event (partition:offset) once, in offset
// order per partition, and the rows they leave.
struct Printed {
  std::set<std::string> events;
  int64_t duplicates = 0, out_of_order = 0, not_changes = 0;
  std::map<std::string, int64_t> balance;
  std::set<std::string> keys;
  explicit Printed(const std::vector<std::string>& lines) {
    std::map<int64_t, int64_t> last;
    for (const auto& line : lines) {
      Value v;
      std::string error;
      if (!projd::ParseJson(line, &v, &error) || !v.is_object() || !v.as_object().Find("key") ||
          !v.as_object().Find("position") || !v.as_object().Find("updated_by")) {
        ++not_changes;
        continue;
      }
      const Value& by = *v.as_object().Find("updated_by");
      int64_t part = -1, off = -1;
      by.as_object().Find("partition")->as_number().ToInt64(&part);
      by.as_object().Find("offset")->as_number().ToInt64(&off);
      if (!events.insert(std::to_string(part) + ":" + std::to_string(off)).second) ++duplicates;
      if (last.count(part) && last[part] >= off) ++out_of_order;
      last[part] = off;
      std::string key = projd::testing::FieldText(v, "key");
      keys.insert(key);
      const Value& row = *v.as_object().Find("row");
      row.as_object().Find("balance")->as_number().ToInt64(&balance[key]);
    }
  }
};

void CheckAll(const Printed& p, size_t total, const std::map<std::string, int64_t>& truth) {
  CHECK(p.not_changes == 0);
  CHECK(p.duplicates == 0);
  CHECK(p.out_of_order == 0);
  CHECK(p.events.size() == total);
  CHECK(p.balance == truth);
}

}  // namespace

TEST_CASE("projctl watch prints each change once and resumes across kill -9 and a restart",
          "[embedded]") {
  std::string error;
  std::string dir = projd::testing::TempDir("watch");
  std::filesystem::create_directories(dir + "/broker/projections");
  std::filesystem::create_directories(dir + "/projections");
  projd::testing::WriteFile(dir + "/broker/projections/unused.proj",
                            "projection unused { from \"unused\" key event.k on * { n += 1 } }\n");
  projd::testing::WriteFile(dir + "/projections/accounts.proj", kAccounts);
  auto broker = ProjdProcess::Start(
      {"--projections", dir + "/broker/projections", "--data", dir + "/broker/data"},
      dir + "/broker.log", &error);
  REQUIRE(broker);
  std::string brokers = broker->embedded_brokers();
  uint16_t port = FreePort();
  std::string server = "http://127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {"--projections",
                                   dir + "/projections",
                                   "--data",
                                   dir + "/data",
                                   "--brokers",
                                   brokers,
                                   "--group",
                                   "watch-test",
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--changes-heartbeat-ms",
                                   "200"};
  auto p = ProjdProcess::Start(args, dir + "/projd.log", &error);
  REQUIRE(p);
  // 1000 changes, about 200 KB of lines: more than a pipe holds (for | head below).
  std::map<std::string, int64_t> truth;
  Deposit(brokers, 0, 1000, &truth);
  REQUIRE(p->WaitCaughtUp("accounts", 1000));

  // From earliest: every change, in order, and no heartbeat lines; SIGTERM ends it with 0.
  {
    WatchProcess w(server, {"accounts", "--from", "earliest"}, dir + "/all.out");
    REQUIRE(w.WaitLines(1000));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // heartbeats come meanwhile
    CHECK(w.Stop() == 0);
    CheckAll(Printed(w.Lines()), 1000, truth);
    CHECK(w.Stderr().empty());
  }
  // --key: one row's changes only.
  {
    WatchProcess w(server, {"accounts", "--from", "earliest", "--key", "acc-3"}, dir + "/key.out");
    REQUIRE(w.WaitLines(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(w.Stop() == 0);
    Printed printed(w.Lines());
    CHECK(printed.events.size() == 100);
    CHECK(printed.keys == std::set<std::string>{"acc-3"});
    CHECK(printed.balance["acc-3"] == truth["acc-3"]);
  }
  // | head -n 5: five lines, then a quiet exit 0 on the closed pipe.
  std::string out;
  std::string rc_file = dir + "/head.rc";
  projd::testing::Run("{ timeout 60 " + std::string(PROJCTL_BIN) + " --server " + server +
                          " watch accounts --from earliest; echo $? >" + rc_file +
                          "; } | head -n 5",
                      &out);
  std::vector<std::string> head;
  std::istringstream head_lines(out);
  for (std::string l; std::getline(head_lines, l);) head.push_back(l);
  CHECK(head.size() == 5);
  CHECK(Printed(head).events.size() == 5);
  CHECK(projd::testing::ReadFile(rc_file) == "0\n");
  // Errors before the stream: exit 1, the error on stderr.
  CHECK(projd::testing::Run(std::string(PROJCTL_BIN) + " --server " + server +
                                " watch accounts --where 'balance >'",
                            &out) == 1);
  CHECK(out.find("400 bad where") != std::string::npos);
  CHECK(out.find("column 10") != std::string::npos);
  CHECK(projd::testing::Run(std::string(PROJCTL_BIN) + " --server " + server + " watch nope",
                            &out) == 1);
  CHECK(out.find("404 unknown view") != std::string::npos);

  // kill -9 while events arrive and the watcher follows, a restart on the same port and
  // data, more events: every change printed exactly once.
  WatchProcess w(server, {"accounts", "--from", "earliest"}, dir + "/restart.out");
  REQUIRE(w.WaitLines(1000));
  std::thread producer([&] {
    for (int i = 0; i < 20; ++i) {
      Deposit(brokers, 1000 + i * 50, 50, &truth);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  CHECK(w.WaitLines(1300));
  p->Kill9();
  producer.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  p = ProjdProcess::Start(args, dir + "/projd2.log", &error);
  REQUIRE(p);
  Deposit(brokers, 2000, 200, &truth);
  REQUIRE(p->WaitCaughtUp("accounts", 2200));
  REQUIRE(w.WaitLines(2200));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // no line twice, late or not
  std::string log = w.Stderr();
  CHECK(w.Stop() == 0);
  CheckAll(Printed(w.Lines()), 2200, truth);
  CHECK(log.find("reconnecting in 0.2 s from bank:") != std::string::npos);

  // A changed definition: once the rebuilt view swaps in, the watcher stops with exit 3 and
  // the rebuilt line on stderr.
  WatchProcess r(server, {"accounts"}, dir + "/rebuilt.out");
  for (int i = 0; i < 100; ++i) {
    auto metrics = p->Call("GET", "/metrics");
    if (metrics.body.find("projd_subscribers{view=\"accounts\"} 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string proj = kAccounts;
  proj.replace(proj.find("balance += event.amount"), 23, "balance += event.amount * 2");
  projd::testing::WriteFile(dir + "/projections/accounts.proj", proj);
  p->Signal(SIGHUP);
  CHECK(r.Wait(std::chrono::seconds(60)) == 3);
  CHECK(r.Stderr().find("{\"position\":\"bank:") != std::string::npos);
  CHECK(r.Stderr().find("\"rebuilt\":") != std::string::npos);
  CHECK(p->Terminate() == 0);
}
