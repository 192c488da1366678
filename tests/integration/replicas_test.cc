// Replicas behind nginx, end to end ([kafka]): two projd with the same projection and the real
// Kafka broker, each with its own data folder and consumer group, behind a real nginx started
// from deploy/nginx/projd-replicas.conf. Reads through the proxy survive kill -9 of a replica,
// read-your-own-writes holds through the proxy, and a restarted replica converges.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "connectors/source.h"
#include "tests/integration/harness.h"

namespace {

namespace fs = std::filesystem;
using projd::Value;
using projd::testing::ProjdProcess;

const char kAcct[] = R"(
projection acct {
  from "TOPIC"
  key event.k
  on * { total += event.n  count += 1  last = event.i }
}
)";

constexpr int kKeys = 200;

std::string AcctOn(const std::string& topic) {
  std::string proj = kAcct;
  proj.replace(proj.find("TOPIC"), 5, topic);
  return proj;
}

std::string EventJson(const std::string& key, int i) {
  return "{\"k\":\"" + key + "\",\"n\":" + std::to_string(i % 97) +
         ".25,\"i\":" + std::to_string(i) + "}";
}

// Events [from, to) over kKeys keys, keyed by their row key (so partitioned by it).
void Produce(const std::string& brokers, const std::string& topic, int from, int to) {
  std::string error;
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (int i = from; i < to; ++i) {
    std::string key = "k" + std::to_string(i % kKeys);
    REQUIRE(producer->ProduceAsync(topic, key, EventJson(key, i), &error));
  }
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
}

using projd::testing::KafkaOrSkip;

using projd::testing::UniqueTopic;

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick).
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  REQUIRE(ok);
  return ntohs(addr.sin_port);
}

// The nginx program: $PROJD_NGINX, or Debian's.
std::string NginxBinary() {
  const char* env = std::getenv("PROJD_NGINX");
  if (env && *env) return env;
  for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

// Replaces every occurrence of `from`; fails the test when there is none (the deploy file
// changed shape and the test must follow).
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  INFO("deploy/nginx/projd-replicas.conf no longer contains " << from);
  REQUIRE(at != std::string::npos);
  while (at != std::string::npos) {
    text.replace(at, from.size(), to);
    at = text.find(from, at + to.size());
  }
  return text;
}

// nginx in the foreground as a child process, from deploy/nginx/projd-replicas.conf with the
// replicas' ports and the listen port substituted. Stopped (SIGTERM, then SIGKILL) when
// destroyed.
class Nginx {
 public:
  Nginx(const std::string& prefix, uint16_t port_a, uint16_t port_b) : prefix_(prefix) {
    std::string bin = NginxBinary();
    if (bin.empty()) FAIL("nginx not found (Debian package nginx; scripts/install-deps.sh)");
    port_ = FreePort();
    std::string site = projd::testing::ReadFile(std::string(PROJD_SOURCE_DIR) +
                                                "/deploy/nginx/projd-replicas.conf");
    REQUIRE(!site.empty());
    site = ReplaceAll(site, "127.0.0.1:8081", "127.0.0.1:" + std::to_string(port_a));
    site = ReplaceAll(site, "127.0.0.1:8082", "127.0.0.1:" + std::to_string(port_b));
    site = ReplaceAll(site, "listen 8080;", "listen 127.0.0.1:" + std::to_string(port_) + ";");
    projd::testing::WriteFile(prefix + "/projd-replicas.conf", site);
    // The main file around it, as Debian's nginx.conf includes conf.d/*.conf in http {}.
    std::string conf = "error_log " + prefix + "/error.log warn;\n" +
                       "worker_processes 1;\n"
                       "events { worker_connections 1024; }\n"
                       "http {\n"
                       "  access_log " +
                       prefix + "/access.log;\n";
    for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
      conf += std::string("  ") + t + "_temp_path " + prefix + "/" + t + ";\n";
    }
    conf += "  include " + prefix + "/projd-replicas.conf;\n}\n";
    projd::testing::WriteFile(prefix + "/nginx.conf", conf);
    std::string globals = "daemon off; pid " + prefix + "/nginx.pid;";
    std::vector<std::string> args = {bin,  "-p",   prefix, "-c", prefix + "/nginx.conf",
                                     "-g", globals};
    pid_ = fork();
    if (pid_ == 0) {
      FILE* log = fopen((prefix + "/nginx.out").c_str(), "a");
      if (log) {
        dup2(fileno(log), 1);
        dup2(fileno(log), 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    REQUIRE(pid_ > 0);
  }
  ~Nginx() { Stop(); }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  uint16_t port() const { return port_; }
  std::string Logs() const {
    return projd::testing::ReadFile(prefix_ + "/nginx.out") +
           projd::testing::ReadFile(prefix_ + "/error.log");
  }
  bool Running() {
    int status;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
    return pid_ > 0;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);  // fast shutdown: the master stops its workers
    int status;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  std::string prefix_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

projd::HttpClientResult Get(uint16_t port, const std::string& target,
                            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  projd::HttpClientResult r;
  std::string error;
  if (!projd::HttpCall("127.0.0.1", port, "GET", target, headers, "",
                       std::chrono::milliseconds(150000), &r, &error)) {
    r.status = 0;
    r.body = error;
  }
  return r;
}

std::string Header(const projd::HttpClientResult& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string Field(const std::string& json, const std::string& name) {
  Value v;
  std::string error;
  if (!projd::ParseJson(json, &v, &error) || !v.is_object()) return "(not JSON)";
  const Value* f = v.as_object().Find(name);
  if (!f) return "(none)";
  return f->is_string() ? f->as_string() : projd::ToJson(*f);
}

// The view's checksum answer of one replica: "POSITION DIGEST".
std::string Checksum(uint16_t port) {
  auto r = Get(port, "/v1/views/acct/checksum");
  REQUIRE(r.status == 200);
  return Field(r.body, "position") + " " + Field(r.body, "digest");
}

// Point reads a replica answered with 200, from its /metrics.
int64_t RowReads(uint16_t port) {
  auto r = Get(port, "/metrics");
  int64_t n = 0;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("projd_http_requests_total{", 0) == 0 &&
        line.find("/rows/{key}\"") != std::string::npos &&
        line.find("code=\"200\"") != std::string::npos) {
      n += std::stoll(line.substr(line.rfind(' ') + 1));
    }
  }
  return n;
}

// Reads random rows through the proxy until `count` reads are done or *stop; counts failures
// (anything but 200) and keeps the first few for the report.
struct Reader {
  std::atomic<int> done{0}, failed{0};
  std::mutex mu;
  std::vector<std::string> failures;

  void Run(uint16_t port, int count, const std::atomic<bool>* stop, uint32_t seed,
           std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    std::mt19937 rng(seed);
    for (int i = 0; i < count && !*stop; ++i) {
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      std::string key = "k" + std::to_string(rng() % kKeys);
      auto r = Get(port, "/v1/views/acct/rows/" + key);
      if (r.status != 200 || Header(r, "x-projd-position").empty()) {
        ++failed;
        std::lock_guard<std::mutex> lock(mu);
        if (failures.size() < 5) {
          failures.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
        }
      }
      ++done;
    }
  }
};

// Stops and joins a helper thread however the test leaves its scope.
class ThreadGuard {
 public:
  ThreadGuard(std::atomic<bool>* stop, std::thread* t) : stop_(stop), t_(t) {}
  ~ThreadGuard() {
    *stop_ = true;
    if (t_->joinable()) t_->join();
  }

 private:
  std::atomic<bool>* stop_;
  std::thread* t_;
};

bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

TEST_CASE(
    "replicas: two projd behind nginx survive kill -9, read-your-own-writes holds, "
    "a restarted replica converges",
    "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  if (NginxBinary().empty())
    FAIL("nginx not found (Debian package nginx; scripts/install-deps.sh)");
  std::string topic = UniqueTopic("replicas");
  std::string dir = projd::testing::ProjectionFolder("replicas", "acct.proj", AcctOn(topic));
  fs::create_directories(dir + "/nginx");
  std::string error;
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 4, &error));
  int total = 5000;
  Produce(brokers, topic, 0, total);

  // Two replicas: same projections and brokers, own data folder, own consumer group, a fixed
  // port each (nginx names them; a restarted replica comes back on the same one).
  uint16_t port_a = FreePort(), port_b = FreePort();
  auto args = [&](const std::string& name, uint16_t port) {
    return std::vector<std::string>{"--projections", dir + "/projections",
                                    "--data",        dir + "/data-" + name,
                                    "--brokers",     brokers,
                                    "--group",       topic + "-" + name,
                                    "--listen",      "127.0.0.1:" + std::to_string(port)};
  };
  auto a = ProjdProcess::Start(args("a", port_a), dir + "/projd-a.log", &error);
  REQUIRE(a);
  auto b = ProjdProcess::Start(args("b", port_b), dir + "/projd-b.log", &error);
  REQUIRE(b);
  REQUIRE(a->WaitCaughtUp("acct", total, std::chrono::seconds(120)));
  REQUIRE(b->WaitCaughtUp("acct", total, std::chrono::seconds(120)));
  // The same position and the same rows (digest) on both.
  std::string sum_a = Checksum(port_a);
  CHECK(sum_a == Checksum(port_b));
  CHECK(sum_a.size() > 64);

  Nginx nginx(dir + "/nginx", port_a, port_b);
  uint16_t proxy = nginx.port();
  REQUIRE(WaitFor([&] { return !nginx.Running() || Get(proxy, "/healthz").status == 200; },
                  std::chrono::seconds(30)));
  INFO("nginx logs: " << nginx.Logs());
  REQUIRE(nginx.Running());

  // Through the proxy: X-Projd-Position comes back, and X-Projd-Min-Position reaches projd (a
  // position never reached gives projd's own 504, after a try on each replica).
  auto first = Get(proxy, "/v1/views/acct/rows/k7");
  REQUIRE(first.status == 200);
  CHECK(Header(first, "x-projd-position").find(topic + ":") == 0);
  auto never = Get(proxy, "/v1/views/acct/rows/k7?wait_ms=200",
                   {{"X-Projd-Min-Position", topic + ":0:999999999"}});
  CHECK(never.status == 504);
  CHECK(Field(never.body, "error") == "min_position not reached within wait_ms");
  auto reached =
      Get(proxy, "/v1/views/acct/rows/k7?wait_ms=5000", {{"X-Projd-Min-Position", topic + ":0:1"}});
  CHECK(reached.status == 200);

  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  int ryw_count = 0, ryw_ok = 0;
  // One event for key "ryw", its offset from the delivery report, then a read through the
  // proxy that must include it.
  auto ryw = [&](const std::string& when) {
    ++ryw_count;
    int32_t part = -1;
    int64_t off = -1;
    REQUIRE(
        producer->Produce(topic, -1, "ryw", EventJson("ryw", ryw_count), 0, &part, &off, &error));
    ++total;
    std::string pos = topic + ":" + std::to_string(part) + ":" + std::to_string(off + 1);
    auto r = Get(proxy, "/v1/views/acct/rows/ryw?wait_ms=30000&min_position=" + pos);
    Value v;
    std::string perr;
    bool ok =
        r.status == 200 && projd::ParseJson(r.body, &v, &perr) && v.is_object() &&
        v.as_object().Find("row") &&
        Field(projd::ToJson(*v.as_object().Find("row")), "count") == std::to_string(ryw_count);
    if (ok) {
      ++ryw_ok;
    } else {
      UNSCOPED_INFO("read-your-own-writes " << ryw_count << " (" << when << "): " << r.status << " "
                                            << r.body.substr(0, 300));
    }
  };

  for (int i = 0; i < 5; ++i) ryw("both replicas up");

  // 2,000 reads through the proxy; replica b gets kill -9 after the first 500.
  Reader reader;
  std::atomic<bool> stop{false};
  std::thread reads([&] { reader.Run(proxy, 2000, &stop, 1); });
  ThreadGuard reads_guard(&stop, &reads);
  REQUIRE(WaitFor([&] { return reader.done >= 500; }, std::chrono::seconds(120)));
  // Both replicas answer reads through the proxy.
  CHECK(RowReads(port_a) > 0);
  CHECK(RowReads(port_b) > 0);
  b->Kill9();
  int done_at_kill = reader.done;
  // Read-your-own-writes while b is down, during the reads.
  for (int i = 0; i < 10; ++i) ryw("replica b down");
  REQUIRE(WaitFor([&] { return reader.done >= 2000; }, std::chrono::seconds(300)));
  reads.join();
  std::string failures;
  for (const auto& f : reader.failures) failures += f + "\n";
  INFO("failed reads:\n" << failures << "nginx logs:\n" << nginx.Logs());
  CHECK(reader.done == 2000);
  CHECK(done_at_kill < 2000);
  CHECK(reader.failed == 0);

  // More events while b is down, then b restarts from its data folder and catches up; reads and
  // read-your-own-writes go on meanwhile.
  Produce(brokers, topic, 100000, 102000);
  total += 2000;
  // Reads go on (paced, until b has caught up and at least 1,000 are done) while b restarts.
  Reader reader2;
  std::atomic<bool> stop2{false};
  std::thread reads2([&] { reader2.Run(proxy, 100000, &stop2, 2, std::chrono::milliseconds(2)); });
  ThreadGuard reads2_guard(&stop2, &reads2);
  b = ProjdProcess::Start(args("b", port_b), dir + "/projd-b.log", &error);
  REQUIRE(b);
  for (int i = 0; i < 10; ++i) ryw("replica b restarting");
  REQUIRE(b->WaitCaughtUp("acct", total, std::chrono::seconds(120)));
  for (int i = 0; i < 5; ++i) ryw("replica b caught up");
  REQUIRE(WaitFor([&] { return reader2.done >= 1000; }, std::chrono::seconds(300)));
  stop2 = true;
  reads2.join();
  failures.clear();
  for (const auto& f : reader2.failures) failures += f + "\n";
  INFO("failed reads during the restart:\n" << failures << "nginx logs:\n" << nginx.Logs());
  CHECK(reader2.failed == 0);
  CHECK(RowReads(port_b) > 0);  // the restarted replica is back in the proxy's rotation
  CHECK(ryw_ok == ryw_count);

  // Converged: the same position (every event produced) and the same rows on both.
  REQUIRE(a->WaitCaughtUp("acct", total, std::chrono::seconds(120)));
  REQUIRE(b->WaitCaughtUp("acct", total, std::chrono::seconds(120)));
  std::string final_a = Checksum(port_a);
  CHECK(final_a == Checksum(port_b));
  CHECK(final_a != sum_a);
  CHECK(Header(Get(port_a, "/v1/views/acct/rows/k1"), "x-projd-position") ==
        Header(Get(port_b, "/v1/views/acct/rows/k1"), "x-projd-position"));
  CHECK(nginx.Running());
}
