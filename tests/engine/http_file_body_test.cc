// Answers whose body is a file (HttpResponse::body_file): streamed in pieces with its size as
// Content-Length, the file removed afterwards when asked, and the connection usable after it.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/http_server.h"
#include "tests/unit_dir.h"

namespace projd {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string TempFolder(const std::string& name) { return projd_test::FreshUnitDir(name).string(); }

// Bytes of every value (zeros included), over several server chunks and not a multiple of one.
std::string Content(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 977) & 0xFF);
  return s;
}

// Serves /file as a fresh copy of `content` in its own folder (removed after the answer), and
// any other path as a small JSON answer.
HttpHandler FileHandler(const std::string& root, const std::string& content) {
  auto counter = std::make_shared<std::atomic<int>>(0);
  return [root, content, counter](HttpRequest&& req, const Responder& respond) {
    HttpResponse r;
    if (req.path == "/file" || req.path == "/missing") {
      std::string dir = root + "/answer-" + std::to_string(++*counter);
      fs::create_directories(dir);
      std::ofstream(dir + "/data", std::ios::binary) << content;
      r.content_type = "application/octet-stream";
      r.headers.emplace_back("X-Size", std::to_string(content.size()));
      std::string path = req.path == "/file" ? dir + "/data" : dir + "/absent";
      r.body_file = std::make_shared<HttpFileBody>(path, dir);
    } else {
      r.body = "{\"ok\":true}";
    }
    respond(std::move(r));
  };
}

size_t Entries(const std::string& dir) {
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++n;
  return n;
}

}  // namespace

TEST_CASE("file body: streamed whole over a socket, then removed", "[http]") {
  std::string root = TempFolder("file_body_socket");
  std::string content = Content(3 * 256 * 1024 + 12345);
  HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  std::string error;
  auto server = HttpServer::Start(options, FileHandler(root, content), &error);
  REQUIRE(server);
  HttpClientResult r;
  bool ok = HttpCall("127.0.0.1", server->port(), "GET", "/file", {}, "", milliseconds(10000), &r,
                     &error);
  INFO(error);
  REQUIRE(ok);
  CHECK(r.status == 200);
  CHECK(r.body.size() == content.size());
  CHECK(r.body == content);
  bool typed = false;
  for (const auto& [name, value] : r.headers) {
    if (name == "content-type") typed = value == "application/octet-stream";
    if (name == "content-length") CHECK(value == std::to_string(content.size()));
  }
  CHECK(typed);
  // A file that cannot be opened is a 500, and its folder is removed too.
  HttpClientResult missing;
  REQUIRE(HttpCall("127.0.0.1", server->port(), "GET", "/missing", {}, "", milliseconds(10000),
                   &missing, &error));
  CHECK(missing.status == 500);
  server->Stop();
  CHECK(Entries(root) == 0);
  fs::remove_all(root);
}

TEST_CASE("file body: pipelined answers keep their order and framing", "[http]") {
  std::string root = TempFolder("file_body_pipelined");
  std::string content = Content(600 * 1024 + 7);
  std::string out = HandleConnectionBytes(
      "HEAD /file HTTP/1.1\r\nHost: x\r\n\r\nGET /file HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
      HttpServerOptions(), FileHandler(root, content), milliseconds(5000));
  // HEAD: the file's size, no body.
  size_t head_only = out.find("\r\n\r\n");
  REQUIRE(head_only != std::string::npos);
  CHECK(out.substr(0, head_only).find("Content-Length: " + std::to_string(content.size())) !=
        std::string::npos);
  out = out.substr(head_only + 4);
  REQUIRE(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  size_t head_end = out.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  std::string head = out.substr(0, head_end);
  CHECK(head.find("Content-Length: " + std::to_string(content.size())) != std::string::npos);
  CHECK(out.substr(head_end + 4, content.size()) == content);
  std::string rest = out.substr(head_end + 4 + content.size());
  CHECK(rest.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(rest.find("{\"ok\":true}") != std::string::npos);
  CHECK(Entries(root) == 0);
  fs::remove_all(root);
}

}  // namespace projd
