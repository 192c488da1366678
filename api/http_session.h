// One connection of projd's HTTP/1.1 server (Session) and what it shares with the server and
// its Responders (Core); internal to api/, see http_server.h for the contract.
//
// Structure (after the habits of Beast's advanced server example):
//   Core     owns the io_contexts (one per I/O thread, each run by that thread alone), the
//            acceptor, the PostAfter timers and a registry of live sessions. It is shared:
//            each Responder holds it, so the io_contexts outlive every Responder and a late
//            answer can never touch a destroyed context.
//   Session  one connection, bound to one io_context (accepted connections are dealt out in
//            turn), so all of its state is touched by that context's thread only — no strand,
//            no lock, no hand-over between I/O threads within a connection. It reads requests
//            ahead (up to max_pipelined unanswered ones), hands each to the handler with a
//            Responder, and writes the answers strictly in request order. Responders hold
//            it weakly; it keeps itself alive while answers are owed and it is open.
//   PendingReply  what a Responder holds: answers at most once; if every copy of the
//            Responder is dropped unanswered, the request gets a 500 so the pipeline never
//            stalls.
//
// Timeouts, with beast::tcp_stream (which closes the socket when one expires):
//   - waiting for the first byte of a request: idle_timeout when no answer is outstanding,
//     no limit while the handler still owes an answer (the client is waiting for us); this
//     one is kept by a timer of the session's own (idle_timer_), moved on lazily, rather than
//     a Beast timer per request;
//   - from then until the request is complete: read_timeout (slowloris clients are dropped);
//   - writing one response: idle_timeout;
//   - while a streamed answer (HttpResponse::stream) is sent: idle_timeout for each write, and
//     a read without a deadline that only notices the client closing (a stream may be quiet).
// After a final response (Connection: close, or an error), the server shuts down its sending
// side and drains what the client still sends for a short while before closing, so that the
// client reads the answer instead of a connection reset. A streamed answer is always final.
#ifndef PROJD_API_HTTP_SESSION_H_
#define PROJD_API_HTTP_SESSION_H_

#include <algorithm>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "api/http_server_internal.h"

namespace projd {
namespace http_internal {

using tcp = net::ip::tcp;

class Session;

// Everything the server shares with its sessions and Responders (see the file comment).
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const HttpServerOptions& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        iocs_(MakeContexts(options.threads)),
        acceptor_(*iocs_[0]),
        accept_retry_(*iocs_[0]) {
    if (options_.max_pipelined == 0) options_.max_pipelined = 1;
  }

  bool Listen(std::string* error);
  void Run();
  void Stop();
  void PostAfter(std::chrono::milliseconds delay, std::function<void()> fn);

  uint16_t port() const { return port_; }
  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  bool stopped() const { return stopped_.load(); }

  void AddSession(Session* key, std::weak_ptr<Session> session) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.emplace(key, std::move(session));
  }
  // Called from ~Session, also during ~io_context inside ~Core (the members below it are
  // still alive then: ioc_ is declared after them).
  void RemoveSession(Session* key) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(key);
    connections_.fetch_sub(1);
  }
  void CountConnection() { connections_.fetch_add(1); }
  // Notes a request from `session` (quick or not); true when no other session sent one within
  // options().alone_after (HttpRequest::alone). Relaxed: with several I/O threads it is a hint.
  bool NoteRequest(const void* session,
                   std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now()) {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    if (last_session_.load(std::memory_order_relaxed) != session) {
      // The request before this one came from another session: the latest from any but this.
      other_at_.store(last_at_.load(std::memory_order_relaxed), std::memory_order_relaxed);
      last_session_.store(session, std::memory_order_relaxed);
    }
    last_at_.store(now, std::memory_order_relaxed);
    return now - other_at_.load(std::memory_order_relaxed) >
           std::chrono::duration_cast<std::chrono::nanoseconds>(options_.alone_after).count();
  }

 private:
  // One io_context per I/O thread; concurrency hint 1: each is run by one thread (answers
  // from other threads are still posted to it safely).
  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int threads) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < std::max(1, threads); ++i)
      out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Reject(tcp::socket socket);

  HttpServerOptions options_;
  const HttpHandler handler_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> connections_{0};
  // NoteRequest: the session of the latest request and when (steady clock, ns), and when the
  // latest request from another session than that one came.
  std::atomic<const void*> last_session_{nullptr};
  std::atomic<int64_t> last_at_{INT64_MIN / 2};
  std::atomic<int64_t> other_at_{INT64_MIN / 2};

  std::mutex mu_;
  // Live sessions and pending PostAfter timers, for Stop. Guarded by mu_.
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::unordered_map<net::steady_timer*, std::weak_ptr<net::steady_timer>> timers_;

  // Declared after the members that sessions touch when the io_contexts destroy them.
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  size_t next_ioc_ = 0;  // the context of the next accepted connection (the accept handler's)
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  std::vector<std::thread> threads_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Core* core, tcp::socket socket, std::string remote)
      : core_(core),
        stream_(std::move(socket)),
        remote_(std::move(remote)),
        idle_timer_(stream_.get_executor()) {
    core_->CountConnection();
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    // TryWrite writes to the socket directly first: that write must not wait.
    stream_.socket().non_blocking(true, ec);
  }
  ~Session() { core_->RemoveSession(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    core_->AddSession(this, weak_from_this());
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::ReadNext, shared_from_this()));
  }

  // Any thread: queues the answer to request `id` onto the connection's io_context, or takes
  // it at once when called on its thread (a handler that answers before it returns: most
  // requests).
  void Deliver(uint64_t id, HttpResponse response) {
    using Executor = net::io_context::executor_type;
    // get_executor() returns a copy: keep it while its target is looked at.
    const auto executor = stream_.get_executor();
    const Executor* ex = executor.target<Executor>();
    if (ex && ex->running_in_this_thread()) return OnAnswer(id, std::move(response));
    net::post(stream_.get_executor(),
              [self = shared_from_this(), id, response = std::move(response)]() mutable {
                self->OnAnswer(id, std::move(response));
              });
  }

  // Only from Core::Stop, once no I/O thread runs.
  void CloseNow() { Close(); }

 private:
  struct Slot {
    bool ready = false;
    bool keep_alive = true;
    bool head = false;    // a HEAD request: the answer has no body
    bool http10 = false;  // an HTTP/1.0 request: keep-alive is announced
    std::string bytes;    // the serialized response: one plain write, no HTTP write machinery
    // A body file still to send after `bytes` (the head), a chunk per write.
    std::shared_ptr<OpenFile> file;
    // A stream to send after `bytes` (the head): the last answer on the connection.
    std::shared_ptr<ClosingStream> stream;
  };

  void ReadNext();
  void ReadFirstBytes();
  void WaitIdle();
  void ArmIdleTimer();
  void OnIdleTimer(beast::error_code ec);
  void OnFirstBytes(beast::error_code ec, size_t bytes);
  void ReadRequest();
  bool TryQuickGet();
  void ReadHead();
  void OnHeader(beast::error_code ec, size_t bytes);
  void ReadBody();
  void OnRequestBytes(bool head, beast::error_code ec, size_t bytes);
  void OnRequest(beast::error_code ec, size_t bytes);
  void Dispatch(http::request<http::string_body>&& message);
  void OnReadError(beast::error_code ec);
  void OnEof();
  void ReplyAndClose(HttpResponse response, bool head = false);
  uint64_t Enqueue(bool keep_alive, bool head = false, bool http10 = false);
  void OnAnswer(uint64_t id, HttpResponse&& answer);
  void TryWrite();
  bool AnswerWritten();
  void IdleIfDone();
  void OnWrite(beast::error_code ec, size_t bytes);
  void Linger();
  void OnLinger(beast::error_code ec, size_t bytes);
  void Close();
  void OnStreamAnswer(Slot* slot, HttpResponse&& answer);
  void StartStream();
  std::function<void()> StreamWake();
  void PumpStream();
  void OnStreamWrite(beast::error_code ec, size_t bytes);
  void StreamSent();
  void ReadWhileStreaming();
  void OnStreamRead(beast::error_code ec, size_t bytes);
  void CloseStreams();

  Core* const core_;
  beast::tcp_stream stream_;
  const std::string remote_;
  // The idle deadline of the wait for a request's first bytes (WaitIdle).
  net::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point idle_deadline_;
  bool idle_timer_armed_ = false;
  bool idle_wait_ = false;  // the pending first-bytes read has idle_deadline_
  beast::flat_buffer buffer_;
  std::optional<RequestReader> reader_;
  int empty_lines_ = 0;  // ignored before the request being read (SkipEmptyLines)
  std::chrono::steady_clock::time_point request_deadline_;
  // When a lingering close gives up reading (Linger). Checked after each read too: a read
  // that finds bytes at once completes before the stream's expired timer can close it, so a
  // client that never stops sending would otherwise keep the connection for ever.
  std::chrono::steady_clock::time_point linger_deadline_;

  std::deque<Slot> queue_;   // unanswered or unwritten requests, oldest first
  uint64_t first_id_ = 0;    // id of queue_.front()
  std::string spare_bytes_;  // a written answer's bytes, emptied: room for the next quick one
  bool reading_ = false;
  bool writing_ = false;
  bool stop_reading_ = false;  // no further request will be read
  bool read_eof_ = false;      // the client closed its sending side
  bool untimed_wait_ = false;  // the pending first-byte read has no deadline
  bool closed_ = false;
  bool reads_follow_ = false;  // the caller of an answer's handler reads on (TryWrite)
  int read_depth_ = 0;         // ReadNext calls on the stack
  // A streamed answer (Slot::stream), once its head is written: body_stream_ is sent until it
  // ends (then stream_ended_, and stream_sent_ once the end is written) or the connection closes.
  bool streaming_ = false;
  bool stream_http10_ = false;
  bool stream_ended_ = false;
  bool stream_sent_ = false;
  std::shared_ptr<ClosingStream> body_stream_;
  std::string stream_out_;                // the bytes of the write in flight
  std::atomic<bool> pump_posted_{false};  // a PumpStream is posted (merges wakes)
  // Set while answers are owed: Responders hold the session weakly, so this keeps an open
  // connection alive until its answers are written. Cleared when the queue empties or on Close.
  std::shared_ptr<Session> self_;
};

}  // namespace http_internal
}  // namespace projd

#endif  // PROJD_API_HTTP_SESSION_H_
