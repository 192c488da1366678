// Expressions are bounded: a chain of operators or accessors compiles to a tree as deep as the
// chain, which the checker, the evaluator and the destructors walk recursively. One expression
// holds at most 1000 operators and accessors; past that, a .proj file and a query are refused
// with the position of the term that went over, never a crash at the first event.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "dsl/compiler.h"
#include "engine/replay.h"
#include "tests/unit_dir.h"

namespace {

namespace fs = std::filesystem;

// "event.n <op> event.n <op> ...": `terms` operands, joined by `op`.
std::string Chain(const std::string& operand, const std::string& op, int operands) {
  std::string s = operand;
  for (int i = 1; i < operands; ++i) s += " " + op + " " + operand;
  return s;
}

std::string Projection(const std::string& expr) {
  return "projection p {\n  from \"t\"\n  key event.k\n  on E { v = " + expr + " }\n}\n";
}

const std::string kTooLong = "expression too long (at most 1000 operators and accessors";

}  // namespace

TEST_CASE("expressions: 1000 operators and accessors apply; one more is a load-time error",
          "[dsl]") {
  // 500 operands "event.n" (500 accessors) and 499 '+': 999 terms.
  std::string at_cap = Chain("event.n", "+", 500);
  auto compiled = projd::CompileFile("p.proj", Projection(at_cap + " + 1"));  // 1000 terms
  for (const auto& d : compiled.diagnostics) INFO(d.Format());
  REQUIRE(compiled.ok());
  fs::path dir = projd_test::FreshUnitDir("expression_limits");
  std::string events = (dir / "events.jsonl").string();
  std::ofstream(events) << R"({"type":"E","k":"a","n":0.01})"
                        << "\n";
  projd::ReplayResult r;
  std::string error;
  REQUIRE(projd::Replay(compiled.projections[0], events, &r, &error));
  REQUIRE(r.rows.count("a") == 1);
  CHECK(projd::ToJson(*r.rows["a"].fields.Find("v")) == "6");  // 500 x 0.01 + 1

  // The 1001st term is pointed at: line 4, the column of its operator.
  std::string text = Projection(at_cap + " + 1 + 2");
  compiled = projd::CompileFile("p.proj", text);
  REQUIRE(compiled.diagnostics.size() == 1);
  const projd::Diagnostic& d = compiled.diagnostics[0];
  CHECK(d.message.rfind(kTooLong, 0) == 0);
  CHECK(d.line == 4);
  size_t line_start = text.find("  on E");
  CHECK(static_cast<size_t>(d.column) == text.rfind("+ 2") - line_start + 1);

  // Chains of every kind, far past the cap, fail the same way (and fast); so do 50 nested
  // parentheses of 30 terms each.
  std::string accessors = "event";
  for (int i = 0; i < 20000; ++i) accessors += ".a";
  std::string nested = "1";
  for (int i = 0; i < 50; ++i) nested = "(" + nested + " + " + Chain("1", "+", 30) + ")";
  for (const std::string& expr :
       {Chain("1", "+", 20000), Chain("1", "*", 20000), Chain("true", "and", 20000),
        Chain("false", "or", 20000), Chain("not not not 1 == 1", "or", 2000), accessors, nested}) {
    compiled = projd::CompileFile("p.proj", Projection(expr));
    REQUIRE(compiled.diagnostics.size() == 1);
    CHECK(compiled.diagnostics[0].message.rfind(kTooLong, 0) == 0);
  }
}

TEST_CASE("expressions: a query past 1000 terms is refused with its line and column", "[dsl]") {
  auto compiled = projd::CompileFile("p.proj",
                                     "projection p {\n  from \"t\"\n  key event.k\n"
                                     "  on E { balance += event.n }\n}\n");
  REQUIRE(compiled.ok());
  auto find = [&](const std::string& name) {
    return name == "p" ? compiled.projections[0] : nullptr;
  };
  projd::Diagnostic diag;
  // 1000 terms: accepted. Lists do not count their items, only the operators inside them.
  CHECK(projd::CompileQuery("from p where balance > " + Chain("1", "+", 1000), find, &diag));
  std::string list = "1";
  for (int i = 2; i <= 5000; ++i) list += ", " + std::to_string(i);
  CHECK(projd::CompileQuery("from p where balance in (" + list + ")", find, &diag));
  // 20,000 terms over two lines: refused at the 1001st.
  std::string q = "from p\nwhere " + Chain("balance > 1", "and", 20000);
  CHECK_FALSE(projd::CompileQuery(q, find, &diag));
  CHECK(diag.message.rfind(kTooLong, 0) == 0);
  CHECK(diag.line == 2);
  CHECK(diag.column > 1);
  // A long line: columns stay exact after many nodes located on it (19,000 list items), for
  // an error after the list and for one before it.
  std::string big = "1";
  for (int i = 2; i <= 19000; ++i) big += ", " + std::to_string(i);
  std::string text = "from p where nope1 == 1 or balance in (" + big + ") or nope2 > 1";
  CHECK_FALSE(projd::CompileQuery(text, find, &diag));
  CHECK(diag.line == 1);
  CHECK(static_cast<size_t>(diag.column) == text.find("nope1") + 1);
  text = "from p where balance in (" + big + ") or nope2 > 1";
  CHECK_FALSE(projd::CompileQuery(text, find, &diag));
  CHECK(static_cast<size_t>(diag.column) == text.find("nope2") + 1);
  // A query holds at most 20,000 expressions (list items, arguments, select items...): the
  // syntax tree of a megabyte of `in (1,1,...)` took a gigabyte. Refused at the one past.
  std::string ones = "1";
  for (int i = 2; i <= 30000; ++i) ones += ",1";
  text = "from p where balance in (" + ones + ")";
  CHECK_FALSE(projd::CompileQuery(text, find, &diag));
  CHECK(diag.message.rfind("query too long (at most 20000 expressions", 0) == 0);
  CHECK(diag.line == 1);
  // The outer `balance in (...)` is one, then 19,999 items: the 20,000th item is refused.
  CHECK(static_cast<size_t>(diag.column) == text.find('(') + 1 + 2 * 19999 + 1);
  std::string many = "key";
  for (int i = 1; i < 25000; ++i) many += ", key";
  CHECK_FALSE(projd::CompileQuery("from p select " + many, find, &diag));
  CHECK(diag.message.rfind("query too long", 0) == 0);
  // Each expression counts on its own: a where and a select item of 600 terms each.
  CHECK(projd::CompileQuery("from p where balance > " + Chain("1", "+", 600) +
                                " select key, balance + " + Chain("1", "+", 600),
                            find, &diag));
}

TEST_CASE("values are bounded: a string that doubles per event, or a list pushed into itself, "
          "becomes an event error at 64 MiB or 64 levels, the row as before it",
          "[dsl]") {
  auto compiled = projd::CompileFile(
      "g.proj",
      "projection g {\n  from \"t\"\n  key event.k\n"
      "  on Init { s = \"0123456789abcdef\"  n = 0 }\n"
      "  on Dbl { s = s + s  n += 1 }\n"
      "  on Cat { s = concat(s, s)  n += 1 }\n"
      "  on Big { push l s limit 2 }\n"
      "  on Fib { push l l limit 2  n += 1 }\n"
      "  on Deep { push d d limit 1  n += 1 }\n}\n");
  for (const auto& d : compiled.diagnostics) INFO(d.Format());
  REQUIRE(compiled.ok());
  fs::path dir = projd_test::FreshUnitDir("value_limits");
  std::string events = (dir / "events.jsonl").string();
  {
    std::ofstream out(events);
    // 16 bytes doubled 22 times is 64 MiB: the 23rd doubling goes past it.
    out << R"({"type":"Init","k":"a"})" << "\n";
    for (int i = 0; i < 25; ++i) out << R"({"type":"Dbl","k":"a"})" << "\n";
    out << R"({"type":"Init","k":"b"})" << "\n";
    for (int i = 0; i < 25; ++i) out << R"({"type":"Cat","k":"b"})" << "\n";
    // s of 32 MiB in a list, then the list pushed into itself: [s, [s]] holds 64 MiB, one push
    // more would hold more.
    out << R"({"type":"Init","k":"c"})" << "\n";
    for (int i = 0; i < 21; ++i) out << R"({"type":"Dbl","k":"c"})" << "\n";
    out << R"({"type":"Big","k":"c"})" << "\n";
    for (int i = 0; i < 3; ++i) out << R"({"type":"Fib","k":"c"})" << "\n";
    // [[[...]]]: one level more per push.
    out << R"({"type":"Init","k":"d"})" << "\n";
    for (int i = 0; i < 70; ++i) out << R"({"type":"Deep","k":"d"})" << "\n";
  }
  projd::ReplayResult r;
  std::string error;
  REQUIRE(projd::Replay(compiled.projections[0], events, &r, &error));
  auto n = [&r](const char* key) { return std::stoi(r.rows[key].fields.Find("n")->as_number().ToString()); };
  CHECK(n("a") == 22);
  CHECK(r.rows["a"].fields.Find("s")->as_string().size() == size_t{64} << 20);
  CHECK(n("b") == 22);
  CHECK(n("c") == 21 + 1);
  CHECK(n("d") == 64);  // the row's list is 64 deep; one more push would make it 65
  REQUIRE(r.dead_letters.size() == static_cast<size_t>(3 + 3 + 2 + (70 - 64)));
  CHECK(r.dead_letters[6].reason.find("(push)") != std::string::npos);
  CHECK(r.dead_letters[0].reason.find("value longer than 67108864 bytes") != std::string::npos);
  CHECK(r.dead_letters[0].reason.rfind("line 5:", 0) == 0);
  CHECK(r.dead_letters.back().reason.rfind("line 9:", 0) == 0);
  CHECK(r.dead_letters.back().reason.find("(push)") != std::string::npos);
}

TEST_CASE("nesting: 100 parentheses, unary minuses, ifs or else ifs load; 101 are an error",
          "[dsl]") {
  auto file = [](const std::string& body) {
    return "projection q {\n  from \"t\"\n  key event.k\n  on E { " + body + " }\n}\n";
  };
  auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  for (int n : {100, 101}) {
    INFO(n << " levels");
    for (const std::string& body :
         {"x = " + repeat("(", n) + "1" + repeat(")", n), "x = " + repeat("-", n) + "1",
          repeat("if true { ", n) + "x = 1" + repeat(" }", n),
          "if false { x = 0 } " + repeat("else if false { x = 1 } ", n - 1)}) {
      auto compiled = projd::CompileFile("q.proj", file(body));
      if (n == 100) {
        for (const auto& d : compiled.diagnostics) INFO(d.Format());
        CHECK(compiled.ok());
      } else {
        REQUIRE(compiled.diagnostics.size() == 1);
        CHECK(compiled.diagnostics[0].message == "nesting too deep (at most 100 levels)");
      }
    }
  }
}
