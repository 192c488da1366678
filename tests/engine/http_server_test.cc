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
#include <deque>
#include <functional>
#include <map>
#include <memory>
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

// Sends GET /0 ... /n-1 pipelined in one write (the last closing the connection) to a server
// that answers with the path, and checks that every one is answered, in order.
void CheckPipelinedPaths(uint16_t port, int n, std::chrono::milliseconds timeout) {
  RawSocket socket(port);
  std::string requests;
  for (int i = 0; i < n; ++i) requests += Get("/" + std::to_string(i), i == n - 1);
  REQUIRE(socket.Send(requests));
  bool closed = false;
  std::vector<RawResponse> responses = ParseResponses(socket.Read(timeout, &closed));
  REQUIRE(responses.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) CHECK(responses[i].body == "/" + std::to_string(i));
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

TEST_CASE("AcceptWeight reads Accept's media ranges and weights", "[http]") {
  auto weight = [](std::vector<std::string> accepts, std::string_view type) {
    projd::HttpRequest req;
    for (auto& a : accepts) req.headers.emplace_back("accept", std::move(a));
    return req.AcceptWeight(type);
  };
  CHECK(weight({}, "text/event-stream") == 0);
  CHECK(weight({"text/event-stream"}, "text/event-stream") == 1);
  CHECK(weight({"Text/Event-Stream"}, "text/event-stream") == 1);
  CHECK(weight({"text/event-stream-x"}, "text/event-stream") == 0);
  CHECK(weight({"*/*"}, "text/event-stream") == 0);
  CHECK(weight({"a/b, text/event-stream ; q=0.5"}, "text/event-stream") == Approx(0.5));
  CHECK(weight({"text/event-stream;Q=0.25;level=1"}, "text/event-stream") == Approx(0.25));
  CHECK(weight({"text/event-stream;q=0"}, "text/event-stream") == 0);
  CHECK(weight({"text/event-stream;q=1.000"}, "text/event-stream") == 1);
  // Malformed weights count as 0: above 1, more than 3 decimals, not a number.
  CHECK(weight({"text/event-stream;q=1.5"}, "text/event-stream") == 0);
  CHECK(weight({"text/event-stream;q=0.1234"}, "text/event-stream") == 0);
  CHECK(weight({"text/event-stream;q=x"}, "text/event-stream") == 0);
  CHECK(weight({"text/event-stream;q=.5"}, "text/event-stream") == 0);
  // Several fields, or the type listed twice: the highest weight.
  CHECK(weight({"text/event-stream;q=0.2", "text/event-stream;q=0.7"}, "text/event-stream") ==
        Approx(0.7));
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

// Answers are written straight to the socket first (Session::TryWrite): one larger than the
// socket takes goes on asynchronously from where the direct write stopped, and hundreds of
// pipelined answers written directly in a row arrive whole and in order.
TEST_CASE("direct writes: a large answer to a slow reader and many pipelined ones", "[http]") {
  const std::string big(8 << 20, 'x');
  HttpServerOptions options;
  options.max_pipelined = 1000;
  auto server = StartServer(options, [&](HttpRequest&& request, Responder respond) {
    if (request.path == "/big") {
      std::string body = big;
      for (size_t i = 0; i < body.size(); i += 4096)
        body[i] = static_cast<char>('a' + i / 4096 % 26);
      return respond(Text(200, std::move(body)));
    }
    respond(Text(200, request.path));
  });
  {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(Get("/big") + Get("/after", true)));
    std::this_thread::sleep_for(milliseconds(200));  // the server's socket buffer fills first
    bool closed = false;
    std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(10000), &closed));
    REQUIRE(responses.size() == 2);
    REQUIRE(responses[0].body.size() == big.size());
    bool same = true;
    for (size_t i = 0; i < big.size(); ++i) {
      char want = i % 4096 == 0 ? static_cast<char>('a' + i / 4096 % 26) : 'x';
      if (responses[0].body[i] != want) same = false;
    }
    CHECK(same);
    CHECK(responses[1].body == "/after");
    CHECK(closed);
  }
  CheckPipelinedPaths(server->port(), 600, milliseconds(10000));
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

  CheckPipelinedPaths(server->port(), 6, milliseconds(5000));
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

TEST_CASE(
    "Host: exactly one in HTTP/1.1, at most one in 1.0, a host and port (400 else, empty too)",
    "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());
  auto status_of = [&](const std::string& bytes) {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(bytes));
    bool closed = false;
    std::string data = socket.Read(milliseconds(5000), &closed);
    std::vector<RawResponse> responses = ParseResponses(data);
    INFO("sent: " << bytes << "got: " << data);
    REQUIRE(responses.size() == 1);
    return responses[0].status;
  };
  for (const char* bad : {
           "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nhost: a\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a@b\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a:80x\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n",
           // No host at all: an empty value, blanks only, a port alone, empty brackets.
           "GET /a HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost:  \r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: :80\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: []\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.0\r\nHost:\r\n\r\n",
       }) {
    CHECK(status_of(bad) == 400);
  }
  CHECK(echo.calls->load() == 0);
  for (const char* good : {
           "GET /a HTTP/1.0\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n",
       }) {
    CHECK(status_of(good) == 200);
  }
  CHECK(echo.calls->load() == 4);
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

// The idle deadline moves with every request (the session's idle timer is moved on lazily):
// a connection busy for several idle_timeouts stays open, and closes idle_timeout after its
// last answer.
TEST_CASE("a connection in use outlives idle_timeout; its last answer starts the limit", "[http]") {
  HttpServerOptions options;
  options.idle_timeout = milliseconds(300);
  auto server = StartServer(
      options, [](HttpRequest&& request, Responder respond) { respond(Text(200, request.path)); });
  RawSocket socket(server->port());
  bool closed = false;
  auto start = Clock::now();
  for (int i = 0; i < 12; ++i) {  // about 1.2 s: four idle_timeouts
    REQUIRE(socket.Send(Get("/" + std::to_string(i))));
    std::vector<RawResponse> responses =
        ParseResponses(socket.Read(milliseconds(2000), &closed, 1));
    REQUIRE(!closed);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "/" + std::to_string(i));
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(MillisSince(start) >= 1100);
  auto last = Clock::now();
  socket.Read(milliseconds(3000), &closed);
  CHECK(closed);
  CHECK(MillisSince(last) >= 150);  // 300 ms after the last answer, less the sleep above
  CHECK(MillisSince(last) < 2000);
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
    // An error answer like the others: the error and a detail naming the cap.
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 503);
    CHECK(responses[0].body ==
          "{\"detail\":\"this server takes at most 2 "
          "connections at once; retry later\",\"error\":\"too many connections\"}");
    CHECK(responses[0].headers["connection"] == "close");
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

TEST_CASE("HttpCall reads an answer whose body comes after its head, in a read of its own",
          "[http]") {
  // A server that flushes the head, waits, then sends the body (Python's http.server does, and
  // so may a schema registry): the body was refused as "body limit exceeded".
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const uint16_t port = ntohs(addr.sin_port);
  std::thread server([fd] {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    std::string got;
    while (got.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n";
    ::send(c, head.data(), head.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(milliseconds(100));
    ::send(c, "hello there", 11, MSG_NOSIGNAL);
    std::this_thread::sleep_for(milliseconds(100));
    ::close(c);
  });
  HttpClientResult result;
  std::string error;
  bool ok = HttpCall("127.0.0.1", port, "GET", "/", {}, "", milliseconds(5000), &result, &error);
  server.join();
  ::close(fd);
  INFO(error);
  REQUIRE(ok);
  CHECK(result.status == 200);
  CHECK(result.body == "hello there");
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
  // A trailer section over its bound is also over this body bound (1,024 bytes, trailers
  // included): 413.
  std::vector<RawResponse> trailer = Handle(
      ChunkedPost("5\r\nhello\r\n0\r\nX-T: " + std::string(9000, 'a') + "\r\n\r\n") + Get("/after"),
      options, &echo);
  REQUIRE(trailer.size() == 1);
  CHECK(trailer[0].status == 413);
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
  // The framing counts too: 300 bytes of data in one-byte chunks are 1,800 bytes on the wire,
  // and 20 bytes behind chunk extensions of 100 bytes over 2,000.
  std::string ones, extended;
  for (int i = 0; i < 300; ++i) ones += "1\r\nb\r\n";
  for (int i = 0; i < 20; ++i) extended += "1;x=" + std::string(100, 'e') + "\r\nb\r\n";
  for (const std::string& body : {ones, extended}) {
    std::vector<RawResponse> framed = Handle(ChunkedPost(body + "0\r\n\r\n"), options, &echo);
    REQUIRE(framed.size() == 1);
    CHECK(framed[0].status == 413);
    CHECK(framed[0].body.find("chunk-size lines, extensions and trailers included") !=
          std::string::npos);
  }
  CHECK(echo.calls->load() == 0);
  // Data and framing within the bound: answered.
  std::vector<RawResponse> small =
      Handle(ChunkedPost(std::string(ones, 0, 900) + "0\r\n\r\n"), options, &echo);
  REQUIRE(small.size() == 1);
  CHECK(small[0].status == 200);
  CHECK(echo.calls->load() == 1);
  echo.calls->store(0);

  std::vector<RawResponse> fine =
      Handle(ChunkedPost("5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n") + Get("/after"), options, &echo);
  REQUIRE(fine.size() == 2);
  CHECK(fine[0].body == "POST /c");
  CHECK(fine[1].body == "GET /after");
}

TEST_CASE("a client that never stops sending after a final answer is cut off", "[http]") {
  // A lingering close reads for at most 2 s, also when every read finds bytes at once (the
  // stream's timer alone never fired then: the connection was read for as long as the client
  // sent).
  EchoHandler echo;
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(options, echo.Handler());
  for (const std::string& head :
       {std::string("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")}) {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(head));
    const std::string piece = head.find("chunked") != std::string::npos
                                  ? [] {
                                      std::string p;
                                      for (int i = 0; i < 2000; ++i) p += "1;e=eeeeeeee\r\nb\r\n";
                                      return p;
                                    }()
                                  : std::string(64 * 1024, 'x');
    auto start = std::chrono::steady_clock::now();
    bool cut = false;
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
      if (!socket.Send(piece)) {
        cut = true;
        break;
      }
    }
    INFO(head);
    CHECK(cut);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  }
}

TEST_CASE("a path segment or query parameter that is not UTF-8 once decoded gets 400", "[http]") {
  // Every string projd stores is UTF-8: such a target names nothing, and its bytes would only be
  // replaced (U+FFFD) further on.
  std::mutex mu;
  std::vector<HttpRequest> seen;
  auto server = StartServer({}, [&](HttpRequest&& request, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(request);
    respond(Text(200, request.target));
  });
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"/v1/views/v/rows/%FF", "path segment 5 (%FF) is not UTF-8"},
      {"/v1/views/v/rows/a%ff%fe", "path segment 5 (a%ff%fe)"},
      {"/v1/views/v/rows/\xff", "path segment 5 (%FF)"},  // a raw byte, shown escaped
      {"/a/%C3", "path segment 2 (%C3)"},                 // a sequence cut short
      {"/a/%C0%AF", "path segment 2"},                    // overlong '/'
      {"/a/%ED%A0%80", "path segment 2"},                 // a surrogate (U+D800)
      {"/a/%F4%90%80%80", "path segment 2"},              // past U+10FFFF
      {"/a?prefix=%FF", "query parameter prefix is not UTF-8"},
      {"/a?q=%E2%82", "query parameter q"},
      {"/a?%FF=1", "query parameter name (%FF)"},
  };
  for (const auto& [target, detail] : bad) {
    INFO(target);
    HttpClientResult result = Call(server->port(), "GET", target);
    CHECK(result.status == 400);
    CHECK(result.body.rfind("{\"detail\":\"", 0) == 0);
    CHECK(result.body.find(",\"error\":\"bad request\"}") != std::string::npos);
    CHECK(result.body.find(detail) != std::string::npos);
  }
  // A long segment is named by its beginning.
  HttpClientResult result = Call(server->port(), "GET", "/" + std::string(100, 'a') + "%FF");
  CHECK(result.status == 400);
  CHECK(result.body.find("(" + std::string(64, 'a') + "...)") != std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(seen.empty());
  }
  // Not a framing error: the connection goes on. UTF-8 of every length passes, escaped or not.
  RawSocket socket(server->port());
  REQUIRE(socket.Send(Get("/v1/views/v/rows/%FF") +
                      Get("/k/%C3%A9%E2%82%AC%F0%9F%98%80?p=%C3%A9+x&%E2%82%AC=\xc3\xa9") +
                      Get("/\xc3\xa9/%00", true)));
  bool closed = false;
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(5000), &closed));
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].status == 400);
  CHECK(responses[1].status == 200);
  CHECK(responses[2].status == 200);
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].segments == std::vector<std::string>{"k", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"});
  REQUIRE(seen[0].query.size() == 2);
  CHECK(seen[0].query[0] == std::make_pair(std::string("p"), std::string("\xc3\xa9 x")));
  CHECK(seen[0].query[1] == std::make_pair(std::string("\xe2\x82\xac"), std::string("\xc3\xa9")));
  CHECK(seen[1].segments == std::vector<std::string>{"\xc3\xa9", std::string(1, '\0')});
}

TEST_CASE("an absolute-form target needs a host (RFC 9110 section 4.2.1)", "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());
  for (const char* bad :
       {"http:///", "http://", "http:///a?x=1", "http://:80/a", "http://u@h/a", "http://h:8x/a"}) {
    INFO(bad);
    std::vector<RawResponse> local = Handle(Get(bad), {}, &echo);
    REQUIRE(local.size() == 1);
    CHECK(local[0].status == 400);
    CHECK(local[0].body.find("absolute-form") != std::string::npos);
    CHECK(Call(server->port(), "GET", bad).status == 400);
  }
  CHECK(echo.calls->load() == 0);
  for (const char* good : {"http://h/a", "http://h", "http://h:80/a?x=1", "http://[::1]:8/a"}) {
    INFO(good);
    HttpClientResult result = Call(server->port(), "GET", good);
    CHECK(result.status == 200);
    CHECK(result.body == std::string("GET ") + good);
  }
}

TEST_CASE("a few empty lines before a request line are ignored (RFC 9112 section 2.2)", "[http]") {
  EchoHandler echo;
  auto server = StartServer({}, echo.Handler());
  // Before the first request and between pipelined ones, as many as 4.
  const std::string bytes = "\r\n" + Get("/a") + "\r\n\r\n" + Get("/b") + "\r\n\r\n\r\n\r\n" +
                            Get("/c?x=1") + "\r\n" + Get("/d", true);
  std::vector<RawResponse> local = Handle(bytes, {}, &echo);
  REQUIRE(local.size() == 4);
  CHECK(local[0].body == "GET /a");
  CHECK(local[1].body == "GET /b");
  CHECK(local[2].body == "GET /c?x=1");
  CHECK(local[3].body == "GET /d");
  bool closed = false;
  std::vector<RawResponse> responses = SendAndRead(server->port(), bytes, &closed);
  REQUIRE(responses.size() == 4);
  CHECK(responses[0].body == "GET /a");
  CHECK(responses[3].body == "GET /d");
  CHECK(closed);
  // Split across reads, even inside a CRLF; then a request after an answer on the connection.
  {
    RawSocket socket(server->port());
    for (const std::string& piece : {std::string("\r"), std::string("\n\r"), std::string("\n"),
                                     Get("/e") + "\r", std::string("\n")}) {
      REQUIRE(socket.Send(piece));
      std::this_thread::sleep_for(milliseconds(50));
    }
    REQUIRE(socket.Send(Get("/f", true)));
    std::vector<RawResponse> split = ParseResponses(socket.Read(milliseconds(5000), &closed));
    REQUIRE(split.size() == 2);
    CHECK(split[0].body == "GET /e");
    CHECK(split[1].body == "GET /f");
    CHECK(closed);
  }
  // Only empty lines, then the end: nothing to answer.
  CHECK(Handle("\r\n\r\n", {}, &echo).empty());
  {
    RawSocket socket(server->port());
    REQUIRE(socket.Send("\r\n\r\n"));
    CHECK(socket.Read(milliseconds(300), &closed).empty());
    CHECK_FALSE(closed);
  }
  int calls = echo.calls->load();
  // A fifth one is refused, as is a bare LF (not an empty line here).
  for (const std::string& bad :
       {std::string("\r\n\r\n\r\n\r\n\r\n") + Get("/g"),
        Get("/a") + "\r\n\r\n\r\n\r\n\r\n" + Get("/g"), std::string("\n") + Get("/g")}) {
    INFO(bad);
    std::vector<RawResponse> refused = SendAndRead(server->port(), bad, &closed);
    REQUIRE(!refused.empty());
    CHECK(refused.back().status == 400);
    CHECK(refused.back().headers["connection"] == "close");
    CHECK(closed);
    local = Handle(bad, {}, &echo);
    REQUIRE(!local.empty());
    CHECK(local.back().status == 400);
  }
  CHECK(echo.calls->load() == calls + 2);  // the two GET /a
}

TEST_CASE("a bare LF in a request head gets 400 at once and closes", "[http]") {
  // Beast refuses most, but waits for the head's CRLF CRLF behind some, until the head limit or
  // read_timeout, then the connection closed without an answer.
  EchoHandler echo;
  HttpServerOptions options;
  options.read_timeout = milliseconds(8000);
  auto server = StartServer(options, echo.Handler());
  for (const std::string& head : {
           std::string("GET /a HTTP/1.1\r\nHost: t\r\n\n"),
           std::string("GET /a HTTP/1.1\r\nHost: t\r\nX: 1\n\n"),
           std::string("GET /a HTTP/1.1\r\nHost: t\n\r\n"),
           std::string("GET /a HTTP/1.1\nHost: t\r\n\r\n"),
       }) {
    INFO("head: " << head);
    auto started = Clock::now();
    bool closed = false;
    std::vector<RawResponse> responses = SendAndRead(server->port(), head, &closed);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].body.rfind("{\"detail\":", 0) == 0);
    CHECK(responses[0].body.find(",\"error\":\"bad request\"}") != std::string::npos);
    CHECK(responses[0].headers["connection"] == "close");
    CHECK(closed);
    CHECK(MillisSince(started) < 4000);
    std::vector<RawResponse> local = Handle(head + Get("/after"), {}, &echo);
    REQUIRE(local.size() == 1);
    CHECK(local[0].status == 400);
  }
  // In pieces: the head read after the first bytes is checked as it arrives.
  for (bool pipelined : {false, true}) {
    RawSocket socket(server->port());
    REQUIRE(socket.Send((pipelined ? Get("/first") : "") + "GET /a HTTP/1.1\r\n"));
    std::this_thread::sleep_for(milliseconds(100));
    REQUIRE(socket.Send("Host: t\r\n"));
    std::this_thread::sleep_for(milliseconds(100));
    REQUIRE(socket.Send("\n"));
    bool closed = false;
    std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(4000), &closed));
    REQUIRE(responses.size() == (pipelined ? 2u : 1u));
    CHECK(responses.back().status == 400);
    CHECK(responses.back().body.find("bare LF in the request head") != std::string::npos);
    CHECK(closed);
  }
  CHECK(echo.calls->load() == 1);  // GET /first
  // A head in pieces with CRLFs is read as before.
  RawSocket socket(server->port());
  const std::string head = Get("/split", true);
  for (size_t at = 0; at < head.size(); at += 7) {
    REQUIRE(socket.Send(head.substr(at, 7)));
    std::this_thread::sleep_for(milliseconds(10));
  }
  bool closed = false;
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(4000), &closed));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].body == "GET /split");
}

TEST_CASE("chunked framing: a bare LF line end gets 400 at once and closes", "[http]") {
  // Beast looks for the CRLF of a chunk-size line or trailer field and would wait for it until
  // the line is too long or read_timeout passes, then close without an answer.
  EchoHandler echo;
  HttpServerOptions options;
  options.read_timeout = milliseconds(8000);
  auto server = StartServer(options, echo.Handler());
  for (const std::string& body : {
           std::string("1c\nfrom account_balance limit 1\n0\n\n"),  // every line
           std::string("5\nhello\r\n0\r\n\r\n"),                    // a chunk-size line
           std::string("5;a=b\nhello\r\n0\r\n\r\n"),                // after extensions
           std::string("5\r\nhello\r\n0\n\r\n"),                    // the last chunk's line
           std::string("5\r\nhello\n0\r\n\r\n"),                    // after the chunk data
           std::string("5\r\nhello\r\n0\r\nX-T: 1\n\n"),            // a trailer field
           std::string("5\r\nhello\r\n0\r\nX-T: 1\r\n\n"),          // the trailers' end
           std::string("\n"),                                       // before the first line
       }) {
    INFO("body: " << body);
    auto started = Clock::now();
    bool closed = false;
    std::vector<RawResponse> responses = SendAndRead(server->port(), ChunkedPost(body), &closed);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].body.rfind("{\"detail\":", 0) == 0);
    CHECK(responses[0].body.find(",\"error\":\"bad request\"}") != std::string::npos);
    CHECK(responses[0].headers["connection"] == "close");
    CHECK(closed);
    CHECK(MillisSince(started) < 4000);

    std::vector<RawResponse> local = Handle(ChunkedPost(body) + Get("/after"), {}, &echo);
    REQUIRE(local.size() == 1);
    CHECK(local[0].status == 400);
    CHECK(local[0].headers["connection"] == "close");
  }
  // Sent in pieces, the bare LF is seen as soon as it arrives.
  {
    RawSocket socket(server->port());
    REQUIRE(socket.Send(ChunkedPost("5\r\nhello\r\n")));
    std::this_thread::sleep_for(milliseconds(100));
    REQUIRE(socket.Send("1a"));
    std::this_thread::sleep_for(milliseconds(100));
    REQUIRE(socket.Send("\n"));
    bool closed = false;
    std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(4000), &closed));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 400);
    CHECK(responses[0].body.find("bare LF") != std::string::npos);
    CHECK(closed);
  }
  CHECK(echo.calls->load() == 0);
  // LF within the chunk data is data.
  bool closed = false;
  std::vector<RawResponse> fine = SendAndRead(
      server->port(), ChunkedPost("6\r\na\nb\r\nc\r\n0\r\n\r\n", "Connection: close\r\n"), &closed);
  REQUIRE(fine.size() == 1);
  CHECK(fine[0].status == 200);
  CHECK(echo.calls->load() == 1);
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

// ---- streamed answers (HttpResponse::stream) ----

namespace {

// An HttpStream fed by the test from its own thread.
class TestStream : public HttpStream {
 public:
  void Open(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = std::move(wake);
    ++opened_;
    cv_.notify_all();
  }
  bool Take(std::string* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (; !pieces_.empty(); pieces_.pop_front()) *out += pieces_.front();
    return !ended_;
  }
  void Closed() override {
    std::function<void()> wake;  // released outside the lock
    std::lock_guard<std::mutex> lock(mu_);
    wake.swap(wake_);
    ++closed_;
    cv_.notify_all();
  }

  void Push(std::string piece) { Feed(std::move(piece), false); }
  void End() { Feed("", true); }
  bool WaitOpened(milliseconds limit) {
    return WaitFor(limit, [this] { return opened_ > 0; });
  }
  bool WaitClosed(milliseconds limit) {
    return WaitFor(limit, [this] { return closed_ > 0; });
  }
  int opened() {
    std::lock_guard<std::mutex> lock(mu_);
    return opened_;
  }
  int closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  size_t pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return pieces_.size();
  }

 private:
  void Feed(std::string piece, bool end) {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!piece.empty()) pieces_.push_back(std::move(piece));
      if (end) ended_ = true;
      wake = wake_;
    }
    if (wake) wake();
  }
  template <typename Predicate>
  bool WaitFor(milliseconds limit, Predicate done) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, done);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;
  bool ended_ = false;
  std::function<void()> wake_;
  int opened_ = 0;
  int closed_ = 0;
};

// Answers /plain with text, and every other request with a new TestStream (kept for the test):
// /events as text/event-stream, /custom with the handler's own Cache-Control, /ended already
// holding "ab" and ended, /missing as a 404 with a body, /twice after a text answer, /later
// 200 ms later, /never not at all (its Responder is kept).
struct StreamHandler {
  HttpServer* server = nullptr;  // for /later
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<TestStream>> streams;
  std::vector<Responder> kept;
  std::atomic<int> plain{0};

  HttpHandler Handler() {
    return [this](HttpRequest&& request, Responder respond) {
      if (request.path == "/plain") {
        plain.fetch_add(1);
        return respond(Text(200, "plain"));
      }
      auto stream = std::make_shared<TestStream>();
      HttpResponse response;
      response.content_type = "text/event-stream";
      response.body = "not sent";
      response.stream = stream;
      if (request.path == "/custom") response.headers.emplace_back("Cache-Control", "no-store");
      if (request.path == "/ended") {
        stream->Push("ab");
        stream->End();
      }
      if (request.path == "/missing") {
        response.status = 404;
        response.body = "{\"error\":\"no such feed\"}";
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        streams.push_back(stream);
        if (request.path == "/never") kept.push_back(respond);
        cv.notify_all();
      }
      if (request.path == "/twice") respond(Text(200, "first"));
      if (request.path == "/later") {
        server->PostAfter(milliseconds(200), [respond, response] { respond(response); });
      } else if (request.path != "/never") {
        respond(response);
      }
    };
  }

  // The stream made for the index-th request that got one.
  std::shared_ptr<TestStream> Stream(size_t index) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, milliseconds(5000), [&] { return streams.size() > index; });
    REQUIRE(streams.size() > index);
    return streams[index];
  }
};

// Reads into *data until it holds `needle`, the server closes, or `limit` passes.
bool ReadUntil(RawSocket* socket, std::string* data, const std::string& needle, bool* closed,
               milliseconds limit = milliseconds(5000)) {
  auto deadline = Clock::now() + limit;
  *closed = false;
  while (data->find(needle) == std::string::npos && !*closed && Clock::now() < deadline) {
    *data += socket->Read(milliseconds(10), closed);
  }
  return data->find(needle) != std::string::npos;
}

// Splits off and returns the head of an answer (through its blank line).
std::string TakeHead(std::string* data) {
  size_t end = data->find("\r\n\r\n");
  if (end == std::string::npos) return "";
  std::string head = data->substr(0, end + 4);
  data->erase(0, end + 4);
  return head;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("streamed answer: chunks reach an HTTP/1.1 client as they are pushed", "[http]") {
  StreamHandler handler;
  auto server = StartServer({}, handler.Handler());
  RawSocket socket(server->port());
  REQUIRE(socket.Send(Get("/events")));
  std::shared_ptr<TestStream> stream = handler.Stream(0);
  REQUIRE(stream->WaitOpened(milliseconds(5000)));

  bool closed = false;
  std::string data;
  REQUIRE(ReadUntil(&socket, &data, "\r\n\r\n", &closed));
  std::string head = TakeHead(&data);
  INFO("head: " << head);
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(Has(head, "Content-Type: text/event-stream\r\n"));
  CHECK(Has(head, "Transfer-Encoding: chunked\r\n"));
  CHECK(Has(head, "Connection: close\r\n"));
  CHECK(Has(head, "Cache-Control: no-cache\r\n"));
  CHECK(Has(head, "X-Accel-Buffering: no\r\n"));
  CHECK_FALSE(Has(head, "Content-Length"));
  CHECK(data.empty());  // the handler's `body` is not sent

  stream->Push("data: one\n\n");
  REQUIRE(ReadUntil(&socket, &data, "data: one\n\n\r\n", &closed));
  CHECK(data == "b\r\ndata: one\n\n\r\n");
  // Nothing more comes until the next piece is pushed.
  data += socket.Read(milliseconds(300), &closed);
  CHECK(data == "b\r\ndata: one\n\n\r\n");
  CHECK_FALSE(closed);
  data.clear();
  stream->Push("data: two\n\n");
  REQUIRE(ReadUntil(&socket, &data, "data: two\n\n\r\n", &closed));
  CHECK(data == "b\r\ndata: two\n\n\r\n");
  data.clear();
  std::string large(70000, 'x');  // 0x11170 bytes
  stream->Push(large);
  REQUIRE(ReadUntil(&socket, &data, large + "\r\n", &closed));
  CHECK(data == "11170\r\n" + large + "\r\n");
  data.clear();
  CHECK(stream->closed() == 0);

  stream->End();
  data += socket.Read(milliseconds(5000), &closed);
  CHECK(data == "0\r\n\r\n");
  CHECK(closed);
  REQUIRE(stream->WaitClosed(milliseconds(5000)));
  CHECK(stream->opened() == 1);
  CHECK(stream->closed() == 1);
}

TEST_CASE("streamed answer: raw bytes to an HTTP/1.0 client, ended by closing", "[http]") {
  StreamHandler handler;
  auto server = StartServer({}, handler.Handler());
  RawSocket socket(server->port());
  // Asking for keep-alive changes nothing: a stream is the last answer on its connection.
  REQUIRE(socket.Send("GET /custom HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  std::shared_ptr<TestStream> stream = handler.Stream(0);
  REQUIRE(stream->WaitOpened(milliseconds(5000)));
  bool closed = false;
  std::string data;
  REQUIRE(ReadUntil(&socket, &data, "\r\n\r\n", &closed));
  std::string head = TakeHead(&data);
  INFO("head: " << head);
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_FALSE(Has(head, "Transfer-Encoding"));
  CHECK_FALSE(Has(head, "Content-Length"));
  CHECK(Has(head, "Connection: close\r\n"));
  CHECK(Has(head, "Cache-Control: no-store\r\n"));  // the handler's own
  CHECK_FALSE(Has(head, "no-cache"));
  CHECK(Has(head, "X-Accel-Buffering: no\r\n"));

  stream->Push("abc");
  REQUIRE(ReadUntil(&socket, &data, "abc", &closed));
  CHECK(data == "abc");
  stream->Push("def");
  REQUIRE(ReadUntil(&socket, &data, "abcdef", &closed));
  CHECK_FALSE(closed);
  stream->End();
  data += socket.Read(milliseconds(5000), &closed);
  CHECK(data == "abcdef");
  CHECK(closed);
  REQUIRE(stream->WaitClosed(milliseconds(5000)));
  CHECK(stream->closed() == 1);
}

TEST_CASE("streamed answer: a client closing its socket closes the stream at once", "[http]") {
  StreamHandler handler;
  auto server = StartServer({}, handler.Handler());
  auto socket = std::make_unique<RawSocket>(server->port());
  REQUIRE(socket->Send(Get("/events")));
  std::shared_ptr<TestStream> stream = handler.Stream(0);
  REQUIRE(stream->WaitOpened(milliseconds(5000)));
  stream->Push("data: x\n\n");
  bool closed = false;
  std::string data;
  REQUIRE(ReadUntil(socket.get(), &data, "data: x\n\n\r\n", &closed));
  auto start = Clock::now();
  socket.reset();  // nothing more is pushed: only the read notices
  REQUIRE(stream->WaitClosed(milliseconds(5000)));
  CHECK(MillisSince(start) < 2000);
  CHECK(stream->closed() == 1);
  stream->Push("data: after\n\n");  // wake after the close does nothing
  std::this_thread::sleep_for(milliseconds(50));
  CHECK(stream->closed() == 1);

  // A stream answered after its client left is closed too.
  socket = std::make_unique<RawSocket>(server->port());
  REQUIRE(socket->Send(Get("/never")));
  std::shared_ptr<TestStream> late = handler.Stream(1);
  socket.reset();
  std::this_thread::sleep_for(milliseconds(100));
  Responder respond;
  {
    std::lock_guard<std::mutex> lock(handler.mu);
    REQUIRE(handler.kept.size() == 1);
    respond = handler.kept[0];
  }
  HttpResponse response;
  response.stream = late;
  respond(response);
  REQUIRE(late->WaitClosed(milliseconds(5000)));
  CHECK(late->closed() == 1);
}

TEST_CASE("streamed answer: Stop closes open streams; a stream answered late is closed unopened",
          "[http]") {
  StreamHandler handler;
  HttpServerOptions options;
  options.threads = 2;
  auto server = StartServer(options, handler.Handler());
  RawSocket streaming(server->port());
  REQUIRE(streaming.Send(Get("/events")));
  std::shared_ptr<TestStream> open = handler.Stream(0);
  REQUIRE(open->WaitOpened(milliseconds(5000)));
  RawSocket waiting(server->port());
  REQUIRE(waiting.Send(Get("/never")));
  std::shared_ptr<TestStream> late = handler.Stream(1);

  auto start = Clock::now();
  server->Stop();
  CHECK(MillisSince(start) < 1000);
  CHECK(open->closed() == 1);
  bool closed = false;
  streaming.Read(milliseconds(1000), &closed);
  CHECK(closed);

  // The kept Responder answers with a stream after Stop: dropped, and closed unopened.
  Responder respond;
  {
    std::lock_guard<std::mutex> lock(handler.mu);
    REQUIRE(handler.kept.size() == 1);
    respond = handler.kept[0];
  }
  HttpResponse response;
  response.stream = late;
  respond(response);
  CHECK(late->closed() == 1);
  CHECK(late->opened() == 0);
  server.reset();
  CHECK(open->closed() == 1);
}

TEST_CASE("streamed answer: HEAD, another status or a second answer close it unopened", "[http]") {
  StreamHandler handler;
  auto server = StartServer({}, handler.Handler());
  RawSocket socket(server->port());
  REQUIRE(socket.Send("HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n"));
  bool closed = false;
  std::string data;
  REQUIRE(ReadUntil(&socket, &data, "\r\n\r\n", &closed));
  data += socket.Read(milliseconds(200), &closed);
  std::string head = TakeHead(&data);
  INFO("head: " << head);
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(Has(head, "Content-Type: text/event-stream\r\n"));  // as a GET would get it
  CHECK(Has(head, "Cache-Control: no-cache\r\n"));
  CHECK_FALSE(Has(head, "Content-Length"));
  CHECK_FALSE(Has(head, "Connection: close"));
  CHECK(data.empty());  // no body
  CHECK_FALSE(closed);
  std::shared_ptr<TestStream> head_stream = handler.Stream(0);
  REQUIRE(head_stream->WaitClosed(milliseconds(5000)));
  CHECK(head_stream->opened() == 0);

  // The connection goes on; a 404 with a stream is sent as a 404 with its body.
  REQUIRE(socket.Send(Get("/missing") + Get("/twice") + Get("/plain", true)));
  std::vector<RawResponse> responses = ParseResponses(socket.Read(milliseconds(5000), &closed));
  CHECK(closed);
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].status == 404);
  CHECK(responses[0].body == "{\"error\":\"no such feed\"}");
  CHECK(responses[0].headers.count("x-accel-buffering") == 0);
  CHECK(responses[1].body == "first");
  CHECK(responses[2].body == "plain");
  for (size_t i : {1, 2}) {
    std::shared_ptr<TestStream> stream = handler.Stream(i);
    REQUIRE(stream->WaitClosed(milliseconds(5000)));
    CHECK(stream->opened() == 0);
    CHECK(stream->closed() == 1);
  }
  CHECK(head_stream->closed() == 1);
}

TEST_CASE("streamed answer: requests pipelined behind it are not answered", "[http]") {
  StreamHandler handler;
  HttpServerOptions options;
  options.threads = 2;
  auto server = StartServer(options, handler.Handler());
  handler.server = server.get();
  std::string path;
  SECTION("a stream answered at once") { path = "/events"; }
  SECTION("a stream answered later, with the next answer queued behind it") { path = "/later"; }

  RawSocket socket(server->port());
  REQUIRE(socket.Send(Get(path) + Get("/plain") + Get("/events")));
  std::shared_ptr<TestStream> stream = handler.Stream(0);
  REQUIRE(stream->WaitOpened(milliseconds(5000)));
  stream->Push("data: x\n\n");
  stream->End();
  bool closed = false;
  std::string data = socket.Read(milliseconds(5000), &closed);
  CHECK(closed);
  INFO("got: " << data);
  std::string head = TakeHead(&data);
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(data == "9\r\ndata: x\n\n\r\n0\r\n\r\n");  // and nothing after
  REQUIRE(stream->WaitClosed(milliseconds(5000)));
  CHECK(stream->closed() == 1);
  if (path == "/later") {
    // Both were read ahead and answered while the stream's answer was owed; the stream queued
    // behind is closed unopened.
    CHECK(handler.plain.load() == 1);
    std::shared_ptr<TestStream> queued = handler.Stream(1);
    REQUIRE(queued->WaitClosed(milliseconds(5000)));
    CHECK(queued->opened() == 0);
  } else {
    // Answered at once: nothing after it was read.
    CHECK(handler.plain.load() == 0);
    std::lock_guard<std::mutex> lock(handler.mu);
    CHECK(handler.streams.size() == 1);
  }
}

TEST_CASE("streamed answer: a client that does not read is dropped after idle_timeout", "[http]") {
  StreamHandler handler;
  HttpServerOptions options;
  options.idle_timeout = milliseconds(300);
  auto server = StartServer(options, handler.Handler());
  RawSocket socket(server->port());  // never reads
  REQUIRE(socket.Send(Get("/events")));
  std::shared_ptr<TestStream> stream = handler.Stream(0);
  REQUIRE(stream->WaitOpened(milliseconds(5000)));

  // A quiet stream is not timed out.
  std::this_thread::sleep_for(milliseconds(700));
  CHECK(stream->closed() == 0);

  const std::string piece(64 * 1024, 'p');
  size_t pushed = 0;
  auto start = Clock::now();
  while (stream->closed() == 0 && MillisSince(start) < 20000) {
    if (stream->pending() < 4) {
      stream->Push(piece);
      pushed += piece.size();
    } else {
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
  INFO("pushed " << pushed << " bytes in " << MillisSince(start) << " ms");
  CHECK(stream->closed() == 1);
  CHECK(pushed > 0);
  CHECK(MillisSince(start) >= 250);  // a write stalled for idle_timeout
  CHECK(MillisSince(start) < 20000);
}

TEST_CASE("streamed answer: HandleConnectionBytes sends it until it ends or answer_wait",
          "[http]") {
  StreamHandler handler;
  auto run = [&](const std::string& bytes, milliseconds wait = milliseconds(2000)) {
    return HandleConnectionBytes(bytes, {}, handler.Handler(), wait);
  };
  std::string out = run(Get("/ended") + Get("/plain") + Get("/events"));
  std::string head = TakeHead(&out);
  CHECK(Has(head, "Transfer-Encoding: chunked\r\n"));
  CHECK(Has(head, "Connection: close\r\n"));
  CHECK(out == "2\r\nab\r\n0\r\n\r\n");  // the pipelined answers are not sent
  CHECK(handler.Stream(0)->closed() == 1);
  CHECK(handler.Stream(1)->opened() == 0);
  CHECK(handler.Stream(1)->closed() == 1);

  out = run("GET /ended HTTP/1.0\r\n\r\n");
  head = TakeHead(&out);
  CHECK_FALSE(Has(head, "Transfer-Encoding"));
  CHECK(out == "ab");
  CHECK(handler.Stream(2)->closed() == 1);

  auto start = Clock::now();
  out = run(Get("/events"), milliseconds(200));  // never ends: cut at answer_wait
  CHECK(MillisSince(start) >= 190);
  head = TakeHead(&out);
  CHECK(Has(head, "Transfer-Encoding: chunked\r\n"));
  CHECK(out.empty());
  CHECK(handler.Stream(3)->opened() == 1);
  CHECK(handler.Stream(3)->closed() == 1);

  out = run("HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/missing"));
  std::vector<RawResponse> responses = ParseResponses(out);
  REQUIRE(responses.size() == 2);
  CHECK(responses[0].body.empty());
  CHECK(responses[1].status == 404);
  CHECK(responses[1].body == "{\"error\":\"no such feed\"}");
  for (size_t i : {4, 5}) {
    CHECK(handler.Stream(i)->opened() == 0);
    CHECK(handler.Stream(i)->closed() == 1);
  }
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

namespace projd {
namespace {

// One request on `socket` and the handler's answer: "1" when the request was alone.
std::string AskAlone(RawSocket* socket, const std::string& target) {
  REQUIRE(socket->Send(Get(target)));
  bool closed = false;
  std::vector<RawResponse> got = ParseResponses(socket->Read(milliseconds(10000), &closed, 1));
  REQUIRE(got.size() == 1);
  return got[0].body;
}

TEST_CASE("a request is alone when no other connection sent one within alone_after", "[http]") {
  auto handler = [](HttpRequest request, Responder respond) {
    respond(Text(200, request.alone ? "1" : "0"));
  };
  // A window no test run outlasts: whether another connection came in between decides.
  HttpServerOptions options;
  options.alone_after = std::chrono::hours(1);
  auto server = StartServer(options, handler);
  RawSocket a(server->port()), b(server->port());
  CHECK(AskAlone(&a, "/a1") == "1");  // nobody else yet
  CHECK(AskAlone(&a, "/a2") == "1");  // the same connection again
  CHECK(AskAlone(&b, "/b1") == "0");  // a came just before
  CHECK(AskAlone(&b, "/b2") == "0");  // a's request is still within the window
  CHECK(AskAlone(&a, "/a3") == "0");
  server->Stop();
  // A window of nothing: every request is alone.
  options.alone_after = std::chrono::microseconds(0);
  auto quiet = StartServer(options, handler);
  RawSocket c(quiet->port()), d(quiet->port());
  CHECK(AskAlone(&c, "/c1") == "1");
  CHECK(AskAlone(&d, "/d1") == "1");
  CHECK(AskAlone(&c, "/c2") == "1");
}

}  // namespace
}  // namespace projd
