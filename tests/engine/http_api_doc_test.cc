// docs/http-api.md stays complete (ctest http_api_doc): every route of the route table
// (api/api_routes.cc) appears in it as `METHOD PATTERN`, and every `METHOD /path` it
// names that way is a route of the table.
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "api/api_routes.h"

namespace {

std::string ReadDoc() {
  std::ifstream in(std::string(PROJD_SOURCE_DIR) + "/docs/http-api.md", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("docs/http-api.md documents every route of the route table", "[docs]") {
  std::string doc = ReadDoc();
  REQUIRE_FALSE(doc.empty());
  const auto& routes = projd::ApiRoutes();
  REQUIRE_FALSE(routes.empty());
  std::set<std::string> table;
  for (const auto& route : routes) {
    std::string entry = std::string(route.method) + " " + route.pattern;
    table.insert(entry);
    INFO("docs/http-api.md does not name `" << entry << "`: document the new route there");
    CHECK(doc.find("`" + entry + "`") != std::string::npos);
  }
  // The other way round: an endpoint named in the document exists (nothing removed or renamed
  // without the document following).
  static const std::regex kNamed("`(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`?\\s]*)`");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), kNamed); it != std::sregex_iterator();
       ++it) {
    std::string entry = (*it)[1].str() + " " + (*it)[2].str();
    INFO("docs/http-api.md names `" << entry << "`, which is not a route of the table");
    CHECK(table.count(entry) == 1);
  }
}
