// The syntax tree of the projection and query languages, as the parser produces it.
//
// Only dsl/parser.cc builds these nodes and only the compiler (dsl/compiler*.cc) reads them: it
// checks the tree and turns it into a plan (dsl/program.h), so no node type here outlives
// compilation. Every node that an error can point at carries the byte offset where it starts.
#ifndef PROJD_DSL_AST_H_
#define PROJD_DSL_AST_H_

#include <boost/optional.hpp>
#include <boost/spirit/home/x3/support/ast/variant.hpp>
#include <string>
#include <vector>

namespace projd::ast {

namespace x3 = boost::spirit::x3;

// Base of nodes with a source position (byte offset into the file), set by the parser.
struct Located {
  size_t offset = 0;
};

struct NumberLit : Located {
  std::string text;
};
struct StringLit : Located {
  std::string value;
};
struct BoolLit : Located {
  bool value = false;
};
struct NullLit : Located {
  int unused = 0;
};
// A bare name: a row field, a let name, or one of key / event / meta.
struct Name : Located {
  std::string name;
};

struct Call;
struct Unary;
struct Chain;
struct Postfix;

struct Operand
    : x3::variant<NumberLit, StringLit, BoolLit, NullLit, Name, x3::forward_ast<Call>,
                  x3::forward_ast<Unary>, x3::forward_ast<Chain>, x3::forward_ast<Postfix>> {
  using base_type::base_type;
  using base_type::operator=;
};

// `.name`, `["name"]` or `[3]` after an operand.
struct Accessor : Located {
  std::string field;  // set for .name and ["name"]
  std::string index;  // digits, set for [3]
};

struct Postfix : Located {
  Operand base;
  std::vector<Accessor> accessors;
};

// A function call; with an empty function name, the parenthesized list after `in`.
struct Call : Located {
  std::string function;
  std::vector<Operand> args;
};

struct Unary : Located {
  std::string op;  // "-" or "not"
  Operand operand;
};

// One step of a left-associative chain of binary operators of one precedence level.
struct Operation : Located {
  std::string op;  // "+", "==", "and", "starts_with", "in" (operand: a Call named ""), ...
  Operand operand;
};

struct Chain : Located {
  Operand first;
  std::vector<Operation> rest;
};

using Expr = Operand;

// ---- statements ----
struct Assign : Located {
  std::string field;
  std::string op;  // "=", "+=", "-="
  Expr value;
};
struct Unset : Located {
  std::string field;
};
struct Delete : Located {
  int unused = 0;
};
struct Let : Located {
  std::string name;
  Expr value;
};
struct Push : Located {
  std::string field;
  Expr value;
  NumberLit limit;
};
struct If;

struct Stmt : x3::variant<Assign, Unset, Delete, Let, Push, x3::forward_ast<If>> {
  using base_type::base_type;
  using base_type::operator=;
};

struct If : Located {
  Expr condition;
  std::vector<Stmt> then_block;
  // `else { ... }`, or `else if ...` as a block holding one If.
  boost::optional<std::vector<Stmt>> else_block;
};

// ---- clauses of a projection ----
struct Clause : Located {
  // "from", "key", "type", "time", "id", "dedupe", "where", "on", "index", "index text"
  // (names: the field; word: the language, "" when not given), "history",
  // "errors", "format", "alert", "audit", "correlation".
  std::string kind;
  // from: topics; on: event types ("*" for all); index: fields; audit: the names
  std::vector<std::string> names;
  // key parts; type/time/id/where/correlation: one expression; audit: one per name
  std::vector<Expr> exprs;
  std::vector<Stmt> block;  // on
  std::string word;         // history: "all" or a day count; errors/format: the word;
                            // alert: the threshold
  bool seconds = false;     // alert lag > N seconds
};

struct Projection : Located {
  std::string name;
  std::vector<Clause> clauses;
  size_t end_offset = 0;  // offset just past the closing brace
};

struct File {
  std::vector<Projection> projections;
};

// ---- the query language ----
struct SelectItem : Located {
  Expr expr;
  boost::optional<Name> alias;  // `as NAME`
};
struct OrderItem : Located {
  std::string field;      // a field name, "key", an alias, or a call's source text ("count()")
  std::string direction;  // "", "asc" or "desc"
};
struct QueryClause : Located {
  std::string kind;         // "as of", "where", "select", "group by", "having", "order by", "limit"
  std::vector<Expr> exprs;  // where, having: one; group by: the group expressions
  std::vector<SelectItem> items;  // select
  std::vector<OrderItem> order;
  std::string word;  // as of: the time; limit: digits
};
struct Query : Located {
  std::string view;
  std::vector<QueryClause> clauses;
};

}  // namespace projd::ast

#endif  // PROJD_DSL_AST_H_
