// Checks the syntax tree of projection files and queries and builds their plans.
#include "dsl/compiler.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "dsl/ast.h"
#include "dsl/parser.h"
#include "dsl/time.h"

namespace projd {
namespace {

// Maps byte offsets to 1-based lines and columns.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) : text_(text) {
    starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') starts_.push_back(i + 1);
    }
  }
  void Locate(size_t offset, int* line, int* column) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    size_t idx = static_cast<size_t>(it - starts_.begin()) - 1;
    *line = static_cast<int>(idx) + 1;
    // Columns count characters, not bytes: skip UTF-8 continuation bytes.
    int col = 1;
    for (size_t i = starts_[idx]; i < offset && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
    }
    *column = col;
  }
  std::string Line(int line) const {
    size_t idx = static_cast<size_t>(line - 1);
    if (idx >= starts_.size()) return "";
    size_t begin = starts_[idx];
    size_t end = idx + 1 < starts_.size() ? starts_[idx + 1] - 1 : text_.size();
    std::string s(text_.substr(begin, end - begin));
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }

 private:
  std::string_view text_;
  std::vector<size_t> starts_;
};

enum class Type { kUnknown, kNull, kBool, kNumber, kString, kArray, kObject };

// The same kinds as Value::Type, one place later, after kUnknown.
constexpr Value::Type ValueType(Type t) {
  return static_cast<Value::Type>(static_cast<int>(t) - 1);
}
static_assert(ValueType(Type::kNull) == Value::Type::kNull &&
                  ValueType(Type::kBool) == Value::Type::kBool &&
                  ValueType(Type::kNumber) == Value::Type::kNumber &&
                  ValueType(Type::kString) == Value::Type::kString &&
                  ValueType(Type::kArray) == Value::Type::kArray &&
                  ValueType(Type::kObject) == Value::Type::kObject,
              "compiler types mirror Value::Type");

const char* TypeName(Type t) {
  return t == Type::kUnknown ? "unknown" : Value::TypeName(ValueType(t));
}

struct FuncInfo {
  const char* name;
  ExprNode::Func func;
  int min_args;
  int max_args;  // -1: any number
  Type result;
};

const FuncInfo kFunctions[] = {
    {"coalesce", ExprNode::Func::kCoalesce, 1, -1, Type::kUnknown},
    {"min", ExprNode::Func::kMin, 1, -1, Type::kUnknown},
    {"max", ExprNode::Func::kMax, 1, -1, Type::kUnknown},
    {"abs", ExprNode::Func::kAbs, 1, 1, Type::kNumber},
    {"round", ExprNode::Func::kRound, 1, 2, Type::kNumber},
    {"lower", ExprNode::Func::kLower, 1, 1, Type::kString},
    {"upper", ExprNode::Func::kUpper, 1, 1, Type::kString},
    {"len", ExprNode::Func::kLen, 1, 1, Type::kNumber},
    {"concat", ExprNode::Func::kConcat, 1, -1, Type::kString},
    {"substr", ExprNode::Func::kSubstr, 2, 3, Type::kString},
    {"contains", ExprNode::Func::kContains, 2, 2, Type::kBool},
    {"starts_with", ExprNode::Func::kStartsWith, 2, 2, Type::kBool},
    {"exists", ExprNode::Func::kExists, 1, 1, Type::kBool},
    {"date", ExprNode::Func::kDate, 1, 1, Type::kString},
    {"month", ExprNode::Func::kMonth, 1, 1, Type::kString},
    {"hour", ExprNode::Func::kHour, 1, 1, Type::kString},
    {"number", ExprNode::Func::kNumber, 1, 1, Type::kNumber},
    {"string", ExprNode::Func::kString, 1, 1, Type::kString},
    {"score", ExprNode::Func::kScore, 0, 0, Type::kNumber},
};

const FuncInfo* FindFunction(const std::string& name) {
  for (const auto& f : kFunctions) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

// Where an expression is evaluated, which decides the names it may use.
enum class Place {
  kKey,
  kType,
  kTime,
  kId,
  kWhere,
  kAudit,
  kCorrelation,
  kHandler,
  kQuery,
  kQuerySelect,
  kQueryHaving,     // a query's having clause: aggregates, aliases
  kQueryAggregate,  // the argument of an aggregate
};

// Whether a call is an aggregate of the query language (defined with the query compiler).
Aggregate AggregateNamed(const std::string& name, size_t n);

bool IsQueryPlace(Place p) {
  return p == Place::kQuery || p == Place::kQuerySelect || p == Place::kQueryHaving ||
         p == Place::kQueryAggregate;
}

const char* PlaceName(Place p) {
  switch (p) {
    case Place::kKey:
      return "a key clause";
    case Place::kType:
      return "a type clause";
    case Place::kTime:
      return "a time clause";
    case Place::kId:
      return "an id clause";
    case Place::kWhere:
      return "a where clause";
    case Place::kAudit:
      return "an audit clause";
    case Place::kCorrelation:
      return "a correlation clause";
    case Place::kHandler:
      return "a handler";
    case Place::kQuery:
    case Place::kQuerySelect:
    case Place::kQueryHaving:
    case Place::kQueryAggregate:
      return "a query";
  }
  return "?";
}

// Removes comments and collapses whitespace outside strings: the normalized definition.
std::string Normalize(std::string_view text) {
  std::string out;
  bool in_string = false;
  bool pending_space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      pending_space = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
    if (c == '"') in_string = true;
  }
  return out;
}

// The Damerau-Levenshtein distance between two names in its optimal string alignment form
// (inserting, deleting or replacing a byte, or swapping two adjacent bytes, is one edit), or
// limit + 1 when it is above `limit`.
size_t EditDistance(std::string_view a, std::string_view b, size_t limit) {
  size_t longer = std::max(a.size(), b.size());
  if (longer - std::min(a.size(), b.size()) > limit) return limit + 1;
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  size_t previous_row_min = 0;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t row_min = d[i][0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
      row_min = std::min(row_min, d[i][j]);
    }
    // A cell is at least the least value of the row above, or of the row two above plus one
    // (a swap): once two rows in a row are past the limit, every later one is too.
    if (row_min > limit && previous_row_min > limit) return limit + 1;
    previous_row_min = row_min;
  }
  return std::min(d[a.size()][b.size()], limit + 1);
}

// The candidate that `name` is most likely a typo of, or "" when none is close. Close means at
// most one edit per three characters of `name` (at least one, at most two), and fewer edits
// than `name` has characters, so that a short name is not "corrected" into an unrelated one.
// On a tie the earlier candidate wins.
std::string ClosestName(const std::string& name, const std::vector<std::string>& candidates) {
  size_t limit = std::clamp<size_t>(name.size() / 3, 1, 2);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    if (c == name) continue;
    size_t dist = EditDistance(name, c, limit);
    if (dist < best_distance && dist < name.size()) {
      best = c;
      best_distance = dist;
    }
  }
  return best;
}

std::string HashHex(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::string Diagnostic::Format() const {
  std::string out =
      file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message + "\n";
  if (line > 0) {
    out += source_line + "\n";
    // Keep tabs so the caret lines up under a tab-indented source line.
    int col = 1;
    for (size_t i = 0; i < source_line.size() && col < column; ++i) {
      unsigned char c = static_cast<unsigned char>(source_line[i]);
      if ((c & 0xC0) == 0x80) continue;
      out.push_back(c == '\t' ? '\t' : ' ');
      ++col;
    }
    for (; col < column; ++col) out.push_back(' ');
    out += "^\n";
  }
  return out;
}

class Compiler {
 public:
  Compiler(std::string_view file, std::string_view text) : file_(file), text_(text), lines_(text) {}

  void Error(size_t offset, std::string message) {
    Diagnostic d;
    d.file = file_;
    lines_.Locate(offset, &d.line, &d.column);
    d.message = std::move(message);
    d.source_line = lines_.Line(d.line);
    diagnostics_.push_back(std::move(d));
  }

  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }

  std::shared_ptr<Projection> CompileProjection(const ast::Projection& p);
  std::unique_ptr<Query> CompileQueryAst(
      const ast::Query& q,
      const std::function<std::shared_ptr<const Projection>(const std::string&)>& find_view);

 private:
  struct Scope {
    Place place = Place::kHandler;
    std::map<std::string, int>* locals = nullptr;
    int* next_slot = nullptr;
    std::set<std::string>* fields = nullptr;  // query: known row fields
    bool check_fields = false;
    Query* query = nullptr;                               // query: where aggregates go
    const std::map<std::string, int>* aliases = nullptr;  // having: alias -> select item
  };

  void SetPos(ExprNode* n, size_t offset) { lines_.Locate(offset, &n->line, &n->column); }

  Type CompileExpr(const ast::Operand& e, const Scope& scope, ExprNode* out);
  Type CompileChain(const ast::Chain& c, const Scope& scope, ExprNode* out);
  Type CompileBinary(const std::string& op, size_t offset, ExprNode lhs, Type lt,
                     const ast::Operand& rhs_ast, const Scope& scope, ExprNode* out);
  Type CompileCall(const ast::Call& c, const Scope& scope, ExprNode* out);
  Type CompilePostfix(const ast::Postfix& p, const Scope& scope, ExprNode* out);
  Type CompileName(const ast::Name& n, const Scope& scope, ExprNode* out);
  void CompileBlock(const std::vector<ast::Stmt>& block, Scope& scope, std::vector<StmtNode>* out,
                    std::set<std::string>* assigned);
  bool CheckTarget(const std::string& field, size_t offset, bool assigns, const Scope& scope,
                   std::set<std::string>* assigned);
  void CompileAssign(const ast::Assign& a, Scope& scope, std::vector<StmtNode>* out,
                     std::set<std::string>* assigned);
  void CompileUnset(const ast::Unset& u, Scope& scope, std::vector<StmtNode>* out,
                    std::set<std::string>* assigned);
  void CompileDelete(const ast::Delete& d, std::vector<StmtNode>* out);
  void CompileLet(const ast::Let& l, Scope& scope, std::vector<StmtNode>* out);
  void CompilePush(const ast::Push& p, Scope& scope, std::vector<StmtNode>* out,
                   std::set<std::string>* assigned);
  void CompileIf(const ast::If& first, Scope& scope, std::vector<StmtNode>* out,
                 std::set<std::string>* assigned);
  // The clauses of a projection (CompileProjection).
  void KeepSource(const ast::Projection& p, Projection* proj);
  void CompileFrom(const ast::Clause& c, Projection* proj);
  void CompileKey(const ast::Clause& c, Projection* proj);
  void CompileEventClause(const ast::Clause& c, Projection* proj);
  void CompileAudit(const ast::Clause& c, Projection* proj);
  void CompileHandler(const ast::Clause& c, Projection* proj, std::set<std::string>* seen_types,
                      bool* has_catch_all, std::set<std::string>* assigned);
  void CompileIndex(const ast::Clause& c, Projection* proj);
  void CompileTextIndex(const ast::Clause& c, Projection* proj);
  void CompileMatches(size_t offset, const ExprNode& lhs, const ExprNode& rhs, const Scope& scope,
                      ExprNode* node);
  void CompileHistory(const ast::Clause& c, Projection* proj);
  void CompileAlert(const ast::Clause& c, Projection* proj);
  static void IndexHandlers(Projection* proj);
  // The clauses of a query (CompileQueryAst).
  void CompileAsOf(const ast::QueryClause& c, const ast::Query& q, Query* query);
  std::string SelectLabel(size_t off) const;
  std::string CallText(size_t off) const;
  void ErrorAt(const ExprNode& n, std::string message);
  Type CompileAggregateUse(const ast::Call& c, const Scope& scope, ExprNode* out);
  void RegisterAggregate(const ast::Call& c, const Scope& scope, ExprNode* out);
  void GroupOnly(ExprNode* n, const Query& query);
  bool CompileSelectItem(const ast::SelectItem& e, const Scope& scope, Query* query,
                         std::vector<std::string>* texts);
  void CompileSelect(const ast::QueryClause& c, const Scope& scope, Query* query,
                     std::vector<std::string>* texts);
  void CompileHaving(const ast::QueryClause& c, const Scope& scope, Query* query);
  void CompileOrderBy(const ast::QueryClause& c, const std::set<std::string>& fields,
                      const std::vector<std::string>& texts, Query* query);
  static void AssignEventSlots(Projection* proj);
  void CheckCondition(Type t, size_t offset, const char* what) {
    if (t != Type::kUnknown && t != Type::kBool && t != Type::kNull) {
      Error(offset, std::string(what) + " must be a boolean, not a " + TypeName(t));
    }
  }

  // A row field that a handler reads, or unsets, by bare name. It must be assigned by some
  // statement of the projection; CompileProjection checks once every handler is compiled.
  struct FieldUse {
    std::string field;
    size_t offset = 0;
    std::vector<std::string> lets;  // the let names in scope there, for a suggestion
    bool unset = false;             // `unset FIELD`, which cannot mean a let name or a root
  };
  void CheckFieldUses(const std::set<std::string>& assigned);

  std::string file_;
  std::string_view text_;
  LineIndex lines_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<FieldUse> field_uses_;  // of the projection being compiled
};

namespace {

struct OffsetVisitor {
  template <typename T>
  size_t operator()(const boost::spirit::x3::forward_ast<T>& n) const {
    return n.get().offset;
  }
  template <typename T>
  size_t operator()(const T& n) const {
    return n.offset;
  }
};

size_t SourceOffset(const ast::Operand& e) { return boost::apply_visitor(OffsetVisitor(), e); }

}  // namespace

Type Compiler::CompileName(const ast::Name& n, const Scope& scope, ExprNode* out) {
  SetPos(out, n.offset);
  if (n.name == "event") {
    if (IsQueryPlace(scope.place)) {
      Error(n.offset, "'event' is not available in a query");
      return Type::kUnknown;
    }
    out->op = ExprNode::Op::kEvent;
    return Type::kUnknown;
  }
  if (n.name == "meta") {
    Error(n.offset,
          "'meta' must be followed by .topic, .partition, .offset, .timestamp, .key or .headers");
    return Type::kUnknown;
  }
  if (scope.aliases) {
    // having: a select item's alias (before a field of that name).
    auto it = scope.aliases->find(n.name);
    if (it != scope.aliases->end()) {
      out->op = ExprNode::Op::kField;
      out->name = GroupRowName('s', static_cast<size_t>(it->second));
      return Type::kUnknown;
    }
  }
  if (n.name == "key") {
    if (scope.place != Place::kHandler && !IsQueryPlace(scope.place)) {
      Error(n.offset, std::string("'key' is not available in ") + PlaceName(scope.place));
      return Type::kUnknown;
    }
    out->op = ExprNode::Op::kKey;
    return Type::kString;
  }
  if (scope.locals) {
    auto it = scope.locals->find(n.name);
    if (it != scope.locals->end()) {
      out->op = ExprNode::Op::kLocal;
      out->slot = it->second;
      return Type::kUnknown;
    }
  }
  if (scope.place != Place::kHandler && !IsQueryPlace(scope.place)) {
    // A misspelled root (`evnt.id`) is more likely than a row field meant as an event field.
    std::string root = ClosestName(n.name, {"event", "meta"});
    Error(n.offset, "unknown name '" + n.name + "': row fields are not available in " +
                        PlaceName(scope.place) + " (did you mean " +
                        (root.empty() ? "event." + n.name : "'" + root + "'") + "?)");
    return Type::kUnknown;
  }
  if (scope.check_fields && scope.fields && !scope.fields->count(n.name)) {
    Error(n.offset, "unknown field '" + n.name + "' (no handler of this view sets it)");
    return Type::kUnknown;
  }
  if (scope.place == Place::kHandler) {
    FieldUse use;
    use.field = n.name;
    use.offset = n.offset;
    if (scope.locals) {
      for (const auto& [name, slot] : *scope.locals) use.lets.push_back(name);
    }
    field_uses_.push_back(std::move(use));
  }
  out->op = ExprNode::Op::kField;
  out->name = n.name;
  return Type::kUnknown;
}

Type Compiler::CompilePostfix(const ast::Postfix& p, const Scope& scope, ExprNode* out) {
  size_t first_accessor = 0;
  Type t = Type::kUnknown;
  // meta.<name> is a node of its own.
  if (p.base.get().type() == typeid(ast::Name) &&
      boost::get<ast::Name>(p.base.get()).name == "meta") {
    const auto& n = boost::get<ast::Name>(p.base.get());
    if (IsQueryPlace(scope.place)) {
      Error(n.offset, "'meta' is not available in a query");
      return Type::kUnknown;
    }
    if (p.accessors.empty() || p.accessors[0].field.empty()) {
      Error(n.offset,
            "'meta' must be followed by .topic, .partition, .offset, .timestamp, .key or .headers");
      return Type::kUnknown;
    }
    const std::string& f = p.accessors[0].field;
    MetaField field;
    if (!MetaFieldNamed(f, &field)) {
      Error(p.accessors[0].offset,
            "unknown meta field '" + f +
                "' (known: topic, partition, offset, timestamp, key, headers)");
      return Type::kUnknown;
    }
    switch (field) {
      case MetaField::kTopic:
        t = Type::kString;
        break;
      case MetaField::kPartition:
      case MetaField::kOffset:
      case MetaField::kTimestamp:
        t = Type::kNumber;
        break;
      case MetaField::kKey:
        t = Type::kUnknown;  // a message may have no key
        break;
      case MetaField::kHeaders:
        t = Type::kObject;  // name -> value; meta.headers["name"] is a string or null
        break;
    }
    SetPos(out, n.offset);
    out->op = ExprNode::Op::kMeta;
    out->meta = field;
    out->name = f;
    first_accessor = 1;
  } else {
    t = CompileExpr(p.base, scope, out);
  }
  for (size_t i = first_accessor; i < p.accessors.size(); ++i) {
    const auto& a = p.accessors[i];
    if (t != Type::kUnknown && t != Type::kObject && t != Type::kArray && t != Type::kNull) {
      Error(a.offset, std::string("cannot access a field of a ") + TypeName(t));
    }
    ExprNode n;
    SetPos(&n, a.offset);
    n.op = ExprNode::Op::kAccess;
    if (!a.index.empty()) {
      if (a.index.size() > 9) {
        Error(a.offset, "index too large");
        return Type::kUnknown;
      }
      n.slot = std::stoi(a.index);
    } else {
      n.name = a.field;
    }
    n.args.push_back(std::move(*out));
    *out = std::move(n);
    t = Type::kUnknown;
  }
  return t;
}

Type Compiler::CompileCall(const ast::Call& c, const Scope& scope, ExprNode* out) {
  SetPos(out, c.offset);
  if (c.function.empty()) {
    Error(c.offset, "a parenthesized list is only allowed after 'in'");
    return Type::kUnknown;
  }
  const FuncInfo* f = FindFunction(c.function);
  if (IsQueryPlace(scope.place) && scope.place != Place::kQuery &&
      AggregateNamed(c.function, c.args.size()) != Aggregate::kNone) {
    return CompileAggregateUse(c, scope, out);
  }
  if (!f) {
    if (c.function == "count" || c.function == "sum" || c.function == "avg" ||
        c.function == "count_distinct") {
      Error(c.offset, "aggregate " + c.function + "() is only allowed in a query's select list" +
                          (IsQueryPlace(scope.place) ? " and having clause" : ""));
    } else {
      Error(c.offset, "unknown function '" + c.function + "'");
    }
    return Type::kUnknown;
  }
  int n = static_cast<int>(c.args.size());
  if (n < f->min_args || (f->max_args >= 0 && n > f->max_args)) {
    std::string want = f->max_args < 0 ? "at least " + std::to_string(f->min_args)
                       : f->min_args == f->max_args
                           ? std::to_string(f->min_args)
                           : std::to_string(f->min_args) + " or " + std::to_string(f->max_args);
    int wanted = f->max_args < 0 || f->min_args == f->max_args ? f->min_args : f->max_args;
    Error(c.offset, std::string(f->name) + "() takes " + want + " argument" +
                        (wanted == 1 ? "" : "s") + ", not " + std::to_string(n));
    return f->result;
  }
  if (f->func == ExprNode::Func::kScore) {
    if (!IsQueryPlace(scope.place)) {
      Error(c.offset, "score() is only allowed in queries");
    } else if (!scope.query || scope.query->text_matches.empty()) {
      Error(c.offset, "score() needs a 'FIELD matches \"words\"' condition in the where clause");
    }
  }
  out->op = ExprNode::Op::kCall;
  out->func = f->func;
  std::vector<Type> types;
  for (const auto& a : c.args) {
    ExprNode arg;
    types.push_back(CompileExpr(a, scope, &arg));
    out->args.push_back(std::move(arg));
  }
  auto want = [&](size_t i, Type t) {
    if (types[i] != Type::kUnknown && types[i] != Type::kNull && types[i] != t) {
      Error(SourceOffset(c.args[i]), std::string(f->name) + "() expects a " + TypeName(t) +
                                         " as argument " + std::to_string(i + 1) + ", not a " +
                                         TypeName(types[i]));
    }
  };
  switch (f->func) {
    case ExprNode::Func::kAbs:
      want(0, Type::kNumber);
      break;
    case ExprNode::Func::kRound:
      want(0, Type::kNumber);
      if (n == 2) want(1, Type::kNumber);
      break;
    case ExprNode::Func::kLower:
    case ExprNode::Func::kUpper:
      want(0, Type::kString);
      break;
    case ExprNode::Func::kSubstr:
      want(0, Type::kString);
      want(1, Type::kNumber);
      if (n == 3) want(2, Type::kNumber);
      break;
    case ExprNode::Func::kStartsWith:
      want(0, Type::kString);
      want(1, Type::kString);
      break;
    default:
      break;
  }
  return f->result;
}

Type Compiler::CompileBinary(const std::string& op, size_t offset, ExprNode lhs, Type lt,
                             const ast::Operand& rhs_ast, const Scope& scope, ExprNode* out) {
  ExprNode node;
  SetPos(&node, offset);
  if (op == "in") {
    node.op = ExprNode::Op::kIn;
    node.args.push_back(std::move(lhs));
    const auto& list = boost::get<boost::spirit::x3::forward_ast<ast::Call>>(rhs_ast.get()).get();
    for (const auto& item : list.args) {
      ExprNode n;
      CompileExpr(item, scope, &n);
      node.args.push_back(std::move(n));
    }
    *out = std::move(node);
    return Type::kBool;
  }
  ExprNode rhs;
  Type rt = CompileExpr(rhs_ast, scope, &rhs);
  auto known = [](Type t) { return t != Type::kUnknown; };
  Type result = Type::kUnknown;
  if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") {
    node.op = op == "+"   ? ExprNode::Op::kAdd
              : op == "-" ? ExprNode::Op::kSub
              : op == "*" ? ExprNode::Op::kMul
              : op == "/" ? ExprNode::Op::kDiv
                          : ExprNode::Op::kMod;
    bool strings = op == "+" && (lt == Type::kString || rt == Type::kString);
    for (Type t : {lt, rt}) {
      if (!known(t) || t == Type::kNumber || (strings && t == Type::kString)) continue;
      if (t == Type::kNull) {
        Error(offset, "operator '" + op + "' cannot apply to null");
      } else {
        Error(offset, "operator '" + op + "' cannot apply to a " + std::string(TypeName(t)));
      }
      break;
    }
    if (op == "+" && known(lt) && known(rt) && lt != rt &&
        (lt == Type::kString || rt == Type::kString)) {
      Error(offset, std::string("operator '+' cannot apply to a ") + TypeName(lt) + " and a " +
                        TypeName(rt) + " (use concat() or string())");
    }
    if ((op == "/" || op == "%") && rhs.op == ExprNode::Op::kConst && rhs.constant.is_number() &&
        rhs.constant.as_number().IsZero()) {
      Error(offset, "division by zero");
    }
    result = strings ? Type::kString : (known(lt) && known(rt) ? Type::kNumber : Type::kUnknown);
    if (lt == Type::kNumber && rt == Type::kNumber) result = Type::kNumber;
  } else if (op == "and" || op == "or") {
    node.op = op == "and" ? ExprNode::Op::kAnd : ExprNode::Op::kOr;
    CheckCondition(lt, offset, ("operand of '" + op + "'").c_str());
    CheckCondition(rt, offset, ("operand of '" + op + "'").c_str());
    result = Type::kBool;
  } else if (op == "matches") {
    CompileMatches(offset, lhs, rhs, scope, &node);
    result = Type::kBool;
  } else if (op == "starts_with") {
    node.op = ExprNode::Op::kStartsWith;
    for (Type t : {lt, rt}) {
      if (known(t) && t != Type::kString && t != Type::kNull) {
        Error(offset, std::string("starts_with needs strings, not a ") + TypeName(t));
        break;
      }
    }
    result = Type::kBool;
  } else {
    node.op = op == "=="   ? ExprNode::Op::kEq
              : op == "!=" ? ExprNode::Op::kNe
              : op == "<"  ? ExprNode::Op::kLt
              : op == "<=" ? ExprNode::Op::kLe
              : op == ">"  ? ExprNode::Op::kGt
                           : ExprNode::Op::kGe;
    bool ordering = node.op != ExprNode::Op::kEq && node.op != ExprNode::Op::kNe;
    if (ordering && known(lt) && known(rt) && lt != Type::kNull && rt != Type::kNull &&
        (lt != rt || (lt != Type::kNumber && lt != Type::kString))) {
      Error(offset, "cannot compare a " + std::string(TypeName(lt)) + " with a " + TypeName(rt) +
                        " using '" + op + "'");
    }
    result = Type::kBool;
  }
  node.args.push_back(std::move(lhs));
  node.args.push_back(std::move(rhs));
  *out = std::move(node);
  return result;
}

Type Compiler::CompileChain(const ast::Chain& c, const Scope& scope, ExprNode* out) {
  Type t = CompileExpr(c.first, scope, out);
  for (const auto& step : c.rest) {
    ExprNode lhs = std::move(*out);
    *out = ExprNode();
    t = CompileBinary(step.op, step.offset, std::move(lhs), t, step.operand, scope, out);
  }
  return t;
}

Type Compiler::CompileExpr(const ast::Operand& e, const Scope& scope, ExprNode* out) {
  struct Visitor {
    Compiler* self;
    const Scope& scope;
    ExprNode* out;
    Type operator()(const ast::NumberLit& n) const {
      self->SetPos(out, n.offset);
      Decimal d;
      if (n.text.size() > 1 && n.text[0] == '0' && n.text[1] >= '0' && n.text[1] <= '9') {
        self->Error(n.offset, "invalid number " + n.text + " (leading zeros are not allowed)");
        return Type::kNumber;
      }
      if (!Decimal::Parse(n.text, &d)) {
        self->Error(n.offset, "number " + n.text + " is out of range (|n| < 10^20)");
        return Type::kNumber;
      }
      out->op = ExprNode::Op::kConst;
      out->constant = Value::Number(d);
      return Type::kNumber;
    }
    Type operator()(const ast::StringLit& s) const {
      self->SetPos(out, s.offset);
      out->op = ExprNode::Op::kConst;
      out->constant = Value::String(s.value);
      return Type::kString;
    }
    Type operator()(const ast::BoolLit& b) const {
      self->SetPos(out, b.offset);
      out->op = ExprNode::Op::kConst;
      out->constant = Value::Bool(b.value);
      return Type::kBool;
    }
    Type operator()(const ast::NullLit& n) const {
      self->SetPos(out, n.offset);
      out->op = ExprNode::Op::kConst;
      out->constant = Value::Null();
      return Type::kNull;
    }
    Type operator()(const ast::Name& n) const { return self->CompileName(n, scope, out); }
    Type operator()(const boost::spirit::x3::forward_ast<ast::Call>& c) const {
      return self->CompileCall(c.get(), scope, out);
    }
    Type operator()(const boost::spirit::x3::forward_ast<ast::Unary>& u) const {
      const ast::Unary& un = u.get();
      ExprNode operand;
      Type t = self->CompileExpr(un.operand, scope, &operand);
      self->SetPos(out, un.offset);
      if (un.op == "-") {
        if (t != Type::kUnknown && t != Type::kNumber) {
          self->Error(un.offset, std::string("unary '-' cannot apply to a ") + TypeName(t));
        }
        if (operand.op == ExprNode::Op::kConst && operand.constant.is_number()) {
          out->op = ExprNode::Op::kConst;
          out->constant = Value::Number(operand.constant.as_number().Negated());
          return Type::kNumber;
        }
        out->op = ExprNode::Op::kNeg;
        out->args.push_back(std::move(operand));
        return Type::kNumber;
      }
      self->CheckCondition(t, un.offset, "operand of 'not'");
      out->op = ExprNode::Op::kNot;
      out->args.push_back(std::move(operand));
      return Type::kBool;
    }
    Type operator()(const boost::spirit::x3::forward_ast<ast::Chain>& c) const {
      return self->CompileChain(c.get(), scope, out);
    }
    Type operator()(const boost::spirit::x3::forward_ast<ast::Postfix>& p) const {
      return self->CompilePostfix(p.get(), scope, out);
    }
  };
  return boost::apply_visitor(Visitor{this, scope, out}, e);
}

// Checks the target field of an assignment, `push` or `unset`: not a reserved name, not a let
// name. `unset` does not assign its field: like a read, it must name a field that some other
// statement assigns, or it is a typo that would leave the intended field in place.
bool Compiler::CheckTarget(const std::string& field, size_t offset, bool assigns,
                           const Scope& scope, std::set<std::string>* assigned) {
  if (field == "key" || field == "event" || field == "meta") {
    Error(offset, "cannot assign to '" + field + "': it is a reserved name");
    return false;
  }
  if (scope.locals->count(field)) {
    Error(offset, "'" + field + "' is a let name, not a row field; let names cannot be assigned");
    return false;
  }
  if (assigns) {
    assigned->insert(field);
  } else {
    FieldUse use;
    use.field = field;
    use.offset = offset;
    use.unset = true;
    field_uses_.push_back(std::move(use));
  }
  return true;
}

// FIELD = expr, FIELD += expr, FIELD -= expr.
void Compiler::CompileAssign(const ast::Assign& a, Scope& scope, std::vector<StmtNode>* out,
                             std::set<std::string>* assigned) {
  StmtNode s;
  lines_.Locate(a.offset, &s.line, &s.column);
  s.kind = a.op == "="    ? StmtNode::Kind::kSet
           : a.op == "+=" ? StmtNode::Kind::kAdd
                          : StmtNode::Kind::kSub;
  s.field = a.field;
  CheckTarget(a.field, a.offset, true, scope, assigned);
  Type t = CompileExpr(a.value, scope, &s.expr);
  if (s.kind != StmtNode::Kind::kSet && t != Type::kUnknown && t != Type::kNumber) {
    Error(SourceOffset(a.value),
          "'" + a.op + "' needs a number, not a " + std::string(TypeName(t)));
  }
  out->push_back(std::move(s));
}

// unset FIELD.
void Compiler::CompileUnset(const ast::Unset& u, Scope& scope, std::vector<StmtNode>* out,
                            std::set<std::string>* assigned) {
  StmtNode s;
  lines_.Locate(u.offset, &s.line, &s.column);
  s.kind = StmtNode::Kind::kUnset;
  s.field = u.field;
  CheckTarget(u.field, u.offset, false, scope, assigned);
  out->push_back(std::move(s));
}

// delete.
void Compiler::CompileDelete(const ast::Delete& d, std::vector<StmtNode>* out) {
  StmtNode s;
  lines_.Locate(d.offset, &s.line, &s.column);
  s.kind = StmtNode::Kind::kDelete;
  out->push_back(std::move(s));
}

// let NAME = expr: a new local slot of the handler.
void Compiler::CompileLet(const ast::Let& l, Scope& scope, std::vector<StmtNode>* out) {
  StmtNode s;
  lines_.Locate(l.offset, &s.line, &s.column);
  s.kind = StmtNode::Kind::kLet;
  if (l.name == "key" || l.name == "event" || l.name == "meta") {
    Error(l.offset, "cannot use reserved name '" + l.name + "' for a let");
  } else if (scope.locals->count(l.name)) {
    Error(l.offset, "let '" + l.name + "' is already defined in this handler");
  }
  CompileExpr(l.value, scope, &s.expr);
  int slot = (*scope.next_slot)++;
  (*scope.locals)[l.name] = slot;
  s.slot = slot;
  s.field = l.name;
  out->push_back(std::move(s));
}

// push FIELD expr limit N.
void Compiler::CompilePush(const ast::Push& p, Scope& scope, std::vector<StmtNode>* out,
                           std::set<std::string>* assigned) {
  StmtNode s;
  lines_.Locate(p.offset, &s.line, &s.column);
  s.kind = StmtNode::Kind::kPush;
  s.field = p.field;
  CheckTarget(p.field, p.offset, true, scope, assigned);
  CompileExpr(p.value, scope, &s.expr);
  Decimal d;
  int64_t limit = 0;
  if (!Decimal::Parse(p.limit.text, &d) || !d.ToInt64(&limit) || limit < 1 || limit > 100000) {
    Error(p.limit.offset, "push limit must be a whole number from 1 to 100000");
  }
  s.limit = limit;
  out->push_back(std::move(s));
}

// if / else if / else, as one statement with a branch per condition.
void Compiler::CompileIf(const ast::If& first, Scope& scope, std::vector<StmtNode>* out,
                         std::set<std::string>* assigned) {
  StmtNode s;
  s.kind = StmtNode::Kind::kIf;
  const ast::If* cur = &first;
  lines_.Locate(cur->offset, &s.line, &s.column);
  while (cur) {
    StmtNode::Branch b;
    Type t = CompileExpr(cur->condition, scope, &b.condition);
    CheckCondition(t, SourceOffset(cur->condition), "the condition of 'if'");
    CompileBlock(cur->then_block, scope, &b.body, assigned);
    s.branches.push_back(std::move(b));
    const ast::If* next = nullptr;
    if (cur->else_block) {
      const auto& eb = *cur->else_block;
      // `else if` arrives as a block holding one If: flatten it into the chain.
      if (eb.size() == 1 && eb[0].get().type() == typeid(boost::spirit::x3::forward_ast<ast::If>)) {
        next = &boost::get<boost::spirit::x3::forward_ast<ast::If>>(eb[0].get()).get();
      } else {
        StmtNode::Branch e;
        e.has_condition = false;
        CompileBlock(eb, scope, &e.body, assigned);
        s.branches.push_back(std::move(e));
      }
    }
    cur = next;
  }
  out->push_back(std::move(s));
}

void Compiler::CompileBlock(const std::vector<ast::Stmt>& block, Scope& scope,
                            std::vector<StmtNode>* out, std::set<std::string>* assigned) {
  struct Visitor {
    Compiler* self;
    Scope& scope;
    std::vector<StmtNode>* out;
    std::set<std::string>* assigned;
    void operator()(const ast::Assign& a) const { self->CompileAssign(a, scope, out, assigned); }
    void operator()(const ast::Unset& u) const { self->CompileUnset(u, scope, out, assigned); }
    void operator()(const ast::Delete& d) const { self->CompileDelete(d, out); }
    void operator()(const ast::Let& l) const { self->CompileLet(l, scope, out); }
    void operator()(const ast::Push& p) const { self->CompilePush(p, scope, out, assigned); }
    void operator()(const boost::spirit::x3::forward_ast<ast::If>& fi) const {
      self->CompileIf(fi.get(), scope, out, assigned);
    }
  };
  for (const auto& st : block) {
    boost::apply_visitor(Visitor{this, scope, out, assigned}, st);
  }
}

// Gives every `event.name` a slot (see EventInput) and notes whether an expression reads the
// event itself, which then has to be parsed whole.
void Compiler::AssignEventSlots(Projection* proj) {
  std::vector<std::string> names;
  auto slot_of = [&names](const std::string& name) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) it = names.insert(names.end(), name);
    return static_cast<int>(it - names.begin());
  };
  std::function<void(ExprNode&)> expr = [&](ExprNode& n) {
    if (n.op == ExprNode::Op::kAccess && !n.name.empty() && n.args.size() == 1 &&
        n.args[0].op == ExprNode::Op::kEvent) {
      n.event_slot = slot_of(n.name);
      return;
    }
    if (n.op == ExprNode::Op::kEvent) proj->reads_whole_event_ = true;
    for (auto& a : n.args) expr(a);
  };
  std::function<void(std::vector<StmtNode>&)> block = [&](std::vector<StmtNode>& body) {
    for (auto& s : body) {
      expr(s.expr);
      for (auto& b : s.branches) {
        if (b.has_condition) expr(b.condition);
        block(b.body);
      }
    }
  };
  for (auto& k : proj->key_parts_) expr(k);
  if (proj->has_type_) expr(proj->type_);
  if (proj->has_time_) expr(proj->time_);
  if (proj->has_id_) expr(proj->id_);
  if (proj->has_where_) expr(proj->where_);
  for (auto& a : proj->audit_) expr(a.second);
  if (proj->has_correlation_) expr(proj->correlation_);
  for (auto& h : proj->handlers_) block(h.body);
  if (!proj->has_type_) proj->type_slot_ = slot_of("type");
  proj->event_fields_ = JsonFieldSet(std::move(names));
}

void Compiler::CheckFieldUses(const std::set<std::string>& assigned) {
  for (const auto& use : field_uses_) {
    if (assigned.count(use.field)) continue;
    // Suggestions: the let names in scope, the fields the projection assigns, and for a read
    // the roots a handler can read.
    std::vector<std::string> candidates = use.lets;
    candidates.insert(candidates.end(), assigned.begin(), assigned.end());
    if (!use.unset) {
      for (const char* root : {"event", "meta", "key"}) candidates.emplace_back(root);
    }
    std::string hint = ClosestName(use.field, candidates);
    Error(use.offset, "'" + use.field + "' is never assigned" +
                          (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  }
  field_uses_.clear();
}

// The projection's own text, its hash, and the file's lines up to its end (so that trace line
// numbers match the file).
void Compiler::KeepSource(const ast::Projection& p, Projection* proj) {
  size_t end = std::min(p.end_offset, text_.size());
  proj->definition_ = std::string(text_.substr(p.offset, end - p.offset));
  proj->definition_hash_ = HashHex(Normalize(proj->definition_));
  int first_line, col;
  lines_.Locate(p.offset, &first_line, &col);
  // Keep the whole file's lines so trace line numbers match the file.
  for (int i = 1; i <= first_line + static_cast<int>(std::count(proj->definition_.begin(),
                                                                proj->definition_.end(), '\n'));
       ++i) {
    proj->source_lines_.push_back(lines_.Line(i));
  }
}

// from "topic", ...
void Compiler::CompileFrom(const ast::Clause& c, Projection* proj) {
  std::set<std::string> topics;
  for (const auto& t : c.names) {
    if (t.empty()) {
      Error(c.offset, "topic name must not be empty");
    } else if (!topics.insert(t).second) {
      Error(c.offset, "topic \"" + t + "\" is listed twice");
    }
    proj->topics_.push_back(t);
  }
}

// key expr, ...
void Compiler::CompileKey(const ast::Clause& c, Projection* proj) {
  Scope scope;
  scope.place = Place::kKey;
  for (const auto& e : c.exprs) {
    ExprNode n;
    Type t = CompileExpr(e, scope, &n);
    if (t == Type::kArray || t == Type::kObject || t == Type::kNull) {
      Error(SourceOffset(e), std::string("a key part cannot be a ") + TypeName(t));
    }
    proj->key_parts_.push_back(std::move(n));
  }
}

// type expr, time expr, id expr, where expr: one expression of the event each.
void Compiler::CompileEventClause(const ast::Clause& c, Projection* proj) {
  Scope scope;
  scope.place = c.kind == "type"   ? Place::kType
                : c.kind == "time" ? Place::kTime
                : c.kind == "id"   ? Place::kId
                                   : Place::kWhere;
  ExprNode* target = c.kind == "type"   ? &proj->type_
                     : c.kind == "time" ? &proj->time_
                     : c.kind == "id"   ? &proj->id_
                                        : &proj->where_;
  Type t = CompileExpr(c.exprs[0], scope, target);
  if (c.kind == "type") {
    proj->has_type_ = true;
    if (t != Type::kUnknown && t != Type::kString) {
      Error(SourceOffset(c.exprs[0]), std::string("type must be a string, not a ") + TypeName(t));
    }
  } else if (c.kind == "time") {
    proj->has_time_ = true;
    if (t != Type::kUnknown && t != Type::kString && t != Type::kNumber) {
      Error(SourceOffset(c.exprs[0]),
            std::string("time must be an RFC 3339 string or epoch millis, not a ") + TypeName(t));
    }
  } else if (c.kind == "id") {
    proj->has_id_ = true;
    if (t == Type::kArray || t == Type::kObject || t == Type::kNull || t == Type::kBool) {
      Error(SourceOffset(c.exprs[0]), std::string("id cannot be a ") + TypeName(t));
    }
  } else {
    proj->has_where_ = true;
    CheckCondition(t, SourceOffset(c.exprs[0]), "the where clause");
  }
}

// audit NAME = EXPR, ...: values of the event (and meta) kept with each change it makes.
// correlation EXPR: the command the event came from (a string or a number; null: none).
void Compiler::CompileAudit(const ast::Clause& c, Projection* proj) {
  Scope scope;
  if (c.kind == "correlation") {
    scope.place = Place::kCorrelation;
    Type t = CompileExpr(c.exprs[0], scope, &proj->correlation_);
    proj->has_correlation_ = true;
    if (t == Type::kArray || t == Type::kObject || t == Type::kBool) {
      Error(SourceOffset(c.exprs[0]),
            std::string("a correlation must be a string or a number, not a ") + TypeName(t));
    }
    return;
  }
  scope.place = Place::kAudit;
  std::set<std::string> names;
  for (size_t i = 0; i < c.names.size() && i < c.exprs.size(); ++i) {
    if (!names.insert(c.names[i]).second) {
      Error(SourceOffset(c.exprs[i]), "audit value '" + c.names[i] + "' is named twice");
    }
    ExprNode n;
    CompileExpr(c.exprs[i], scope, &n);
    proj->audit_.emplace_back(c.names[i], std::move(n));
  }
}

// on Type, ... { statements } and on * { statements }.
void Compiler::CompileHandler(const ast::Clause& c, Projection* proj,
                              std::set<std::string>* seen_types, bool* has_catch_all,
                              std::set<std::string>* assigned) {
  Handler h;
  int line, col;
  lines_.Locate(c.offset, &line, &col);
  h.line = line;
  bool catch_all = c.names.size() == 1 && c.names[0] == "*";
  if (catch_all) {
    if (*has_catch_all) Error(c.offset, "duplicate 'on *' handler");
    *has_catch_all = true;
  } else {
    for (const auto& n : c.names) {
      if (!seen_types->insert(n).second) {
        Error(c.offset, "event type '" + n + "' already has a handler; only the first runs");
      }
      h.types.push_back(n);
    }
  }
  std::map<std::string, int> locals;
  int next_slot = 0;
  Scope scope;
  scope.place = Place::kHandler;
  scope.locals = &locals;
  scope.next_slot = &next_slot;
  CompileBlock(c.block, scope, &h.body, assigned);
  h.locals = next_slot;
  proj->handlers_.push_back(std::move(h));
}

// index field, ...
void Compiler::CompileIndex(const ast::Clause& c, Projection* proj) {
  std::set<std::string> idx;
  for (const auto& f : c.names) {
    if (!idx.insert(f).second) Error(c.offset, "field '" + f + "' is indexed twice");
    proj->indexes_.push_back(f);
  }
}

// index text FIELD [language "simple"|"english"].
void Compiler::CompileTextIndex(const ast::Clause& c, Projection* proj) {
  const std::string& field = c.names[0];
  if (proj->text_index(field)) {
    Error(c.offset, "field '" + field + "' has two text indexes");
    return;
  }
  std::string language = c.word.empty() ? "simple" : c.word;
  if (language != "simple" && language != "english") {
    Error(c.offset, "unknown text index language \"" + c.word +
                        "\" (the languages are \"simple\" and \"english\")");
  }
  proj->text_indexes_.push_back({field, language});
}

// FIELD matches "PATTERN" (queries): the field needs a text index; the pattern is a string.
void Compiler::CompileMatches(size_t offset, const ExprNode& lhs, const ExprNode& rhs,
                              const Scope& scope, ExprNode* node) {
  node->op = ExprNode::Op::kMatches;
  if (!IsQueryPlace(scope.place) || !scope.query) {
    Error(offset, "matches is only allowed in queries (on a field with a text index)");
    return;
  }
  const Projection& proj = *scope.query->projection;
  if (lhs.op != ExprNode::Op::kField) {
    Error(offset,
          "matches needs a field with a text index on its left, like: memo matches "
          "\"coffee\"");
    return;
  }
  const Projection::TextIndex* index = proj.text_index(lhs.name);
  if (!index) {
    Error(offset, "field '" + lhs.name + "' of view '" + proj.name() +
                      "' has no text index (add 'index text " + lhs.name + "' to the projection)");
    return;
  }
  if (rhs.op != ExprNode::Op::kConst || !rhs.constant.is_string()) {
    Error(offset, "matches needs a string of words on its right, like: " + lhs.name +
                      " matches \"coffee berlin\"");
    return;
  }
  node->slot = static_cast<int>(scope.query->text_matches.size());
  scope.query->text_matches.push_back({lhs.name, rhs.constant.as_string(), index->language});
  node->args.push_back(lhs);
  node->args.push_back(rhs);
}

// history all, history N days.
void Compiler::CompileHistory(const ast::Clause& c, Projection* proj) {
  if (c.word == "all") {
    proj->history_ = Projection::History::kAll;
  } else {
    int64_t days = c.word.size() > 6 ? 0 : std::stoll(c.word);
    if (days < 1 || days > 100000) {
      Error(c.offset, "history days must be from 1 to 100000");
    }
    proj->history_ = Projection::History::kDays;
    proj->history_days_ = days;
  }
}

// alert lag > N [seconds].
void Compiler::CompileAlert(const ast::Clause& c, Projection* proj) {
  int64_t n = c.word.size() > 15 ? 0 : std::stoll(c.word);
  if (n < 1) Error(c.offset, "alert lag threshold must be at least 1");
  proj->alert_lag_ = n;
  proj->alert_lag_seconds_ = c.seconds;
}

// The handler of each event type (the first that names it) and the catch-all one.
void Compiler::IndexHandlers(Projection* proj) {
  for (const auto& h : proj->handlers_) {
    if (h.types.empty() && !proj->catch_all_) proj->catch_all_ = &h;
    for (const auto& t : h.types) {
      auto& index = proj->handler_by_type_;
      if (std::none_of(index.begin(), index.end(), [&t](const auto& e) { return e.first == t; })) {
        index.emplace_back(t, &h);
      }
    }
  }
}

std::shared_ptr<Projection> Compiler::CompileProjection(const ast::Projection& p) {
  auto proj = std::make_shared<Projection>();
  field_uses_.clear();
  proj->name_ = p.name;
  proj->file_ = file_;
  KeepSource(p, proj.get());

  std::map<std::string, size_t> seen;
  std::set<std::string> seen_types;
  bool has_from = false, has_key = false, has_catch_all = false;
  size_t dedupe_offset = 0;
  std::set<std::string> assigned;
  for (const auto& c : p.clauses) {
    if (c.kind != "on" && c.kind != "index text") {
      auto it = seen.find(c.kind);
      if (it != seen.end()) {
        int line, col;
        lines_.Locate(it->second, &line, &col);
        Error(c.offset,
              "duplicate '" + c.kind + "' clause (first at line " + std::to_string(line) + ")");
        continue;
      }
      seen[c.kind] = c.offset;
    }
    if (c.kind == "from") {
      has_from = true;
      CompileFrom(c, proj.get());
    } else if (c.kind == "key") {
      has_key = true;
      CompileKey(c, proj.get());
    } else if (c.kind == "type" || c.kind == "time" || c.kind == "id" || c.kind == "where") {
      CompileEventClause(c, proj.get());
    } else if (c.kind == "audit" || c.kind == "correlation") {
      CompileAudit(c, proj.get());
    } else if (c.kind == "dedupe") {
      proj->dedupe_ = true;
      dedupe_offset = c.offset;
    } else if (c.kind == "on") {
      CompileHandler(c, proj.get(), &seen_types, &has_catch_all, &assigned);
    } else if (c.kind == "index") {
      CompileIndex(c, proj.get());
    } else if (c.kind == "index text") {
      CompileTextIndex(c, proj.get());
      seen.emplace("index text:" + c.names[0], c.offset);
    } else if (c.kind == "history") {
      CompileHistory(c, proj.get());
    } else if (c.kind == "errors") {
      proj->errors_ =
          c.word == "stop" ? Projection::ErrorPolicy::kStop : Projection::ErrorPolicy::kSkip;
    } else if (c.kind == "format") {
      proj->format_ = c.word == "avro" ? Projection::Format::kAvro : Projection::Format::kJson;
    } else if (c.kind == "alert") {
      CompileAlert(c, proj.get());
    }
  }
  if (!has_from) Error(p.offset, "projection '" + p.name + "' has no 'from' clause");
  if (!has_key) Error(p.offset, "projection '" + p.name + "' has no 'key' clause");
  if (proj->dedupe_ && !proj->has_id_) {
    Error(dedupe_offset, "'dedupe' needs an 'id' clause naming the event identity");
  }
  if (proj->handlers_.empty()) {
    Error(p.offset, "projection '" + p.name + "' has no 'on' handler");
  }
  CheckFieldUses(assigned);
  proj->fields_.assign(assigned.begin(), assigned.end());
  AssignEventSlots(proj.get());
  IndexHandlers(proj.get());
  for (const auto& f : proj->indexes_) {
    if (!assigned.count(f)) {
      Error(seen["index"], "index on '" + f + "', which no handler sets");
    }
  }
  for (const auto& t : proj->text_indexes_) {
    if (!assigned.count(t.field)) {
      Error(seen["index text:" + t.field],
            "text index on '" + t.field + "', which no handler sets");
    }
  }
  return proj;
}

// The query language: CompileQueryAst and its clauses, kept together up to CompileFile
// (tests/docs/check_docs.py reads the error messages there as the query language's own).
namespace {

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
  if (const auto* c = clause("as of")) CompileAsOf(*c, q, query.get());
  if (const auto* c = clause("where")) {
    Type t = CompileExpr(c->exprs[0], scope, &query->where);
    CheckCondition(t, SourceOffset(c->exprs[0]), "the where clause");
    query->has_where = true;
  }
  if (const auto* c = clause("limit")) {
    if (c->word.size() > 9) {
      Error(c->offset, "limit too large");
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
      Error(q.offset, "order by cannot be used with aggregates");
    } else {
      CompileOrderBy(*c, fields, texts, query.get());
    }
  }
  if (!diagnostics_.empty()) return nullptr;
  return query;
}

// as of "time": reads the view's history at that time.
void Compiler::CompileAsOf(const ast::QueryClause& c, const ast::Query& q, Query* query) {
  if (!ParseRfc3339(c.word, &query->as_of_ms)) {
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
    bool call = o.field.find('(') != std::string::npos;
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
                                               "its alias: "
                                             : "order by names a field, an alias or a select "
                                               "item: ") +
                          names + ")");
    } else if (order.item < 0 && o.field != "key" && !fields.count(o.field)) {
      Error(o.offset, "unknown field '" + o.field + "' (no handler of this view sets it)");
    }
    query->order.push_back(std::move(order));
  }
}

CompiledFile CompileFile(std::string_view file_name, std::string_view text) {
  CompiledFile result;
  Compiler compiler(file_name, text);
  ast::File file;
  std::vector<dsl::ParseError> errors;
  dsl::ParseFile(text, &file, &errors);
  for (const auto& e : errors) compiler.Error(e.offset, e.message);
  std::map<std::string, size_t> names;
  for (const auto& p : file.projections) {
    auto it = names.find(p.name);
    if (it != names.end()) {
      int line, col;
      LineIndex(text).Locate(it->second, &line, &col);
      compiler.Error(p.offset, "duplicate projection '" + p.name + "' (first defined at line " +
                                   std::to_string(line) + ")");
      continue;
    }
    names[p.name] = p.offset;
    auto proj = compiler.CompileProjection(p);
    result.projections.push_back(std::move(proj));
  }
  if (errors.empty() && file.projections.empty()) {
    compiler.Error(0, "no projection in this file (a .proj file holds one or more)");
  }
  result.diagnostics = std::move(compiler.diagnostics());
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return a.line != b.line ? a.line < b.line : a.column < b.column;
                   });
  if (!result.ok()) result.projections.clear();
  return result;
}

CompiledFile CompileFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  CompiledFile result;
  std::map<std::string, std::string> owner;
  for (const auto& [name, text] : files) {
    CompiledFile one = CompileFile(name, text);
    for (auto& d : one.diagnostics) result.diagnostics.push_back(std::move(d));
    for (auto& p : one.projections) {
      auto it = owner.find(p->name());
      if (it != owner.end()) {
        Diagnostic d;
        d.file = name;
        // Point at the projection's own line.
        LineIndex idx(text);
        size_t off = text.find("projection " + p->name());
        idx.Locate(off == std::string::npos ? 0 : off, &d.line, &d.column);
        d.source_line = idx.Line(d.line);
        d.message = "duplicate projection '" + p->name() + "' (also defined in " + it->second + ")";
        result.diagnostics.push_back(std::move(d));
        continue;
      }
      owner[p->name()] = name;
      result.projections.push_back(std::move(p));
    }
  }
  if (!result.ok()) result.projections.clear();
  return result;
}

CompiledFile CompileDirectory(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".proj") names.push_back(entry.path().string());
  }
  if (ec) {
    CompiledFile r;
    Diagnostic d;
    d.file = dir;
    d.message = "cannot read projections folder: " + ec.message();
    r.diagnostics.push_back(d);
    return r;
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::ifstream in(n, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      CompiledFile r;
      Diagnostic d;
      d.file = n;
      d.message = "cannot read file";
      r.diagnostics.push_back(d);
      return r;
    }
    files.emplace_back(n, ss.str());
  }
  return CompileFiles(files);
}

std::unique_ptr<Query> CompileQuery(
    std::string_view text,
    const std::function<std::shared_ptr<const Projection>(const std::string&)>& find_view,
    Diagnostic* diag) {
  Compiler compiler("query", text);
  ast::Query q;
  dsl::ParseError error;
  if (!dsl::ParseQuery(text, &q, &error)) {
    compiler.Error(error.offset, error.message);
    *diag = compiler.diagnostics()[0];
    return nullptr;
  }
  auto query = compiler.CompileQueryAst(q, find_view);
  if (!query) {
    // The first error in the text (clauses are compiled in an order of their own).
    auto& d = compiler.diagnostics();
    std::stable_sort(d.begin(), d.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    *diag = d[0];
  }
  return query;
}

}  // namespace projd
