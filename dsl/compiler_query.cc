// The query language: CompileQueryAst and its clauses (as of, where, limit, group by, select,
// having, order by) and aggregates. tests/docs/check_docs.py takes the error messages of this
// file as the query language's own (docs/language.md lists those of .proj files).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dsl/compiler_internal.h"
#include "dsl/limits.h"
#include "dsl/time.h"

namespace projd {
namespace {

using compiler_internal::AggregateNamed;
using compiler_internal::Place;
using compiler_internal::SourceOffset;
using compiler_internal::Type;

// Whether two compiled expressions compute the same thing (positions aside).
bool SameExpr(const ExprNode& a, const ExprNode& b) {
  if (a.op != b.op || a.func != b.func || a.name != b.name || a.slot != b.slot ||
      a.event_slot != b.event_slot || a.args.size() != b.args.size()) {
    return false;
  }
  if (a.op == ExprNode::Op::kMeta && a.meta != b.meta) return false;
  if (a.op == ExprNode::Op::kConst &&
      (a.constant.type() != b.constant.type() || a.constant != b.constant)) {
    return false;
  }
  for (size_t i = 0; i < a.args.size(); ++i) {
    if (!SameExpr(a.args[i], b.args[i])) return false;
  }
  return true;
}

// Source text without whitespace outside strings, to compare `sum( balance )` with
// `sum(balance)`.
std::string Squeezed(std::string_view text) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (!isspace(static_cast<unsigned char>(c))) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

namespace compiler_internal {

// Whether `name` called with n arguments is an aggregate (min and max with one argument; with
// two they are the functions).
Aggregate AggregateNamed(const std::string& name, size_t n) {
  if (name == "count") return Aggregate::kCount;
  if (name == "sum") return Aggregate::kSum;
  if (name == "avg") return Aggregate::kAvg;
  if (name == "count_distinct") return Aggregate::kCountDistinct;
  if (name == "min" && n == 1) return Aggregate::kMin;
  if (name == "max" && n == 1) return Aggregate::kMax;
  return Aggregate::kNone;
}

}  // namespace compiler_internal

// The hash of the view and of each clause's text but limit's (white space runs as one space),
// in the clauses' kind order: the same query sent again, laid out otherwise or with another
// limit, pages on with its cursors; another query does not.
std::string Compiler::CursorTag(const ast::Query& q) const {
  std::vector<std::pair<std::string, std::string>> parts;
  for (size_t i = 0; i < q.clauses.size(); ++i) {
    const ast::QueryClause& c = q.clauses[i];
    if (c.kind == "limit") continue;
    size_t end = text_.size();
    for (const auto& other : q.clauses) {
      if (other.offset > c.offset && other.offset < end) end = other.offset;
    }
    std::string text;
    bool space = false;
    for (size_t j = std::min(c.offset, end); j < end; ++j) {
      const char ch = text_[j];
      if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
        space = !text.empty();
        continue;
      }
      if (space) text.push_back(' ');
      space = false;
      text.push_back(ch);
    }
    parts.emplace_back(c.kind, std::move(text));
  }
  std::sort(parts.begin(), parts.end());
  std::string all = q.view;
  for (const auto& [kind, text] : parts) {
    all += '\0';
    all += text;
  }
  return compiler_internal::HashHex(all);
}

std::unique_ptr<Query> Compiler::CompileQueryAst(
    const ast::Query& q,
    const std::function<std::shared_ptr<const Projection>(const std::string&)>& find_view) {
  auto query = std::make_unique<Query>();
  query->view = q.view;
  query->projection = find_view(q.view);
  if (!query->projection) {
    size_t at = text_.find(q.view, q.offset + 4);
    Error(at == std::string_view::npos ? q.offset : at, "unknown view '" + q.view + "'");
    return nullptr;
  }
  std::set<std::string> fields(query->projection->fields().begin(),
                               query->projection->fields().end());
  Scope scope;
  scope.place = Place::kQuery;
  scope.fields = &fields;
  scope.check_fields = true;
  std::map<std::string, int> locals;
  int next_slot = 0;
  scope.locals = &locals;
  scope.next_slot = &next_slot;
  scope.query = query.get();
  // Each clause once; compiled in an order where what a clause names is known: the group
  // expressions before the select list, the aliases before having and order by.
  std::map<std::string, const ast::QueryClause*> clauses;
  for (const auto& c : q.clauses) {
    if (!clauses.emplace(c.kind, &c).second) Error(c.offset, "duplicate '" + c.kind + "' clause");
  }
  auto clause = [&clauses](const char* kind) -> const ast::QueryClause* {
    auto it = clauses.find(kind);
    return it == clauses.end() ? nullptr : it->second;
  };
  query->cursor_tag = CursorTag(q);
  if (const auto* c = clause("as of")) CompileAsOf(*c, q, query.get());
  if (const auto* c = clause("where")) {
    Type t = CompileExpr(c->exprs[0], scope, &query->where);
    CheckCondition(t, SourceOffset(c->exprs[0]), "the where clause");
    query->has_where = true;
  }
  if (const auto* c = clause("limit")) {
    // Known before the query runs: a limit past the answer's maximum is a compile error, with
    // its line and column.
    if (c->word.size() > 9 || std::stoull(c->word) > kMaxQueryRows) {
      Error(c->offset, "limit " + c->word + " is above the maximum of " +
                           std::to_string(kMaxQueryRows) +
                           " rows per answer; page with next_cursor");
    } else {
      query->limit = std::stoll(c->word);
    }
  }
  if (const auto* c = clause("group by")) {
    if (!clause("select")) {
      Error(c->offset, "group by needs a select list (group expressions and aggregates)");
    }
    for (const auto& e : c->exprs) {
      query->group_by.emplace_back();
      CompileExpr(e, scope, &query->group_by.back());
    }
    query->aggregates = true;
  }
  std::vector<std::string> texts;  // each select item's source text
  if (const auto* c = clause("select")) CompileSelect(*c, scope, query.get(), &texts);
  if (const auto* c = clause("having")) CompileHaving(*c, scope, query.get());
  if (const auto* c = clause("order by")) {
    if (query->aggregates && query->group_by.empty()) {
      Error(c->offset, "order by cannot be used with aggregates");
    } else {
      CompileOrderBy(*c, fields, texts, query.get());
    }
  }
  if (!diagnostics_.empty()) return nullptr;
  return query;
}

// as of "time": reads the view's history at that time.
void Compiler::CompileAsOf(const ast::QueryClause& c, const ast::Query& q, Query* query) {
  if (!ParseRfc3339DateTime(c.word, &query->as_of_ms)) {
    Error(c.offset, "as of needs an RFC 3339 time, like \"2025-07-15T00:00:00Z\"");
  }
  if (query->projection->history() == Projection::History::kNone) {
    Error(c.offset,
          "view '" + q.view + "' keeps no history: as of needs 'history' in its definition");
  }
  query->has_as_of = true;
}

// A select item's label: its own text from off, up to the next ',' or clause keyword outside
// strings and parentheses.
std::string Compiler::SelectLabel(size_t off) const {
  size_t end = off;
  int depth = 0;
  auto keyword_at = [this](size_t i) {
    for (const char* kw : {"where", "order", "limit", "as", "select", "group", "having"}) {
      size_t n = strlen(kw);
      if (text_.compare(i, n, kw) == 0 &&
          (i + n >= text_.size() ||
           !(isalnum(static_cast<unsigned char>(text_[i + n])) || text_[i + n] == '_'))) {
        return true;
      }
    }
    return false;
  };
  for (; end < text_.size(); ++end) {
    char ch = text_[end];
    if (ch == '"') {
      for (++end; end < text_.size() && text_[end] != '"'; ++end) {
        if (text_[end] == '\\') ++end;
      }
      continue;
    }
    if (ch == '(') ++depth;
    if (ch == ')') --depth;
    if (depth > 0) continue;
    if (ch == ',' || ch == '#') break;
    if (isspace(static_cast<unsigned char>(ch))) {
      size_t k = end;
      while (k < text_.size() && isspace(static_cast<unsigned char>(text_[k]))) ++k;
      if (k < text_.size() && keyword_at(k)) break;
    }
  }
  if (end > text_.size()) end = text_.size();
  std::string label(text_.substr(off, end - off));
  while (!label.empty() && isspace(static_cast<unsigned char>(label.back()))) label.pop_back();
  return label;
}

// The source text of the call at off, up to its closing parenthesis: "sum(balance)".
std::string Compiler::CallText(size_t off) const {
  size_t end = off;
  int depth = 0;
  for (; end < text_.size(); ++end) {
    char ch = text_[end];
    if (ch == '"') {
      for (++end; end < text_.size() && text_[end] != '"'; ++end) {
        if (text_[end] == '\\') ++end;
      }
      continue;
    }
    if (ch == '(') ++depth;
    if (ch == ')' && --depth == 0) break;
  }
  return std::string(text_.substr(off, std::min(end + 1, text_.size()) - off));
}

void Compiler::ErrorAt(const ExprNode& n, std::string message) {
  Diagnostic d;
  d.file = file_;
  d.line = n.line;
  d.column = n.column;
  d.message = std::move(message);
  d.source_line = lines_.Line(d.line);
  diagnostics_.push_back(std::move(d));
}

// An aggregate call inside an expression: in having, a read of its group row member; in a
// select item or another aggregate's argument, an error.
Type Compiler::CompileAggregateUse(const ast::Call& c, const Scope& scope, ExprNode* out) {
  if (scope.place == Place::kQueryHaving) {
    RegisterAggregate(c, scope, out);
  } else if (scope.place == Place::kQueryAggregate) {
    Error(c.offset, "aggregate " + c.function + "() cannot be inside another aggregate");
  } else {
    // Aggregates are unpacked by CompileSelectItem; reaching here means one is nested.
    Error(c.offset, "aggregate " + c.function + "() must be a whole select item");
  }
  return Type::kUnknown;
}

// Adds the aggregate call c to the query (once: the same call in select and having is
// computed once) and makes *out read its group row member.
void Compiler::RegisterAggregate(const ast::Call& c, const Scope& scope, ExprNode* out) {
  Query::AggregateCall a;
  a.func = AggregateNamed(c.function, c.args.size());
  a.label = CallText(c.offset);
  size_t n = c.args.size();
  if (a.func == Aggregate::kCount && n != 0) {
    Error(c.offset, "count() takes no arguments");
  } else if (a.func != Aggregate::kCount && n != 1) {
    Error(c.offset, c.function + "() takes 1 argument");
  } else if (n == 1) {
    Scope inner = scope;
    inner.place = Place::kQueryAggregate;
    inner.aliases = nullptr;
    CompileExpr(c.args[0], inner, &a.arg);
  }
  auto& calls = scope.query->aggregate_calls;
  size_t i = 0;
  while (i < calls.size() && !(calls[i].func == a.func && SameExpr(calls[i].arg, a.arg))) ++i;
  if (i == calls.size()) calls.push_back(std::move(a));
  *out = ExprNode();
  SetPos(out, c.offset);
  out->op = ExprNode::Op::kField;
  out->name = GroupRowName('a', i);
}

// Makes an expression of a grouped query read the group row: each part that is a group
// expression reads its member; a field or the key outside of them is an error.
void Compiler::GroupOnly(ExprNode* n, const Query& query) {
  if (n->op == ExprNode::Op::kField && !n->name.empty() && n->name[0] == '\x01') return;
  for (size_t i = 0; i < query.group_by.size(); ++i) {
    if (SameExpr(*n, query.group_by[i])) {
      ExprNode g;
      g.op = ExprNode::Op::kField;
      g.name = GroupRowName('g', i);
      g.line = n->line;
      g.column = n->column;
      *n = std::move(g);
      return;
    }
  }
  if (n->op == ExprNode::Op::kField || n->op == ExprNode::Op::kKey) {
    ErrorAt(*n, "'" + (n->op == ExprNode::Op::kKey ? std::string("key") : n->name) +
                    "' must be in group by or inside an aggregate");
    return;
  }
  if (n->op == ExprNode::Op::kCall && n->func == ExprNode::Func::kScore) {
    ErrorAt(*n, "'score()' is a row's: it must be inside an aggregate (max(score()))");
    return;
  }
  for (auto& a : n->args) GroupOnly(&a, query);
}

namespace {

// The call at the top of a select item (possibly wrapped in chains of one), or null.
const ast::Call* TopCall(const ast::Operand& e) {
  const ast::Operand* cur = &e;
  const ast::Call* call = nullptr;
  while (true) {
    if (cur->get().type() == typeid(boost::spirit::x3::forward_ast<ast::Chain>)) {
      const auto& ch = boost::get<boost::spirit::x3::forward_ast<ast::Chain>>(cur->get()).get();
      if (!ch.rest.empty()) break;
      cur = &ch.first;
    } else if (cur->get().type() == typeid(boost::spirit::x3::forward_ast<ast::Postfix>)) {
      const auto& pf = boost::get<boost::spirit::x3::forward_ast<ast::Postfix>>(cur->get()).get();
      if (!pf.accessors.empty()) break;
      cur = &pf.base;
    } else {
      if (cur->get().type() == typeid(boost::spirit::x3::forward_ast<ast::Call>)) {
        call = &boost::get<boost::spirit::x3::forward_ast<ast::Call>>(cur->get()).get();
      }
      break;
    }
  }
  return call;
}

}  // namespace

// One item of a select list, added to query->select; its source text to *texts. Returns
// whether it is an aggregate.
bool Compiler::CompileSelectItem(const ast::SelectItem& e, const Scope& scope, Query* query,
                                 std::vector<std::string>* texts) {
  Query::SelectItem item;
  size_t off = SourceOffset(e.expr);
  texts->push_back(SelectLabel(off));
  item.has_alias = static_cast<bool>(e.alias);
  item.label = item.has_alias ? e.alias->name : texts->back();
  // An aggregate is a call at the top of the item (possibly wrapped in chains of one).
  const ast::Call* call = TopCall(e.expr);
  bool aggregate = call && AggregateNamed(call->function, call->args.size()) != Aggregate::kNone;
  if (aggregate) {
    RegisterAggregate(*call, scope, &item.expr);
  } else {
    Scope inner = scope;
    inner.place = Place::kQuerySelect;
    CompileExpr(e.expr, inner, &item.expr);
  }
  query->select.push_back(std::move(item));
  return aggregate;
}

// select item [as NAME], ...: row fields and expressions; aggregates only; or, with group by,
// group expressions (and expressions of them) and aggregates.
void Compiler::CompileSelect(const ast::QueryClause& c, const Scope& scope, Query* query,
                             std::vector<std::string>* texts) {
  int aggregates = 0;
  for (const auto& e : c.items) {
    if (CompileSelectItem(e, scope, query, texts)) ++aggregates;
  }
  if (query->group_by.empty() && aggregates > 0 &&
      aggregates != static_cast<int>(query->select.size())) {
    Error(c.offset, "a select list cannot mix aggregates and row fields");
  } else if (!query->group_by.empty()) {
    for (auto& item : query->select) GroupOnly(&item.expr, *query);
  }
  query->aggregates = query->aggregates || aggregates > 0;
  // An alias names one column: no other item has that name.
  for (size_t k = 0; k < c.items.size(); ++k) {
    for (size_t j = 0; j < k; ++j) {
      const auto& a = query->select[j];
      const auto& b = query->select[k];
      if ((a.has_alias || b.has_alias) && a.label == b.label) {
        const auto& named = b.has_alias ? c.items[k].alias : c.items[j].alias;
        Error(named->offset,
              "duplicate alias '" + b.label + "' (another select item has that name)");
        break;
      }
      if (a.label == b.label) {  // two items of one text: two columns of one name
        Error(SourceOffset(c.items[k].expr),
              "duplicate column '" + b.label + "' (select it once, or name one with as NAME)");
        break;
      }
    }
  }
}

// having EXPR: keeps the groups for which EXPR is true; it reads aliases, aggregates and group
// expressions.
void Compiler::CompileHaving(const ast::QueryClause& c, const Scope& scope, Query* query) {
  if (!query->aggregates) {
    Error(c.offset, "having needs group by or aggregates in the select list");
    return;
  }
  std::map<std::string, int> aliases;
  for (size_t i = 0; i < query->select.size(); ++i) {
    if (query->select[i].has_alias) aliases.emplace(query->select[i].label, static_cast<int>(i));
  }
  Scope inner = scope;
  inner.place = Place::kQueryHaving;
  inner.aliases = &aliases;
  Type t = CompileExpr(c.exprs[0], inner, &query->having);
  CheckCondition(t, SourceOffset(c.exprs[0]), "the having clause");
  GroupOnly(&query->having, *query);
  query->has_having = true;
}

namespace {

// [A-Za-z_][A-Za-z0-9_]*
bool IsName(const std::string& s) {
  if (s.empty() || !(isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char ch : s) {
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  }
  return true;
}

}  // namespace

// order by name [asc|desc], ...: a field or the key; an alias or a select item's text (the
// only choice with group by).
void Compiler::CompileOrderBy(const ast::QueryClause& c, const std::set<std::string>& fields,
                              const std::vector<std::string>& texts, Query* query) {
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < query->select.size(); ++i) {
      if (query->select[i].has_alias && query->select[i].label == name) return static_cast<int>(i);
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      if (Squeezed(texts[i]) == Squeezed(name)) return static_cast<int>(i);
    }
    return -1;
  };
  for (const auto& o : c.order) {
    Query::Order order;
    order.field = o.field;
    order.descending = o.direction == "desc";
    int item = column(o.field);
    // Not a name: an expression's text (a call, `v * 2`), which only a select item can be.
    bool call = !IsName(o.field);
    if (item < 0 && !query->aggregates && Squeezed(o.field) == "score()") {
      if (query->text_matches.empty()) {
        Error(o.offset,
              "order by score() needs a 'FIELD matches \"words\"' condition in the "
              "where clause");
      }
      order.score = true;
      query->order.push_back(std::move(order));
      continue;
    }
    if (query->aggregates || (item >= 0 && (call || query->select[item].has_alias))) {
      order.item = item;
    }
    if (order.item < 0 && (query->aggregates || call)) {
      std::string names;
      for (const auto& s : query->select) names += (names.empty() ? "" : ", ") + s.label;
      Error(o.offset, "unknown column '" + o.field + "' in order by (" +
                          (query->aggregates ? "with group by, order by names a select item or "
                                               "its alias"
                                             : "order by names a field, an alias or a select "
                                               "item") +
                          (names.empty() ? "; this query selects none" : ": " + names) + ")");
    } else if (order.item < 0 && o.field != "key" && !fields.count(o.field)) {
      Error(o.offset, "unknown field '" + o.field + "' (no handler of this view sets it)");
    }
    query->order.push_back(std::move(order));
  }
}

}  // namespace projd
