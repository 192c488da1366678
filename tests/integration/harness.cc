#include "tests/integration/harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "connectors/source.h"

namespace projd::testing {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("projd-test-" + std::to_string(getpid())) / name;
  std::error_code ec;
  fs::remove_all(p, ec);
  fs::create_directories(p);
  return p.string();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ProjectionFolder(const std::string& name, const std::string& file,
                             const std::string& text) {
  std::string dir = TempDir(name);
  fs::create_directories(dir + "/projections");
  WriteFile(dir + "/projections/" + file, text);
  return dir;
}

std::string RealKafka() {
  const char* b = std::getenv("PROJD_KAFKA_BROKERS");
  return b ? b : "";
}

std::string KafkaOrSkip() {
  std::string b = RealKafka();
  if (b.empty()) {
    const char* req = std::getenv("PROJD_KAFKA_REQUIRED");
    if (req && *req) FAIL("PROJD_KAFKA_REQUIRED is set but PROJD_KAFKA_BROKERS is not");
    WARN("PROJD_KAFKA_BROKERS not set: real-broker test not run (scripts/test.sh sets it)");
  }
  return b;
}

std::string UniqueTopic(const std::string& base) {
  return base + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 100000);
}

void ProduceValues(const std::string& brokers, const std::string& topic,
                   const std::vector<std::string>& values) {
  std::string error;
  auto producer = Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (const auto& v : values) REQUIRE(producer->ProduceAsync(topic, "", v, &error));
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
}

std::string FieldText(const Value& v, const std::string& name) {
  const Value* f = v.is_object() ? v.as_object().Find(name) : nullptr;
  if (!f) return "(none)";
  return f->is_string() ? f->as_string() : ToJson(*f);
}

int Run(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return -1;
  std::array<char, 4096> buf;
  output->clear();
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) output->append(buf.data(), n);
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::unique_ptr<ProjdProcess> ProjdProcess::StartIn(const std::string& dir,
                                                    const std::vector<std::string>& more,
                                                    std::string* error, const std::string& log) {
  std::vector<std::string> args = {"--projections", dir + "/projections", "--data", dir + "/data"};
  args.insert(args.end(), more.begin(), more.end());
  return Start(args, dir + "/" + log, error);
}

std::unique_ptr<ProjdProcess> ProjdProcess::Start(const std::vector<std::string>& args,
                                                  const std::string& log_path, std::string* error) {
  std::vector<std::string> full = {PROJD_BIN};
  bool has_listen = false;
  for (const auto& a : args) has_listen = has_listen || a == "--listen";
  full.insert(full.end(), args.begin(), args.end());
  if (!has_listen) {
    full.push_back("--listen");
    full.push_back("127.0.0.1:0");
  }
  auto p = std::unique_ptr<ProjdProcess>(new ProjdProcess());
  p->log_path_ = log_path;
  pid_t pid = fork();
  if (pid == 0) {
    FILE* log = fopen(log_path.c_str(), "a");
    if (log) {
      dup2(fileno(log), 2);
      dup2(fileno(log), 1);
    }
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  size_t seen = ReadFile(log_path).size();  // appended logs of earlier runs do not count
  while (std::chrono::steady_clock::now() < deadline) {
    std::string log = ReadFile(log_path).substr(std::min(seen, ReadFile(log_path).size()));
    // HOST:PORT after a marker, in text or JSON log lines alike.
    auto address_after = [&log](const std::string& marker) -> std::string {
      size_t at = log.find(marker);
      if (at == std::string::npos) return "";
      size_t b = at + marker.size(), e = b;
      while (e < log.size() &&
             std::string("0123456789abcdef.:[]").find(log[e]) != std::string::npos) {
        ++e;
      }
      return log.substr(b, e - b);
    };
    std::string addr = address_after("HTTP API listening on ");
    if (!addr.empty() && addr.find(':') != std::string::npos) {
      p->port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
      p->embedded_ = address_after("embedded Kafka broker listening on ");
      return p;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      *error = "projd exited early: " + log;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *error = "projd did not start listening within 30 s: " + ReadFile(log_path);
  return nullptr;
}

ProjdProcess::~ProjdProcess() {
  if (pid_ > 0) Terminate(std::chrono::seconds(10));
}

std::string ProjdProcess::Log() const { return ReadFile(log_path_); }

void ProjdProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

void ProjdProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int ProjdProcess::Terminate(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill9();
  return -1;
}

HttpClientResult ProjdProcess::Call(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpClientResult r;
  std::string error;
  if (!HttpCall("127.0.0.1", port_, method, target, headers, body, std::chrono::milliseconds(70000),
                &r, &error)) {
    r.status = 0;
    r.body = error;
  }
  return r;
}

Value ProjdProcess::GetJson(const std::string& target, int* status) {
  HttpClientResult r = Call("GET", target, "", json_headers_);
  if (status) *status = r.status;
  Value v;
  std::string error;
  if (!ParseJson(r.body, &v, &error)) return Value::String(r.body);
  return v;
}

bool ProjdProcess::WaitCaughtUp(const std::string& view, int64_t min_events,
                                std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    Value v = GetJson("/v1/views/" + view, &status);
    if (status == 200 && v.is_object()) {
      const Object& o = v.as_object();
      int64_t lag = -1, total = 0;
      bool known = true;
      o.Find("lag_events")->as_number().ToInt64(&lag);
      const Value* parts = o.Find("partitions");
      for (const auto& p : parts->as_array()) {
        int64_t pos = 0;
        p.as_object().Find("position")->as_number().ToInt64(&pos);
        total += pos;
        known = known && !p.as_object().Find("high_watermark")->is_null();
      }
      if (lag == 0 && known && !parts->as_array().empty() && total >= min_events) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool ProjdProcess::WaitRebuilt(const std::string& view, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int status = 0;
    Value v = GetJson("/v1/views/" + view, &status);
    const Value* rebuild = status == 200 && v.is_object() ? v.as_object().Find("rebuild") : nullptr;
    if (rebuild && rebuild->is_null()) return true;
  }
  return false;
}

}  // namespace projd::testing
