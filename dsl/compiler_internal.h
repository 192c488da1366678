// Internals of the compiler (compiler.h), shared by its files: compiler.cc (the front door,
// diagnostics, source text helpers), compiler_expr.cc (expressions and functions),
// compiler_projection.cc (a projection's statements and clauses) and compiler_query.cc (the
// query language). Only those files include this header.
#ifndef PROJD_DSL_COMPILER_INTERNAL_H_
#define PROJD_DSL_COMPILER_INTERNAL_H_

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/ast.h"
#include "dsl/compiler.h"
#include "dsl/program.h"
#include "dsl/query.h"

namespace projd {
namespace compiler_internal {

// Maps byte offsets to 1-based lines and columns.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) : text_(text) {
    starts_.push_back(0);
    // A line ends at LF, CR LF or a lone CR (old Mac files): comments end there too.
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) {
        starts_.push_back(i + 1);
      }
    }
  }
  int Lines() const { return static_cast<int>(starts_.size()); }
  void Locate(size_t offset, int* line, int* column) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    size_t idx = static_cast<size_t>(it - starts_.begin()) - 1;
    *line = static_cast<int>(idx) + 1;
    // Columns count characters, not bytes: skip UTF-8 continuation bytes. Nodes are located
    // mostly in source order: counting goes on from the last offset located on the same line
    // (a line of 100,000 list items would otherwise cost a scan of the line per item).
    size_t from = starts_[idx];
    int col = 1;
    if (last_line_ == idx && last_offset_ <= offset) {
      from = last_offset_;
      col = last_column_;
    }
    for (size_t i = from; i < offset && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
    }
    last_line_ = idx;
    last_offset_ = offset;
    last_column_ = col;
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
  // The last offset located, its line index and column (Locate's memo).
  mutable size_t last_line_ = static_cast<size_t>(-1), last_offset_ = 0;
  mutable int last_column_ = 1;
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

inline const char* TypeName(Type t) {
  return t == Type::kUnknown ? "unknown" : Value::TypeName(ValueType(t));
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

// Whether a call is an aggregate of the query language (compiler_query.cc).
Aggregate AggregateNamed(const std::string& name, size_t n);

inline bool IsQueryPlace(Place p) {
  return p == Place::kQuery || p == Place::kQuerySelect || p == Place::kQueryHaving ||
         p == Place::kQueryAggregate;
}

// "a key clause", "a handler", "a query": where an expression is, for messages.
const char* PlaceName(Place p);

// The byte offset of an expression in the source text.
size_t SourceOffset(const ast::Operand& e);

// Removes comments and collapses whitespace outside strings: the normalized definition.
std::string Normalize(std::string_view text);

// The candidate that `name` is most likely a typo of, or "" when none is close. Close means at
// most one edit per three characters of `name` (at least one, at most two), and fewer edits
// than `name` has characters, so that a short name is not "corrected" into an unrelated one.
// On a tie the earlier candidate wins.
std::string ClosestName(const std::string& name, const std::vector<std::string>& candidates);

// The 64-bit FNV-1a hash of s as 16 hex digits: a projection's definition hash.
std::string HashHex(std::string_view s);

}  // namespace compiler_internal

// Checks the syntax tree and builds the plans (a friend of Projection, program.h). Its parts are
// defined in compiler_expr.cc, compiler_projection.cc and compiler_query.cc.
class Compiler {
 public:
  using LineIndex = compiler_internal::LineIndex;
  using Place = compiler_internal::Place;
  using Type = compiler_internal::Type;

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
  void CheckCallArgs(const ast::Call& c, const char* name, ExprNode::Func func,
                     const std::vector<Type>& types, const ExprNode& call);
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
  std::string CursorTag(const ast::Query& q) const;
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
      Error(offset,
            std::string(what) + " must be a boolean, not a " + compiler_internal::TypeName(t));
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

}  // namespace projd

#endif  // PROJD_DSL_COMPILER_INTERNAL_H_
