// Checks a projection's statements and clauses and builds its plan (Projection, Handler,
// StmtNode): CompileProjection.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dsl/compiler_internal.h"
#include "dsl/limits.h"

namespace projd {
namespace {

using compiler_internal::ClosestName;
using compiler_internal::HashHex;
using compiler_internal::Normalize;
using compiler_internal::Place;
using compiler_internal::SourceOffset;
using compiler_internal::Type;
using compiler_internal::TypeName;

}  // namespace

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
// event itself, which then has to be parsed whole, or the message's headers.
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
    if (n.op == ExprNode::Op::kMeta && n.meta == MetaField::kHeaders) proj->reads_headers_ = true;
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
  int last_line, col;
  lines_.Locate(end == 0 ? 0 : end - 1, &last_line, &col);
  // Keep the whole file's lines so trace line numbers match the file.
  for (int i = 1; i <= last_line && i <= lines_.Lines(); ++i) {
    proj->source_lines_.push_back(lines_.Line(i));
  }
}

// from "topic", ...
void Compiler::CompileFrom(const ast::Clause& c, Projection* proj) {
  std::set<std::string> topics;
  for (const auto& t : c.names) {
    // Kafka's rule for topic names: 1 to 249 of [A-Za-z0-9._-], not "." or "..".
    const bool legal =
        t.size() <= 249 && t != "." && t != ".." && std::all_of(t.begin(), t.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        });
    if (t.empty()) {
      Error(c.offset, "topic name must not be empty");
    } else if (!legal) {
      Error(c.offset, "topic \"" + t.substr(0, 64) +
                          "\" is not a Kafka topic name (1 to 249 of letters, digits, '.', '_' "
                          "and '-'; not \".\" or \"..\")");
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

namespace {

std::string LongIndexedName(const std::string& field) {
  return "indexed field name longer than " + std::to_string(kMaxNameBytes) + " bytes ('" +
         field.substr(0, 32) + "...')";
}

}  // namespace

// index field, ...
void Compiler::CompileIndex(const ast::Clause& c, Projection* proj) {
  std::set<std::string> idx;
  for (const auto& f : c.names) {
    if (!idx.insert(f).second) Error(c.offset, "field '" + f + "' is indexed twice");
    if (f.size() > kMaxNameBytes) Error(c.offset, LongIndexedName(f));
    proj->indexes_.push_back(f);
  }
}

// index text FIELD [language "simple"|"english"].
void Compiler::CompileTextIndex(const ast::Clause& c, Projection* proj) {
  const std::string& field = c.names[0];
  if (field.size() > kMaxNameBytes) Error(c.offset, LongIndexedName(field));
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
  if (p.name.size() > kMaxNameBytes) {
    Error(p.offset, "projection name longer than " + std::to_string(kMaxNameBytes) +
                        " bytes (it names the view's folder)");
  }
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
  if (!proj->text_indexes_.empty()) {
    // What a text index holds depends on the analyzer too: a projd whose analyzer makes other
    // terms rebuilds the view, as for a changed definition.
    proj->definition_hash_ = HashHex(Normalize(proj->definition_) + "\ntext analyzer " +
                                     std::to_string(kTextAnalyzerVersion));
  }
  return proj;
}

}  // namespace projd
