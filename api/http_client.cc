// HttpCall: the blocking HTTP/1.1 client of projctl and the tests (declared in http_server.h).
//
// Each call runs its own small io_context on the calling thread; every step (connect, write,
// read) is an asynchronous Beast operation bounded by one deadline, so a silent or slow server
// cannot block the caller past `timeout`.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "api/http_server.h"

namespace projd {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Describe(const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) {
    return "timed out after " + std::to_string(timeout.count()) + " ms";
  }
  return ec.message();
}

// Runs the io_context until the pending operation completes.
void RunOnce(net::io_context* ioc) {
  ioc->restart();
  ioc->run();
}

}  // namespace

bool HttpCall(const std::string& host, uint16_t port, const std::string& method,
              const std::string& target,
              const std::vector<std::pair<std::string, std::string>>& headers,
              const std::string& body, std::chrono::milliseconds timeout, HttpClientResult* out,
              std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  const std::string where = host + ":" + std::to_string(port);
  try {
    net::io_context ioc;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    beast::error_code ec;

    std::vector<tcp::endpoint> endpoints;
    net::ip::address address = net::ip::make_address(host, ec);
    if (!ec) {
      endpoints.emplace_back(address, port);
    } else {
      // A host name (e.g. "localhost"); resolution itself is not bounded by the deadline.
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec) {
        *error = "cannot resolve " + host + ": " + ec.message();
        return false;
      }
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }

    beast::tcp_stream stream(ioc);
    stream.expires_at(deadline);
    stream.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    RunOnce(&ioc);
    if (ec) {
      *error = "cannot connect to " + where + ": " + Describe(ec, timeout);
      return false;
    }

    http::request<http::string_body> request;
    http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      request.method_string(method);
    } else {
      request.method(verb);
    }
    request.target(target);
    request.version(11);
    bool ipv6 = host.find(':') != std::string::npos;  // an IPv6 literal
    request.set(http::field::host, (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port));
    request.set(http::field::connection, "close");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.content_length(body.size());

    beast::error_code write_ec;
    stream.expires_at(deadline);
    http::async_write(stream, request, [&write_ec](beast::error_code e, size_t) { write_ec = e; });
    RunOnce(&ioc);
    if (write_ec == beast::error::timeout) {
      *error = "request to " + where + " failed: " + Describe(write_ec, timeout);
      return false;
    }
    // Even when the write failed (a server may answer early, e.g. 413, and close), the
    // answer may be waiting to be read.

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    // No bound on the answer's body, said as the largest one: Boost 1.74's parser compares a
    // Content-Length with an empty limit as larger than it, and fails a body that comes in a
    // read of its own after the head ("body limit exceeded").
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(1024 * 1024);
    stream.expires_at(deadline);
    http::async_read(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
    RunOnce(&ioc);
    if (ec) {
      *error = "request to " + where +
               " failed: " + (write_ec ? Describe(write_ec, timeout) : Describe(ec, timeout));
      return false;
    }
    beast::error_code close_ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, close_ec);

    http::response<http::string_body> response = parser.release();
    out->status = static_cast<int>(response.result_int());
    out->headers.clear();
    for (const auto& field : response) {
      out->headers.emplace_back(
          Lower(std::string_view(field.name_string().data(), field.name_string().size())),
          std::string(field.value()));
    }
    out->body = std::move(response.body());
    return true;
  } catch (const std::exception& e) {
    *error = "request to " + where + " failed: " + e.what();
    return false;
  }
}

}  // namespace projd
