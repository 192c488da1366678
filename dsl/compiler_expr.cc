// Checks expressions and builds their plan (ExprNode): names and event paths, meta, operators,
// the language's functions (kFunctions) and the types they take and give.
#include <atomic>
#include <string>
#include <vector>

#include "dsl/compiler_internal.h"
#include "dsl/query.h"

namespace projd {
namespace {

std::atomic<MatchesPatternCheck> g_matches_pattern_check{nullptr};

using compiler_internal::AggregateNamed;
using compiler_internal::ClosestName;
using compiler_internal::IsQueryPlace;
using compiler_internal::Place;
using compiler_internal::PlaceName;
using compiler_internal::SourceOffset;
using compiler_internal::Type;
using compiler_internal::TypeName;

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

}  // namespace

void SetMatchesPatternCheck(MatchesPatternCheck check) { g_matches_pattern_check.store(check); }

namespace compiler_internal {

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

size_t SourceOffset(const ast::Operand& e) { return boost::apply_visitor(OffsetVisitor(), e); }

}  // namespace compiler_internal

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
  CheckCallArgs(c, f->name, f->func, types, *out);
  return f->result;
}

namespace {

// "a number", "an array".
std::string WithArticle(Type t) {
  std::string name = TypeName(t);
  return (name[0] == 'a' || name[0] == 'o' ? "an " : "a ") + name;
}

// min() and max() with two or more arguments: numbers or strings, not both.
void CheckMinMaxArgs(Compiler* self, const ast::Call& c, const char* name,
                     const std::vector<Type>& types) {
  Type seen = Type::kUnknown;
  for (size_t i = 0; i < types.size(); ++i) {
    Type t = types[i];
    if (t == Type::kUnknown || t == Type::kNull) continue;
    if (t != Type::kNumber && t != Type::kString) {
      self->Error(SourceOffset(c.args[i]),
                  std::string(name) + "() expects numbers or strings, not " + WithArticle(t) +
                      " as argument " + std::to_string(i + 1));
      return;
    }
    if (seen != Type::kUnknown && t != seen) {
      self->Error(SourceOffset(c.args[i]), std::string(name) + "() cannot compare a " +
                                               TypeName(seen) + " with a " + TypeName(t));
      return;
    }
    seen = t;
  }
}

}  // namespace

// The arguments of a call to `name` whose types (`types`) or literal values are known now and
// can never work: load-time errors, each at its argument.
void Compiler::CheckCallArgs(const ast::Call& c, const char* name, ExprNode::Func func,
                             const std::vector<Type>& types, const ExprNode& call) {
  const size_t n = types.size();
  auto want = [&](size_t i, Type t) {
    if (types[i] != Type::kUnknown && types[i] != Type::kNull && types[i] != t) {
      Error(SourceOffset(c.args[i]), std::string(name) + "() expects a " + TypeName(t) +
                                         " as argument " + std::to_string(i + 1) + ", not a " +
                                         TypeName(types[i]));
    }
  };
  // Argument i, when it is a literal.
  auto literal = [&](size_t i) -> const Value* {
    return call.args[i].op == ExprNode::Op::kConst ? &call.args[i].constant : nullptr;
  };
  // A literal argument i that is a number and not a whole number from 0 to `most`.
  auto want_whole = [&](size_t i, int64_t most, const char* what) {
    const Value* v = literal(i);
    int64_t x = 0;
    if (v && v->is_number() &&
        (!v->as_number().IsInteger() || v->as_number() < Decimal() ||
         (v->as_number().ToInt64(&x) && x > most))) {
      Error(SourceOffset(c.args[i]), std::string(name) + "() " + what);
    }
  };
  switch (func) {
    case ExprNode::Func::kAbs:
      want(0, Type::kNumber);
      break;
    case ExprNode::Func::kRound:
      want(0, Type::kNumber);
      if (n == 2) {
        want(1, Type::kNumber);
        want_whole(1, 18, "places must be a whole number from 0 to 18");
      }
      break;
    case ExprNode::Func::kLower:
    case ExprNode::Func::kUpper:
      want(0, Type::kString);
      break;
    case ExprNode::Func::kSubstr:
      want(0, Type::kString);
      want(1, Type::kNumber);
      want_whole(1, INT64_MAX, "start must be a whole number >= 0");
      if (n == 3) {
        want(2, Type::kNumber);
        want_whole(2, INT64_MAX, "length must be a whole number >= 0");
      }
      break;
    case ExprNode::Func::kStartsWith:
      want(0, Type::kString);
      want(1, Type::kString);
      break;
    case ExprNode::Func::kContains:
      // A string in a string, or anything in an array.
      if (types[0] != Type::kUnknown && types[0] != Type::kNull && types[0] != Type::kString &&
          types[0] != Type::kArray) {
        Error(SourceOffset(c.args[0]), std::string(name) +
                                           "() expects a string or an array as argument 1, not " +
                                           WithArticle(types[0]));
      } else if (types[0] == Type::kString) {
        want(1, Type::kString);
      }
      break;
    case ExprNode::Func::kLen:
      if (types[0] == Type::kNumber || types[0] == Type::kBool) {
        Error(SourceOffset(c.args[0]), std::string(name) +
                                           "() expects a string, array or object as argument "
                                           "1, not " +
                                           WithArticle(types[0]));
      }
      break;
    case ExprNode::Func::kMin:
    case ExprNode::Func::kMax:
      CheckMinMaxArgs(this, c, name, types);
      break;
    case ExprNode::Func::kDate:
    case ExprNode::Func::kMonth:
    case ExprNode::Func::kHour: {
      int64_t ms = 0;
      if (types[0] != Type::kUnknown && types[0] != Type::kNull && types[0] != Type::kString &&
          types[0] != Type::kNumber) {
        Error(SourceOffset(c.args[0]), std::string(name) +
                                           "() expects an RFC 3339 time or epoch millis, not " +
                                           WithArticle(types[0]));
      } else if (const Value* v = literal(0); v && !v->is_null() && !TimeFromValue(*v, &ms)) {
        Error(SourceOffset(c.args[0]),
              std::string(name) + "(): " + ToJson(*v) + " is not an RFC 3339 time or epoch millis");
      }
      break;
    }
    case ExprNode::Func::kNumber: {
      const Value* v = literal(0);
      if (types[0] == Type::kBool || types[0] == Type::kArray || types[0] == Type::kObject) {
        Error(SourceOffset(c.args[0]),
              "number() cannot convert " + WithArticle(types[0]) + " to a number");
      } else if (v && v->is_string()) {
        Decimal d;
        if (!NumberFromText(v->as_string(), &d)) {
          Error(SourceOffset(c.args[0]), "number() cannot convert " + ToJson(*v) + " to a number");
        }
      }
      break;
    }
    default:
      break;
  }
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
    } else if (lhs.op == ExprNode::Op::kConst && rhs.op == ExprNode::Op::kConst &&
               lhs.constant.is_number() && rhs.constant.is_number()) {
      // Two literals: a result out of range is known now.
      const Decimal a = lhs.constant.as_number(), b = rhs.constant.as_number();
      Decimal r;
      const bool ok = op == "+"   ? Decimal::Add(a, b, &r)
                      : op == "-" ? Decimal::Sub(a, b, &r)
                      : op == "*" ? Decimal::Mul(a, b, &r)
                      : op == "/" ? Decimal::Div(a, b, &r)
                                  : Decimal::Mod(a, b, &r);
      if (!ok) Error(offset, "number overflow in '" + op + "' (|n| must stay below 10^20)");
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
  if (scope.query->has_as_of) {
    Error(offset,
          "matches cannot be used with as of (the text index holds the rows as they are now)");
    return;
  }
  std::string why;
  if (MatchesPatternCheck check = g_matches_pattern_check.load();
      check != nullptr && !check(rhs.constant.as_string(), index->language, &why)) {
    // The query fails; the condition still counts as one for score(), whose error would
    // otherwise hide this one.
    ErrorAt(rhs, why);
  }
  node->slot = static_cast<int>(scope.query->text_matches.size());
  scope.query->text_matches.push_back({lhs.name, rhs.constant.as_string(), index->language});
  node->args.push_back(lhs);
  node->args.push_back(rhs);
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

}  // namespace projd
