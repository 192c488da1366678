// The HTTP API's side of the daemon (internal to engine/): one request on its way through the
// route table, and the handlers the table names. The handlers are members of DaemonApi, a
// friend of Daemon, so that the daemon's header stays small.
#ifndef PROJD_ENGINE_DAEMON_API_H_
#define PROJD_ENGINE_DAEMON_API_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/api_routes.h"
#include "api/auth.h"
#include "api/http_server.h"
#include "engine/view.h"

namespace projd {

class Histogram;

// A call's read-your-own-writes wait (min_position; DaemonApi::WaitForPosition): the position
// it needs, and which of two things answers it first — a view that reached it, or wait_ms.
struct PositionWait {
  Position required;
  std::mutex mu;
  // guarded by mu: waiting; reached and served (a handler that runs again, e.g. moved to the
  // query pool, goes on without waiting); answered 504 when wait_ms ran out; or answered 400
  // when the view serving the name after a swap can never reach it (a topic it does not
  // consume).
  enum class State { kWaiting, kServed, kTimedOut, kRefused } state = State::kWaiting;
  std::shared_ptr<View> view;  // guarded by mu: the view waited on last
  uint64_t waiter = 0;         // guarded by mu: its waiter there (0: none)
  uint64_t round = 0;          // guarded by mu: registrations so far (the latest one's waiter)
};

// One request that matched a route (shared: a call that waits for min_position or for the
// query pool outlives the function that took it).
struct ApiCall : std::enable_shared_from_this<ApiCall> {
  HttpRequest req;
  Responder respond;
  const Route* route = nullptr;
  const Principal* who = nullptr;   // the caller's token; null without --auth
  std::vector<std::string> params;  // path parameters, in the pattern's order
  std::shared_ptr<View> view;       // the {view} of a view-bound route
  // The view's position taken just before the handler ran (Serve), for Reply's
  // X-Projd-Position: the data a handler reads after it is at least as new (a commit is
  // published after it is visible), so the header never claims more than the answer holds.
  std::string position;
  std::shared_ptr<PositionWait> position_wait;  // with min_position, once it was read
  std::chrono::steady_clock::time_point started;
  Histogram* read_seconds = nullptr;  // projd_query_seconds, for timed reads
  bool on_pool = false;               // running on the query pool (a try_inline route moved)

  // The view named by the path ("" when the pattern has none).
  const std::string& ViewName() const;
  const std::string& Param(size_t i) const { return params[i]; }
  // Whether the caller may read `view` (always without --auth).
  bool MayRead(const std::string& view) const { return !who || who->CanRead(view); }
  // Answers the request; for a view-bound route with X-Projd-Position, a timed read observed.
  void Reply(HttpResponse response);
};

struct DaemonApi {
  // A query text (or a change feed's `where`) longer than this is compiled on the query pool,
  // never on an HTTP thread: compiling takes time that grows faster than the text (a 90 KB
  // query took 2 s), and would hold every other connection of the thread meanwhile. Real
  // queries are far shorter; at this length the worst texts tried compile in about 1 ms.
  static constexpr size_t kInlineCompileBytes = 1024;

  // Runs a matched, authorized call on the thread it is on: resolves its view, holds it for
  // min_position, then calls the route's handler.
  static void Serve(Daemon& d, const std::shared_ptr<ApiCall>& call);
  // Read-your-own-writes for `view`: true when the call was taken over (answered later, after
  // the view reached min_position or with 504 after wait_ms, or answered now with a 400).
  // A call taken over runs again (Serve) when its view reaches the position or stops; it then
  // waits again on the view serving the name then (a rebuild's swap), within one wait_ms.
  static bool WaitForPosition(Daemon& d, const std::shared_ptr<ApiCall>& call,
                              const std::shared_ptr<View>& view);
  // Read-your-own-writes across `views` (a call that reads several, e.g. a correlation's
  // trail): each view that consumes a topic of min_position must reach the position on its
  // topics; 504 at once for a partition above offset 0 of a topic none of them consumes, and
  // after wait_ms (one deadline for all) naming the view still behind. As WaitForPosition
  // otherwise; the call runs again as each view it waits on reaches the position.
  static bool WaitForPositionOnAll(Daemon& d, const std::shared_ptr<ApiCall>& call,
                                   const std::vector<std::shared_ptr<View>>& views);
  // Ends the call's wait with a 504 after wait_ms unless a view reached its position first;
  // the answer names the view waited on last and its position (`with_view`: its name too).
  static void ArmDeadline(Daemon& d, const std::shared_ptr<ApiCall>& call,
                          const std::shared_ptr<PositionWait>& wait, uint64_t wait_ms,
                          bool with_view);
  // Registers the call to be served again once `view` reached `required` (or stopped): off
  // the view's thread, on the query pool for long work, else on an HTTP thread. `round` is
  // the wait's registration this is (a later one replaces its waiter).
  static void ServeAgainWhenReached(Daemon& d, const std::shared_ptr<ApiCall>& call,
                                    const std::shared_ptr<View>& view, Position required,
                                    PositionWait* wait, uint64_t round);
  // Runs the call on the query pool (a try_inline route that needs more than its first try);
  // answers 503 when the pool is full.
  static void MoveToPool(Daemon& d, const std::shared_ptr<ApiCall>& call);

  static void Dashboard(Daemon& d, ApiCall& call);
  static void Healthz(Daemon& d, ApiCall& call);
  static void Readyz(Daemon& d, ApiCall& call);
  static void Metrics(Daemon& d, ApiCall& call);
  static void OpenApi(Daemon& d, ApiCall& call);
  static void ListViews(Daemon& d, ApiCall& call);
  static void ViewDetail(Daemon& d, ApiCall& call);
  static void DropView(Daemon& d, ApiCall& call);
  static void Row(Daemon& d, ApiCall& call);
  // Appends the body of the 200 answer to a point read of `key` to *body (false when there is
  // no such row); *dead is the view's dead-letter count either way.
  static bool FoundRow(View& view, const std::string& key, std::string* body, uint64_t* dead);
  static void RowHistory(Daemon& d, ApiCall& call);
  static void Rows(Daemon& d, ApiCall& call);
  static void DeadLetters(Daemon& d, ApiCall& call);
  static void Rebuild(Daemon& d, ApiCall& call);
  static void Lag(Daemon& d, ApiCall& call);
  static void Skip(Daemon& d, ApiCall& call);
  static void Query(Daemon& d, ApiCall& call);
  static void Checksum(Daemon& d, ApiCall& call);
  static void Snapshot(Daemon& d, ApiCall& call);
  static void Changes(Daemon& d, ApiCall& call);       // feed_api.cc
  static void Correlations(Daemon& d, ApiCall& call);  // correlation_api.cc
};

}  // namespace projd

#endif  // PROJD_ENGINE_DAEMON_API_H_
