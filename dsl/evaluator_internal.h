// Internals shared by the evaluation of expressions (dsl/evaluator.cc), the built-in functions
// (dsl/evaluator_functions.cc) and a projection's handling of events (dsl/evaluator_apply.cc).
// Only those files include this header.
#ifndef PROJD_DSL_EVALUATOR_INTERNAL_H_
#define PROJD_DSL_EVALUATOR_INTERNAL_H_

#include <string>

#include "dsl/program.h"

namespace projd {
namespace evaluator_internal {

inline std::string Where(const ExprNode& n) {
  return "line " + std::to_string(n.line) + ":" + std::to_string(n.column) + ": ";
}

inline bool Fail(EvalContext* ctx, const ExprNode& n, const std::string& message) {
  ctx->error = Where(n) + message;
  return false;
}

inline const char* Kind(const Value& v) { return Value::TypeName(v.type()); }
// "a number", "an array": the type with its article, for messages.
inline std::string AKind(const Value& v) {
  std::string k = Kind(v);
  return (k == "array" || k == "object" ? "an " : "a ") + k;
}

// The event error of a string or value past kMaxValueBytes.
std::string TooLong();
// Whether `v` holds at most `budget` bytes of strings (each element and member counting 8
// more) and nests at most kMaxValueDepth - depth levels, without walking past either.
bool FitsIn(const Value& v, size_t* budget, int depth = 0);

// Truthiness in conditions: true is true, false and null are false, anything else is an error.
inline bool Truth(const Value& v, bool* out) {
  if (v.is_bool()) {
    *out = v.as_bool();
    return true;
  }
  if (v.is_null()) {
    *out = false;
    return true;
  }
  return false;
}

extern const Value kNull;

// meta.headers["name"]: the header's value (the last of a repeated name, base64 when it is
// not UTF-8) into *scratch, or null — without building meta.headers whole.
bool ResolveHeader(const std::string& name, EvalContext* ctx, Value* scratch, const Value** out);

// Resolves expressions that name existing values (event paths, row fields, lets) without
// copying them; anything else is evaluated into *scratch. Inline here: it runs several times
// per event from each of the evaluator's files.
inline bool Resolve(const ExprNode& n, EvalContext* ctx, Value* scratch, const Value** out) {
  switch (n.op) {
    case ExprNode::Op::kEvent:
      *out = ctx->event ? ctx->event : &kNull;
      return true;
    case ExprNode::Op::kField: {
      const Value* v = ctx->row ? ctx->row->Find(n.name) : nullptr;
      *out = v ? v : &kNull;
      return true;
    }
    case ExprNode::Op::kLocal:
      *out = &(*ctx->locals)[static_cast<size_t>(n.slot)];
      return true;
    case ExprNode::Op::kConst:
      *out = &n.constant;
      return true;
    case ExprNode::Op::kAccess: {
      if (n.event_slot >= 0 && ctx->event_slots) {
        *out = &ctx->event_slots[n.event_slot];
        return true;
      }
      if (n.args[0].op == ExprNode::Op::kMeta && n.args[0].meta == MetaField::kHeaders &&
          !n.name.empty()) {
        return ResolveHeader(n.name, ctx, scratch, out);
      }
      const Value* base;
      if (!Resolve(n.args[0], ctx, scratch, &base)) return false;
      const Value* v = nullptr;
      if (n.name.empty()) {
        if (base->is_array() && static_cast<size_t>(n.slot) < base->as_array().size()) {
          v = &base->as_array()[static_cast<size_t>(n.slot)];
        }
      } else if (base->is_object()) {
        v = base->as_object().Find(n.name);
      }
      if (!v) {
        *out = &kNull;
      } else if (base == scratch) {
        Value tmp = *v;  // v points into scratch: move it out before overwriting
        *scratch = std::move(tmp);
        *out = scratch;
      } else {
        *out = v;
      }
      return true;
    }
    default:
      if (!Evaluate(n, ctx, scratch)) return false;
      *out = scratch;
      return true;
  }
}

// Orders two numbers or two strings into *cmp (-1, 0, 1); anything else is an error.
inline bool Compare(const ExprNode& n, EvalContext* ctx, const Value& a, const Value& b, int* cmp) {
  if (a.is_number() && b.is_number()) {
    *cmp = a.as_number().Compare(b.as_number());
    return true;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    *cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
    return true;
  }
  return Fail(ctx, n, std::string("cannot compare ") + Kind(a) + " with " + Kind(b));
}

// Appends a string, number or boolean as text (concat(), string(), keys); false for other types.
bool ToStringForConcat(const Value& v, std::string* out);

// Calls the built-in function of n (ExprNode::Op::kCall), in dsl/evaluator_functions.cc.
bool CallFunction(const ExprNode& n, EvalContext* ctx, Value* out);

}  // namespace evaluator_internal
}  // namespace projd

#endif  // PROJD_DSL_EVALUATOR_INTERNAL_H_
