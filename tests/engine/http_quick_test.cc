// The server's quick path for plain GETs (HttpServerOptions::quick_get) and the wire form of
// answers (SerializeAnswer, StreamHead), which is checked against Beast's own serializer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "api/http_server_internal.h"

namespace projd {
namespace {

namespace http = http_internal::http;
using http::field;

// The wire form Beast's serializer gives the answer, built the way projd built it with Beast:
// the reference SerializeAnswer must equal byte for byte.
std::string BeastWire(HttpResponse answer, bool keep_alive, bool head_request, bool http10,
                      bool stream_head = false) {
  auto is_framing = [](const std::string& n) {
    return http_internal::EqualsIgnoreCase(n, "content-length") ||
           http_internal::EqualsIgnoreCase(n, "connection") ||
           http_internal::EqualsIgnoreCase(n, "transfer-encoding") ||
           http_internal::EqualsIgnoreCase(n, "server");
  };
  auto breaks = [](const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; };
  int status = answer.status < 100 || answer.status > 599 ? 500 : answer.status;
  http::response<http::string_body> r;
  r.version(11);
  r.result(static_cast<unsigned>(status));
  r.set(field::server, "projd");
  if (!answer.content_type.empty() && !breaks(answer.content_type)) {
    r.set(field::content_type, answer.content_type);
  }
  for (const auto& [name, value] : answer.headers) {
    if (name.empty() || is_framing(name) || breaks(name) || breaks(value) ||
        http_internal::EqualsIgnoreCase(name, "content-type")) {
      continue;
    }
    r.insert(name, value);
  }
  bool no_body = status < 200 || status == 204 || status == 304;
  if (!no_body) r.content_length(answer.body.size());
  if (no_body || head_request || stream_head) answer.body.clear();
  r.body() = answer.body;
  r.keep_alive(keep_alive);
  if (keep_alive && http10) r.set(field::connection, "keep-alive");
  if (stream_head) {
    r.erase(field::content_length);
    if (!http10) r.set(field::transfer_encoding, "chunked");
    if (r.find(field::cache_control) == r.end()) r.set(field::cache_control, "no-cache");
    if (r.find("X-Accel-Buffering") == r.end()) r.insert("X-Accel-Buffering", "no");
  }
  std::ostringstream out;
  out << r.base();
  return out.str() + r.body();
}

HttpResponse RandomAnswer(std::mt19937* rng) {
  static const std::vector<int> kStatuses = {100, 200, 201, 204, 299, 304, 400,
                                             404, 431, 503, 599, 42,  600, 1000};
  static const std::vector<std::string> kNames = {
      "X-Projd-Position",  "x-projd-position", "Link",        "Cache-Control",
      "X-Accel-Buffering", "Content-Length",   "connection",  "Server",
      "Transfer-Encoding", "content-type",     "Retry-After", "",
      "Bad\r\nName",       "WWW-Authenticate", "ETag",        "Vary"};
  static const std::vector<std::string> kValues = {"a", "", " spaced ", "x\ny", "1, 2", "no"};
  auto pick = [rng](size_t n) { return static_cast<size_t>((*rng)() % n); };
  HttpResponse a;
  a.status = kStatuses[pick(kStatuses.size())];
  static const std::vector<std::string> kTypes = {"application/json", "", "text/csv",
                                                  "bad\r\ntype"};
  a.content_type = kTypes[pick(kTypes.size())];
  size_t fields = pick(6);
  for (size_t i = 0; i < fields; ++i) {
    a.headers.emplace_back(kNames[pick(kNames.size())], kValues[pick(kValues.size())]);
  }
  a.body = std::string(pick(3) * 17, 'b');
  return a;
}

TEST_CASE("answers go on the wire as Beast's serializer writes them", "[http]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    HttpResponse a = RandomAnswer(&rng);
    bool keep_alive = rng() % 2, head = rng() % 3 == 0, http10 = rng() % 3 == 0;
    INFO("case " << i);
    std::string want = BeastWire(a, keep_alive, head, http10);
    bool sends_file = true;
    CHECK(http_internal::SerializeAnswer(HttpResponse(a), keep_alive, head, http10, nullptr,
                                         &sends_file) == want);
    CHECK(!sends_file);
    if (a.status >= 200 && a.status <= 299 && a.status != 204) {
      CHECK(http_internal::StreamHead(HttpResponse(a), keep_alive, http10) ==
            BeastWire(a, keep_alive, true, http10, true));
    }
  }
}

TEST_CASE("a quick answer goes on the wire as the same answer through SerializeAnswer", "[http]") {
  std::mt19937 rng(11);
  for (int i = 0; i < 3000; ++i) {
    HttpResponse a = RandomAnswer(&rng);
    a.status = 200;
    if (a.headers.size() > 1) a.headers.resize(1);
    QuickAnswer q;
    q.content_type = a.content_type;
    if (!a.headers.empty()) {
      q.field_name = a.headers[0].first;
      q.field_value = a.headers[0].second;
    }
    q.body = a.body;
    INFO("case " << i);
    bool sends_file = true;
    std::string want =
        http_internal::SerializeAnswer(HttpResponse(a), true, false, false, nullptr, &sends_file);
    CHECK(want == BeastWire(a, true, false, false));
    std::string wire = "before";  // appended to what is there
    http_internal::AppendQuickAnswer(q, &wire);
    CHECK(wire == "before" + want);
  }
}

TEST_CASE("ParseQuickGet takes plain GETs only", "[http]") {
  QuickGetRequest request;
  std::string_view& target = request.target;
  size_t length = 0;
  auto quick = [&](const std::string& bytes, size_t limit = 16384) {
    return http_internal::ParseQuickGet(bytes, limit, &request, &length);
  };
  std::string plain = "GET /v1/views/v/rows/k HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n\r\n";
  std::string two = plain + "GET /next";
  REQUIRE(quick(two));
  CHECK(target == "/v1/views/v/rows/k");
  CHECK(length == plain.size());
  CHECK_FALSE(request.has_authorization);
  CHECK(quick("GET / HTTP/1.1\r\nhost: a:80\r\n\r\n"));
  // One Authorization field is handed over, without the spaces around its value.
  std::string authorized = "GET /a HTTP/1.1\r\nHost: a\r\nAuthorization: \tBearer t \r\n\r\n";
  REQUIRE(quick(authorized));
  CHECK(request.has_authorization);
  CHECK(request.authorization == "Bearer t");
  CHECK(
      quick("GET /a HTTP/1.1\r\nHost: [::1]:8080\r\nconnection:  Keep-Alive \r\nACCEPT: */*\r\n"
            "Accept-Encoding: gzip\r\nAccept-Language: en\r\n\r\n"));
  // Not whole yet, over the header limit.
  CHECK_FALSE(quick("GET /a HTTP/1.1\r\nHost: a\r\n"));
  CHECK_FALSE(quick(plain, plain.size() - 1));
  CHECK(quick(plain, plain.size()));
  // Anything whose meaning is more than its target goes the general way.
  for (const char* other : {
           "HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n",
           "POST /a HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.0\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.1 \r\nHost: a\r\n\r\n",
           "GET /a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET http://h/a HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a  HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nauthorization: Bearer "
           "u\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nX-Projd-Min-Position: t:0:1\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost : a\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\nUser-Agent: b\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\rb\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\r\n\r\n",
           "GET /a HTTP/1.1\r\nHo\rst: a\r\n\r\n",
           "GET /a HTTP/1.1\r\nHo\nst: a\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: \x01\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n",
           "GET /a HTTP/1.1\nHost: a\r\n\r\n",
           "GET /a HTTP/1.1\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a b\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a:8x\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost:\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: \r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: :80\r\n\r\n",
       }) {
    INFO(other);
    CHECK_FALSE(quick(other));
  }
}

// A server whose quick_get answers "quick TARGET" for targets starting with /q (throws for /qx,
// refuses /qn and any Authorization but "ok") and whose handler answers "general TARGET".
struct Servers {
  std::mutex mu;
  std::vector<std::string> quick_calls;
  HttpServerOptions options;
  HttpHandler handler;

  Servers() {
    options.address = "127.0.0.1";
    options.port = 0;
    options.quick_get = [this](const QuickGetRequest& request, QuickAnswer* answer) {
      std::string_view target = request.target;
      {
        std::lock_guard<std::mutex> lock(mu);
        quick_calls.emplace_back(target);
        if (request.has_authorization)
          quick_calls.back() += " " + std::string(request.authorization);
      }
      if (request.has_authorization && request.authorization != "ok") return false;
      if (target.substr(0, 2) != "/q" || target.substr(0, 3) == "/qn") return false;
      if (target.substr(0, 3) == "/qx") throw std::runtime_error("quick_get failed");
      answer->content_type = "text/plain";
      if (target.substr(0, 3) == "/qb") {  // a body larger than the room kept between answers
        answer->field_name = "X-Big";
        answer->field_value = std::string(70000, 'v');
        answer->body = std::string(100000, 'b');
        return true;
      }
      answer->body = "quick ";
      answer->body += target;
      return true;
    };
    handler = [](HttpRequest&& request, Responder respond) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "general " + request.path;
      respond(std::move(r));
    };
  }
};

std::vector<std::string> Bodies(const std::string& wire) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = wire.find("Content-Length: ", pos)) != std::string::npos) {
    size_t n = std::stoul(wire.substr(pos + 16));
    size_t start = wire.find("\r\n\r\n", pos) + 4;
    out.push_back(wire.substr(start, n));
    pos = start + n;
  }
  return out;
}

const char kPipeline[] =
    "GET /q1 HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /q2?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /qn HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /qx HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /g HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /q3 HTTP/1.1\r\nHost: h\r\nAuthorization: x\r\n\r\n"
    "GET /q4 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nAuthorization:  ok\r\n\r\n"
    "GET /q5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
const std::vector<std::string> kPipelineAnswers = {"quick /q1",   "general /q2", "general /qn",
                                                   "general /qx", "general /g",  "general /q3",
                                                   "quick /q4",   "general /q5"};

TEST_CASE("quick_get answers plain GETs in order with the others; HandleConnectionBytes too",
          "[http]") {
  Servers s;
  std::string wire =
      HandleConnectionBytes(kPipeline, s.options, s.handler, std::chrono::milliseconds(2000));
  CHECK(Bodies(wire) == kPipelineAnswers);
  // Offered only the requests ParseQuickGet takes.
  CHECK(s.quick_calls == std::vector<std::string>{"/q1", "/qn", "/qx", "/g", "/q3 x", "/q4 ok"});
  // A request over the header limit is still refused (431) by the general reading.
  s.options.max_header_bytes = 64;
  wire = HandleConnectionBytes(
      "GET /q1 HTTP/1.1\r\nHost: h\r\nUser-Agent: " + std::string(80, 'a') + "\r\n\r\n", s.options,
      s.handler, std::chrono::milliseconds(2000));
  CHECK(wire.rfind("HTTP/1.1 431 ", 0) == 0);
}

// A connected socket to 127.0.0.1:port.
int ConnectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// The answer quick_get fills is reused from request to request (its strings emptied, a large
// one's room given back), as is the string of a connection's last written answer: large and
// small answers in turn come out whole, each with its own field, in one pass and on a socket.
TEST_CASE("quick answers large and small in turn, reused buffers", "[http]") {
  Servers s;
  std::string requests;
  std::vector<std::string> want;
  for (int i = 0; i < 6; ++i) {
    bool big = i % 3 != 2;
    std::string target = big ? "/qb" + std::to_string(i) : "/q" + std::to_string(i);
    requests += "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
    want.push_back(big ? std::string(100000, 'b') : "quick " + target);
  }
  auto check = [&](const std::string& wire) {
    CHECK(Bodies(wire) == want);
    size_t big_fields = 0;
    for (size_t pos = 0; (pos = wire.find("X-Big: ", pos)) != std::string::npos; ++pos) {
      ++big_fields;
      CHECK(wire.compare(pos + 7, 70002, std::string(70000, 'v') + "\r\n") == 0);
    }
    CHECK(big_fields == 4);
  };
  check(HandleConnectionBytes(requests, s.options, s.handler, std::chrono::milliseconds(2000)));

  std::string error;
  auto server = HttpServer::Start(s.options, s.handler, &error);
  REQUIRE(server);
  int fd = ConnectLoopback(server->port());
  // One request at a time, each answer read whole before the next is sent.
  std::string wire;
  char buf[65536];
  size_t start = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    size_t end = requests.find("\r\n\r\n", start) + 4;
    std::string one = requests.substr(start, end - start);
    start = end;
    REQUIRE(send(fd, one.data(), one.size(), 0) == static_cast<ssize_t>(one.size()));
    while (Bodies(wire).size() < i + 1 || Bodies(wire).back().size() < want[i].size()) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      REQUIRE(n > 0);
      wire.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  check(wire);
  server->Stop();
}

TEST_CASE("quick_get through a socket: pipelined, in order, split across reads", "[http]") {
  Servers s;
  std::string error;
  auto server = HttpServer::Start(s.options, s.handler, &error);
  REQUIRE(server);
  int fd = ConnectLoopback(server->port());
  // The first request in two pieces (the quick path waits for the whole head), then the rest.
  std::string all = kPipeline;
  std::string first = all.substr(0, 10), rest = all.substr(10);
  REQUIRE(send(fd, first.data(), first.size(), 0) == static_cast<ssize_t>(first.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(send(fd, rest.data(), rest.size(), 0) == static_cast<ssize_t>(rest.size()));
  std::string wire;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) wire.append(buf, static_cast<size_t>(n));
  close(fd);
  // The first request came in pieces: the general reading takes it (the quick path only looks
  // at heads that are whole in the bytes at hand), unless the pieces came together.
  std::vector<std::string> bodies = Bodies(wire);
  REQUIRE(bodies.size() == kPipelineAnswers.size());
  CHECK((bodies[0] == "general /q1" || bodies[0] == "quick /q1"));
  bodies[0] = kPipelineAnswers[0];
  CHECK(bodies == kPipelineAnswers);
  server->Stop();
}

TEST_CASE("empty lines before a request are dropped before the quick path looks at it", "[http]") {
  // As the general reading drops them (RFC 9112 section 2.2): a plain GET behind them is still
  // quick_get's, in HandleConnectionBytes and on a socket.
  Servers s;
  const std::string bytes =
      "\r\nGET /q1 HTTP/1.1\r\nHost: h\r\n\r\n\r\n\r\nGET /g HTTP/1.1\r\nHost: h\r\n\r\n"
      "\r\nGET /q2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::vector<std::string> answers = {"quick /q1", "general /g", "general /q2"};
  CHECK(Bodies(HandleConnectionBytes(bytes, s.options, s.handler,
                                     std::chrono::milliseconds(2000))) == answers);
  CHECK(s.quick_calls == std::vector<std::string>{"/q1", "/g"});

  std::string error;
  auto server = HttpServer::Start(s.options, s.handler, &error);
  REQUIRE(server);
  int fd = ConnectLoopback(server->port());
  REQUIRE(send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  std::string wire;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) wire.append(buf, static_cast<size_t>(n));
  close(fd);
  CHECK(Bodies(wire) == answers);
  server->Stop();
}

}  // namespace
}  // namespace projd
