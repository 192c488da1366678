// The route table against the live server: every route is documented in /openapi.json (and
// nothing else is), and every role is refused exactly the routes its access lacks.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "api/api_routes.h"
#include "tests/integration/harness.h"

namespace {

namespace fs = std::filesystem;
using projd::Value;
using projd::testing::ProjdProcess;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The pattern with its parameters filled in.
std::string Target(const std::string& pattern, const std::string& view) {
  std::string out = pattern;
  auto fill = [&out](const std::string& param, const std::string& value) {
    size_t at = out.find(param);
    if (at != std::string::npos) out.replace(at, param.size(), value);
  };
  fill("{view}", view);
  fill("{key}", "k");
  return out;
}

}  // namespace

TEST_CASE("the route table: every route documented, and refused to every role that lacks it",
          "[embedded]") {
  std::string dir = projd::testing::ProjectionFolder("routes", "ab.proj", R"(
projection alpha { from "t" key event.k on * { n += 1 } }
projection beta { from "t" key event.k on * { n += 1 } }
)");
  std::string tokens = dir + "/tokens.toml";
  projd::testing::WriteFile(tokens, R"(
[[token]]
token = "adm"
role  = "admin"
[[token]]
token = "rd-alpha"
role  = "reader"
views = ["alpha"]
[[token]]
token = "met"
role  = "metrics"
)");
  fs::permissions(tokens, fs::perms::owner_read | fs::perms::owner_write);
  std::string error;
  auto p = ProjdProcess::StartIn(dir, {"--auth", tokens}, &error);
  REQUIRE(p);
  auto bearer = [](const std::string& t) {
    return std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + t}};
  };

  // The document lists exactly the routes of the table.
  auto doc = p->Call("GET", "/openapi.json", "", bearer("adm"));
  REQUIRE(doc.status == 200);
  Value v;
  REQUIRE(projd::ParseJson(doc.body, &v, &error));
  std::set<std::string> documented, routed;
  for (const auto& [path, item] : v.as_object().Find("paths")->as_object().members()) {
    for (const auto& [method, op] : item.as_object().members()) {
      documented.insert(method + " " + path);
      // Every documented operation says who may call it: 401/403 answers or no security.
      bool public_op = op.as_object().Find("security") != nullptr;
      const Value* responses = op.as_object().Find("responses");
      REQUIRE(responses);
      CHECK((public_op || responses->as_object().Find("401") != nullptr));
    }
  }
  for (const auto& route : projd::ApiRoutes()) {
    routed.insert(Lower(route.method) + " " + route.pattern);
    CHECK(std::string(projd::AccessName(route.access)) != "?");
  }
  CHECK(documented == routed);

  // Each role against each route: 403 exactly where its access lacks the route.
  struct Caller {
    std::string token;
    projd::Role role;
  };
  std::vector<Caller> callers = {{"met", projd::Role::kMetrics},
                                 {"rd-alpha", projd::Role::kReader}};
  for (const auto& route : projd::ApiRoutes()) {
    if (std::string(route.method) == "HEAD") continue;  // the test client reads bodies
    for (const auto& caller : callers) {
      for (const std::string view : {"alpha", "beta"}) {
        std::string target = Target(route.pattern, view);
        std::string body = std::string(route.pattern) == "/v1/query" ? "from alpha select key" : "";
        if (std::string(route.method) == "GET" && std::string(route.pattern) == "/v1/query") {
          target += "?q=from%20alpha%20select%20key";
        }
        // A change feed streams until the client closes: a bad from= answers at once (400)
        // once access is granted, and access is what this checks.
        if (std::string(route.pattern) == "/v1/views/{view}/changes") target += "?from=x";
        auto r = p->Call(route.method, target, body, bearer(caller.token));
        bool allowed = projd::RoleMayCall(caller.role, route.access);
        if (allowed && route.access == projd::Access::kReader &&
            std::string(route.pattern).find("{view}") != std::string::npos && view == "beta") {
          allowed = false;  // rd-alpha reads alpha only
        }
        INFO(route.method << " " << target << " as " << caller.token << ": " << r.status << " "
                          << r.body);
        if (allowed) {
          CHECK(r.status != 403);
          CHECK(r.status != 401);
        } else {
          CHECK(r.status == 403);
        }
      }
    }
    // Without a token: 401 unless the route is public.
    auto r = p->Call(route.method, Target(route.pattern, "alpha"));
    INFO(route.method << " " << route.pattern << " without a token: " << r.status);
    if (std::string(route.pattern) == "/") {
      // Every request needs a token but /healthz and /readyz: the dashboard's page comes with
      // 401 (unless this projd was built without it: 503).
      CHECK((r.status == 401 || r.status == 503));
    } else if (route.access == projd::Access::kPublic) {
      CHECK(r.status != 401);
    } else {
      CHECK(r.status == 401);
    }
  }
  // Paths no route has: 404 with a token, 401 without; a known path with another method: 405.
  CHECK(p->Call("GET", "/v1/nothing", "", bearer("adm")).status == 404);
  CHECK(p->Call("GET", "/v1/nothing").status == 401);
  auto r = p->Call("PUT", "/v1/views/alpha", "", bearer("adm"));
  CHECK(r.status == 405);
  bool allow = false;
  for (const auto& [k, val] : r.headers)
    allow = allow || (k == "allow" && val == "GET, HEAD, DELETE");
  CHECK(allow);
  // Requests are counted by route and status.
  auto m = p->Call("GET", "/metrics", "", bearer("met"));
  CHECK(m.body.find("projd_http_requests_total{route=\"GET /v1/views/{view}\",code=\"403\"}") !=
        std::string::npos);
  CHECK(m.body.find("projd_http_request_seconds_count{route=\"GET /metrics\"}") !=
        std::string::npos);
  // A 405 under the path's first route (the first method Allow lists); (none) is only for
  // paths that no route has.
  CHECK(m.body.find("projd_http_requests_total{route=\"GET /v1/views/{view}\",code=\"405\"} 1\n") !=
        std::string::npos);
  CHECK(m.body.find("{route=\"(none)\",code=\"405\"}") == std::string::npos);
  CHECK(m.body.find("projd_http_requests_total{route=\"(none)\",code=\"404\"} 1\n") !=
        std::string::npos);
  CHECK(m.body.find("projd_build_info{version=\"") != std::string::npos);
  CHECK(m.body.find("process_resident_memory_bytes ") != std::string::npos);
  CHECK(m.body.find("process_open_fds ") != std::string::npos);
  // A query on a view outside a reader's list is 403 as GET /v1/views/{view} is, whether the
  // view exists or not (nothing about it leaks); a view it may read answers.
  CHECK(p->Call("POST", "/v1/query", "from beta select key", bearer("rd-alpha")).status == 403);
  CHECK(p->Call("POST", "/v1/query", "from nosuch select key", bearer("rd-alpha")).status == 403);
  CHECK(p->Call("GET", "/v1/views/nosuch", "", bearer("rd-alpha")).status == 403);
  CHECK(p->Call("POST", "/v1/query", "from alpha select key", bearer("rd-alpha")).status == 200);
  CHECK(p->Call("POST", "/v1/query", "from nosuch select key", bearer("adm")).status == 400);
}
