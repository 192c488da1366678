// Tests of api/http_server.h over real loopback sockets: HttpCall where it can express the
// case, raw POSIX sockets where it cannot (pipelining, garbage, slow clients).
#include "api/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long long MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options, HttpHandler handler) {
  options.address = "127.0.0.1";
  options.port = 0;
  std::string error;
  std::unique_ptr<HttpServer> server = HttpServer::Start(options, std::move(handler), &error);
  INFO(error);
  REQUIRE(server != nullptr);
  REQUIRE(server->port() != 0);
  return server;
}

HttpResponse Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

HttpClientResult Call(uint16_t port, const std::string& method, const std::string& target,
                      const std::string& body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpClientResult result;
  std::string error;
  bool ok = HttpCall("127.0.0.1", port, method, target, headers, body, milliseconds(10000), &result,
                     &error);
  INFO(method << " " << target << ": " << error);
  REQUIRE(ok);
  return result;
}

const std::string* FindHeader(const HttpClientResult& result, const std::string& name) {
  for (const auto& [key, value] : result.headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

// ---- raw sockets ----

class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawSocket() { Close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads what arrives within `limit`; sets *closed when the peer closed (EOF or reset).
  std::string Read(milliseconds limit, bool* closed, size_t stop_after_responses = 0) {
    std::string data;
    *closed = false;
    auto deadline = Clock::now() + limit;
    for (;;) {
      if (stop_after_responses > 0 && CountResponses(data) >= stop_after_responses) break;
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, static_cast<int>(left));
      if (ready <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      data.append(chunk, static_cast<size_t>(n));
    }
    return data;
  }

  static size_t CountResponses(const std::string& data);

 private:
  int fd_ = -1;
};

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// Splits a byte stream into the complete responses it holds (Content-Length framing).
std::vector<RawResponse> ParseResponses(const std::string& data) {
  std::vector<RawResponse> out;
  size_t pos = 0;
  for (;;) {
    size_t end = data.find("\r\n\r\n", pos);
    if (end == std::string::npos) break;
    RawResponse response;
    std::string head = data.substr(pos, end - pos);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) break;
    response.status = std::stoi(status_line.substr(9, 3));
    size_t at = line_end == std::string::npos ? head.size() : line_end + 2;
    while (at < head.size()) {
      size_t next = head.find("\r\n", at);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(at, next - at);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers[name] = value;
      }
      at = next + 2;
    }
    size_t length = 0;
    if (response.headers.count("content-length")) {
      length = std::stoul(response.headers["content-length"]);
    }
    if (end + 4 + length > data.size()) break;
    response.body = data.substr(end + 4, length);
    pos = end + 4 + length;
    out.push_back(std::move(response));
  }
  return out;
}

size_t RawSocket::CountResponses(const std::string& data) {
  size_t count = 0;
  for (const RawResponse& response : ParseResponses(data)) {
    if (response.status >= 200) ++count;
  }
  return count;
}

std::string Get(const std::string& target, bool close = false) {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + (close ? "Connection: close\r\n" : "") +
         "\r\n";
}

// Echoes the request line as the body and counts calls.
struct EchoHandler {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  HttpHandler Handler() {
    auto counter = calls;
    return [counter](HttpRequest&& request, Responder respond) {
      counter->fetch_add(1);
      respond(Text(200, request.method + " " + request.target));
    };
  }
};

}  // namespace

TEST_CASE("PercentDecode and PercentEncode", "[http]") {
  CHECK(PercentDecode("k%2F1", false) == "k/1");
  CHECK(PercentDecode("a+b%20c", true) == "a b c");
  CHECK(PercentDecode("a+b", false) == "a+b");
  CHECK(PercentDecode("100%", false) == "100%");  // malformed escapes are kept
  CHECK(PercentDecode("%zz%4", false) == "%zz%4");
  CHECK(PercentDecode("%c3%A9", false) == "\xc3\xa9");
  CHECK(PercentEncode("a b/c~d_e.f-g") == "a%20b%2Fc~d_e.f-g");
  CHECK(PercentEncode("\xc3\xa9") == "%C3%A9");
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  CHECK(PercentDecode(PercentEncode(all), false) == all);
}

TEST_CASE("GET fills path, segments, query and headers", "[http]") {
  std::mutex mu;
  HttpRequest seen;
  auto server = StartServer({}, [&](HttpRequest&& request, Responder respond) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen = request;
    }
    HttpResponse response;
    response.body = "{\"ok\":true}";
    response.headers.emplace_back("X-Projd-Position", "t:0:5");
    respond(response);
  });
  HttpClientResult result = Call(server->port(), "GET", "/v1/views/a/rows/k%2F1?limit=5&x=a+b&e=&f",
                                 "", {{"X-Test", "Yes"}});
  CHECK(result.status == 200);
  CHECK(result.body == "{\"ok\":true}");
  REQUIRE(FindHeader(result, "server") != nullptr);
  CHECK(*FindHeader(result, "server") == "projd");
  REQUIRE(FindHeader(result, "content-type") != nullptr);
  CHECK(*FindHeader(result, "content-type") == "application/json");
  REQUIRE(FindHeader(result, "x-projd-position") != nullptr);
  CHECK(*FindHeader(result, "x-projd-position") == "t:0:5");
  CHECK(*FindHeader(result, "content-length") == "11");

  std::lock_guard<std::mutex> lock(mu);
  CHECK(seen.method == "GET");
  CHECK(seen.target == "/v1/views/a/rows/k%2F1?limit=5&x=a+b&e=&f");
  CHECK(seen.path == "/v1/views/a/rows/k/1");
  CHECK(seen.segments == std::vector<std::string>{"v1", "views", "a", "rows", "k/1"});
  REQUIRE(seen.query.size() == 4);
  CHECK(seen.query[0] == std::make_pair(std::string("limit"), std::string("5")));
  CHECK(seen.query[1] == std::make_pair(std::string("x"), std::string("a b")));
  CHECK(seen.query[2] == std::make_pair(std::string("e"), std::string("")));
  CHECK(seen.query[3] == std::make_pair(std::string("f"), std::string("")));
  REQUIRE(seen.Query("x") != nullptr);
  CHECK(*seen.Query("x") == "a b");
  CHECK(seen.Query("missing") == nullptr);
  REQUIRE(seen.Header("x-test") != nullptr);
  CHECK(*seen.Header("X-TEST") == "Yes");
  bool lower = std::all_of(seen.headers.begin(), seen.headers.end(), [](const auto& h) {
    return std::none_of(h.first.begin(), h.first.end(),
                        [](char c) { return c >= 'A' && c <= 'Z'; });
  });
  CHECK(lower);
  CHECK(seen.remote.rfind("127.0.0.1:", 0) == 0);
  CHECK(seen.body.empty());
}

TEST_CASE("empty segments are dropped and each segment is decoded alone", "[http]") {
  std::mutex mu;
  HttpRequest seen;
  auto server = StartServer({}, [&](HttpRequest&& request, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    seen = request;
    respond(Text(200, ""));
  });
  CHECK(Call(server->port(), "GET", "//a//b%20c/%2F/").status == 200);
  std::lock_guard<std::mutex> lock(mu);
  CHECK(seen.path == "//a//b c///");
  CHECK(seen.segments == std::vector<std::string>{"a", "b c", "/"});
}

TEST_CASE("POST body is passed through and echoed", "[http]") {
  auto server = StartServer({}, [](HttpRequest&& request, Responder respond) {
    respond(Text(201, request.method + ":" + request.body));
  });
  std::string body(200000, 'x');
  body += "end";
  HttpClientResult result = Call(server->port(), "POST", "/v1/query", body);
  CHECK(result.status == 201);
  CHECK(result.body == "POST:" + body);
  CHECK(*FindHeader(result, "content-type") == "text/plain");
}

TEST_CASE("the handler's status and headers pass through", "[http]") {
  auto server = StartServer({}, [](HttpRequest&&, Responder respond) {
    HttpResponse response;
    response.status = 404;
    response.body = "{\"error\":\"no such row\"}";
    response.headers.emplace_back("X-Extra", "1");
    response.headers.emplace_back("Content-Length", "999");  // framing is the server's
    respond(response);
  });
  HttpClientResult result = Call(server->port(), "GET", "/v1/views/a/rows/missing");
  CHECK(result.status == 404);
  CHECK(result.body == "{\"error\":\"no such row\"}");
  REQUIRE(FindHeader(result, "x-extra") != nullptr);
  CHECK(*FindHeader(result, "content-length") == std::to_string(result.body.size()));
}

TEST_CASE("the handler may answer later, via PostAfter or another thread", "[http]") {
  HttpServer* server_ptr = nullptr;
  std::vector<std::thread> threads;
  std::mutex mu;
  HttpServerOptions options;
  options.threads = 2;
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    if (request.path == "/timer") {
      server_ptr->PostAfter(milliseconds(100), [respond] { respond(Text(200, "from timer")); });
    } else {
      std::lock_guard<std::mutex> lock(mu);
      threads.emplace_back([respond] {
        std::this_thread::sleep_for(milliseconds(100));
        respond(Text(200, "from thread"));
        respond(Text(500, "second answer is ignored"));
      });
    }
  });
  server_ptr = server.get();

  auto start = Clock::now();
  HttpClientResult timer = Call(server->port(), "GET", "/timer");
  CHECK(timer.status == 200);
  CHECK(timer.body == "from timer");
  CHECK(MillisSince(start) >= 90);

  HttpClientResult thread = Call(server->port(), "GET", "/thread");
  CHECK(thread.status == 200);
  CHECK(thread.body == "from thread");

  server->Stop();
  std::lock_guard<std::mutex> lock(mu);
  for (auto& t : threads) t.join();
}

TEST_CASE("a Responder dropped without an answer yields 500", "[http]") {
  auto server = StartServer({}, [](HttpRequest&&, Responder) {});
  HttpClientResult result = Call(server->port(), "GET", "/");
  CHECK(result.status == 500);
}

TEST_CASE("a throwing handler yields 500 and the server goes on", "[http]") {
  auto server = StartServer({}, [](HttpRequest&& request, Responder respond) {
    if (request.path == "/throw") throw std::runtime_error("boom");
    respond(Text(200, "fine"));
  });
  HttpClientResult result = Call(server->port(), "GET", "/throw");
  CHECK(result.status == 500);
  CHECK(result.body.find("boom") != std::string::npos);
  CHECK(Call(server->port(), "GET", "/").body == "fine");
}

TEST_CASE("pipelined requests are answered in request order", "[http]") {
  std::mutex mu;
  std::vector<std::pair<std::string, Responder>> waiting;
  HttpServerOptions options;
  options.threads = 2;
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    std::vector<std::pair<std::string, Responder>> batch;
    {
      std::lock_guard<std::mutex> lock(mu);
      waiting.emplace_back(request.path, std::move(respond));
      if (waiting.size() < 3) return;
      batch.swap(waiting);
    }
    // Answer the three in reverse order.
    for (auto it = batch.rbegin(); it != batch.rend(); ++it) it->second(Text(200, it->first));
  });

  RawSocket socket(server->port());
  REQUIRE(socket.Send(Get("/1") + Get("/2") + Get("/3", true)));
  bool closed = false;
  std::string data = socket.Read(milliseconds(5000), &closed);
  CHECK(closed);  // the last request asked for Connection: close
  std::vector<RawResponse> responses = ParseResponses(data);
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].body == "/1");
  CHECK(responses[1].body == "/2");
  CHECK(responses[2].body == "/3");
  CHECK(responses[0].headers["connection"] != "close");
  CHECK(responses[2].headers["connection"] == "close");
}

TEST_CASE("pipelining reads ahead at most max_pipelined requests", "[http]") {
  HttpServer* server_ptr = nullptr;
  std::atomic<int> outstanding{0};
  std::atomic<int> max_outstanding{0};
  HttpServerOptions options;
  options.max_pipelined = 2;
  options.threads = 2;
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    int now = outstanding.fetch_add(1) + 1;
    int seen = max_outstanding.load();
    while (now > seen && !max_outstanding.compare_exchange_weak(seen, now)) {
    }
    std::string path = request.path;
    server_ptr->PostAfter(milliseconds(30), [&outstanding, respond, path] {
      outstanding.fetch_sub(1);
      respond(Text(200, path));
    });
  });
  server_ptr = server.get();

  RawSocket socket(server->port());
  std::string requests;
  for (int i = 0; i < 6; ++i) requests += Get("/" + std::to_string(i), i == 5);
  REQUIRE(socket.Send(requests));
  bool closed = false;
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(5000), &closed));
  REQUIRE(responses.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(responses[i].body == "/" + std::to_string(i));
  CHECK(max_outstanding.load() <= 2);
  CHECK(max_outstanding.load() >= 1);
}

TEST_CASE("an oversized header gets 431", "[http]") {
  EchoHandler echo;
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(options, echo.Handler());
  HttpClientResult result =
      Call(server->port(), "GET", "/", "", {{"X-Big", std::string(4000, 'a')}});
  CHECK(result.status == 431);
  CHECK(result.body.find("\"error\"") != std::string::npos);
  CHECK(echo.calls->load() == 0);
  CHECK(Call(server->port(), "GET", "/small").status == 200);
}

TEST_CASE("an oversized body gets 413", "[http]") {
  EchoHandler echo;
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(options, echo.Handler());
  CHECK(Call(server->port(), "POST", "/", std::string(1024, 'a')).status == 200);
  HttpClientResult result = Call(server->port(), "POST", "/", std::string(1025, 'a'));
  CHECK(result.status == 413);
  CHECK(result.body.find("\"error\"") != std::string::npos);
  // A much larger body: the client is still sending when the answer is written.
  HttpClientResult large = Call(server->port(), "POST", "/", std::string(4 << 20, 'a'));
  CHECK(large.status == 413);

  // Announced by Content-Length alone, the answer comes before any body byte.
  RawSocket socket(server->port());
  REQUIRE(socket.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  bool closed = false;
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(5000), &closed));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].status == 413);
  CHECK(responses[0].headers["connection"] == "close");
  CHECK(echo.calls->load() == 1);
}

TEST_CASE("garbage gets 400 and the server serves the next client", "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());

  auto expect_400 = [&](const std::string& bytes) {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(bytes));
    bool closed = false;
    std::string data = socket.Read(milliseconds(5000), &closed);
    std::vector<RawResponse> responses = ParseResponses(data);
    INFO("sent " << bytes.size() << " bytes, got: " << data);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].body.find("\"error\":\"bad request\"") != std::string::npos);
    CHECK(closed);
  };
  static const char kBinary[] = "\x16\x03\x01\x02\x00\x01\x00\xff garbage\r\n\r\n";
  expect_400(std::string(kBinary, sizeof(kBinary) - 1));
  expect_400("NOT HTTP AT ALL\r\n\r\n");
  expect_400(std::string(kBinary, 8));  // no line end at all
  expect_400("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello");
  expect_400("GET / HTTP/2.0\r\nHost: t\r\n\r\n");
  expect_400("GET / HTTP/1.1\r\nBad Header Line\r\n\r\n");
  expect_400("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n");
  expect_400("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n");
  CHECK(echo.calls->load() == 0);

  // A HEAD request with a malformed body: 400, with a Content-Length but no body.
  {
    RawSocket socket(server->port());
    REQUIRE(
        socket.Send("HEAD / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nin\r\n\r\n"));
    bool closed = false;
    std::string data = socket.Read(milliseconds(5000), &closed);
    INFO("got: " << data);
    CHECK(data.rfind("HTTP/1.1 400 ", 0) == 0);
    CHECK(data.find("Content-Length: ") != std::string::npos);
    CHECK(data.size() == data.find("\r\n\r\n") + 4);  // nothing after the head
    CHECK(closed);
  }

  CHECK(Call(server->port(), "GET", "/after").body == "GET /after");
}

TEST_CASE("a malformed percent escape gets 400 without calling the handler", "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());
  RawSocket socket(server->port());
  // The bad request does not end the connection: the next one on it is served.
  REQUIRE(socket.Send(Get("/v1/views/a%zz") + Get("/v1/views/a%2") + Get("/ok", true)));
  bool closed = false;
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(5000), &closed));
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].status == 400);
  CHECK(responses[1].status == 400);
  CHECK(responses[2].status == 200);
  CHECK(responses[2].body == "GET /ok");
  CHECK(echo.calls->load() == 1);
}

TEST_CASE("Expect: 100-continue gets a go-ahead", "[http]") {
  auto server = StartServer(
      {}, [](HttpRequest&& request, Responder respond) { respond(Text(200, request.body)); });
  RawSocket socket(server->port());
  REQUIRE(socket.Send(
      "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  bool closed = false;
  std::string go = socket.Read(milliseconds(500), &closed);
  CHECK(go == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(socket.Send("hello"));
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(5000), &closed, 1));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].body == "hello");
}

TEST_CASE("a slow client is dropped after read_timeout while others are served", "[http]") {
  EchoHandler echo;
  HttpServerOptions options;
  options.threads = 1;
  options.read_timeout = milliseconds(300);
  options.idle_timeout = milliseconds(10000);
  auto server = StartServer(options, echo.Handler());

  RawSocket slow(server->port());
  std::atomic<bool> done{false};
  std::thread dripper([&] {
    std::string request = "GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    if (!slow.Send(request.substr(0, 4))) return;
    for (int i = 0; i < 40 && !done.load(); ++i) {
      std::this_thread::sleep_for(milliseconds(100));
      if (!slow.Send("a")) break;
    }
  });
  auto start = Clock::now();
  int served = 0;
  while (MillisSince(start) < 250) {
    CHECK(Call(server->port(), "GET", "/fast").status == 200);
    ++served;
  }
  bool closed = false;
  std::string data = slow.Read(milliseconds(3000), &closed);
  long long elapsed = MillisSince(start);
  done = true;
  dripper.join();
  CHECK(closed);
  CHECK(data.empty());  // dropped without an answer
  CHECK(elapsed < 2500);
  CHECK(served >= 1);
  CHECK(echo.calls->load() == served);
}

TEST_CASE("an idle keep-alive connection is closed after idle_timeout", "[http]") {
  HttpServer* server_ptr = nullptr;
  HttpServerOptions options;
  options.idle_timeout = milliseconds(300);
  options.read_timeout = milliseconds(300);
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    if (request.path == "/late") {
      server_ptr->PostAfter(milliseconds(700), [respond] { respond(Text(200, "late")); });
    } else {
      respond(Text(200, "now"));
    }
  });
  server_ptr = server.get();

  SECTION("after an answer") {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(Get("/")));
    bool closed = false;
    auto start = Clock::now();
    std::string data = socket.Read(milliseconds(3000), &closed);
    CHECK(closed);
    CHECK(MillisSince(start) >= 250);
    REQUIRE(ParseResponses(data).size() == 1);
  }
  SECTION("not while an answer is owed, but after it") {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(Get("/late")));
    bool closed = false;
    auto start = Clock::now();
    std::string data = socket.Read(milliseconds(5000), &closed, 1);
    CHECK(!closed);
    std::vector<RawResponse> responses = ParseResponses(data);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "late");
    CHECK(MillisSince(start) >= 650);
    auto answered = Clock::now();
    socket.Read(milliseconds(3000), &closed);
    CHECK(closed);
    CHECK(MillisSince(answered) < 2000);
  }
}

TEST_CASE("connections beyond max_connections are closed at once", "[http]") {
  EchoHandler echo;
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options, echo.Handler());

  auto first = std::make_unique<RawSocket>(server->port());
  RawSocket second(server->port());
  bool closed = false;
  for (RawSocket* socket : {first.get(), &second}) {
    REQUIRE(socket->Send(Get("/")));
    REQUIRE(ParseResponses(socket->Read(milliseconds(5000), &closed, 1)).size() == 1);
    CHECK(!closed);
  }

  {
    RawSocket third(server->port());
    third.Send(Get("/third"));
    auto start = Clock::now();
    std::string data = third.Read(milliseconds(3000), &closed);
    CHECK(closed);
    CHECK(MillisSince(start) < 2000);
    std::vector<RawResponse> responses = ParseResponses(data);
    if (!responses.empty()) CHECK(responses[0].status == 503);
  }
  CHECK(echo.calls->load() == 2);

  // A freed slot is usable again.
  first.reset();
  auto start = Clock::now();
  int status = 0;
  while (status != 200 && MillisSince(start) < 3000) {
    HttpClientResult result;
    std::string error;
    if (HttpCall("127.0.0.1", server->port(), "GET", "/again", {}, "", milliseconds(2000), &result,
                 &error)) {
      status = result.status;
    }
    if (status != 200) std::this_thread::sleep_for(milliseconds(20));
  }
  CHECK(status == 200);
}

TEST_CASE("Stop with open connections returns promptly; late Responders are no-ops", "[http]") {
  std::mutex mu;
  std::vector<Responder> kept;
  HttpServerOptions options;
  options.threads = 2;
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    if (request.path == "/never") {
      std::lock_guard<std::mutex> lock(mu);
      kept.push_back(std::move(respond));
      return;
    }
    respond(Text(200, "ok"));
  });

  std::vector<std::unique_ptr<RawSocket>> idle;
  bool closed = false;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<RawSocket>(server->port()));
    REQUIRE(idle.back()->Send(Get("/")));
    REQUIRE(ParseResponses(idle.back()->Read(milliseconds(5000), &closed, 1)).size() == 1);
  }
  RawSocket waiting(server->port());
  REQUIRE(waiting.Send(Get("/never")));
  RawSocket silent(server->port());  // connected, never sends
  auto wait_start = Clock::now();
  while (MillisSince(wait_start) < 3000) {
    std::lock_guard<std::mutex> lock(mu);
    if (!kept.empty()) break;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(kept.size() == 1);
  }

  auto start = Clock::now();
  server->Stop();
  CHECK(MillisSince(start) < 1000);
  server->Stop();  // idempotent

  for (auto& socket : idle) {
    socket->Read(milliseconds(1000), &closed);
    CHECK(closed);
  }
  waiting.Read(milliseconds(1000), &closed);
  CHECK(closed);
  std::atomic<bool> ran_after_stop{false};
  server->PostAfter(milliseconds(1), [&] { ran_after_stop = true; });

  kept[0](Text(200, "too late"));  // no-op, no crash
  Responder survivor = kept[0];
  kept.clear();
  server.reset();
  survivor(Text(200, "even later"));  // the server is gone: still a no-op
  CHECK_FALSE(ran_after_stop.load());
}

TEST_CASE("a Responder may outlive the server unanswered", "[http]") {
  Responder kept;
  std::mutex mu;
  {
    auto server = StartServer({}, [&](HttpRequest&&, Responder respond) {
      std::lock_guard<std::mutex> lock(mu);
      kept = std::move(respond);
    });
    HttpClientResult result;
    std::string error;
    auto start = Clock::now();
    CHECK_FALSE(HttpCall("127.0.0.1", server->port(), "GET", "/", {}, "", milliseconds(300),
                         &result, &error));
    CHECK(error.find("timed out") != std::string::npos);
    CHECK(MillisSince(start) < 2000);
  }
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(kept);
  kept(Text(200, "nobody listens"));
  kept = nullptr;
}

TEST_CASE("Start reports listen errors; IPv6 literals work", "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());

  HttpServerOptions taken;
  taken.port = server->port();
  std::string error;
  CHECK(HttpServer::Start(taken, echo.Handler(), &error) == nullptr);
  CHECK(error.find("cannot listen on 127.0.0.1:" + std::to_string(server->port())) == 0);
  CHECK(error.find("in use") != std::string::npos);

  HttpServerOptions bad;
  bad.address = "not-an-address";
  CHECK(HttpServer::Start(bad, echo.Handler(), &error) == nullptr);
  CHECK(error.find("cannot listen on not-an-address") == 0);

  HttpServerOptions v6;
  v6.address = "::1";
  v6.port = 0;
  auto server6 = HttpServer::Start(v6, echo.Handler(), &error);
  if (server6 == nullptr) {
    WARN("no IPv6 loopback here: " << error);
  } else {
    HttpClientResult result;
    REQUIRE(HttpCall("::1", server6->port(), "GET", "/six", {}, "", milliseconds(5000), &result,
                     &error));
    CHECK(result.body == "GET /six");
  }
}

// ---- request framing: chunked bodies, Transfer-Encoding, keep-alive ----

namespace {

std::string ChunkedPost(const std::string& chunked_body, const std::string& extra_fields = "") {
  return "POST /c HTTP/1.1\r\nHost: t\r\n" + extra_fields + "Transfer-Encoding: chunked\r\n\r\n" +
         chunked_body;
}

// Runs bytes through HandleConnectionBytes with the echo handler and splits the answers.
std::vector<RawResponse> Handle(const std::string& bytes, const HttpServerOptions& options,
                                EchoHandler* echo) {
  return ParseResponses(HandleConnectionBytes(bytes, options, echo->Handler(), milliseconds(2000)));
}

// Sends `bytes` on a fresh connection and reads until the server closes it (or 5 s pass).
std::vector<RawResponse> SendAndRead(uint16_t port, const std::string& bytes, bool* closed) {
  RawSocket socket(port);
  socket.Send(bytes);
  std::string data = socket.Read(milliseconds(5000), closed);
  INFO("got: " << data);
  return ParseResponses(data);
}

}  // namespace

TEST_CASE("chunked framing: a long chunk-size line gets 400 and the connection closes", "[http]") {
  EchoHandler echo;
  HttpServerOptions options;
  options.read_timeout = milliseconds(4000);
  auto server = StartServer(options, echo.Handler());

  SECTION("extensions sent without an end, in pieces") {
    // Beast waits for the whole chunk-size line; without a bound the server buffers all of it.
    RawSocket socket(server->port());
    REQUIRE(socket.Send(ChunkedPost("5;name=")));
    std::string piece(1024, 'a');
    bool sending = true;
    for (int i = 0; i < 256 && sending; ++i) sending = socket.Send(piece);
    bool closed = false;
    std::string data = socket.Read(milliseconds(3000), &closed);
    INFO("got: " << data);
    std::vector<RawResponse> responses = ParseResponses(data);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].body.find("\"error\":\"bad request\"") != std::string::npos);
    CHECK(responses[0].body.find("chunk") != std::string::npos);
    CHECK(responses[0].headers["connection"] == "close");
    CHECK(closed);
  }
  SECTION("a whole line with extensions past 4 KiB") {
    bool closed = false;
    std::vector<RawResponse> responses = SendAndRead(
        server->port(), ChunkedPost("5;n=" + std::string(5000, 'a') + "\r\nhello\r\n0\r\n\r\n"),
        &closed);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(closed);
  }
  SECTION("a chunk size of many leading zeros, sent in pieces") {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(ChunkedPost("")));
    for (int i = 0; i < 16; ++i) socket.Send(std::string(1024, '0'));
    bool closed = false;
    std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(3000), &closed));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(closed);
  }
  CHECK(echo.calls->load() == 0);
  // Extensions of a reasonable size are fine.
  bool closed = false;
  std::string chunks =
      "5;a=b;c=\"d e\"\r\nhello\r\n6;" + std::string(3000, 'x') + "\r\n world\r\n0\r\n\r\n";
  std::vector<RawResponse> fine =
      SendAndRead(server->port(), ChunkedPost(chunks, "Connection: close\r\n"), &closed);
  REQUIRE(fine.size() == 1);
  CHECK(fine[0].status == 200);
  CHECK(echo.calls->load() == 1);
}

TEST_CASE("chunked framing: trailers are bounded and do not become header fields", "[http]") {
  std::mutex mu;
  HttpRequest seen;
  HttpServerOptions options;
  options.read_timeout = milliseconds(4000);
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    seen = request;
    respond(Text(200, request.body));
  });

  SECTION("a trailer section that never ends, sent in pieces") {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(ChunkedPost("5\r\nhello\r\n0\r\n")));
    bool sending = true;
    for (int i = 0; i < 256 && sending; ++i) {
      sending =
          socket.Send("X-Trailer-" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n");
    }
    bool closed = false;
    std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(3000), &closed));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].body.find("trailer") != std::string::npos);
    CHECK(closed);
  }
  SECTION("a whole trailer section past 8 KiB") {
    std::string trailers;
    for (int i = 0; i < 10; ++i) {
      trailers += "X-T" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n";
    }
    bool closed = false;
    std::string request = ChunkedPost("5\r\nhello\r\n0\r\n" + trailers + "\r\n");
    std::vector<RawResponse> responses = SendAndRead(server->port(), request, &closed);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(closed);
  }
  SECTION("small trailers are accepted and dropped") {
    bool closed = false;
    std::vector<RawResponse> responses = SendAndRead(
        server->port(),
        ChunkedPost("5\r\nhello\r\n0\r\nAuthorization: Bearer injected\r\nX-Sum: 1\r\n\r\n",
                    "Connection: close\r\n"),
        &closed);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 200);
    CHECK(responses[0].body == "hello");
    std::lock_guard<std::mutex> lock(mu);
    CHECK(seen.Header("authorization") == nullptr);
    CHECK(seen.Header("x-sum") == nullptr);
    CHECK(seen.Header("transfer-encoding") != nullptr);
  }
}

TEST_CASE("chunked framing: the limits hold in HandleConnectionBytes too", "[http]") {
  EchoHandler echo;
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto expect_400 = [&](const std::string& bytes) {
    std::vector<RawResponse> responses = Handle(bytes + Get("/after"), options, &echo);
    INFO("sent: " << bytes.substr(0, 200));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].headers["connection"] == "close");
  };
  expect_400(ChunkedPost("5;n=" + std::string(5000, 'a') + "\r\nhello\r\n0\r\n\r\n"));
  expect_400(ChunkedPost(std::string(5000, '0') + "5\r\nhello\r\n0\r\n\r\n"));
  expect_400(ChunkedPost("5\r\nhello\r\n0;n=" + std::string(5000, 'a') + "\r\n\r\n"));
  expect_400(ChunkedPost("5\r\nhello\r\n0\r\nX-T: " + std::string(9000, 'a') + "\r\n\r\n"));
  // Incomplete, and already too long: 400 rather than the end of the connection.
  std::vector<RawResponse> incomplete =
      Handle(ChunkedPost("5;n=" + std::string(5000, 'a')), options, &echo);
  REQUIRE(incomplete.size() == 1);
  CHECK(incomplete[0].status == 400);
  CHECK(echo.calls->load() == 0);

  // The body is bounded by max_body_bytes across chunks: 413.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "10\r\n" + std::string(16, 'b') + "\r\n";
  std::vector<RawResponse> large = Handle(ChunkedPost(many + "0\r\n\r\n"), options, &echo);
  REQUIRE(large.size() == 1);
  CHECK(large[0].status == 413);
  CHECK(echo.calls->load() == 0);

  std::vector<RawResponse> fine =
      Handle(ChunkedPost("5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n") + Get("/after"), options, &echo);
  REQUIRE(fine.size() == 2);
  CHECK(fine[0].body == "POST /c");
  CHECK(fine[1].body == "GET /after");
}

TEST_CASE("a Transfer-Encoding other than chunked alone gets 400 and closes", "[http]") {
  // RFC 9112 §6.3: the body's length cannot be known; taking it as empty would run the body
  // as the next request (request smuggling).
  const std::string smuggled = "DELETE /smuggled HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  const std::string chunked_smuggled =
      "0\r\n\r\n" + smuggled;  // as chunked: an empty body, then the DELETE
  std::vector<std::string> bad = {
      "Transfer-Encoding: chunked, gzip\r\n",
      "Transfer-Encoding: gzip\r\n",
      "Transfer-Encoding: identity\r\n",
      "Transfer-Encoding: foo\r\n",
      "Transfer-Encoding: chunked, chunked\r\n",
      "Transfer-Encoding: gzip, chunked\r\n",
      "Transfer-Encoding: chunked,\r\n",
      "Transfer-Encoding: \r\n",
      "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n",
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
  };
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());
  for (const std::string& fields : bad) {
    for (const std::string& body : {smuggled, chunked_smuggled}) {
      INFO("fields: " << fields << "body: " << body);
      std::string request = "POST /p HTTP/1.1\r\nHost: t\r\n" + fields + "\r\n" + body;
      std::vector<RawResponse> local = Handle(request, {}, &echo);
      REQUIRE(local.size() == 1);
      CHECK(local[0].status == 400);
      CHECK(local[0].headers["connection"] == "close");

      bool closed = false;
      std::vector<RawResponse> responses = SendAndRead(server->port(), request, &closed);
      REQUIRE(responses.size() == 1);
      CHECK(responses[0].status == 400);
      CHECK(responses[0].body.find("\"error\":\"bad request\"") != std::string::npos);
      CHECK(responses[0].headers["connection"] == "close");
      CHECK(closed);
    }
  }
  // Neither the POST nor the smuggled DELETE reached the handler.
  CHECK(echo.calls->load() == 0);

  // An HTTP/1.0 request must not use Transfer-Encoding (RFC 9112 §6.1).
  std::vector<RawResponse> http10 = Handle(
      "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", {}, &echo);
  REQUIRE(http10.size() == 1);
  CHECK(http10[0].status == 400);
  CHECK(echo.calls->load() == 0);

  // "chunked" alone, in any case and with whitespace around it, is fine.
  for (const char* value : {"chunked", "Chunked", "CHUNKED", " chunked ", "\tchunked"}) {
    INFO("Transfer-Encoding: " << value);
    std::string request =
        "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: " + std::string(value) +
        "\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + Get("/next", true);
    std::vector<RawResponse> local = Handle(request, {}, &echo);
    REQUIRE(local.size() == 2);
    CHECK(local[0].status == 200);
    CHECK(local[1].body == "GET /next");
    bool closed = false;
    std::vector<RawResponse> responses = SendAndRead(server->port(), request, &closed);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status == 200);
    CHECK(responses[1].body == "GET /next");
  }
}

TEST_CASE("HTTP/1.0 keep-alive is honoured and announced", "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());
  RawSocket socket(server->port());
  REQUIRE(socket.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  bool closed = false;
  std::vector<RawResponse> first = ParseResponses(socket.Read(milliseconds(5000), &closed, 1));
  REQUIRE(first.size() == 1);
  CHECK(first[0].body == "GET /a");
  CHECK(first[0].headers["connection"] == "keep-alive");
  // A HEAD keeps its Content-Length and has no body, and also stays open.
  REQUIRE(socket.Send("HEAD /h HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  std::string head = socket.Read(milliseconds(1000), &closed);
  CHECK(head.find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(head.size() == head.find("\r\n\r\n") + 4);
  CHECK(!closed);
  // Without it, the connection closes after the answer.
  REQUIRE(socket.Send("GET /b HTTP/1.0\r\n\r\n"));
  std::vector<RawResponse> second = ParseResponses(socket.Read(milliseconds(5000), &closed));
  REQUIRE(second.size() == 1);
  CHECK(second[0].body == "GET /b");
  CHECK(second[0].headers["connection"] != "keep-alive");
  CHECK(closed);

  std::vector<RawResponse> local =
      Handle("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n", {}, &echo);
  REQUIRE(local.size() == 2);
  CHECK(local[0].headers["connection"] == "keep-alive");
  CHECK(local[1].headers["connection"] == "close");
  // HTTP/1.1 answers stay as they were: no Connection field unless the connection closes.
  std::vector<RawResponse> v11 = Handle(Get("/c"), {}, &echo);
  REQUIRE(v11.size() == 1);
  CHECK(v11[0].headers.count("connection") == 0);
}

TEST_CASE("HttpCall reports a refused connection", "[http]") {
  uint16_t port = 0;
  {
    EchoHandler echo;
    auto server = StartServer({}, echo.Handler());
    port = server->port();
  }
  HttpClientResult result;
  std::string error;
  CHECK_FALSE(HttpCall("127.0.0.1", port, "GET", "/", {}, "", milliseconds(2000), &result, &error));
  CHECK(error.find("cannot connect to 127.0.0.1:" + std::to_string(port)) == 0);
}

}  // namespace projd
