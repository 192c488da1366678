// Fuzz target: bytes a client sends on one connection → projd's request reading (Beast's
// parser with the limits of api/http_request.cc, via HandleConnectionBytes) → the daemon's
// real API handler (Daemon::Handle) → the bytes projd answers with. No sockets for the fuzzed
// requests.
//
// The daemon is started once: the projections of projections/, a scratch data folder, the
// embedded broker filled with examples/banking-events.jsonl (--demo), and --auth with an
// admin token, a reader limited to account_balance and a metrics token (see http.dict). It
// waits until the views caught up, so reads find rows.
//
// Invariants besides "no crash, no sanitizer report": the answer bytes parse as HTTP/1.1
// responses with valid statuses, and the daemon's data folder is still in place.
#include <sys/stat.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/daemon.h"
#include "api/http_server.h"
#include "api/http_server_internal.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace http = boost::beast::http;

projd::Daemon* g_daemon = nullptr;  // lives until exit

// Small limits, so that inputs of the fuzzer's sizes reach the 431 and 413 answers.
projd::HttpServerOptions Limits() {
  projd::HttpServerOptions o;
  o.max_header_bytes = 2048;
  o.max_body_bytes = 1024;
  return o;
}

void StartDaemon() {
  const std::string& dir = projd_fuzz::ScratchDir();
  std::string auth = dir + "/auth.toml";
  {
    std::ofstream out(auth);
    out << "[[token]]\ntoken = \"fuzz-admin\"\nrole = \"admin\"\n\n"
           "[[token]]\ntoken = \"fuzz-reader\"\nrole = \"reader\"\nviews = "
           "[\"account_balance\"]\n\n"
           "[[token]]\ntoken = \"fuzz-metrics\"\nrole = \"metrics\"\n";
  }
  chmod(auth.c_str(), 0600);
  projd::DaemonOptions o;
  o.projections_dir = (projd_fuzz::SourceDir() / "projections").string();
  o.data_dir = dir + "/data";
  o.listen = "127.0.0.1:0";
  o.demo = true;
  o.demo_events = (projd_fuzz::SourceDir() / "examples" / "banking-events.jsonl").string();
  o.partitions = 2;
  o.sync = projd::SyncMode::kNone;
  o.auth_file = auth;
  o.http = Limits();
  auto* daemon = new projd::Daemon(o);
  std::string error;
  FUZZ_CHECK(daemon->Start(&error), error.c_str());
  g_daemon = daemon;
  // Stop the views, the broker and their threads before the statics they use go away.
  std::atexit([] { g_daemon->Stop(); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    std::string answer = projd::HandleConnectionBytes(
        "GET /readyz HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer fuzz-admin\r\n\r\n", Limits(),
        [daemon](projd::HttpRequest&& r, projd::Responder respond) {
          daemon->Handle(std::move(r), std::move(respond));
        },
        std::chrono::milliseconds(1000));
    if (answer.rfind("HTTP/1.1 200", 0) == 0) break;
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline,
               ("the views catch up within 60 s: " + answer).c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// For each request of `bytes`, as the server splits them: is it a HEAD request? (A request
// whose head does not parse is answered as a request of no known method.) The few empty lines
// the server ignores before a request are skipped here too.
std::vector<bool> RequestIsHead(std::string_view bytes) {
  std::vector<bool> heads;
  size_t pos = 0;
  while (pos < bytes.size()) {
    int empty_lines = 0;
    bool wait = false;
    pos += projd::http_internal::SkipEmptyLines(bytes.substr(pos), &empty_lines, &wait);
    if (wait) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(Limits().max_header_bytes));
    parser.body_limit(Limits().max_body_bytes);
    boost::beast::error_code ec;
    while (!parser.is_done()) {
      size_t used = parser.put(boost::asio::buffer(bytes.data() + pos, bytes.size() - pos), ec);
      pos += used;
      if (ec == http::error::need_more) ec = {};
      if (ec || used == 0) break;
    }
    heads.push_back(parser.is_header_done() && parser.get().method() == http::verb::head);
    if (ec || !parser.is_done()) break;
  }
  return heads;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  StartDaemon();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // With the daemon's quick path for plain GETs, as projd serves (point reads with a token that
  // may read the view; everything else it leaves to Handle).
  projd::HttpServerOptions options = Limits();
  options.quick_get = [](const projd::QuickGetRequest& request, projd::QuickAnswer* answer) {
    return g_daemon->QuickGet(request, answer);
  };
  std::string answer = projd::HandleConnectionBytes(
      bytes, options,
      [](projd::HttpRequest&& r, projd::Responder respond) {
        g_daemon->Handle(std::move(r), std::move(respond));
      },
      std::chrono::milliseconds(200));
  // No request removes what the daemon keeps (DELETE /v1/views/.. once did).
  FUZZ_CHECK(
      std::filesystem::exists(projd_fuzz::ScratchDir() + "/data/views/account_balance/CURRENT"),
      "the data folder is still there");
  // The answers parse back as HTTP/1.1 responses, in request order, those to HEAD requests
  // without a body (as a client reads them); 100 Continue go-aheads come between.
  std::vector<bool> heads = RequestIsHead(bytes);
  boost::beast::error_code ec;
  size_t pos = 0, request = 0;
  while (pos < answer.size()) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.eager(true);
    bool interim = answer.compare(pos, 13, "HTTP/1.1 100 ") == 0;
    if (!interim && request < heads.size() && heads[request]) parser.skip(true);
    size_t used = parser.put(boost::asio::buffer(answer.data() + pos, answer.size() - pos), ec);
    FUZZ_CHECK(!ec && parser.is_done(), (ec.message() + ": " + answer.substr(pos, 300)).c_str());
    pos += used;
    if (!interim) ++request;
    unsigned status = parser.get().result_int();
    FUZZ_CHECK(status >= 100 && status <= 599, answer.c_str());
  }
  return 0;
}
