// The HTTP/1.1 server of projd on Boost.Beast (see http_server.h for the contract): Core's
// acceptor, I/O threads, PostAfter timers and Stop, and HttpServer::Start. How the server is
// put together, and its timeouts, are described in http_session.h; the files of the server are
// listed in http_server_internal.h.
#include "api/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_server_internal.h"
#include "api/http_session.h"
#include "dsl/thread_name.h"

namespace projd {
namespace http_internal {
namespace {

constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

}  // namespace

bool Core::Listen(std::string* error) {
  std::string where = options_.address + ":" + std::to_string(options_.port);
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(options_.address, ec);
  if (ec) {
    *error = "cannot listen on " + where + ": not an IP address";
    return false;
  }
  tcp::endpoint endpoint(address, options_.port);
  where = FormatEndpoint(endpoint);
  auto fail = [&](const char* step) {
    *error = "cannot listen on " + where + ": " + ec.message() + " (" + step + ")";
    return false;
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("reuse_address");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  tcp::endpoint local = acceptor_.local_endpoint(ec);
  if (ec) return fail("local_endpoint");
  port_ = local.port();
  return true;
}

void Core::Run() {
  for (auto& ioc : iocs_) work_.emplace_back(ioc->get_executor());
  DoAccept();
  for (auto& ioc : iocs_) {
    threads_.emplace_back([ioc = ioc.get()] {
      NameThisThread("http");
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (...) {
          // A handler threw; keep serving.
        }
      }
    });
  }
}

void Core::DoAccept() {
  // Connections are dealt out to the io_contexts in turn.
  net::io_context& ioc = *iocs_[next_ioc_++ % iocs_.size()];
  acceptor_.async_accept(
      ioc, [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void Core::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopped_.load()) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    if (ec == net::error::connection_aborted) return DoAccept();
    // Out of descriptors or memory: retry shortly instead of spinning.
    accept_retry_.expires_after(kAcceptRetryDelay);
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopped_.load()) DoAccept();
    });
    return;
  }
  beast::error_code peer_ec;
  tcp::endpoint peer = socket.remote_endpoint(peer_ec);
  if (peer_ec) {
    socket.close(peer_ec);
  } else if (connections_.load() >= options_.max_connections) {
    Reject(std::move(socket));
  } else {
    std::make_shared<Session>(this, std::move(socket), FormatEndpoint(peer))->Start();
  }
  DoAccept();
}

void Core::Reject(tcp::socket socket) {
  // An error answer like any other (with its detail), closing the connection.
  struct Rejected {
    tcp::socket socket;
    std::string bytes;
  };
  auto rejected = std::make_shared<Rejected>(Rejected{std::move(socket), {}});
  HttpResponse busy =
      ErrorResponse(503, "too many connections",
                    "this server takes at most " + std::to_string(options_.max_connections) +
                        " connections at once; retry later");
  bool sends_file = false;
  rejected->bytes = SerializeAnswer(std::move(busy), false, false, false, nullptr, &sends_file);
  net::async_write(rejected->socket, net::buffer(rejected->bytes),
                   [rejected](beast::error_code, size_t) {
                     beast::error_code ec;
                     rejected->socket.shutdown(tcp::socket::shutdown_send, ec);
                     rejected->socket.close(ec);
                   });
}

void Core::PostAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_.load()) return;
  // On the io_context of the calling I/O thread (the connection's, for a read-your-writes
  // wait): its work stays on that thread; from other threads, the first.
  net::io_context* ioc = iocs_[0].get();
  for (const auto& c : iocs_) {
    if (c->get_executor().running_in_this_thread()) ioc = c.get();
  }
  auto timer = std::make_shared<net::steady_timer>(*ioc, delay);
  timers_.emplace(timer.get(), timer);
  timer->async_wait([this, timer, fn = std::move(fn)](beast::error_code ec) mutable {
    {
      std::lock_guard<std::mutex> inner(mu_);
      timers_.erase(timer.get());
    }
    if (ec || stopped_.load()) return;
    try {
      fn();
    } catch (...) {
      // Exceptions do not leave the I/O thread.
    }
  });
}

void Core::Stop() {
  if (stopped_.exchange(true)) return;
  // Stop the threads first; afterwards this thread is the only one touching the sessions.
  work_.clear();
  for (auto& ioc : iocs_) ioc->stop();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();

  beast::error_code ec;
  acceptor_.close(ec);
  accept_retry_.cancel();
  std::vector<std::weak_ptr<Session>> sessions;
  std::vector<std::weak_ptr<net::steady_timer>> timers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& entry : sessions_) sessions.push_back(entry.second);
    for (auto& entry : timers_) timers.push_back(entry.second);
  }
  for (auto& weak : sessions) {
    if (std::shared_ptr<Session> session = weak.lock()) session->CloseNow();
  }
  for (auto& weak : timers) {
    if (std::shared_ptr<net::steady_timer> timer = weak.lock()) timer->cancel();
  }
  // Run the completions of the cancelled operations so that the sessions and the dropped
  // PostAfter functions (and the Responders they hold) are released now.
  for (auto& ioc : iocs_) {
    ioc->restart();
    for (;;) {
      try {
        ioc->poll();
        break;
      } catch (...) {
      }
    }
  }
}

namespace {

class ServerImpl final : public HttpServer {
 public:
  explicit ServerImpl(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~ServerImpl() override {
    // A destructor must not throw; a failure to stop (a thread that cannot be joined) is
    // reported, and the server is left as it is.
    try {
      Stop();
    } catch (const std::exception& e) {
      fprintf(stderr, "level=error component=http stopping the HTTP server failed: %s\n", e.what());
    }
  }

  void Stop() override { core_->Stop(); }
  uint16_t port() const override { return core_->port(); }
  void PostAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
    core_->PostAfter(delay, std::move(fn));
  }

 private:
  const std::shared_ptr<Core> core_;
};

}  // namespace
}  // namespace http_internal

std::unique_ptr<HttpServer> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler,
                                              std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (!handler) {
    *error = "no HTTP handler";
    return nullptr;
  }
  try {
    auto core = std::make_shared<http_internal::Core>(options, std::move(handler));
    if (!core->Listen(error)) return nullptr;
    auto server = std::make_unique<http_internal::ServerImpl>(core);
    core->Run();
    return server;
  } catch (const std::exception& e) {
    *error = "cannot start the HTTP server: " + std::string(e.what());
    return nullptr;
  }
}

}  // namespace projd
