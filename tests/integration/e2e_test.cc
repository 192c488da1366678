// End to end: the real projd program, LMDB files, HTTP on loopback, and Kafka — the embedded
// broker ([embedded]) or the real Apache Kafka broker of the test rig ([kafka]).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "connectors/position.h"
#include "connectors/source.h"
#include "dsl/time.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::ProjdProcess;

const char kBalances[] = R"(
projection balances {
  from "bank"
  key event.account
  time event.ts
  on Opened { balance = 0  owner = event.owner }
  on Deposited { balance += event.amount  deposits += 1 }
  on Withdrawn { balance -= event.amount  withdrawals += 1 }
  on Closed { delete }
}
)";

// Sends `bytes` on one connection to 127.0.0.1:port and returns what comes back until the
// server closes it.
std::string Exchange(uint16_t port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// The responses in `wire`, each whole (head and body), split by their Content-Length.
std::vector<std::string> SplitResponses(const std::string& wire) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < wire.size()) {
    size_t end = wire.find("\r\n\r\n", pos);
    if (end == std::string::npos) break;
    size_t length = 0;
    size_t cl = wire.find("Content-Length: ", pos);
    if (cl != std::string::npos && cl < end) length = std::stoul(wire.substr(cl + 16));
    out.push_back(wire.substr(pos, end + 4 + length - pos));
    pos = end + 4 + length;
  }
  return out;
}

// The value of one series of /metrics (NAME{LABELS}), or nothing when it is absent.
std::optional<int64_t> MetricValue(ProjdProcess& p, const std::string& series) {
  auto m = p.Call("GET", "/metrics");
  size_t at = m.body.find(series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stoll(m.body.substr(at + series.size() + 1));
}

// projd_http_requests_total for a route and status code (0 when absent).
int64_t RequestsCounted(ProjdProcess& p, const std::string& route, int code) {
  return MetricValue(p, "projd_http_requests_total{route=\"" + route + "\",code=\"" +
                            std::to_string(code) + "\"}")
      .value_or(0);
}

// What the test knows independently of projd: balances in cents and event counts.
struct Truth {
  std::map<std::string, int64_t> cents, deposits, withdrawals;
};

struct Event {
  std::string key, value;
};

std::string Cents(int64_t c) {
  std::string sign = c < 0 ? "-" : "";
  if (c < 0) c = -c;
  std::string frac = std::to_string(c % 100);
  if (frac.size() < 2) frac = "0" + frac;
  return sign + std::to_string(c / 100) + "." + frac;
}

std::vector<Event> MakeEvents(int n, int accounts, uint32_t seed, Truth* truth, int start = 0) {
  std::mt19937 rng(seed);
  std::vector<Event> out;
  for (int i = start; i < n + start; ++i) {
    std::string acc = "acc-" + std::to_string(rng() % static_cast<uint32_t>(accounts));
    std::string day = std::to_string(1 + i % 28);
    std::string ts = "\"2025-07-" + (day.size() == 1 ? "0" + day : day) + "T10:00:00Z\"";
    if (!truth->cents.count(acc)) {
      truth->cents[acc] = 0;
      truth->deposits[acc] = 0;
      truth->withdrawals[acc] = 0;
      out.push_back({acc, "{\"type\":\"Opened\",\"account\":\"" + acc +
                              "\",\"owner\":\"o\",\"ts\":" + ts + "}"});
      continue;
    }
    int64_t c = static_cast<int64_t>(rng() % 100000) + 1;
    bool deposit = rng() % 2 == 0;
    truth->cents[acc] += deposit ? c : -c;
    (deposit ? truth->deposits : truth->withdrawals)[acc] += 1;
    out.push_back({acc, std::string("{\"type\":\"") + (deposit ? "Deposited" : "Withdrawn") +
                            "\",\"account\":\"" + acc + "\",\"amount\":" + Cents(c) +
                            ",\"ts\":" + ts + "}"});
  }
  return out;
}

void Produce(const std::string& brokers, const std::string& topic, const std::vector<Event>& ev) {
  std::string error;
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (const auto& e : ev) REQUIRE(producer->ProduceAsync(topic, e.key, e.value, &error));
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
}

// All rows of a view over HTTP, following cursors.
std::map<std::string, Value> AllRows(ProjdProcess& p, const std::string& view) {
  std::map<std::string, Value> rows;
  std::string cursor;
  while (true) {
    std::string target = "/v1/views/" + view + "/rows?limit=1000";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    int status = 0;
    Value v = p.GetJson(target, &status);
    REQUIRE(status == 200);
    for (const auto& r : v.as_object().Find("rows")->as_array()) {
      rows[r.as_object().Find("key")->as_string()] = *r.as_object().Find("row");
    }
    const Value* next = v.as_object().Find("next_cursor");
    if (next->is_null()) break;
    cursor = next->as_string();
  }
  return rows;
}

void CheckTruth(ProjdProcess& p, const Truth& truth) {
  auto rows = AllRows(p, "balances");
  REQUIRE(rows.size() == truth.cents.size());
  int mismatches = 0;
  for (const auto& [acc, cents] : truth.cents) {
    auto it = rows.find(acc);
    if (it == rows.end()) {
      ++mismatches;
      continue;
    }
    const projd::Object& row = it->second.as_object();
    projd::Decimal want;
    projd::Decimal::Parse(Cents(cents), &want);
    const Value* bal = row.Find("balance");
    const Value* dep = row.Find("deposits");
    const Value* wd = row.Find("withdrawals");
    bool ok = bal && bal->is_number() && bal->as_number() == want;
    ok = ok && (truth.deposits.at(acc) == 0
                    ? dep == nullptr
                    : dep && projd::ToJson(*dep) == std::to_string(truth.deposits.at(acc)));
    ok = ok && (truth.withdrawals.at(acc) == 0
                    ? wd == nullptr
                    : wd && projd::ToJson(*wd) == std::to_string(truth.withdrawals.at(acc)));
    if (!ok) {
      if (mismatches < 5) {
        UNSCOPED_INFO(acc << ": want balance " << Cents(cents) << " deposits "
                          << truth.deposits.at(acc) << " withdrawals " << truth.withdrawals.at(acc)
                          << ", got " << projd::ToJson(it->second));
      }
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

int64_t TotalEvents(const std::vector<Event>& ev) { return static_cast<int64_t>(ev.size()); }

std::string Setup(const std::string& name, std::string* data) {
  std::string dir = projd::testing::ProjectionFolder(name, "balances.proj", kBalances);
  *data = dir + "/data";
  return dir;
}

using projd::testing::UniqueTopic;

// The balances projection reading `topic`.
std::string BalancesOn(const std::string& topic) {
  std::string proj = kBalances;
  proj.replace(proj.find("\"bank\""), 6, "\"" + topic + "\"");
  return proj;
}

// A test folder with the balances projection on a fresh topic of the real broker.
std::string SetupKafka(const std::string& name, const std::string& brokers, int partitions,
                       std::string* data, std::string* topic) {
  std::string dir = Setup(name, data);
  *topic = UniqueTopic(name);
  projd::testing::WriteFile(dir + "/projections/balances.proj", BalancesOn(*topic));
  std::string error;
  if (!projd::CreateKafkaTopic(brokers, *topic, partitions, &error)) FAIL(error);
  return dir;
}

// Stops and joins a helper thread however the test leaves its scope (a failed REQUIRE
// throws past it; a joinable std::thread would terminate the test program).
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

using projd::testing::FieldText;
using projd::testing::KafkaOrSkip;

}  // namespace

TEST_CASE("embedded broker: produce, read rows over HTTP, dead letters, positions", "[embedded]") {
  std::string data;
  std::string dir = Setup("embedded", &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  REQUIRE(!p->embedded_brokers().empty());
  Truth truth;
  auto events = MakeEvents(3000, 40, 1, &truth);
  // Malformed events in between: each becomes a dead letter, and the view moves on.
  events.push_back({"acc-1", "not json at all"});
  events.push_back({"acc-1", "[1,2]"});
  events.push_back({"acc-1", "{\"type\":\"Deposited\",\"account\":\"acc-1\",\"amount\":\"x\"}"});
  events.push_back({"", "{\"type\":\"Deposited\",\"amount\":1}"});
  Produce(p->embedded_brokers(), "bank", events);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  CheckTruth(*p, truth);

  // A plain keep-alive GET of a row takes the quick path; the same read with one more header
  // field (X-Trace) goes the general way: the same bytes, both counted for the route.
  const std::string route = "GET /v1/views/{view}/rows/{key}";
  int64_t counted = RequestsCounted(*p, route, 200);
  std::vector<std::string> answers = SplitResponses(Exchange(
      p->port(),
      "GET /v1/views/balances/rows/acc-1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
      "GET /v1/views/balances/rows/acc-1 HTTP/1.1\r\nHost: x\r\nX-Trace: 1\r\n\r\n"
      "GET /v1/views/balances/rows/acc-3 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /v1/views/balances/rows/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  REQUIRE(answers.size() == 4);
  CHECK(answers[0].rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answers[0] == answers[1]);
  CHECK(answers[2].find("\"key\":\"acc-3\"") != std::string::npos);
  CHECK(answers[3].rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(RequestsCounted(*p, route, 200) == counted + 3);

  // HEAD on a GET route: the GET's head (its Content-Length, X-Projd-Position) without the
  // body, and the connection goes on; on a streamed one (a change feed) the head alone too.
  std::string wire = Exchange(p->port(),
                              "HEAD /v1/views/balances/rows/acc-3 HTTP/1.1\r\nHost: x\r\n\r\n"
                              "HEAD /v1/views/balances/changes HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /v1/views/balances/rows/acc-3 HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n");
  size_t first_end = wire.find("\r\n\r\n") + 4;
  size_t second_end = wire.find("\r\n\r\n", first_end) + 4;
  std::string head_row = wire.substr(0, first_end);
  std::string head_feed = wire.substr(first_end, second_end - first_end);
  std::string get_row = wire.substr(second_end);
  INFO(wire);
  CHECK(head_row.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head_row.find("X-Projd-Position: bank:") != std::string::npos);
  CHECK(head_feed.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head_feed.find("application/x-ndjson") != std::string::npos);
  REQUIRE(get_row.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  auto content_length = [](const std::string& head) {
    size_t at = head.find("Content-Length: ");
    return at == std::string::npos ? std::string("none")
                                   : head.substr(at + 16, head.find('\r', at) - at - 16);
  };
  CHECK(content_length(head_row) == content_length(get_row));
  CHECK(get_row.find("\"key\":\"acc-3\"") != std::string::npos);

  int status = 0;
  Value dl = p->GetJson("/v1/views/balances/dead-letters", &status);
  REQUIRE(status == 200);
  CHECK(dl.as_object().Find("dead_letters")->as_array().size() == 4);
  auto row = p->Call("GET", "/v1/views/balances/rows/acc-1");
  CHECK(row.status == 200);
  bool has_position = false;
  for (const auto& [k, v] : row.headers) {
    if (k == "x-projd-position") has_position = v.find("bank:") == 0;
  }
  CHECK(has_position);
  Value rv;
  std::string perr;
  REQUIRE(projd::ParseJson(row.body, &rv, &perr));
  CHECK(projd::ToJson(*rv.as_object().Find("dead_letters")) == "1");
  CHECK(rv.as_object().Find("updated_by")->as_object().Find("topic")->as_string() == "bank");

  // Errors are JSON with a status.
  CHECK(p->Call("GET", "/v1/views/nope").status == 404);
  CHECK(p->Call("GET", "/v1/views/balances/rows/no-such-key").status == 404);
  CHECK(p->Call("GET", "/v1/views/balances/rows?limit=abc").status == 400);
  CHECK(p->Call("GET", "/v1/views/balances/rows/acc-1?min_position=garbage").status == 400);
  CHECK(p->Call("POST", "/v1/views/balances/rows/acc-1").status == 405);
  CHECK(p->Call("GET", "/healthz").status == 200);
  CHECK(p->Call("GET", "/readyz").status == 200);
  // limit= and wait_ms=: any larger whole number, however many digits, counts as the most; a
  // wait_ms that is not a whole number is 400 whether or not a min_position asks for a wait.
  auto all = p->Call("GET", "/v1/views/balances/rows?limit=99999999999999999999");
  CHECK(all.status == 200);
  CHECK(all.body.find("\"key\":\"acc-39\"") != std::string::npos);
  for (const std::string bad : {"abc", "-1", "", "1.5"}) {
    for (const std::string& target :
         {"/v1/views/balances/rows/acc-1?wait_ms=" + bad, "/v1/views/balances/rows?wait_ms=" + bad,
          "/v1/views/balances/rows/acc-1?min_position=&wait_ms=" + bad,
          "/v1/query?q=from%20balances&wait_ms=" + bad}) {
      auto r = p->Call("GET", target);
      INFO(target << ": " << r.body);
      CHECK(r.status == 400);
      CHECK(r.body.find("\"error\":\"bad wait_ms\"") != std::string::npos);
    }
  }

  // Read-your-own-writes: a deposit's offset from its delivery report, then a read that waits.
  auto producer = projd::Producer::Create(p->embedded_brokers(), {}, &error);
  REQUIRE(producer);
  for (int i = 0; i < 20; ++i) {
    int32_t part;
    int64_t off;
    REQUIRE(producer->Produce(
        "bank", -1, "acc-ryw",
        i == 0
            ? R"({"type":"Opened","account":"acc-ryw","ts":"2025-07-01T00:00:00Z"})"
            : R"({"type":"Deposited","account":"acc-ryw","amount":1,"ts":"2025-07-01T00:00:00Z"})",
        0, &part, &off, &error));
    std::string pos = "bank:" + std::to_string(part) + ":" + std::to_string(off + 1);
    auto r = p->Call("GET", "/v1/views/balances/rows/acc-ryw?wait_ms=30000&min_position=" + pos);
    REQUIRE(r.status == 200);
    Value v;
    REQUIRE(projd::ParseJson(r.body, &v, &perr));
    CHECK(projd::ToJson(*v.as_object().Find("row")->as_object().Find("balance")) ==
          std::to_string(i));
  }
  // A position that is never reached: 504 after wait_ms, with the current position.
  auto t0 = std::chrono::steady_clock::now();
  auto r = p->Call("GET", "/v1/views/balances/rows/acc-1?min_position=bank:0:999999999&wait_ms=300",
                   "", {});
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(r.status == 504);
  CHECK(waited >= std::chrono::milliseconds(250));
  CHECK(r.body.find("\"position\"") != std::string::npos);
  // A partition named twice counts with its larger offset, in either order.
  for (const char* pos : {"bank:0:999999999,bank:0:1", "bank:0:1,bank:0:999999999"}) {
    auto twice = p->Call(
        "GET", std::string("/v1/views/balances/rows/acc-1?wait_ms=200&min_position=") + pos);
    CHECK(twice.status == 504);
  }
  // The same through the header.
  r = p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=100", "",
              {{"X-Projd-Min-Position", "bank:0:999999999"}});
  CHECK(r.status == 504);
  // Every parameter and header field counts, whichever comes first (only the first did: a
  // stale read at once); items may be separated by ", " as HTTP joins repeated fields.
  CHECK(p->Call("GET",
                "/v1/views/balances/rows/"
                "acc-1?wait_ms=100&min_position=bank:0:1&min_position=bank:0:999999999")
            .status == 504);
  CHECK(p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=100&min_position=bank:0:1", "",
                {{"X-Projd-Min-Position", "bank:0:999999999"}})
            .status == 504);
  CHECK(
      p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=100", "",
              {{"X-Projd-Min-Position", "bank:0:1"}, {"X-Projd-Min-Position", "bank:0:999999999"}})
          .status == 504);
  CHECK(p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=100", "",
                {{"X-Projd-Min-Position", "bank:0:1, bank:0:2"}})
            .status == 200);
  // A byte no Kafka topic name holds: 400, not a wait for a topic the view does not consume.
  r = p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=100", "",
              {{"X-Projd-Min-Position", "\xff:0:5"}});
  CHECK(r.status == 400);
  CHECK(r.body.find("bad min_position") != std::string::npos);
  // A wait_ms past the most counts as 60000: a position reached answers at once.
  std::string reached;
  for (const auto& [k, v] : row.headers) {
    if (k == "x-projd-position") reached = v;
  }
  REQUIRE(!reached.empty());
  r = p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=99999999999999999999&min_position=" +
                         projd::PercentEncode(reached));
  CHECK(r.status == 200);
  // A topic the view does not consume is never reached: the 504 of a wait that ran out, at
  // once (not after wait_ms), with the view's position and the reason naming the topic; by
  // query parameter, header or query alike. Its offset 0 asks for nothing.
  t0 = std::chrono::steady_clock::now();
  r = p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=30000&min_position=bank:0:1,other:2:5");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  CHECK(r.status == 504);
  CHECK(r.body.find("\"error\":\"min_position not reached within wait_ms\"") != std::string::npos);
  CHECK(r.body.find("\"position\":") != std::string::npos);
  CHECK(r.body.find("does not consume topic other (its topics: bank)") != std::string::npos);
  CHECK(r.body.find("other:2:5") != std::string::npos);
  bool positioned = false;
  for (const auto& [k, v] : r.headers) positioned = positioned || k == "x-projd-position";
  CHECK(positioned);
  r = p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=30000", "",
              {{"X-Projd-Min-Position", "other:0:1"}});
  CHECK(r.status == 504);
  r = p->Call("POST", "/v1/query?wait_ms=30000&min_position=other:0:1", "from balances");
  CHECK(r.status == 504);
  CHECK(r.body.find("does not consume topic other") != std::string::npos);
  // Answers about a known view carry its position, errors included: a query that does not
  // compile, a DELETE of a loaded view; one about no view, none.
  auto carries_position = [](const projd::HttpClientResult& res) {
    for (const auto& [k, v] : res.headers) {
      if (k == "x-projd-position") return v.rfind("bank:", 0) == 0;
    }
    return false;
  };
  r = p->Call("POST", "/v1/query", "from balances where nope == 1");
  CHECK(r.status == 400);
  CHECK(carries_position(r));
  r = p->Call("DELETE", "/v1/views/balances");
  CHECK(r.status == 409);
  CHECK(carries_position(r));
  r = p->Call("POST", "/v1/query", "from nothing_here");
  CHECK(r.status == 400);
  CHECK_FALSE(carries_position(r));
  CHECK(p->Call("GET", "/v1/views/balances/rows/acc-1?min_position=other:0:0").status == 200);
  // A partition the view does not know of, on its topic, may still come: it is waited for.
  r = p->Call("GET", "/v1/views/balances/rows/acc-1?wait_ms=200&min_position=bank:99:5");
  CHECK(r.status == 504);

  // SIGTERM: finish, commit, exit 0; the data stays.
  CHECK(p->Terminate() == 0);
  p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  Value again = p->GetJson("/v1/views/balances/rows/acc-1", &status);
  CHECK(status == 200);
}

// projd on the embedded broker with one view, `ticks`, whose one row `k` counts the events of
// topic "ticks": its `n` is the number of events applied.
std::unique_ptr<ProjdProcess> StartTicks(const std::string& name, std::string* dir_out = nullptr) {
  std::string dir = projd::testing::ProjectionFolder(name, "t.proj", R"(
projection ticks {
  from "ticks"
  key event.k
  on Tick { n += 1 }
}
)");
  if (dir_out) *dir_out = dir;
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  INFO(error);
  REQUIRE(p);
  return p;
}

// Produces ticks to the ticks view in flushes of `per_flush` events, `pause` apart, until
// `stop` is set or `total` (when not 0) are produced; `produced` counts them.
void ProduceTicks(const std::string& brokers, int per_flush, std::chrono::microseconds pause,
                  int64_t total, const std::atomic<bool>& stop, std::atomic<int64_t>* produced) {
  std::string error;
  auto producer = projd::Producer::Create(brokers, {}, &error);
  while (producer && !stop && (total == 0 || *produced < total)) {
    for (int i = 0; i < per_flush && (total == 0 || *produced < total); ++i) {
      if (producer->ProduceAsync("ticks", "k", R"({"type":"Tick","k":"k"})", &error)) {
        ++*produced;
      }
    }
    producer->Flush(std::chrono::seconds(30), &error);
    std::this_thread::sleep_for(pause);
  }
}

// A read of the ticks row: its count, the position it came with (X-Projd-Position), and the
// events that position covers (the sum of its next offsets). false when the answer is not a
// 200 with a row; a header that is not a position throws. An empty header is the empty
// position: the view had applied nothing when the read began (its row may still be found, as
// the position is taken before the read).
bool ReadTicks(const projd::HttpClientResult& r, int64_t* count, int64_t* covered,
               projd::Position* at = nullptr) {
  if (r.status != 200) return false;
  projd::Position position;
  for (const auto& [k, v] : r.headers) {
    std::string error;
    if (k == "x-projd-position" && !v.empty() && !projd::Position::Parse(v, &position, &error)) {
      throw std::runtime_error("X-Projd-Position " + v + ": " + error);
    }
  }
  *covered = 0;
  for (const auto& [tp, next] : position) *covered += next;
  if (at) *at = position;
  Value v;
  std::string error;
  if (!projd::ParseJson(r.body, &v, &error)) return false;
  *count = std::stoll(FieldText(*v.as_object().Find("row"), "n"));
  return true;
}

TEST_CASE("a read's X-Projd-Position never claims more than its answer holds, during writes",
          "[embedded]") {
  // The position a read names may be at most the count it returns.
  auto p = StartTicks("position-order");
  constexpr int64_t kEvents = 60000;
  std::atomic<bool> give_up{false};
  std::atomic<int64_t> produced{0};
  std::thread producer_thread([&] {
    // Small flushes: many small commits while the reads run.
    ProduceTicks(p->embedded_brokers(), 20, std::chrono::microseconds(200), kEvents, give_up,
                 &produced);
  });
  ThreadGuard producer_guard(&give_up, &producer_thread);
  int reads = 0, ahead = 0, moving = 0;
  int64_t last_count = -1;
  auto check = [&](const projd::HttpClientResult& r) {
    int64_t count = 0, position = 0;
    if (!ReadTicks(r, &count, &position)) return;  // before the row's first event
    ++reads;
    if (count != last_count) ++moving;
    last_count = count;
    if (position > count) {
      ++ahead;
      UNSCOPED_INFO("position covers " << position << " events with n = " << count);
    }
  };
  while (produced < kEvents) {
    check(p->Call("GET", "/v1/views/ticks/rows/k"));                          // the quick path
    check(p->Call("GET", "/v1/views/ticks/rows/k", "", {{"X-Trace", "1"}}));  // the general one
  }
  if (producer_thread.joinable()) producer_thread.join();
  REQUIRE(p->WaitCaughtUp("ticks", kEvents));
  check(p->Call("GET", "/v1/views/ticks/rows/k"));
  CHECK(last_count == kEvents);
  CHECK(moving > 20);  // the reads ran while the row changed
  CHECK(ahead == 0);
}

TEST_CASE("rebuilds under steady writes: a reader never sees the view go back", "[embedded]") {
  // Events keep arriving while the view is rebuilt three times; a reader asks for the row that
  // counts them all the while: its count and the position it is given never go down — the
  // rebuilt view takes over only once it has reached the serving one. Another reader waits
  // for positions (min_position) throughout: every wait is answered 200, across the swaps.
  auto p = StartTicks("rebuild-monotonic");
  std::atomic<bool> stop{false};
  std::atomic<int64_t> produced{0};
  std::thread producer_thread([&] {
    // At most 2,000 events a second: a rebuild replays all of them while more arrive, and has to
    // reach the serving view to take over; an unbounded rate grows each replay with the
    // machine's speed (a sanitizer build on a loaded machine fell behind it).
    ProduceTicks(p->embedded_brokers(), 20, std::chrono::milliseconds(10), 0, stop, &produced);
  });
  ThreadGuard producer_guard(&stop, &producer_thread);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, count_back{0}, position_back{0}, failed{0};
  std::thread reader([&] {
    int64_t last_count = 0, last_position = 0;
    while (!done) {
      auto r = p->Call("GET", "/v1/views/ticks/rows/k");
      if (r.status == 404 && last_count == 0) continue;  // before the first event
      int64_t count = 0, position = 0;
      if (!ReadTicks(r, &count, &position)) {
        ++failed;
        continue;
      }
      ++reads;
      if (count < last_count) ++count_back;
      if (position < last_position) ++position_back;
      last_count = std::max(last_count, count);
      last_position = std::max(last_position, position);
    }
  });
  ThreadGuard reader_guard(&done, &reader);
  // Read-your-own-writes meanwhile: each read asks for one event more than the last answer
  // named. A wait on the serving view when it is swapped out goes on on the rebuilt one.
  std::atomic<int> waits{0}, wait_failed{0};
  std::thread waiter([&] {
    std::string next;  // the last position seen, its largest offset one further
    while (!done) {
      auto r = p->Call("GET", "/v1/views/ticks/rows/k" +
                                  (next.empty() ? "" : "?wait_ms=4000&min_position=" + next));
      if (r.status == 404 && next.empty()) continue;  // before the first event
      if (r.status != 200) {
        ++wait_failed;
        UNSCOPED_INFO("min_position " << next << ": " << r.status << " " << r.body);
        continue;
      }
      ++waits;
      int64_t count = 0, covered = 0;
      projd::Position at;
      ReadTicks(r, &count, &covered, &at);
      auto best = std::max_element(
          at.begin(), at.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
      projd::Position want;
      if (best != at.end()) want[best->first] = best->second + 1;
      next = projd::PercentEncode(want.ToString());
    }
  });
  ThreadGuard waiter_guard(&done, &waiter);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // /metrics' counters never go down while projd runs, across the swaps; the rebuilds' replays
  // are no event-to-visible latencies (their events were visible already).
  auto metric = [&p](const std::string& series) {
    std::string body = p->Call("GET", "/metrics").body;
    size_t at = body.find("\n" + series + " ");
    return at == std::string::npos ? int64_t{-1} : std::stoll(body.substr(at + series.size() + 2));
  };
  const std::string applied = "projd_events_applied_total{view=\"ticks\"}";
  const std::string visible = "projd_event_to_visible_seconds_count{view=\"ticks\"}";
  int64_t last_applied = metric(applied), last_visible = metric(visible);
  int metric_back = 0;
  for (int rebuild = 0; rebuild < 3; ++rebuild) {
    REQUIRE(p->Call("POST", "/v1/views/ticks/rebuild").status == 202);
    const auto began = std::chrono::steady_clock::now();
    const bool rebuilt = p->WaitRebuilt("ticks");
    const int64_t a = metric(applied), v = metric(visible);
    UNSCOPED_INFO("after rebuild " << rebuild << " (" << (rebuilt ? "done" : "still running")
                                   << " after "
                                   << std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - began)
                                          .count()
                                   << " ms): applied_total " << a << ", to_visible count " << v);
    REQUIRE(rebuilt);
    if (a < last_applied || v < last_visible) ++metric_back;
    last_applied = a;
    last_visible = v;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  done = true;
  if (reader.joinable()) reader.join();
  if (waiter.joinable()) waiter.join();
  stop = true;
  if (producer_thread.joinable()) producer_thread.join();
  REQUIRE(p->WaitCaughtUp("ticks", produced));
  INFO("reads " << reads << ", waits " << waits << ", events " << produced);
  CHECK(reads > 100);
  CHECK(waits > 100);
  CHECK(failed == 0);
  CHECK(wait_failed == 0);
  CHECK(count_back == 0);
  CHECK(position_back == 0);
  CHECK(metric_back == 0);
  CHECK(metric(applied) >= 2 * produced);  // live, then at least the last rebuild's replay
  CHECK(metric(visible) <= produced);      // live events only
  int status = 0;
  Value row = p->GetJson("/v1/views/ticks/rows/k", &status);
  CHECK(FieldText(*row.as_object().Find("row"), "n") == std::to_string(produced.load()));
  CHECK(p->Log().find("rebuild done") != std::string::npos);
}

TEST_CASE("a rebuild asked for while one runs is refused and leaves the running one whole",
          "[embedded]") {
  std::string dir;
  auto p = StartTicks("rebuild-twice", &dir);
  constexpr int64_t kEvents = 100000;  // within what the embedded broker keeps
  std::atomic<bool> no_stop{false};
  std::atomic<int64_t> produced{0};
  ProduceTicks(p->embedded_brokers(), 5000, std::chrono::microseconds(0), kEvents, no_stop,
               &produced);
  REQUIRE(p->WaitCaughtUp("ticks", kEvents));
  auto first = p->Call("POST", "/v1/views/ticks/rebuild");
  INFO(first.body);
  CHECK(first.status == 202);
  auto again = p->Call("POST", "/v1/views/ticks/rebuild");
  CHECK(again.status == 409);
  CHECK(again.body.find("already running") != std::string::npos);
  REQUIRE(p->WaitRebuilt("ticks"));
  // The generation that serves now is on disk, whole: a restart serves it as it is.
  std::string current = projd::testing::ReadFile(dir + "/data/views/ticks/CURRENT");
  while (!current.empty() && (current.back() == '\n' || current.back() == ' ')) current.pop_back();
  INFO("CURRENT: " << current);
  CHECK(std::filesystem::exists(dir + "/data/views/ticks/" + current + "/data.mdb"));
  REQUIRE(p->Terminate() == 0);
  std::string error;
  p = ProjdProcess::StartIn(dir, {}, &error, "projd2.log");
  REQUIRE(p);
  int status = 0;
  Value row = p->GetJson("/v1/views/ticks/rows/k", &status);
  CHECK(status == 200);
  CHECK(FieldText(*row.as_object().Find("row"), "n") == std::to_string(kEvents));
}

TEST_CASE("a query that waits for a position and then needs the query pool is answered",
          "[embedded]") {
  // 1,000 rows: a scan of them all is more than an HTTP thread's first try, so the query moves
  // to the query pool after its min_position wait and runs again there.
  auto p = StartTicks("query-wait-pool");
  std::vector<Event> events;
  for (int i = 0; i < 1000; ++i) {
    std::string k = "k" + std::to_string(i);
    events.push_back({k, R"({"type":"Tick","k":")" + k + R"("})"});
  }
  Produce(p->embedded_brokers(), "ticks", events);
  REQUIRE(p->WaitCaughtUp("ticks", 1000));
  std::string position;
  for (const auto& [k, v] : p->Call("GET", "/v1/views/ticks").headers) {
    if (k == "x-projd-position") position = v;
  }
  REQUIRE(!position.empty());
  std::string query = projd::PercentEncode("from ticks where n >= 1 select count()");
  auto get = p->Call("GET", "/v1/query?q=" + query +
                                "&wait_ms=2000&min_position=" + projd::PercentEncode(position));
  INFO(get.body);
  CHECK(get.status == 200);
  CHECK(get.body.find("1000") != std::string::npos);
  auto post =
      p->Call("POST", "/v1/query?wait_ms=2000&min_position=" + projd::PercentEncode(position),
              "from ticks where n >= 1 select count()");
  INFO(post.body);
  CHECK(post.status == 200);
  // Not reached: 504 after wait_ms, not a dropped request.
  auto late = p->Call("GET", "/v1/query?q=" + query + "&wait_ms=100&min_position=ticks:0:999999");
  CHECK(late.status == 504);
}

TEST_CASE("a long query text is compiled on the query pool: /healthz answers meanwhile",
          "[embedded]") {
  // One HTTP thread: a query compiled there would hold every other request meanwhile.
  std::string dir = projd::testing::ProjectionFolder(
      "query-long-text", "t.proj",
      "projection ticks { from \"ticks\" key event.k on Tick { n += 1 } }\n");
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {"--http-threads", "1"}, &error);
  REQUIRE(p);
  Produce(p->embedded_brokers(), "ticks", {{"k", R"({"type":"Tick","k":"k"})"}});
  REQUIRE(p->WaitCaughtUp("ticks", 1));
  // 50 select items of 900 additions each (about 90 KB, each item within the language's bounds
  // on one expression): compiling it takes a second or more.
  std::string query = "from ticks select ";
  for (int i = 0; i < 50; ++i) {
    if (i > 0) query += ", ";
    for (int t = 0; t < 900; ++t) query += "1+";
    query += "1 as a" + std::to_string(i);
  }
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> done{false};
  projd::HttpClientResult answer;
  auto start = Clock::now();
  std::thread client([&] {
    answer = p->Call("POST", "/v1/query", query);
    done = true;
  });
  std::atomic<bool> unused{false};
  ThreadGuard client_guard(&unused, &client);
  Clock::duration slowest{};
  int probes = 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the query is on its way
  while (!done) {
    auto t0 = Clock::now();
    CHECK(p->Call("GET", "/healthz").status == 200);
    slowest = std::max(slowest, Clock::now() - t0);
    ++probes;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  client.join();
  auto took = Clock::now() - start;
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  INFO(probes << " /healthz probes while the query ran " << ms(took) << " ms; the slowest took "
              << ms(slowest) << " ms");
  CHECK(answer.status == 200);
  CHECK(answer.body.find("\"a49\":901") != std::string::npos);
  if (took < std::chrono::milliseconds(1500)) {
    WARN("the query compiled in " << ms(took) << " ms: too fast to tell where it compiled");
  }
  CHECK(probes > 0);
  CHECK(slowest < std::chrono::milliseconds(1000));
}

TEST_CASE("a broken projection keeps projd from starting and names the file", "[embedded]") {
  std::string data;
  std::string dir = Setup("broken", &data);
  projd::testing::WriteFile(dir + "/projections/bad.proj",
                            "projection bad {\n  from \"t\"\n  key event.k\n  on X { a = }\n}\n");
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  CHECK_FALSE(p);
  CHECK(error.find("bad.proj:4:") != std::string::npos);
}

// The row of `key` in `view` as JSON text, or the whole answer when it has no row.
std::string RowText(ProjdProcess& p, const std::string& view, const std::string& key) {
  int status = 0;
  Value v = p.GetJson("/v1/views/" + view + "/rows/" + key, &status);
  const Value* row = v.is_object() ? v.as_object().Find("row") : nullptr;
  if (status == 200 && row) return projd::ToJson(*row);
  return "HTTP " + std::to_string(status) + " " + projd::ToJson(v);
}

void ErrorsStopCase(bool real) {
  std::string brokers = real ? projd::testing::RealKafka() : "";
  std::string topic = real ? UniqueTopic("strict") : "strict";
  std::string data;
  std::string dir =
      projd::testing::ProjectionFolder(real ? "stop-kafka" : "stop", "strict.proj", R"(
projection strict {
  from ")" + topic + R"("
  key event.k
  errors stop
  on * { n += event.n }
}
projection lenient {
  from ")" + topic + R"("
  key event.k
  on * { n += event.n }
}
)");
  data = dir + "/data";
  std::string error;
  std::vector<std::string> args = {"--partitions", "1"};
  if (real) {
    REQUIRE(projd::CreateKafkaTopic(brokers, topic, 1, &error));
    args.push_back("--brokers");
    args.push_back(brokers);
  }
  auto p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  if (!real) brokers = p->embedded_brokers();
  Produce(
      brokers, topic,
      {{"a", R"({"k":"a","n":1})"}, {"a", R"({"k":"a","n":"bad"})"}, {"a", R"({"k":"a","n":2})"}});
  // The lenient view goes on; the strict one stops at offset 1.
  REQUIRE(p->WaitCaughtUp("lenient", 3));
  Value st;
  for (int i = 0; i < 100; ++i) {
    st = p->GetJson("/v1/views/strict");
    if (st.as_object().Find("state")->as_string() == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(st.as_object().Find("state")->as_string() == "failed");
  CHECK(projd::ToJson(*st.as_object().Find("failed_at")->as_object().Find("offset")) == "1");
  // The status carries the event the view is held at.
  CHECK(projd::ToJson(*st.as_object().Find("failed_at")->as_object().Find("event")) ==
        R"({"k":"a","n":"bad"})");
  CHECK(RowText(*p, "strict", "a") == R"({"n":1})");
  CHECK(RowText(*p, "lenient", "a") == R"({"n":3})");
  CHECK(p->Call("POST", "/v1/views/lenient/skip").status == 409);
  CHECK(p->Call("POST", "/v1/views/strict/skip").status == 202);
  REQUIRE(p->WaitCaughtUp("strict", 3));
  CHECK(RowText(*p, "strict", "a") == R"({"n":3})");
  Value dl = p->GetJson("/v1/views/strict/dead-letters");
  REQUIRE(dl.as_object().Find("dead_letters")->as_array().size() == 1);
  // The skipped event keeps the key it carried: the row says it missed an event.
  CHECK(
      projd::ToJson(*dl.as_object().Find("dead_letters")->as_array()[0].as_object().Find("key")) ==
      R"("a")");
  CHECK(projd::ToJson(*p->GetJson("/v1/views/strict/rows/a").as_object().Find("dead_letters")) ==
        "1");

  // A rebuild meets the same event: the view shows failed, where, and why, while the old view
  // serves; skip moves the rebuild past it, and the rebuilt view swaps in.
  REQUIRE(p->Call("POST", "/v1/views/strict/rebuild").status == 202);
  for (int i = 0; i < 100; ++i) {
    st = p->GetJson("/v1/views/strict");
    if (st.as_object().Find("state")->as_string() == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(projd::ToJson(st));
  REQUIRE(st.as_object().Find("state")->as_string() == "failed");
  CHECK(st.as_object().Find("reason")->as_string().rfind("rebuild stopped at a bad event", 0) == 0);
  CHECK(projd::ToJson(*st.as_object().Find("failed_at")->as_object().Find("offset")) == "1");
  CHECK(st.as_object().Find("rebuild")->is_object());
  CHECK(RowText(*p, "strict", "a") == R"({"n":3})");
  CHECK(p->Call("POST", "/v1/views/strict/skip").status == 202);
  for (int i = 0; i < 100; ++i) {
    st = p->GetJson("/v1/views/strict");
    if (st.as_object().Find("rebuild")->is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(st.as_object().Find("rebuild")->is_null());
  CHECK(st.as_object().Find("state")->as_string() == "live");
  CHECK(RowText(*p, "strict", "a") == R"({"n":3})");
  CHECK(p->GetJson("/v1/views/strict/dead-letters")
            .as_object()
            .Find("dead_letters")
            ->as_array()
            .size() == 1);
  CHECK(projd::ToJson(*p->GetJson("/v1/views/strict").as_object().Find("dead_letters")) == "1");
  // The rebuild rejected the same event again: no new dead letter to /metrics either.
  CHECK(p->Call("GET", "/metrics").body.find("\nprojd_dead_letters_total{view=\"strict\"} 1\n") !=
        std::string::npos);
  if (!real) return;  // the embedded broker keeps no events across a restart
  // The view's count of dead letters is the store's: a restart does not reset it.
  CHECK(p->Terminate() == 0);
  p = ProjdProcess::StartIn(dir, args, &error, "projd2.log");
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("strict", 3));
  CHECK(projd::ToJson(*p->GetJson("/v1/views/strict").as_object().Find("dead_letters")) == "1");
  CHECK(RowText(*p, "strict", "a") == R"({"n":3})");
}

TEST_CASE("errors stop: the view stops at the bad event, skip moves past it", "[embedded]") {
  ErrorsStopCase(false);
}

TEST_CASE("real Kafka: errors stop and skip", "[kafka]") {
  if (KafkaOrSkip().empty()) return;
  ErrorsStopCase(true);
}

// A consumer queue of 256 KiB holds less than one fetch: each poll empties it and the fetchers
// pause at every fill. projd wakes them (connectors/kafka.cc, FetchWaker): the view catches up
// exactly, and the metric counts the wake-ups.
TEST_CASE("real Kafka: a small consumer queue refills, and the view is exact", "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-queue", brokers, 2, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(40000, 200, 29, &truth);
  Produce(brokers, topic, events);
  auto p = ProjdProcess::StartIn(
      dir, {"--brokers", brokers, "--kafka-prop", "queued.max.messages.kbytes=256"}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  CheckTruth(*p, truth);
  std::optional<int64_t> wakes =
      MetricValue(*p, "projd_kafka_fetch_wakes_total{view=\"balances\"}");
  REQUIRE(wakes);
  CHECK(*wakes > 0);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("real Kafka: ingest is exact and survives restarts with a new group", "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-e2e", brokers, 4, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(20000, 300, 2, &truth);
  Produce(brokers, topic, events);
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--group", "g1-" + topic}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  CheckTruth(*p, truth);
  CHECK(p->Terminate() == 0);
  // While projd is down, more events arrive. It resumes from its LMDB offsets: a new consumer
  // group (no committed offsets in Kafka) must not make it start over or skip.
  auto more = MakeEvents(5000, 300, 3, &truth, 20000);
  Produce(brokers, topic, more);
  p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--group", "g2-" + topic}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events) + TotalEvents(more)));
  CheckTruth(*p, truth);
  // projd also commits its positions to its consumer group (informational, for external lag
  // tools): after a clean stop they equal the positions in LMDB.
  Value st = p->GetJson("/v1/views/balances");
  std::map<int32_t, int64_t> lmdb;
  for (const auto& part : st.as_object().Find("partitions")->as_array()) {
    int64_t pos = 0, id = 0;
    part.as_object().Find("position")->as_number().ToInt64(&pos);
    part.as_object().Find("partition")->as_number().ToInt64(&id);
    lmdb[static_cast<int32_t>(id)] = pos;
  }
  // While it runs and idles, too: the last batch's positions reach the group within a
  // second or so, not only with the next batch (the group lagged by the last batch for as
  // long as no event came).
  std::map<int32_t, int64_t> committed;
  bool equal = false;
  for (int i = 0; i < 150 && !equal; ++i) {
    committed.clear();
    equal = projd::QueryCommitted(brokers, "g2-" + topic, topic, 4, &committed, &error) &&
            committed == lmdb;
    if (!equal) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(equal);
  CHECK(p->Terminate() == 0);
  committed.clear();
  INFO(error);
  REQUIRE(projd::QueryCommitted(brokers, "g2-" + topic, topic, 4, &committed, &error));
  for (const auto& [part, pos] : lmdb) {
    INFO("partition " << part);
    CHECK(committed[part] == pos);
  }
  CHECK(committed.size() == lmdb.size());
}

TEST_CASE("real Kafka: kill -9 at random moments, 20+ times, loses and repeats nothing",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-kill9", brokers, 4, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(200000, 2000, 4, &truth);
  Produce(brokers, topic, events);
  std::mt19937 rng(99);
  int kills_while_ingesting = 0;
  int64_t total = TotalEvents(events);
  // Sum of the view's partition positions: how many events it has applied.
  auto applied_now = [](ProjdProcess& p) -> int64_t {
    Value st = p.GetJson("/v1/views/balances");
    int64_t applied = 0;
    if (!st.is_object()) return -1;
    for (const auto& part : st.as_object().Find("partitions")->as_array()) {
      int64_t pos = 0;
      part.as_object().Find("position")->as_number().ToInt64(&pos);
      applied += pos;
    }
    return applied;
  };
  int64_t before = 0;
  for (int round = 0; round < 80 && kills_while_ingesting < 24; ++round) {
    auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--sync", "full"}, &error);
    REQUIRE(p);
    // Wait until this run has made progress, then kill it at a random moment soon after.
    int64_t applied = before;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (applied <= before && std::chrono::steady_clock::now() < deadline) {
      applied = applied_now(*p);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 25)(rng)));
    p->Kill9();
    if (applied > before && applied < total) ++kills_while_ingesting;
    if (applied >= total) break;
    before = applied;
  }
  INFO("kill -9 while ingesting: " << kills_while_ingesting);
  CHECK(kills_while_ingesting >= 20);
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events), std::chrono::seconds(180)));
  CheckTruth(*p, truth);
  // The kills happened while ingesting: the log shows restarts that resumed mid-stream.
  std::string log = p->Log();
  CHECK(log.find("loaded from") != std::string::npos);
}

TEST_CASE("real Kafka: a 20 s broker outage is reported, reads go on, ingest resumes exact",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  const char* script = std::getenv("PROJD_KAFKA_SCRIPT");
  if (!script) {
    WARN("PROJD_KAFKA_SCRIPT not set: outage test not run");
    return;
  }
  std::string data, topic;
  std::string dir = SetupKafka("kafka-outage", brokers, 2, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(20000, 100, 5, &truth);
  Produce(brokers, topic, events);
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  std::string out;
  REQUIRE(projd::testing::Run(std::string(script) + " stop --keep-data", &out) == 0);
  auto down_since = std::chrono::steady_clock::now();
  bool reported = false;
  int reads = 0;
  while (std::chrono::steady_clock::now() - down_since < std::chrono::seconds(20)) {
    auto r = p->Call("GET", "/v1/views/balances/rows/acc-1");
    CHECK(r.status == 200);
    bool pos = false;
    for (const auto& [k, v] : r.headers) pos = pos || k == "x-projd-position";
    CHECK(pos);
    ++reads;
    Value st = p->GetJson("/v1/views/balances");
    const Value* reason = st.as_object().Find("reason");
    if (reason && reason->is_string() && st.as_object().Find("state")->as_string() != "live") {
      reported = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  CHECK(reads > 10);
  CHECK(reported);
  std::string start_out;
  REQUIRE(projd::testing::Run(std::string(script) + " start --keep-data", &start_out) == 0);
  auto more = MakeEvents(5000, 100, 6, &truth, 20000);
  Produce(brokers, topic, more);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events) + TotalEvents(more),
                          std::chrono::seconds(120)));
  CheckTruth(*p, truth);
  CHECK(p->Log().find("kafka") != std::string::npos);
}

// With real: against the real broker (PROJD_KAFKA_BROKERS), else the embedded one.
void HistoryCase(bool real) {
  std::string brokers = real ? projd::testing::RealKafka() : "";
  std::string topic = real ? UniqueTopic("hist") : "hist";
  std::string dir =
      projd::testing::ProjectionFolder(real ? "history-kafka" : "history", "h.proj", R"(
projection hist {
  from "@TOPIC@"
  key event.account
  time event.ts
  id event.id
  on Deposited { balance += event.amount }
  on Closed { delete }
  history all
}
projection nohist {
  from "@TOPIC@"
  key event.account
  on * { n += 1 }
}
)");
  {
    std::string text = projd::testing::ReadFile(dir + "/projections/h.proj");
    for (size_t at; (at = text.find("@TOPIC@")) != std::string::npos;) text.replace(at, 7, topic);
    projd::testing::WriteFile(dir + "/projections/h.proj", text);
  }
  std::string error;
  std::vector<std::string> args = {"--partitions", "1"};
  if (real) {
    REQUIRE(projd::CreateKafkaTopic(brokers, topic, 1, &error));
    args.push_back("--brokers");
    args.push_back(brokers);
  }
  auto p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  if (!real) brokers = p->embedded_brokers();
  // Events for 5 accounts, one per minute, some closing; the test keeps every state.
  std::mt19937 rng(7);
  std::vector<Event> events;
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> states;  // time, balance
  std::map<std::string, int64_t> bal;
  int64_t t0 = 1751356800000;  // 2025-07-01T08:00:00Z
  for (int i = 0; i < 300; ++i) {
    std::string acc = "h" + std::to_string(rng() % 5);
    int64_t t = t0 + i * 60000;
    std::string ts = "\"" + projd::FormatRfc3339(t) + "\"";
    if (rng() % 20 == 0 && bal.count(acc)) {
      events.push_back({acc, "{\"type\":\"Closed\",\"account\":\"" + acc + "\",\"ts\":" + ts +
                                 ",\"id\":\"i" + std::to_string(i) + "\"}"});
      bal.erase(acc);
      states[acc].push_back({t, ""});
    } else {
      int64_t c = static_cast<int64_t>(rng() % 1000);
      bal[acc] += c;
      events.push_back({acc, "{\"type\":\"Deposited\",\"account\":\"" + acc +
                                 "\",\"amount\":" + Cents(c) + ",\"ts\":" + ts + ",\"id\":\"i" +
                                 std::to_string(i) + "\"}"});
      states[acc].push_back({t, Cents(bal[acc])});
    }
  }
  Produce(brokers, topic, events);
  REQUIRE(p->WaitCaughtUp("hist", 300));
  int checked = 0;
  for (const auto& [acc, st] : states) {
    for (int probe = 0; probe < 12; ++probe) {
      int64_t t = t0 - 60000 + static_cast<int64_t>(rng() % (302 * 60000));
      std::string want;  // "" = absent
      for (const auto& [when, b] : st) {
        if (when <= t) want = b;
      }
      int status = 0;
      Value v = p->GetJson(
          "/v1/views/hist/rows/" + acc + "?as_of=" + projd::PercentEncode(projd::FormatRfc3339(t)),
          &status);
      if (want.empty()) {
        CHECK(status == 404);
      } else {
        REQUIRE(status == 200);
        projd::Decimal w;
        projd::Decimal::Parse(want, &w);
        CHECK(v.as_object().Find("row")->as_object().Find("balance")->as_number() == w);
      }
      ++checked;
    }
    // The history lists every change, oldest first, each with its offset.
    int status = 0;
    Value h = p->GetJson("/v1/views/hist/rows/" + acc + "/history", &status);
    REQUIRE(status == 200);
    const auto& versions = h.as_object().Find("versions")->as_array();
    REQUIRE(versions.size() == st.size());
    int64_t prev_offset = -1;
    for (size_t i = 0; i < versions.size(); ++i) {
      const projd::Object& ver = versions[i].as_object();
      int64_t off;
      ver.Find("updated_by")->as_object().Find("offset")->as_number().ToInt64(&off);
      CHECK(off > prev_offset);
      prev_offset = off;
      CHECK(ver.Find("deleted")->as_bool() == st[i].second.empty());
    }
  }
  CHECK(checked == 60);
  // Paginated history.
  Value page = p->GetJson("/v1/views/hist/rows/h1/history?limit=2");
  CHECK(page.as_object().Find("versions")->as_array().size() == 2);
  CHECK(page.as_object().Find("next_cursor")->is_string());
  // Without history: 400 saying why; a bad time: 400.
  CHECK(p->Call("GET", "/v1/views/nohist/rows/h1?as_of=2025-07-01T00:00:00Z").status == 400);
  CHECK(p->Call("GET", "/v1/views/hist/rows/h1?as_of=yesterday").status == 400);
  // A full date-time with its offset: a bare date, or a time without offset, says no instant.
  CHECK(p->Call("GET", "/v1/views/hist/rows/h1?as_of=2025-07-01").body.find("bad as_of") !=
        std::string::npos);
  CHECK(p->Call("GET", "/v1/views/hist/rows/h1?as_of=2025-07-01T00:00:00").status == 400);
}

TEST_CASE("history: as_of answers match a truth the test computes; versions list offsets",
          "[embedded]") {
  HistoryCase(false);
}

TEST_CASE("real Kafka: history, as_of against a computed truth", "[kafka]") {
  if (KafkaOrSkip().empty()) return;
  HistoryCase(true);
}

TEST_CASE("/metrics parses as Prometheus text with every metric of the contract", "[embedded]") {
  std::string data;
  std::string dir = Setup("metrics", &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  Truth truth;
  auto events = MakeEvents(500, 10, 8, &truth);
  Produce(p->embedded_brokers(), "bank", events);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  CHECK(p->Call("GET", "/v1/views/balances/rows/acc-1").status != 0);
  auto r = p->Call("GET", "/metrics");
  REQUIRE(r.status == 200);
  projd::testing::WriteFile(dir + "/metrics.txt", r.body);
  std::string out;
  int rc = projd::testing::Run(std::string("/usr/bin/python3 ") + PROJD_SOURCE_DIR +
                                   "/tests/integration/metrics_check.py " + dir +
                                   "/metrics.txt balances",
                               &out);
  INFO(out);
  CHECK(rc == 0);
  // Lag samples for the dashboard: one a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  int status = 0;
  Value lag = p->GetJson("/v1/views/balances/lag?window=15m", &status);
  REQUIRE(status == 200);
  CHECK(lag.as_object().Find("samples")->as_array().size() >= 2);
  CHECK(projd::ToJson(*lag.as_object().Find("window_seconds")) == "900");
  const auto& sample = lag.as_object().Find("samples")->as_array()[0].as_object();
  CHECK(sample.Find("time")->is_string());
  CHECK(sample.Find("lag_events")->is_number());
  CHECK(p->Call("GET", "/v1/views/balances/lag?window=forever").status == 400);
  // Longer than the hour kept: that hour, in whatever unit.
  for (const char* w : {"2h", "1d", "7200"}) {
    lag = p->GetJson(std::string("/v1/views/balances/lag?window=") + w, &status);
    CHECK(status == 200);
    CHECK(projd::ToJson(*lag.as_object().Find("window_seconds")) == "3600");
  }
}

TEST_CASE("real Kafka: rebuilds swap without a failed read; reload, broken files, drop",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-rebuild", brokers, 4, &data, &topic);
  std::string proj = BalancesOn(topic);
  std::string file = dir + "/projections/balances.proj";
  std::string error;
  Truth truth;
  auto events = MakeEvents(100000, 50, 9, &truth);
  Produce(brokers, topic, events);
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  std::string old_hash =
      p->GetJson("/v1/views/balances").as_object().Find("definition_hash")->as_string();

  // A reader hammers one row during the rebuild: every answer is the old view's or the new
  // one's, complete — never a 404, never a partial row.
  std::string acc = truth.cents.begin()->first;
  projd::Decimal want;
  projd::Decimal::Parse(Cents(truth.cents.at(acc)), &want);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad{0}, new_seen{0};
  std::thread reader([&] {
    while (!done) {
      int status = 0;
      Value v = p->GetJson("/v1/views/balances/rows/" + acc, &status);
      ++reads;
      if (status != 200) {
        ++bad;
        continue;
      }
      const projd::Object& row = v.as_object().Find("row")->as_object();
      const Value* bal = row.Find("balance");
      if (!bal || !bal->is_number() || !(bal->as_number() == want)) ++bad;
      if (row.Find("v2")) {
        ++new_seen;
      } else if (new_seen > 0) {
        ++bad;  // once the new view served, the old one never comes back
      }
    }
  });
  ThreadGuard reader_guard(&done, &reader);
  // Change the definition: the folder watcher reloads and rebuilds in a shadow store.
  std::string proj2 = proj;
  proj2.replace(proj2.find("on Opened { balance = 0"), 23, "on Opened { v2 = true  balance = 0");
  projd::testing::WriteFile(file, proj2);
  bool swapped = false;
  bool saw_rebuilding = false;
  for (int i = 0; i < 600 && !swapped; ++i) {
    Value st = p->GetJson("/v1/views/balances");
    std::string state = st.as_object().Find("state")->as_string();
    saw_rebuilding = saw_rebuilding || state == "rebuilding";
    swapped = st.as_object().Find("definition_hash")->as_string() != old_hash &&
              st.as_object().Find("rebuild")->is_null();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  done = true;
  if (reader.joinable()) reader.join();
  INFO("reads during the rebuild: " << reads << ", new view seen " << new_seen);
  CHECK(swapped);
  CHECK(bad == 0);
  CHECK(new_seen > 0);
  CheckTruth(*p, truth);
  CHECK(p->Log().find("rebuild done") != std::string::npos);

  // A manual rebuild, followed by projctl's progress display until the swap.
  std::string out;
  int rc = projd::testing::Run(std::string(PROJCTL_BIN) + " --server http://127.0.0.1:" +
                                   std::to_string(p->port()) + " rebuild balances --wait",
                               &out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("done") != std::string::npos);
  CheckTruth(*p, truth);

  // A broken file changes nothing; the view keeps serving.
  projd::testing::WriteFile(file, "projection balances {\n  from \"x\"\n  key\n}\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  // One log line per error, naming the file, line and column.
  std::string log = p->Log();
  size_t refused = log.find("reload refused, nothing changed: ");
  REQUIRE(refused != std::string::npos);
  std::string line = log.substr(refused, log.find('\n', refused) - refused);
  CHECK(line.find("balances.proj:4:1: ") != std::string::npos);
  CHECK(p->Call("GET", "/v1/views/balances/rows/" + acc).status == 200);
  // A removed projection stops being served; its data stays until dropped.
  std::filesystem::remove(file);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = p->Call("GET", "/v1/views/balances").status == 404;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(gone);
  CHECK(std::filesystem::exists(data + "/views/balances"));
  CHECK(p->Call("DELETE", "/v1/views/balances").status == 200);
  CHECK_FALSE(std::filesystem::exists(data + "/views/balances"));
  CHECK(p->Call("DELETE", "/v1/views/balances").status == 404);
}

TEST_CASE("queries over HTTP: index use, errors with position, a cursor walk during writes",
          "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("query", "q.proj", R"(
projection accts {
  from "accts"
  key event.id
  on Opened { owner = event.owner  balance = event.balance }
  on Touched { touched += 1 }
  index owner
}
)");
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  std::vector<Event> events;
  for (int i = 0; i < 400; ++i) {
    char id[16];
    snprintf(id, sizeof(id), "id-%04d", i);
    events.push_back({id, std::string("{\"type\":\"Opened\",\"id\":\"") + id + "\",\"owner\":\"o" +
                              std::to_string(i % 8) + "\",\"balance\":" + std::to_string(i) + "}"});
  }
  Produce(p->embedded_brokers(), "accts", events);
  REQUIRE(p->WaitCaughtUp("accts", 400));
  // An indexed equality examines only the matching rows.
  auto r = p->Call("POST", "/v1/query", "from accts where owner == \"o3\" select key, balance");
  REQUIRE(r.status == 200);
  Value v;
  REQUIRE(projd::ParseJson(r.body, &v, &error));
  CHECK(v.as_object().Find("rows")->as_array().size() == 50);
  CHECK(projd::ToJson(*v.as_object().Find("scanned")) == "50");
  // A scan examines all of them; GET ?q= works the same.
  Value scan = p->GetJson("/v1/query?q=" +
                          projd::PercentEncode("from accts where balance >= 390 select key"));
  CHECK(projd::ToJson(*scan.as_object().Find("scanned")) == "400");
  CHECK(scan.as_object().Find("rows")->as_array().size() == 10);
  // Each row lists its members in the order of select, as "columns" does (SPEC §10).
  r = p->Call("POST", "/v1/query",
              "from accts where key == \"id-0007\" select owner, key, balance * 2 as twice");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"columns\":[\"owner\",\"key\",\"twice\"]") != std::string::npos);
  CHECK(r.body.find("\"rows\":[{\"owner\":\"o7\",\"key\":\"id-0007\",\"twice\":14}]") !=
        std::string::npos);
  // HEAD takes ?q= as GET does: GET's status and header fields, without the body.
  std::string q = projd::PercentEncode("from accts where owner == \"o3\" select key limit 5");
  std::string wire =
      Exchange(p->port(), "HEAD /v1/query?q=" + q +
                              " HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /v1/query?q=" +
                              q + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  {
    INFO(wire);
    size_t head_end = wire.find("\r\n\r\n") + 4;
    std::string head = wire.substr(0, head_end), get = wire.substr(head_end);
    CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    REQUIRE(get.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    auto field = [](const std::string& message, const std::string& name) {
      size_t at = message.find("\r\n" + name + ": ");
      if (at == std::string::npos) return std::string("none");
      at += name.size() + 4;
      return message.substr(at, message.find('\r', at) - at);
    };
    CHECK(field(head, "Content-Length") != "none");
    CHECK(field(head, "Content-Length") == field(get, "Content-Length"));
    CHECK(field(head, "X-Projd-Position") == field(get, "X-Projd-Position"));
    CHECK(get.find("\"key\":\"id-0003\"") != std::string::npos);
  }
  // A query text over 1 KiB is compiled on the query pool, with the same answer.
  std::string padded = "from accts where owner == \"o3\"";
  while (padded.size() <= 1100) padded += " and balance >= 0";
  r = p->Call("POST", "/v1/query", padded + " select key, balance");
  REQUIRE(r.status == 200);
  REQUIRE(projd::ParseJson(r.body, &v, &error));
  CHECK(v.as_object().Find("rows")->as_array().size() == 50);
  CHECK(projd::ToJson(*v.as_object().Find("scanned")) == "50");
  r = p->Call("GET", "/v1/query?q=" + projd::PercentEncode(padded + " and balance >"));
  CHECK(r.status == 400);
  CHECK(r.body.find("\"column\":") != std::string::npos);
  // A bad query: 400 with line and column.
  r = p->Call("POST", "/v1/query", "from accts\nwhere owner = 1");
  CHECK(r.status == 400);
  CHECK(r.body.find("\"line\":2") != std::string::npos);
  CHECK(r.body.find("\"column\":13") != std::string::npos);
  CHECK(p->Call("POST", "/v1/query", "from nope").status == 400);

  // Walk all rows 25 at a time while other rows change and new rows arrive: every row that
  // did not change is returned exactly once.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::string err;
    auto producer = projd::Producer::Create(p->embedded_brokers(), {}, &err);
    for (int i = 0; i < 200 && !stop; ++i) {
      char id[16];
      snprintf(id, sizeof(id), "id-%04d", (i * 7) % 400);
      // Touch rows whose number is a multiple of 7 (they change), and add new rows.
      producer->ProduceAsync("accts", id,
                             std::string("{\"type\":\"Touched\",\"id\":\"") + id + "\"}", &err);
      std::string nid = "new-" + std::to_string(i);
      producer->ProduceAsync("accts", nid,
                             "{\"type\":\"Opened\",\"id\":\"" + nid + "\",\"owner\":\"n\"}", &err);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    producer->Flush(std::chrono::seconds(10), &err);
  });
  ThreadGuard writer_guard(&stop, &writer);
  std::map<std::string, int> seen;
  std::string cursor;
  int pages = 0;
  while (true) {
    std::string target = "/v1/query?q=" + projd::PercentEncode("from accts select key limit 25");
    if (!cursor.empty()) target += "&cursor=" + cursor;
    int status = 0;
    Value page = p->GetJson(target, &status);
    REQUIRE(status == 200);
    for (const auto& row : page.as_object().Find("rows")->as_array()) {
      ++seen[row.as_object().Find("key")->as_string()];
    }
    ++pages;
    const Value* next = page.as_object().Find("next_cursor");
    if (next->is_null()) break;
    cursor = next->as_string();
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  stop = true;
  if (writer.joinable()) writer.join();
  CHECK(pages > 10);
  int unchanged = 0;
  for (int i = 0; i < 400; ++i) {
    if (i % 7 == 0) continue;
    char id[16];
    snprintf(id, sizeof(id), "id-%04d", i);
    CHECK(seen[id] == 1);
    ++unchanged;
  }
  CHECK(unchanged == 342);
  for (const auto& [k, n] : seen) CHECK(n == 1);
}

TEST_CASE("auth: a role matrix, hidden views, and a world-readable token file refused",
          "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("auth", "ab.proj", R"(
projection alpha { from "t" key event.k on * { n += 1 } }
projection beta { from "t" key event.k on * { n += 1 } }
)");
  std::string tokens = dir + "/tokens.toml";
  projd::testing::WriteFile(tokens, R"(
[[token]]
token = "adm"
role  = "admin"
[[token]]
token = "rd"
role  = "reader"
[[token]]
# sha256 of "rd-alpha"
sha256 = "e5b6d0dd6e7a66e6d9f38ab7a5cbb7df9f2b06fdcdfa62c8e8c79ed8b40d3c9c"
role  = "reader"
views = ["alpha"]
[[token]]
token = "met"
role  = "metrics"
)");
  // The sha256 line above must be the digest of "rd-alpha": compute it rather than trust it.
  std::string out;
  REQUIRE(projd::testing::Run("printf %s rd-alpha | sha256sum | cut -c1-64", &out) == 0);
  std::string digest = out.substr(0, 64);
  std::string text = projd::testing::ReadFile(tokens);
  text.replace(text.find("e5b6d0dd"), 64, digest);
  projd::testing::WriteFile(tokens, text);

  std::string error;
  std::filesystem::permissions(tokens, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write |
                                           std::filesystem::perms::others_read);
  auto refused = ProjdProcess::StartIn(dir, {"--auth", tokens}, &error, "refused.log");
  CHECK_FALSE(refused);
  CHECK(error.find("can be read by other users") != std::string::npos);
  std::filesystem::permissions(
      tokens, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto p = ProjdProcess::StartIn(dir, {"--auth", tokens}, &error);
  REQUIRE(p);
  Produce(p->embedded_brokers(), "t", {{"k", R"({"k":"k"})"}});
  struct Case {
    std::string method, target, body;
  };
  std::vector<Case> endpoints = {
      {"GET", "/healthz", ""},
      {"GET", "/metrics", ""},
      {"GET", "/openapi.json", ""},
      {"GET", "/v1/views", ""},
      {"GET", "/v1/views/alpha", ""},
      {"GET", "/v1/views/beta", ""},
      {"GET", "/v1/views/alpha/rows/k", ""},
      {"GET", "/v1/views/beta/rows/k", ""},
      {"POST", "/v1/query", "from alpha select key"},
      {"POST", "/v1/query", "from beta select key"},
      {"POST", "/v1/views/alpha/skip", ""},
      {"DELETE", "/v1/views/alpha", ""},
  };
  // Expected status per token: none, wrong, admin, reader, reader of alpha, metrics.
  std::vector<std::vector<int>> want = {
      {200, 200, 200, 200, 200, 200},  // healthz: probes carry no token
      {401, 401, 200, 403, 403, 200},  // metrics
      {401, 401, 200, 200, 200, 403},  // openapi.json: metrics tokens are for the probes only
      {401, 401, 200, 200, 200, 403},  // views
      {401, 401, 200, 200, 200, 403},  // alpha
      {401, 401, 200, 200, 403, 403},  // beta
      {401, 401, 200, 200, 200, 403},  // alpha row
      {401, 401, 200, 200, 403, 403},  // beta row
      {401, 401, 200, 200, 200, 403},  // query alpha
      {401, 401, 200, 200, 403, 403},  // query beta: 403 as its paths are
      {401, 401, 409, 403, 403, 403},  // skip (admin: the view is not stopped)
      {401, 401, 409, 403, 403, 403},  // delete (admin: still loaded)
  };
  std::vector<std::string> tokens_used = {"", "nope", "adm", "rd", "rd-alpha", "met"};
  p->set_json_headers({{"Authorization", "Bearer adm"}});
  // Both views hold the row before the matrix reads it (each applies the event on its own).
  REQUIRE(p->WaitCaughtUp("alpha", 1));
  REQUIRE(p->WaitCaughtUp("beta", 1));
  for (size_t e = 0; e < endpoints.size(); ++e) {
    for (size_t t = 0; t < tokens_used.size(); ++t) {
      std::vector<std::pair<std::string, std::string>> headers;
      if (!tokens_used[t].empty())
        headers.emplace_back("Authorization", "Bearer " + tokens_used[t]);
      auto r = p->Call(endpoints[e].method, endpoints[e].target, endpoints[e].body, headers);
      INFO(endpoints[e].method << " " << endpoints[e].target << " " << endpoints[e].body
                               << " with token '" << tokens_used[t] << "': " << r.body);
      CHECK(r.status == want[e][t]);
    }
  }
  // The row reads again as plain keep-alive GETs, which take the quick path when the token may
  // read the view (and the general one otherwise): the same statuses, and the same bytes for
  // the same read through both paths.
  for (size_t t = 0; t < tokens_used.size(); ++t) {
    std::string auth =
        tokens_used[t].empty() ? "" : "Authorization: Bearer " + tokens_used[t] + "\r\n";
    std::vector<std::string> answers = SplitResponses(
        Exchange(p->port(), "GET /v1/views/alpha/rows/k HTTP/1.1\r\nHost: x\r\n" + auth +
                                "\r\nGET /v1/views/beta/rows/k HTTP/1.1\r\nHost: x\r\n" + auth +
                                "\r\nGET /v1/views/alpha/rows/k HTTP/1.1\r\nHost: x\r\n" + auth +
                                "X-Trace: 1\r\nConnection: close\r\n\r\n"));
    INFO("token '" << tokens_used[t] << "'");
    REQUIRE(answers.size() == 3);
    CHECK(answers[0].substr(9, 3) == std::to_string(want[6][t]));
    CHECK(answers[1].substr(9, 3) == std::to_string(want[7][t]));
    // The general path's answer has "Connection: close" in addition.
    std::string general = answers[2];
    size_t close = general.find("Connection: close\r\n");
    REQUIRE(close != std::string::npos);
    general.erase(close, 19);
    if (want[6][t] == 200) CHECK(answers[0] == general);
  }
  // A reader of alpha sees only alpha in the list.
  auto r = p->Call("GET", "/v1/views", "", {{"Authorization", "Bearer rd-alpha"}});
  CHECK(r.body.find("alpha") != std::string::npos);
  CHECK(r.body.find("beta") == std::string::npos);
  // A 401 says nothing about views.
  r = p->Call("GET", "/v1/views", "", {});
  CHECK(r.body.find("alpha") == std::string::npos);
  // projctl --token.
  REQUIRE(projd::testing::Run(std::string(PROJCTL_BIN) + " --server http://127.0.0.1:" +
                                  std::to_string(p->port()) + " --token rd status",
                              &out) == 0);
  CHECK(out.find("alpha") != std::string::npos);
  CHECK(projd::testing::Run(std::string(PROJCTL_BIN) + " --server http://127.0.0.1:" +
                                std::to_string(p->port()) + " status",
                            &out) != 0);
}

TEST_CASE("openapi.json describes every endpoint, and every documented call answers as documented",
          "[embedded]") {
  std::string data;
  std::string dir = Setup("openapi", &data);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  Truth truth;
  auto events = MakeEvents(50, 3, 10, &truth);
  Produce(p->embedded_brokers(), "bank", events);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events)));
  int status = 0;
  Value doc = p->GetJson("/openapi.json", &status);
  REQUIRE(status == 200);
  REQUIRE(doc.is_object());
  CHECK(doc.as_object().Find("openapi")->as_string().rfind("3.", 0) == 0);
  const projd::Object& paths = doc.as_object().Find("paths")->as_object();
  // That every route of the table is documented (and only those) is routes_test.cc's.
  // Every documented call answers with a documented status.
  std::string key = truth.cents.begin()->first;
  int calls = 0;
  for (const auto& [path, item] : paths.members()) {
    std::string target = path;
    for (const auto& [param, value] : std::vector<std::pair<std::string, std::string>>{
             {"{view}", "balances"}, {"{key}", key}, {"{id}", "cmd-1"}}) {
      size_t at = target.find(param);
      if (at != std::string::npos) target.replace(at, param.size(), value);
    }
    for (const auto& [method, op] : item.as_object().members()) {
      // HEAD answers have no body, which this test's client cannot read.
      if (method == "parameters" || method == "head") continue;
      std::string m = method;
      for (char& c : m) c = static_cast<char>(toupper(c));
      std::string body = m == "POST" && path == "/v1/query" ? "from balances select count()" : "";
      std::string t = target;
      if (m == "GET" && path == "/v1/query") t += "?q=" + projd::PercentEncode("from balances");
      // A change feed streams until the client closes (feed_test.cc reads it); a bad from=
      // answers at once, with a documented status.
      if (path == "/v1/views/{view}/changes") t += "?from=x";
      auto r = p->Call(m, t, body);
      const projd::Object& responses = op.as_object().Find("responses")->as_object();
      INFO(m << " " << t << " -> " << r.status << " " << r.body.substr(0, 200));
      CHECK(responses.Find(std::to_string(r.status)) != nullptr);
      CHECK(r.status < 500);
      ++calls;
    }
  }
  CHECK(calls >= 16);
}

TEST_CASE("real Kafka: read-your-own-writes 100 times in a row; dedupe holds across restarts",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = UniqueTopic("ryw");
  std::string dir = projd::testing::ProjectionFolder("kafka-ryw", "d.proj", R"(
projection deposits {
  from ")" + topic + R"("
  key event.account
  id event.event_id
  dedupe
  on Deposited { balance += event.amount  count += 1 }
}
)");
  std::string error;
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 4, &error));
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  // Background load on other accounts, so reads without min_position can lag.
  std::atomic<bool> stop{false};
  std::thread noise([&] {
    std::string err;
    auto bg = projd::Producer::Create(brokers, {}, &err);
    for (int i = 0; !stop && i < 50000; ++i) {
      std::string acc = "bg-" + std::to_string(i % 100);
      bg->ProduceAsync(topic, acc,
                       "{\"type\":\"Deposited\",\"account\":\"" + acc +
                           "\",\"amount\":1,\"event_id\":\"bg-" + std::to_string(i) + "\"}",
                       &err);
      if (i % 1000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    bg->Flush(std::chrono::seconds(30), &err);
  });
  ThreadGuard noise_guard(&stop, &noise);
  int seen = 0;
  for (int i = 1; i <= 100; ++i) {
    int32_t part;
    int64_t off;
    REQUIRE(producer->Produce(topic, -1, "ryw",
                              "{\"type\":\"Deposited\",\"account\":\"ryw\",\"amount\":1,"
                              "\"event_id\":\"ryw-" +
                                  std::to_string(i) + "\"}",
                              0, &part, &off, &error));
    // A generous wait: the sanitizer build applies events several times slower.
    auto r = p->Call("GET", "/v1/views/deposits/rows/ryw?wait_ms=60000&min_position=" + topic +
                                ":" + std::to_string(part) + ":" + std::to_string(off + 1));
    REQUIRE(r.status == 200);
    Value v;
    REQUIRE(projd::ParseJson(r.body, &v, &error));
    if (projd::ToJson(*v.as_object().Find("row")->as_object().Find("count")) == std::to_string(i)) {
      ++seen;
    }
  }
  stop = true;
  if (noise.joinable()) noise.join();
  CHECK(seen == 100);
  // Duplicates of applied events are skipped, also after a restart.
  for (int i = 1; i <= 10; ++i) {
    REQUIRE(producer->ProduceAsync(topic, "ryw",
                                   "{\"type\":\"Deposited\",\"account\":\"ryw\",\"amount\":1,"
                                   "\"event_id\":\"ryw-" +
                                       std::to_string(i) + "\"}",
                                   &error));
  }
  REQUIRE(producer->Flush(std::chrono::seconds(10), &error));
  CHECK(p->Terminate() == 0);
  for (int i = 1; i <= 10; ++i) {
    REQUIRE(producer->ProduceAsync(topic, "ryw",
                                   "{\"type\":\"Deposited\",\"account\":\"ryw\",\"amount\":1,"
                                   "\"event_id\":\"ryw-" +
                                       std::to_string(i * 3) + "\"}",
                                   &error));
  }
  REQUIRE(producer->ProduceAsync(topic, "ryw",
                                 "{\"type\":\"Deposited\",\"account\":\"ryw\",\"amount\":1,"
                                 "\"event_id\":\"ryw-new\"}",
                                 &error));
  REQUIRE(producer->Flush(std::chrono::seconds(10), &error));
  p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  Value row;
  for (int i = 0; i < 200; ++i) {
    row = p->GetJson("/v1/views/deposits/rows/ryw");
    if (row.is_object() && row.as_object().Find("row") &&
        projd::ToJson(*row.as_object().Find("row")->as_object().Find("count")) == "101") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(row.is_object());
  CHECK(projd::ToJson(*row.as_object().Find("row")) == R"({"balance":101,"count":101})");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Value st = p->GetJson("/v1/views/deposits");
  int64_t skipped = 0;
  st.as_object().Find("events_skipped")->as_number().ToInt64(&skipped);
  CHECK(skipped >= 10);  // this run skipped the 10 duplicates it saw
}

TEST_CASE("HTTP limits: 500 idle connections and a slowloris client do not stop other clients",
          "[embedded]") {
  std::string data;
  std::string dir = Setup("http-limits", &data);
  std::string error;
  auto p = ProjdProcess::StartIn(
      dir, {"--http-read-timeout-ms", "1000", "--http-max-body-bytes", "10000"}, &error);
  REQUIRE(p);
  auto connect_one = [&]() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(p->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  };
  std::vector<int> idle;
  for (int i = 0; i < 500; ++i) {
    int fd = connect_one();
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  // A slowloris client: a request head trickling in, one byte at a time.
  int slow = connect_one();
  REQUIRE(slow >= 0);
  std::atomic<bool> slow_dropped{false};
  std::thread slowloris([&] {
    std::string head = "GET /v1/views HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (size_t i = 0; i < 200; ++i) {
      char c = i < head.size() ? head[i] : 'a';
      if (send(slow, &c, 1, MSG_NOSIGNAL) < 0) {
        slow_dropped = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::atomic<bool> unused_stop{false};
  ThreadGuard slow_guard(&unused_stop, &slowloris);
  // Meanwhile a normal client's requests all succeed, quickly.
  auto t0 = std::chrono::steady_clock::now();
  int ok = 0;
  for (int i = 0; i < 50; ++i) {
    auto r = p->Call("GET", "/v1/views/balances");
    if (r.status == 200) ++ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  CHECK(ok == 50);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  if (slowloris.joinable()) slowloris.join();
  CHECK(slow_dropped);  // cut off after the 1 s read timeout
  close(slow);
  for (int fd : idle) close(fd);
  // Oversized head and body are refused; the server goes on.
  std::string big(20000, 'x');
  CHECK(p->Call("GET", "/healthz", "", {{"X-Big", big}}).status == 431);
  CHECK(p->Call("POST", "/v1/query", big).status == 413);
  CHECK(p->Call("GET", "/healthz").status == 200);

  // A target that names nothing projd holds is 400, named (SPEC §6): a key that is not UTF-8
  // once decoded (it was read as U+FFFD), an absolute-form target without a host.
  auto bad_key = p->Call("GET", "/v1/views/balances/rows/%FF");
  CHECK(bad_key.status == 400);
  CHECK(bad_key.body.find("path segment 5 (%FF) is not UTF-8") != std::string::npos);
  CHECK(p->Call("GET", "/v1/views/balances/rows?prefix=%C3").status == 400);
  CHECK(p->Call("GET", "/v1/views/balances/rows/%C3%A9").status == 404);  // UTF-8: no such row
  CHECK(p->Call("GET", "http:///").status == 400);
  // A bare LF in a chunked body's framing: 400 at once, not a close after the read timeout.
  auto started = std::chrono::steady_clock::now();
  std::string wire = Exchange(p->port(),
                              "POST /v1/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              "\r\n15\nfrom balances limit 1\n0\n\n");
  CHECK(wire.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(wire.find("bare LF") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(900));
  // Empty lines before a request line are ignored (RFC 9112 section 2.2).
  wire = Exchange(p->port(),
                  "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\r\n"
                  "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::vector<std::string> answers = SplitResponses(wire);
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(answers[1].rfind("HTTP/1.1 200 ", 0) == 0);
}

TEST_CASE("history N days: versions older than the retention are pruned, the newest kept",
          "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("prune", "p.proj", R"(
projection pruned {
  from "prune"
  key event.k
  time event.ts
  on * { n += 1 }
  history 1 days
}
)");
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  // Old events (2025) and one from now for key "fresh".
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) {
    events.push_back(
        {"old", R"({"k":"old","ts":"2025-07-0)" + std::to_string(i + 1) + R"(T00:00:00Z"})"});
  }
  std::string now = projd::FormatRfc3339(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  for (int i = 0; i < 3; ++i) events.push_back({"fresh", R"({"k":"fresh","ts":")" + now + R"("})"});
  Produce(p->embedded_brokers(), "prune", events);
  REQUIRE(p->WaitCaughtUp("pruned", 8));
  // Pruning runs in the background (after the first batch, then once a minute): a restart makes
  // sure it has run after every event was applied.
  CHECK(p->Terminate() == 0);
  p = ProjdProcess::StartIn(dir, {}, &error);
  REQUIRE(p);
  size_t old_versions = 0;
  for (int i = 0; i < 50; ++i) {
    old_versions = p->GetJson("/v1/views/pruned/rows/old/history")
                       .as_object()
                       .Find("versions")
                       ->as_array()
                       .size();
    if (old_versions == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(old_versions == 1);  // only the newest of the old versions is kept
  CHECK(p->GetJson("/v1/views/pruned/rows/fresh/history")
            .as_object()
            .Find("versions")
            ->as_array()
            .size() == 3);
  CHECK(p->Log().find("pruned 4 history versions") != std::string::npos);
  // The row itself is untouched.
  CHECK(projd::ToJson(*p->GetJson("/v1/views/pruned/rows/old").as_object().Find("row")) ==
        R"({"n":5})");
}

TEST_CASE(
    "real Kafka: retention gaps refuse a rebuild (409) unless allow_gap; a crash during a "
    "rebuild leaves the old view serving and the rebuild resumes",
    "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-gap", brokers, 2, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(150000, 100, 12, &truth);
  Produce(brokers, topic, events);
  std::vector<std::string> args = {"--brokers", brokers, "--sync", "full"};
  auto p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events), std::chrono::seconds(120)));

  // A rebuild killed half way: after the restart the old view serves at once and the rebuild
  // goes on to the swap.
  CHECK(p->Call("POST", "/v1/views/balances/rebuild").status == 202);
  bool mid = false;
  for (int i = 0; i < 400 && !mid; ++i) {
    Value st = p->GetJson("/v1/views/balances");
    const Value* rb = st.as_object().Find("rebuild");
    if (rb && rb->is_object()) {
      int64_t applied = 0;
      rb->as_object().Find("applied")->as_number().ToInt64(&applied);
      mid = applied > 0;
    }
    if (!mid) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  p->Kill9();
  INFO("killed " << (mid ? "during" : "around") << " the rebuild");
  p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  CHECK(p->Call("GET", "/v1/views/balances/rows/" + truth.cents.begin()->first).status == 200);
  bool swapped = false;
  for (int i = 0; i < 1200 && !swapped; ++i) {
    Value st = p->GetJson("/v1/views/balances");
    swapped = st.as_object().Find("rebuild")->is_null() &&
              p->Log().find("rebuild done") != std::string::npos;
    if (!swapped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(swapped);
  CHECK(p->Log().find("resuming the rebuild") != std::string::npos);
  CheckTruth(*p, truth);

  // Retention deleted the start of partition 0: a rebuild is refused with the first offsets.
  REQUIRE(projd::DeleteKafkaRecords(brokers, topic, 0, 10, &error));
  auto r = p->Call("POST", "/v1/views/balances/rebuild");
  CHECK(r.status == 409);
  CHECK(r.body.find("first_offsets") != std::string::npos);
  CHECK(r.body.find(topic + ":0") != std::string::npos);
  r = p->Call("POST", "/v1/views/balances/rebuild?allow_gap=true");
  CHECK(r.status == 202);
}

TEST_CASE("real Kafka: a topic deleted and created shorter fails the view with both offsets",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-recreated", brokers, 1, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(50, 5, 5, &truth);
  Produce(brokers, topic, events);
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", 50, std::chrono::seconds(60)));
  // While projd runs, the topic is deleted, then created again with 10 events: the view's
  // position 50 lies past the new log's end.
  REQUIRE(projd::DeleteKafkaTopic(brokers, topic, &error));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 1, &error));
  Produce(brokers, topic, std::vector<Event>(events.begin(), events.begin() + 10));
  std::string state, reason;
  Value st;
  for (int i = 0; i < 300 && state != "failed"; ++i) {
    st = p->GetJson("/v1/views/balances");
    state = st.as_object().Find("state")->as_string();
    reason = FieldText(st, "reason");
    if (state != "failed") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(ToJson(st));
  REQUIRE(state == "failed");
  CHECK(reason.find(topic + ":0:50 is beyond the partition's log end (offset 10)") !=
        std::string::npos);
  CHECK(ToJson(
            *st.as_object().Find("partitions")->as_array()[0].as_object().Find("high_watermark")) ==
        "10");
  CHECK(p->Call("GET", "/readyz").status == 503);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("real Kafka: a changed definition is not rebuilt past a retention gap until asked",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-held-def", brokers, 1, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(100, 10, 5, &truth);
  Produce(brokers, topic, events);
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers}, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", 100, std::chrono::seconds(60)));
  std::string old_hash = FieldText(p->GetJson("/v1/views/balances"), "definition_hash");
  // Retention deletes offsets below 40; then the definition changes. A rebuild from offset 0
  // would silently miss 0..39: the old definition keeps serving, and the status says why.
  REQUIRE(projd::DeleteKafkaRecords(brokers, topic, 0, 40, &error));
  std::string file = dir + "/projections/balances.proj";
  std::string proj2 = projd::testing::ReadFile(file);
  proj2.replace(proj2.find("on Opened { balance = 0"), 23, "on Opened { v2 = true  balance = 0");
  projd::testing::WriteFile(file, proj2);
  std::string reason;
  for (int i = 0; i < 100 && reason.find("is not applied") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reason = FieldText(p->GetJson("/v1/views/balances"), "reason");
  }
  INFO(reason);
  CHECK(reason.find("would miss " + topic + ":0 offsets 0..39") != std::string::npos);
  Value st = p->GetJson("/v1/views/balances");
  CHECK(FieldText(st, "definition_hash") == old_hash);
  CHECK(st.as_object().Find("rebuild")->is_null());
  CheckTruth(*p, truth);
  // The operator accepts the gap: the held definition is the one rebuilt, and swaps in.
  CHECK(p->Call("POST", "/v1/views/balances/rebuild").status == 409);
  CHECK(p->Call("POST", "/v1/views/balances/rebuild?allow_gap=true").status == 202);
  bool swapped = false;
  for (int i = 0; i < 300 && !swapped; ++i) {
    st = p->GetJson("/v1/views/balances");
    swapped =
        FieldText(st, "definition_hash") != old_hash && st.as_object().Find("rebuild")->is_null();
    if (!swapped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(swapped);
  CHECK(FieldText(st, "reason").find("is not applied") == std::string::npos);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("real Kafka: events deleted before the view read them hold it, never skipped",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string data, topic;
  std::string dir = SetupKafka("kafka-gap", brokers, 1, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(300, 20, 5, &truth);
  std::vector<Event> first(events.begin(), events.begin() + 100);
  std::vector<Event> rest(events.begin() + 100, events.end());
  Produce(brokers, topic, first);
  std::vector<std::string> args = {"--brokers", brokers};
  auto p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  REQUIRE(p->WaitCaughtUp("balances", 100, std::chrono::seconds(60)));
  std::string rows = FieldText(p->GetJson("/v1/views/balances"), "rows");
  CHECK(p->Terminate() == 0);
  // While projd is down, 200 more events arrive and retention deletes offsets below 150:
  // 100..149 were never read by the view.
  Produce(brokers, topic, rest);
  REQUIRE(projd::DeleteKafkaRecords(brokers, topic, 0, 150, &error));
  p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);
  std::string state, reason;
  for (int i = 0; i < 300 && state != "stalled"; ++i) {
    Value st = p->GetJson("/v1/views/balances");
    state = st.as_object().Find("state")->as_string();
    reason = FieldText(st, "reason");
    if (state != "stalled") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(state == "stalled");
  CHECK(reason.find(topic + ":0: offsets 100..149 were deleted") != std::string::npos);
  // Nothing past the gap was applied: the view still stands at offset 100.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Value st = p->GetJson("/v1/views/balances");
  CHECK(ToJson(*st.as_object().Find("partitions")->as_array()[0].as_object().Find("position")) ==
        "100");
  CHECK(FieldText(st, "rows") == rows);
  // A rebuild that accepts the gap starts the new view at the log start and swaps it in.
  CHECK(p->Call("POST", "/v1/views/balances/rebuild").status == 409);
  CHECK(p->Call("POST", "/v1/views/balances/rebuild?allow_gap=true").status == 202);
  REQUIRE(p->WaitCaughtUp("balances", 300, std::chrono::seconds(60)));
  bool swapped = false;
  for (int i = 0; i < 300 && !swapped; ++i) {
    Value now = p->GetJson("/v1/views/balances");
    swapped = now.as_object().Find("rebuild")->is_null() &&
              now.as_object().Find("state")->as_string() == "live";
    if (!swapped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(swapped);
  // The new view holds exactly the 150 events the log still has (a row per account they
  // name; the view's own count since the swap).
  Value now = p->GetJson("/v1/views/balances");
  CHECK(FieldText(now, "events_applied") == "150");
  CHECK(ToJson(*now.as_object().Find("partitions")->as_array()[0].as_object().Find("position")) ==
        "300");
  CHECK(p->Terminate() == 0);
}

TEST_CASE("real Kafka: a frozen consumer shows stalled, never live", "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  const char* script = std::getenv("PROJD_KAFKA_SCRIPT");
  if (!script) {
    WARN("PROJD_KAFKA_SCRIPT not set: stall test not run");
    return;
  }
  std::string data, topic;
  std::string dir = SetupKafka("kafka-stall", brokers, 1, &data, &topic);
  std::string error;
  Truth truth;
  auto events = MakeEvents(400000, 100, 13, &truth);
  Produce(brokers, topic, events);
  // --sync full keeps batches small, so the consumer is still behind when the broker freezes.
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--sync", "full"}, &error);
  REQUIRE(p);
  int64_t lag = 0;
  for (int i = 0; i < 200 && lag == 0; ++i) {
    Value st = p->GetJson("/v1/views/balances");
    st.as_object().Find("lag_events")->as_number().ToInt64(&lag);
    if (lag == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(lag > 0);
  std::string out;
  REQUIRE(projd::testing::Run(std::string(script) + " pause", &out) == 0);
  // The broker is shared with the tests that follow: resume it however this test ends.
  struct Resume {
    std::string cmd;
    ~Resume() {
      std::string o;
      projd::testing::Run(cmd, &o);
    }
  } resume{std::string(script) + " resume"};
  // The consumer drains what it already fetched, then makes no progress: within 30 s + the
  // drain it must say stalled, and at no point after the drain claim to be live.
  std::string state;
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(50)) {
    Value st = p->GetJson("/v1/views/balances");
    state = st.as_object().Find("state")->as_string();
    if (state == "stalled") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  projd::testing::Run(std::string(script) + " resume", &out);
  INFO("state after the broker froze: " << state);
  CHECK(state == "stalled");
  REQUIRE(p->WaitCaughtUp("balances", TotalEvents(events), std::chrono::seconds(180)));
  CheckTruth(*p, truth);
}

TEST_CASE("--config TOML holds the settings, flags win, --log-format json logs JSON lines",
          "[embedded]") {
  std::string data;
  std::string dir = Setup("config", &data);
  projd::testing::WriteFile(dir + "/projd.toml", "projections = \"" + dir +
                                                     "/projections\"\n"
                                                     "data = \"" +
                                                     data +
                                                     "\"\n"
                                                     "listen = \"127.0.0.1:1\"\n"
                                                     "log_format = \"json\"\n"
                                                     "partitions = 2\n");
  std::string error;
  // listen from the file (port 1) is overridden by the flag the harness adds (port 0).
  auto p = ProjdProcess::Start({"--config", dir + "/projd.toml"}, dir + "/projd.log", &error);
  REQUIRE(p);
  CHECK(p->Call("GET", "/v1/views/balances").status == 200);
  std::string log = p->Log();
  size_t first_line_end = log.find('\n');
  std::string first = log.substr(0, first_line_end);
  Value line;
  std::string perr;
  INFO(first);
  CHECK(projd::ParseJson(first, &line, &perr));
  CHECK(line.is_object());
  CHECK(line.as_object().Find("level"));
  // librdkafka's own warnings come through the same log: bytes that are not Kafka sent to the
  // embedded broker make it warn (a protocol error), as a JSON line like every other.
  {
    std::string brokers = p->embedded_brokers();
    int port = std::stoi(brokers.substr(brokers.rfind(':') + 1));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(send(fd, garbage, sizeof(garbage) - 1, 0) > 0);
    bool warned = false;
    for (int i = 0; i < 50 && !warned; ++i) {
      warned = p->Log().find("\"msg\":\"kafka ") != std::string::npos;
      if (!warned) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    close(fd);
    CHECK(warned);
  }
  log = p->Log();
  for (size_t at = 0, end; at < log.size(); at = end + 1) {
    end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    std::string text = log.substr(at, end - at);
    if (text.empty()) continue;
    INFO(text);
    CHECK(projd::ParseJson(text, &line, &perr));
  }
  // SIGHUP reloads the projections folder (here unchanged: nothing to do, still serving).
  p->Signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 50 && !reloaded; ++i) {
    reloaded = p->Log().find("SIGHUP: reloading projections") != std::string::npos;
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(reloaded);
  CHECK(p->Call("GET", "/v1/views/balances").status == 200);
  CHECK(p->Terminate() == 0);
  // A start that fails (a second projd on the held folder) says why in a JSON line too.
  {
    auto first = ProjdProcess::Start({"--config", dir + "/projd.toml"}, dir + "/first.log", &error);
    REQUIRE(first);
    std::string out;
    CHECK(projd::testing::Run(
              std::string(PROJD_BIN) + " --config " + dir + "/projd.toml --listen 127.0.0.1:0",
              &out) == 1);
    INFO(out);
    size_t at = out.find("is in use by another projd");
    REQUIRE(at != std::string::npos);
    at = out.rfind('\n', at);
    at = at == std::string::npos ? 0 : at + 1;
    std::string json_line = out.substr(at, out.find('\n', at) - at);
    CHECK(projd::ParseJson(json_line, &line, &perr));
    CHECK(json_line.find("is in use by another projd") != std::string::npos);
    CHECK(first->Terminate() == 0);
  }
  // A bad config file is refused with its position.
  projd::testing::WriteFile(dir + "/bad.toml", "projections = \n");
  auto bad = ProjdProcess::Start({"--config", dir + "/bad.toml"}, dir + "/bad.log", &error);
  CHECK_FALSE(bad);
  CHECK(error.find("bad.toml:1:") != std::string::npos);
}
