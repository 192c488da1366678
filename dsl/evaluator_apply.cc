// A projection's handling of one event: Prepare (where, type, key, identity, time, audit) and
// Apply (the handler's statements on the row, undone on an error).
#include <string>
#include <vector>

#include "dsl/evaluator_internal.h"
#include "dsl/limits.h"
#include "dsl/program.h"

namespace projd {
namespace {

using evaluator_internal::AKind;
using evaluator_internal::FitsIn;
using evaluator_internal::Kind;
using evaluator_internal::kNull;
using evaluator_internal::Resolve;
using evaluator_internal::TooLong;
using evaluator_internal::Truth;
using evaluator_internal::Where;

}  // namespace

const Handler* Projection::FindHandler(const Value& type) const {
  // The type as text: strings as they are (the usual case, without a copy), other scalars in
  // their key form.
  std::string converted;
  std::string_view name;
  bool has_name = true;
  if (type.is_string()) {
    name = type.as_string();
  } else if ((has_name = KeyPartString(type, &converted))) {
    name = converted;
  }
  if (has_name) {
    for (const auto& [t, h] : handler_by_type_) {
      if (t.size() == name.size() && SameBytes(t.data(), name.data(), t.size())) return h;
    }
  }
  return catch_all_;
}

bool Projection::Prepare(const EventInput& event, const EventMeta& meta, PreparedEvent* out,
                         std::string* error) const {
  out->handler = nullptr;
  out->has_key = false;
  if (event.whole && !event.whole->is_object()) {
    *error = std::string("event is not a JSON object (it is ") + Kind(*event.whole) + ")";
    return false;
  }
  EvalContext ctx;
  ctx.event = event.whole;
  ctx.event_slots = event.slots;
  ctx.meta = &meta;
  Value scratch;
  const Value* v;
  if (has_where_) {
    if (!Resolve(where_, &ctx, &scratch, &v)) {
      *error = ctx.error;
      return false;
    }
    bool pass;
    if (!Truth(*v, &pass)) {
      *error = Where(where_) + "the where clause gave " + Kind(*v) + ", not a boolean";
      return false;
    }
    if (!pass) return true;
  }
  // The event type picks the handler.
  const Value* type_value;
  if (has_type_) {
    if (!Resolve(type_, &ctx, &scratch, &type_value)) {
      *error = ctx.error;
      return false;
    }
  } else if (event.slots) {
    type_value = &event.slots[type_slot_];
  } else {
    type_value = event.whole->as_object().Find("type");
    if (!type_value) type_value = &kNull;
  }
  const Handler* handler = FindHandler(*type_value);
  if (!handler) return true;
  // Key.
  if (key_parts_.size() == 1) {
    Value s;
    const Value* kv;
    if (!Resolve(key_parts_[0], &ctx, &s, &kv)) {
      *error = ctx.error;
      return false;
    }
    if (!KeyPartString(*kv, &out->key)) {
      *error = Where(key_parts_[0]) +
               (kv->is_null() ? "the key is null or missing" : "the key is " + AKind(*kv));
      return false;
    }
  } else {
    std::vector<std::string> parts(key_parts_.size());
    for (size_t i = 0; i < key_parts_.size(); ++i) {
      Value s;
      const Value* kv;
      if (!Resolve(key_parts_[i], &ctx, &s, &kv)) {
        *error = ctx.error;
        return false;
      }
      if (!KeyPartString(*kv, &parts[i])) {
        *error = Where(key_parts_[i]) +
                 (kv->is_null() ? "the key is null or missing" : "the key is " + AKind(*kv));
        return false;
      }
    }
    out->key = JoinKeyParts(parts);
  }
  if (out->key.empty() || out->key.size() > kMaxKeyBytes) {
    *error = Where(key_parts_[0]) +
             (out->key.empty() ? std::string("the key is empty")
                               : "the key is " + std::to_string(out->key.size()) + " bytes long") +
             " (a view key has 1 to " + std::to_string(kMaxKeyBytes) + " bytes)";
    return false;
  }
  out->has_key = true;
  // Identity.
  out->has_id = false;
  if (has_id_) {
    Value s;
    const Value* iv;
    if (!Resolve(id_, &ctx, &s, &iv)) {
      *error = ctx.error;
      return false;
    }
    if (KeyPartString(*iv, &out->id)) {
      out->has_id = true;
    } else if (dedupe_) {
      *error = Where(id_) + "the event id is " + (iv->is_null() ? "missing" : Kind(*iv)) +
               " (dedupe needs it)";
      return false;
    }
  }
  // Event time.
  out->event_time_ms = meta.timestamp_ms;
  if (has_time_) {
    Value s;
    const Value* tv;
    if (!Resolve(time_, &ctx, &s, &tv)) {
      *error = ctx.error;
      return false;
    }
    if (!TimeFromValue(*tv, &out->event_time_ms)) {
      std::string shown = tv->is_string() ? "\"" + tv->as_string() + "\"" : ToJson(*tv);
      *error = Where(time_) + "event time " + shown + " is not an RFC 3339 time or epoch millis";
      return false;
    }
  }
  if (!audit_.empty() || has_correlation_) {
    if (!PrepareAudit(&ctx, out, error)) return false;
  }
  out->handler = handler;
  return true;
}

bool Projection::PrepareAudit(EvalContext* ctx, PreparedEvent* out, std::string* error) const {
  std::vector<Object::Member> members;
  members.reserve(audit_.size());
  for (const auto& [name, expr] : audit_) {
    Value v;
    if (!Evaluate(expr, ctx, &v)) {
      *error = ctx->error;
      return false;
    }
    members.emplace_back(name, std::move(v));
  }
  out->audit = Object::FromMembers(std::move(members));
  out->has_correlation = false;
  if (has_correlation_) {
    Value s;
    const Value* cv;
    if (!Resolve(correlation_, ctx, &s, &cv)) {
      *error = ctx->error;
      return false;
    }
    out->has_correlation = KeyPartString(*cv, &out->correlation);
    if (!out->has_correlation && !cv->is_null()) {
      *error = Where(correlation_) + "the correlation is " + AKind(*cv) +
               " (a string or a number, or null for none)";
      return false;
    }
  }
  return true;
}

namespace {

struct Runner {
  const Projection* projection;
  EvalContext* ctx;
  RowState* row;
  std::vector<Value>* locals;
  bool deleted = false;
  std::vector<TraceStep>* trace;
  const std::vector<std::string>* source_lines;
  // What each changed field held before the event, to restore on an event error (events
  // apply atomically without copying the row up front).
  // Fields are named by the statement's own string (it outlives the run), so a field saved
  // twice is found by address.
  struct Undo {
    const std::string* field;
    bool existed;
    Value old;
  };
  std::vector<Undo>& undo;  // empty at the start; reused between events (no allocation)
  bool whole_row_saved = false;
  Object saved_row;

  bool Saved(const std::string& field) const {
    if (whole_row_saved) return true;
    for (const auto& u : undo) {
      if (u.field == &field || *u.field == field) return true;
    }
    return false;
  }
  void Save(const std::string& field) {
    if (Saved(field)) return;
    const Value* cur = row->fields.Find(field);
    undo.push_back({&field, cur != nullptr, cur ? *cur : Value()});
  }
  // Sets a field; the old value moves into the undo log instead of being copied.
  void Assign(const std::string& field, Value v) {
    AssignAt(field, row->fields.Find(field), std::move(v));
  }
  // The same, when the field's current value `cur` (null: absent) was already looked up.
  void AssignAt(const std::string& field, Value* cur, Value v) {
    if (!cur) {
      if (!Saved(field)) undo.push_back({&field, false, Value()});
      row->fields.Set(field, std::move(v));
      return;
    }
    if (!Saved(field)) {
      undo.push_back({&field, true, std::move(*cur)});
    }
    *cur = std::move(v);
  }
  void SaveAll() {
    if (whole_row_saved) return;
    // Restore the fields changed so far first, so the saved row is the row before the event.
    Rollback();
    saved_row = row->fields;
    whole_row_saved = true;
  }
  void Rollback() {
    if (whole_row_saved) {
      row->fields = std::move(saved_row);
      whole_row_saved = false;
      undo.clear();
      return;
    }
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      if (it->existed) {
        row->fields.Set(*it->field, std::move(it->old));
      } else {
        row->fields.Erase(*it->field);
      }
    }
    undo.clear();
  }

  void Trace(const StmtNode& s, const std::string& result) {
    if (!trace) return;
    TraceStep step;
    step.line = s.line;
    std::string text;
    if (s.line >= 1 && static_cast<size_t>(s.line) <= source_lines->size()) {
      text = (*source_lines)[static_cast<size_t>(s.line) - 1];
      size_t b = text.find_first_not_of(" \t");
      text = b == std::string::npos ? "" : text.substr(b);
    }
    step.text = text + (result.empty() ? "" : "  ->  " + result);
    trace->push_back(std::move(step));
  }

  bool Run(const std::vector<StmtNode>& body) {
    for (const auto& s : body) {
      if (!RunOne(s)) return false;
    }
    return true;
  }

  bool RunOne(const StmtNode& s) {
    using K = StmtNode::Kind;
    switch (s.kind) {
      case K::kSet: {
        Value v;
        if (!Evaluate(s.expr, ctx, &v)) return false;
        if (trace) Trace(s, s.field + " = " + ToJson(v));
        Assign(s.field, std::move(v));
        deleted = false;
        return true;
      }
      case K::kAdd:
      case K::kSub: {
        Value scratch;
        const Value* rhs;
        if (!Resolve(s.expr, ctx, &scratch, &rhs)) return false;
        Value* cur = row->fields.Find(s.field);
        const char* op = s.kind == K::kAdd ? "+=" : "-=";
        if (!rhs->is_number()) {
          ctx->error = "line " + std::to_string(s.line) + ":" + std::to_string(s.column) + ": '" +
                       op + "' needs a number, got " + Kind(*rhs);
          return false;
        }
        Decimal base;
        if (cur && !cur->is_null()) {
          if (!cur->is_number()) {
            ctx->error = "line " + std::to_string(s.line) + ":" + std::to_string(s.column) +
                         ": field " + s.field + " is " + AKind(*cur) + ", '" + op +
                         "' needs a number";
            return false;
          }
          base = cur->as_number();
        }
        Decimal r;
        bool ok = s.kind == K::kAdd ? Decimal::Add(base, rhs->as_number(), &r)
                                    : Decimal::Sub(base, rhs->as_number(), &r);
        if (!ok) {
          ctx->error = "line " + std::to_string(s.line) + ":" + std::to_string(s.column) +
                       ": number overflow in '" + op + "' on " + s.field +
                       " (|n| must stay below 10^20)";
          return false;
        }
        if (trace) Trace(s, s.field + " = " + r.ToString());
        AssignAt(s.field, cur, Value::Number(r));
        deleted = false;
        return true;
      }
      case K::kUnset:
        Save(s.field);
        row->fields.Erase(s.field);
        if (trace) Trace(s, "");
        return true;
      case K::kDelete:
        SaveAll();
        row->fields = Object();
        deleted = true;
        if (trace) Trace(s, "row deleted");
        return true;
      case K::kLet: {
        Value v;
        if (!Evaluate(s.expr, ctx, &v)) return false;
        if (trace) Trace(s, s.field + " = " + ToJson(v));
        (*locals)[static_cast<size_t>(s.slot)] = std::move(v);
        return true;
      }
      case K::kPush: {
        Value v;
        if (!Evaluate(s.expr, ctx, &v)) return false;
        // The list it joins is one level up.
        if (size_t budget = kMaxValueBytes; !FitsIn(v, &budget, 1)) {
          ctx->error = "line " + std::to_string(s.line) + ":" + std::to_string(s.column) + ": " +
                       TooLong() + " (push)";
          return false;
        }
        Value* cur = row->fields.Find(s.field);
        if (cur && !cur->is_null() && !cur->is_array()) {
          ctx->error = "line " + std::to_string(s.line) + ":" + std::to_string(s.column) +
                       ": field " + s.field + " is " + AKind(*cur) + ", push needs a list";
          return false;
        }
        Save(s.field);
        cur = row->fields.Find(s.field);
        if (!cur || cur->is_null()) cur = &row->fields.Set(s.field, Value::MakeArray(Array()));
        Array& arr = cur->as_array();
        arr.push_back(std::move(v));
        if (arr.size() > static_cast<size_t>(s.limit)) {
          arr.erase(arr.begin(), arr.begin() + static_cast<std::ptrdiff_t>(arr.size() - s.limit));
        }
        if (trace) Trace(s, s.field + " = " + ToJson(*cur));
        deleted = false;
        return true;
      }
      case K::kIf: {
        for (const auto& b : s.branches) {
          bool take = true;
          if (b.has_condition) {
            Value scratch;
            const Value* c;
            if (!Resolve(b.condition, ctx, &scratch, &c)) return false;
            if (!Truth(*c, &take)) {
              ctx->error =
                  Where(b.condition) + "the condition of 'if' gave " + Kind(*c) + ", not a boolean";
              return false;
            }
          }
          if (take) return Run(b.body);
        }
        return true;
      }
    }
    return true;
  }
};

}  // namespace

bool Projection::Apply(const PreparedEvent& prepared, const EventInput& event,
                       const EventMeta& meta, RowState* row, std::string* error,
                       std::vector<TraceStep>* trace) const {
  std::vector<Value> locals(static_cast<size_t>(prepared.handler->locals));
  EvalContext ctx;
  ctx.event = event.whole;
  ctx.event_slots = event.slots;
  ctx.meta = &meta;
  ctx.key = prepared.key;
  ctx.row = &row->fields;
  ctx.locals = &locals;
  thread_local std::vector<Runner::Undo> undo;
  undo.clear();
  Runner runner{this, &ctx, row, &locals, false, trace, &source_lines_, undo, false, {}};
  if (!runner.Run(prepared.handler->body)) {
    runner.Rollback();
    undo.clear();
    *error = ctx.error;
    return false;
  }
  undo.clear();
  row->exists = !runner.deleted;
  if (runner.deleted) {
    // `delete` saved the whole row before clearing it.
    row->before_delete = runner.whole_row_saved ? std::move(runner.saved_row) : Object();
    row->fields = Object();
  }
  return true;
}

}  // namespace projd
