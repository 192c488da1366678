// Change feeds end to end (GET /v1/views/{view}/changes): the real projd, a real broker or the
// embedded one, LMDB files, and a raw HTTP client that reads the stream as it comes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "connectors/source.h"
#include "dsl/value.h"
#include "tests/integration/harness.h"

namespace {

using projd::Value;
using projd::testing::KafkaOrSkip;
using projd::testing::ProjdProcess;
using Headers = std::vector<std::pair<std::string, std::string>>;

// Reads a streamed answer line by line (chunked or ended by close).
class FeedClient {
 public:
  ~FeedClient() { Close(); }
  // Sends the request and reads the head; false when the connection fails.
  bool Open(uint16_t port, const std::string& target, const Headers& headers = {}) {
    Close();
    port_ = port;
    target_ = target;
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return false;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    req += "\r\n";
    if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return false;
    }
    size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(std::chrono::seconds(10))) return false;
    }
    head_ = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    status_ = std::stoi(head_.substr(9, 3));
    chunked_ = head_.find("Transfer-Encoding: chunked") != std::string::npos;
    if (!chunked_) {
      // An error answer has a Content-Length: read it whole.
      size_t cl = head_.find("Content-Length: ");
      if (cl != std::string::npos) {
        size_t n = std::stoul(head_.substr(cl + 16));
        while (raw_.size() < n && Fill(std::chrono::seconds(10))) {
        }
        body_ = raw_.substr(0, n);
        raw_.clear();
        ended_ = true;
      }
    }
    return true;
  }
  // Opens the same stream again from `position` (its from= replaced): what a client does when
  // projd ends its stream as a slow consumer.
  bool Resume(const std::string& position) {
    std::string target = target_;
    size_t at = target.find("from=");
    size_t end = at == std::string::npos ? std::string::npos : target.find('&', at);
    std::string from = "from=" + projd::PercentEncode(position);
    if (at == std::string::npos) {
      target += (target.find('?') == std::string::npos ? "?" : "&") + from;
    } else {
      target.replace(at, end == std::string::npos ? std::string::npos : end - at, from);
    }
    return Open(port_, target);
  }
  int status() const { return status_; }
  const std::string& head() const { return head_; }
  const std::string& body() const { return body_; }
  // The next line of the body, without its newline; false at the end of the stream or after
  // `timeout` without one.
  bool NextLine(std::string* line, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      Decode();
      size_t nl = body_.find('\n');
      if (nl != std::string::npos) {
        line->assign(body_, 0, nl);
        body_.erase(0, nl + 1);
        return true;
      }
      if (ended_) return false;
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::milliseconds(0)) return false;
      if (!Fill(std::chrono::duration_cast<std::chrono::milliseconds>(left))) return false;
    }
  }
  // The next change, heartbeat or control line as JSON (NDJSON streams).
  bool Next(Value* v, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::string line, error;
    if (!NextLine(&line, timeout)) return false;
    REQUIRE(projd::ParseJson(line, v, &error));
    return true;
  }
  bool ended() const { return ended_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    raw_.clear();
    body_.clear();
    ended_ = false;
  }

 private:
  bool Fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      ended_ = true;
      return false;
    }
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }
  void Decode() {
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
      return;
    }
    while (true) {
      size_t crlf = raw_.find("\r\n");
      if (crlf == std::string::npos) return;
      size_t n = std::stoul(raw_.substr(0, crlf), nullptr, 16);
      if (n == 0) {
        ended_ = true;
        raw_.clear();
        return;
      }
      if (raw_.size() < crlf + 2 + n + 2) return;
      body_.append(raw_, crlf + 2, n);
      raw_.erase(0, crlf + 2 + n + 2);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::string target_;
  std::string raw_, body_, head_;
  int status_ = 0;
  bool chunked_ = false;
  bool ended_ = false;
};

std::string Field(const Value& v, const std::string& name) {
  return projd::testing::FieldText(v, name);
}

int64_t IntField(const Value& v, const std::string& name) {
  int64_t n = -1;
  const Value* f = v.is_object() ? v.as_object().Find(name) : nullptr;
  if (f && f->is_number()) f->as_number().ToInt64(&n);
  return n;
}

// A change's event: "PARTITION:OFFSET".
std::string EventOf(const Value& change) {
  const Value& by = *change.as_object().Find("updated_by");
  return std::to_string(IntField(by, "partition")) + ":" + std::to_string(IntField(by, "offset"));
}

std::string Encode(const std::string& s) { return projd::PercentEncode(s); }

const char kFeedView[] = R"(
projection accounts {
  from "TOPIC"
  key event.account
  on Deposited { balance += event.amount  deposits += 1  pad = event.pad }
  on Closed { delete }
}
)";

struct Wave {
  std::vector<std::pair<std::string, std::string>> events;  // key, value
  std::map<std::string, int64_t> balance;                   // the truth: open accounts
  int64_t changes = 0;                                      // events that change a row
};

// Deposits over `accounts` accounts, and now and then a closing of an open one.
void MakeWave(int n, int accounts, uint32_t seed, Wave* w, size_t pad = 0) {
  std::mt19937 rng(seed);
  std::string padding(pad, 'p');
  for (int i = 0; i < n; ++i) {
    std::string acc = "acc-" + std::to_string(rng() % static_cast<uint32_t>(accounts));
    if (w->balance.count(acc) && rng() % 50 == 0) {
      w->events.emplace_back(acc, R"({"type":"Closed","account":")" + acc + "\"}");
      w->balance.erase(acc);
    } else {
      int64_t amount = static_cast<int64_t>(rng() % 1000) + 1;
      w->balance[acc] += amount;
      w->events.emplace_back(acc, R"({"type":"Deposited","account":")" + acc + R"(","amount":)" +
                                      std::to_string(amount) + R"(,"pad":")" + padding + "\"}");
    }
    ++w->changes;
  }
}

void Produce(const std::string& brokers, const std::string& topic, const Wave& w, size_t from = 0) {
  std::string error;
  auto producer = projd::Producer::Create(brokers, {}, &error);
  REQUIRE(producer);
  for (size_t i = from; i < w.events.size(); ++i) {
    REQUIRE(producer->ProduceAsync(topic, w.events[i].first, w.events[i].second, &error));
  }
  REQUIRE(producer->Flush(std::chrono::seconds(60), &error));
}

// What a subscriber has seen: every change's event (exactly once each), the rows they give,
// and per partition the offsets in the order they came.
struct Seen {
  std::set<std::string> events;
  int64_t duplicates = 0;
  int64_t out_of_order = 0;
  std::map<std::string, Value> rows;  // key -> row (absent: deleted)
  std::map<int64_t, int64_t> last_offset;
  std::string position;  // of the last change
  void Add(const Value& c) {
    if (!events.insert(EventOf(c)).second) ++duplicates;
    const Value& by = *c.as_object().Find("updated_by");
    int64_t part = IntField(by, "partition"), off = IntField(by, "offset");
    if (last_offset.count(part) && last_offset[part] >= off) ++out_of_order;
    last_offset[part] = off;
    const Value& row = *c.as_object().Find("row");
    if (row.is_null()) {
      rows.erase(Field(c, "key"));
    } else {
      rows[Field(c, "key")] = row;
    }
    position = Field(c, "position");
  }
  void CheckTruth(const Wave& w) const {
    CHECK(duplicates == 0);
    CHECK(out_of_order == 0);
    CHECK(static_cast<int64_t>(events.size()) == w.changes);
    REQUIRE(rows.size() == w.balance.size());
    for (const auto& [acc, cents] : w.balance) {
      auto it = rows.find(acc);
      REQUIRE(it != rows.end());
      CHECK(Field(it->second, "balance") == std::to_string(cents));
    }
  }
};

// Reads changes into *seen until it holds `total` events (or nothing comes for 30 s).
void ReadUntil(FeedClient& c, Seen* seen, int64_t total) {
  Value v;
  while (static_cast<int64_t>(seen->events.size()) < total && c.Next(&v)) {
    if (v.as_object().Find("heartbeat")) continue;
    if (v.as_object().Find("error") && Field(v, "error") == "slow consumer") {
      // projd ended the stream of a subscriber that fell 8 MiB behind (a loaded machine, a
      // sanitizer build): resumed from the position it names, nothing is lost or repeated.
      REQUIRE(c.Resume(Field(v, "position")));
      continue;
    }
    INFO(projd::ToJson(v));
    REQUIRE(v.as_object().Find("key"));
    seen->Add(v);
  }
}

std::string Setup(const std::string& name, const std::string& topic, std::string* data) {
  std::string proj = kFeedView;
  proj.replace(proj.find("TOPIC"), 5, topic);
  std::string dir = projd::testing::ProjectionFolder(name, "accounts.proj", proj);
  *data = dir + "/data";
  return dir;
}

}  // namespace

TEST_CASE("real Kafka: change feeds deliver every change once, in order, across cuts and kill -9",
          "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = projd::testing::UniqueTopic("feed");
  std::string data, error;
  std::string dir = Setup("feed-kafka", topic, &data);
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 4, &error));
  std::vector<std::string> args = {"--brokers", brokers, "--group", "g-" + topic};
  auto p = ProjdProcess::StartIn(dir, args, &error);
  REQUIRE(p);

  // A subscriber from earliest while 100,000 events arrive: it ends at the truth.
  Wave w;
  MakeWave(100000, 2000, 7, &w);
  FeedClient all;
  REQUIRE(all.Open(p->port(), "/v1/views/accounts/changes?from=earliest"));
  REQUIRE(all.status() == 200);
  CHECK(all.head().find("application/x-ndjson") != std::string::npos);
  // The stream's start (X-Projd-Feed-Position: empty, the view has applied nothing) resumes.
  const std::string header = "X-Projd-Feed-Position: ";
  size_t at = all.head().find(header);
  REQUIRE(at != std::string::npos);
  at += header.size();
  std::string start = all.head().substr(at, all.head().find("\r\n", at) - at);
  FeedClient resumed;
  REQUIRE(resumed.Open(p->port(), "/v1/views/accounts/changes?from=" + Encode(start)));
  REQUIRE(resumed.status() == 200);
  // One row followed by key, and a where filter, from the start too.
  FeedClient one, big;
  REQUIRE(one.Open(p->port(), "/v1/views/accounts/changes?from=earliest&key=acc-7"));
  REQUIRE(big.Open(p->port(),
                   "/v1/views/accounts/changes?from=earliest&where=" + Encode("balance > 20000")));
  Produce(brokers, topic, w);
  Seen seen;
  ReadUntil(all, &seen, w.changes);
  seen.CheckTruth(w);
  Seen seen_resumed;
  ReadUntil(resumed, &seen_resumed, w.changes);
  seen_resumed.CheckTruth(w);
  REQUIRE(p->WaitCaughtUp("accounts", static_cast<int64_t>(w.events.size())));

  int64_t acc7 = 0;
  for (const auto& e : w.events) acc7 += e.first == "acc-7" ? 1 : 0;
  Seen seen7;
  ReadUntil(one, &seen7, acc7);
  CHECK(static_cast<int64_t>(seen7.events.size()) == acc7);
  for (const auto& [k, row] : seen7.rows) CHECK(k == "acc-7");
  Value v;
  // Nothing of other rows (a heartbeat may come: the row has been quiet a while).
  while (one.Next(&v, std::chrono::milliseconds(300))) CHECK(v.as_object().Find("heartbeat"));
  int64_t big_count = 0;
  while (big.Next(&v, std::chrono::milliseconds(500))) {
    if (!v.as_object().Find("key")) continue;
    const Value& row = *v.as_object().Find("row");
    if (row.is_null()) continue;  // a deletion: filtered on the row before it
    int64_t b = IntField(row, "balance");
    CHECK(b > 20000);
    ++big_count;
  }
  CHECK(big_count > 0);

  // A change's position as min_position reads at least that version.
  FeedClient now;
  REQUIRE(now.Open(p->port(), "/v1/views/accounts/changes?key=acc-3"));
  CHECK(now.head().find("X-Projd-Feed-Position: ") != std::string::npos);
  Wave w2;
  w2.balance = w.balance;
  w2.changes = w.changes;
  MakeWave(20000, 2000, 8, &w2);
  std::thread producer([&] { Produce(brokers, topic, w2); });
  REQUIRE(now.Next(&v));
  auto read =
      p->Call("GET", "/v1/views/accounts/rows/acc-3?min_position=" + Encode(Field(v, "position")));
  REQUIRE(read.status == 200);
  Value row;
  REQUIRE(projd::ParseJson(read.body, &row, &error));
  CHECK(IntField(row, "version") >= IntField(v, "version"));

  // Cut and resumed ten times at random points, by from= and by Last-Event-ID, while the
  // second wave arrives: each change exactly once. Then a kill -9 and a resume.
  std::mt19937 rng(3);
  Seen again;
  std::string resume;  // empty: earliest
  for (int cut = 0; cut < 10; ++cut) {
    FeedClient c;
    if (resume.empty()) {
      REQUIRE(c.Open(p->port(), "/v1/views/accounts/changes?from=earliest"));
    } else if (cut % 2 == 0) {
      REQUIRE(c.Open(p->port(), "/v1/views/accounts/changes?from=" + Encode(resume)));
    } else {
      REQUIRE(
          c.Open(p->port(), "/v1/views/accounts/changes?from=now", {{"Last-Event-ID", resume}}));
    }
    REQUIRE(c.status() == 200);
    int take = 1 + static_cast<int>(rng() % 9000);
    for (int i = 0; i < take && c.Next(&v); ++i) {
      if (v.as_object().Find("heartbeat")) continue;
      again.Add(v);
    }
    resume = again.position;
  }
  producer.join();
  p->Kill9();
  p = ProjdProcess::StartIn(dir, args, &error, "projd2.log");
  REQUIRE(p);
  FeedClient last;
  REQUIRE(last.Open(p->port(), "/v1/views/accounts/changes?from=" + Encode(resume)));
  REQUIRE(last.status() == 200);
  ReadUntil(last, &again, w2.changes);
  again.CheckTruth(w2);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("real Kafka: a slow subscriber is cut off while a fast one keeps up", "[kafka]") {
  std::string brokers = KafkaOrSkip();
  if (brokers.empty()) return;
  std::string topic = projd::testing::UniqueTopic("feed-slow");
  std::string data, error;
  std::string dir = Setup("feed-slow", topic, &data);
  REQUIRE(projd::CreateKafkaTopic(brokers, topic, 2, &error));
  auto p = ProjdProcess::StartIn(dir, {"--brokers", brokers, "--group", "g-" + topic}, &error);
  REQUIRE(p);
  FeedClient slow, fast;
  REQUIRE(slow.Open(p->port(), "/v1/views/accounts/changes"));
  REQUIRE(fast.Open(p->port(), "/v1/views/accounts/changes"));
  // 3,000 changes of about 10 KB each: 30 MB, well past the 8 MiB a subscriber may lag.
  Wave w;
  MakeWave(3000, 100, 9, &w, 10000);
  std::thread producer([&] { Produce(brokers, topic, w); });
  Seen seen;
  ReadUntil(fast, &seen, w.changes);
  producer.join();
  seen.CheckTruth(w);
  // The slow one gets what was queued for it, then the cut-off line, then the end.
  Value v, lastv;
  int64_t got = 0;
  std::string last_position;
  while (slow.Next(&v, std::chrono::seconds(10))) {
    if (v.as_object().Find("key")) {
      ++got;
      last_position = Field(v, "position");
    }
    lastv = v;
  }
  CHECK(slow.ended());
  CHECK(got < w.changes);
  REQUIRE(lastv.is_object());
  CHECK(Field(lastv, "error") == "slow consumer");
  CHECK(Field(lastv, "position") == last_position);
  // Where it was cut, it resumes: the rest, exactly.
  FeedClient resumed;
  REQUIRE(resumed.Open(p->port(), "/v1/views/accounts/changes?from=" + Encode(last_position)));
  int64_t rest = 0;
  while (rest < w.changes - got && resumed.Next(&v)) {
    if (v.as_object().Find("key")) ++rest;
  }
  CHECK(rest == w.changes - got);
  CHECK(p->Terminate() == 0);
}

TEST_CASE("change feeds: SSE, heartbeats, 410 past --changes-keep, bad requests, rebuilt",
          "[embedded]") {
  std::string data, error;
  std::string dir = Setup("feed-embedded", "bank", &data);
  auto p =
      ProjdProcess::StartIn(dir, {"--changes-keep", "50", "--changes-heartbeat-ms", "200"}, &error);
  REQUIRE(p);
  FeedClient sse;
  REQUIRE(sse.Open(p->port(), "/v1/views/accounts/changes?from=earliest",
                   {{"Accept", "text/event-stream"}}));
  REQUIRE(sse.status() == 200);
  CHECK(sse.head().find("text/event-stream") != std::string::npos);
  // Accept is read as media ranges with weights: a type in any case asks for SSE; a weight of
  // 0, or NDJSON weighted above it, does not.
  for (const auto& [accept, want_sse] : std::vector<std::pair<std::string, bool>>{
           {"TEXT/Event-Stream", true},
           {"application/json, text/event-stream;q=0.5", true},
           {"text/event-stream;q=0", false},
           {"text/event-stream; q=0.000", false},
           {"application/x-ndjson, text/event-stream;q=0.9", false},
           {"text/event-stream-x", false},
           {"*/*", false}}) {
    FeedClient other;
    INFO("Accept: " << accept);
    REQUIRE(
        other.Open(p->port(), "/v1/views/accounts/changes?from=earliest", {{"Accept", accept}}));
    CHECK(other.status() == 200);
    CHECK((other.head().find("text/event-stream") != std::string::npos) == want_sse);
    CHECK((other.head().find("application/x-ndjson") != std::string::npos) == !want_sse);
  }
  Wave w;
  MakeWave(200, 20, 5, &w);
  Produce(p->embedded_brokers(), "bank", w);
  REQUIRE(p->WaitCaughtUp("accounts", 200));
  // SSE: an id line (the position) and a data line per change, a blank line after each; before
  // the first change, heartbeats (a comment and a blank line) while the stream was quiet.
  std::string line, id;
  REQUIRE(sse.NextLine(&line));
  int heartbeats = 0;
  while (line.rfind(": heartbeat ", 0) == 0) {
    ++heartbeats;
    REQUIRE(sse.NextLine(&line));
    CHECK(line.empty());
    REQUIRE(sse.NextLine(&line));
  }
  INFO(heartbeats << " heartbeats before the first change");
  REQUIRE(line.rfind("id: ", 0) == 0);
  id = line.substr(4);
  REQUIRE(sse.NextLine(&line));
  REQUIRE(line.rfind("data: ", 0) == 0);
  Value first;
  REQUIRE(projd::ParseJson(line.substr(6), &first, &error));
  CHECK(Field(first, "position") == id);
  REQUIRE(sse.NextLine(&line));
  CHECK(line.empty());

  // A quiet NDJSON stream gets heartbeats with its position.
  FeedClient quiet;
  REQUIRE(quiet.Open(p->port(), "/v1/views/accounts/changes?key=nobody"));
  Value v;
  REQUIRE(quiet.Next(&v, std::chrono::seconds(5)));
  CHECK(v.as_object().Find("heartbeat"));

  // Kept: the last 50 changes, and always a whole batch's (so that streams can send them). A
  // second wave prunes the first: the first change's position asks for pruned ones.
  Wave second;
  MakeWave(120, 20, 15, &second);
  Produce(p->embedded_brokers(), "bank", second);
  REQUIRE(p->WaitCaughtUp("accounts", 320));
  auto gone = p->Call("GET", "/v1/views/accounts/changes?from=" + Encode(id));
  CHECK(gone.status == 410);
  Value g;
  REQUIRE(projd::ParseJson(gone.body, &g, &error));
  std::string oldest = Field(*g.as_object().Find("detail"), "oldest");
  CHECK(oldest != "(none)");
  // From the oldest kept position: the kept changes (50 up to the last batch's 120), each once,
  // then quiet (a heartbeat).
  FeedClient from_oldest;
  REQUIRE(from_oldest.Open(p->port(), "/v1/views/accounts/changes?from=" + Encode(oldest)));
  CHECK(from_oldest.status() == 200);
  std::set<std::string> kept;
  while (from_oldest.Next(&v, std::chrono::seconds(5)) && v.as_object().Find("key")) {
    CHECK(kept.insert(EventOf(v)).second);
  }
  CHECK(v.as_object().Find("heartbeat"));
  CHECK(kept.size() >= 50);
  CHECK(kept.size() <= 120);

  // Bad requests.
  CHECK(p->Call("GET", "/v1/views/accounts/changes?from=nope").status == 400);
  // A position of a topic the view does not consume: its offsets would ride along in every
  // position sent, which no read could wait for.
  auto foreign = p->Call("GET", "/v1/views/accounts/changes?from=" + Encode("other:0:5"));
  CHECK(foreign.status == 400);
  CHECK(foreign.body.find("does not consume topic other") != std::string::npos);
  auto bad_where = p->Call("GET", "/v1/views/accounts/changes?where=" + Encode("balance >"));
  CHECK(bad_where.status == 400);
  CHECK(bad_where.body.find("column") != std::string::npos);
  // A `where` over 1 KiB is compiled on the query pool: the same answers from there, a 400 with
  // the column in the expression, or the stream.
  std::string long_where;
  for (int i = 0; i < 100; ++i) long_where += "balance >= 0 and ";
  REQUIRE(long_where.size() > 1024);
  bad_where =
      p->Call("GET", "/v1/views/accounts/changes?where=" + Encode(long_where + "balance >"));
  CHECK(bad_where.status == 400);
  CHECK(bad_where.body.find("\"column\":" + std::to_string(long_where.size() + 10)) !=
        std::string::npos);
  FeedClient long_filter;
  REQUIRE(long_filter.Open(
      p->port(), "/v1/views/accounts/changes?key=nobody&where=" + Encode(long_where + "true")));
  CHECK(long_filter.status() == 200);
  REQUIRE(long_filter.Next(&v, std::chrono::seconds(5)));
  CHECK(v.as_object().Find("heartbeat"));
  long_filter.Close();
  CHECK(p->Call("GET", "/v1/views/nope/changes").status == 404);
  auto metrics = p->Call("GET", "/metrics");
  CHECK(metrics.body.find("projd_subscribers{view=\"accounts\"} ") != std::string::npos);

  // A rebuild of the same definition swaps in a new store under the open streams: they go
  // on, and each later change comes once.
  REQUIRE(p->Call("POST", "/v1/views/accounts/rebuild").status == 202);
  auto rebuilding = [&p] {
    Value st = p->GetJson("/v1/views/accounts");
    const Value* r = st.as_object().Find("rebuild");
    return r && !r->is_null();
  };
  for (int i = 0; i < 100 && rebuilding(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE_FALSE(rebuilding());
  Wave later;
  MakeWave(10, 20, 6, &later);
  Produce(p->embedded_brokers(), "bank", later);
  std::set<std::string> after_rebuild;
  while (after_rebuild.size() < 10 && from_oldest.Next(&v, std::chrono::seconds(10))) {
    if (v.as_object().Find("key")) CHECK(after_rebuild.insert(EventOf(v)).second);
  }
  CHECK(after_rebuild.size() == 10);

  // A changed definition: once the rebuild swaps in, each stream ends with "rebuilt".
  std::string proj = projd::testing::ReadFile(dir + "/projections/accounts.proj");
  proj.replace(proj.find("deposits += 1"), 13, "deposits += 2");
  projd::testing::WriteFile(dir + "/projections/accounts.proj", proj);
  p->Signal(SIGHUP);
  bool rebuilt = false;
  while (quiet.Next(&v, std::chrono::seconds(30))) {
    if (v.as_object().Find("rebuilt")) {
      rebuilt = true;
      CHECK(Field(v, "position") != "(none)");
    }
  }
  CHECK(rebuilt);
  CHECK(quiet.ended());
  CHECK(p->Terminate() == 0);
}

TEST_CASE(
    "change feeds: a position the log order did not pass (another replica's) resumes "
    "exactly: each change it does not cover once, none it covers",
    "[embedded]") {
  // A replica, or a rebuilt view, applies the partitions in other runs than this view did: a
  // position it gave out need not be one this view's log passed. Positions are per partition:
  // resuming sends exactly the changes at or past the position's offset of their partition.
  std::string data, error;
  std::string dir = Setup("feed-resume-any", "bank4", &data);
  auto p =
      ProjdProcess::StartIn(dir, {"--partitions", "4", "--changes-heartbeat-ms", "200"}, &error);
  REQUIRE(p);
  Wave w;
  MakeWave(400, 24, 21, &w);
  Produce(p->embedded_brokers(), "bank4", w);
  REQUIRE(p->WaitCaughtUp("accounts", 400));
  // Every change, in log order: its partition, offset and position.
  struct Change {
    int64_t partition, offset;
    std::string position;
  };
  std::vector<Change> all;
  {
    FeedClient c;
    REQUIRE(c.Open(p->port(), "/v1/views/accounts/changes?from=earliest"));
    Value v;
    while (static_cast<int64_t>(all.size()) < w.changes && c.Next(&v)) {
      if (!v.as_object().Find("key")) continue;
      const Value& by = *v.as_object().Find("updated_by");
      all.push_back({IntField(by, "partition"), IntField(by, "offset"), Field(v, "position")});
    }
  }
  REQUIRE(static_cast<int64_t>(all.size()) == w.changes);
  // A position from the middle, one partition moved back, another moved forward by 10: a
  // position no run of this log passed.
  projd::Position mid;
  REQUIRE(projd::Position::Parse(all[all.size() / 2].position, &mid, &error));
  REQUIRE(mid.size() >= 2);
  auto it = mid.begin();
  const projd::TopicPartition back = it->first, ahead = std::next(it)->first;
  mid[back] = std::max<int64_t>(0, mid.NextOf(back) - 10);
  mid[ahead] = mid.NextOf(ahead) + 10;
  std::set<std::string> want;
  for (const auto& c : all) {
    projd::TopicPartition tp{"bank4", static_cast<int32_t>(c.partition)};
    if (c.offset >= mid.NextOf(tp))
      want.insert(std::to_string(c.partition) + ":" + std::to_string(c.offset));
  }
  for (bool sse : {false, true}) {
    INFO((sse ? "SSE, Last-Event-ID " : "from= ") << mid.ToString());
    FeedClient c;
    if (sse) {
      REQUIRE(c.Open(p->port(), "/v1/views/accounts/changes",
                     {{"Accept", "text/event-stream"}, {"Last-Event-ID", mid.ToString()}}));
    } else {
      REQUIRE(c.Open(p->port(), "/v1/views/accounts/changes?from=" + Encode(mid.ToString())));
    }
    REQUIRE(c.status() == 200);
    std::multiset<std::string> got;
    std::string line;
    int64_t behind = 0;  // changes whose position is behind the resume position somewhere
    while (c.NextLine(&line, std::chrono::seconds(10))) {
      if (sse) {
        if (line.rfind(": heartbeat", 0) == 0) break;  // all sent: quiet now
        if (line.rfind("data: ", 0) != 0) continue;
        line = line.substr(6);
      }
      Value v;
      REQUIRE(projd::ParseJson(line, &v, &error));
      if (v.as_object().Find("heartbeat")) break;  // all sent: quiet now
      REQUIRE(v.as_object().Find("key"));
      got.insert(EventOf(v));
      projd::Position at;
      REQUIRE(projd::Position::Parse(Field(v, "position"), &at, &error));
      for (const auto& [tp, off] : mid) behind += at.NextOf(tp) < off ? 1 : 0;
    }
    CHECK(got.size() == want.size());
    CHECK(std::set<std::string>(got.begin(), got.end()) == want);
    // Each position sent covers what the resume position did: resuming from it repeats none.
    CHECK(behind == 0);
  }
}
