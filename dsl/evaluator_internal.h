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

// Resolves expressions that name existing values (event paths, row fields, lets) without
// copying them; anything else is evaluated into *scratch.
bool Resolve(const ExprNode& n, EvalContext* ctx, Value* scratch, const Value** out);

// Orders two numbers or two strings into *cmp (-1, 0, 1); anything else is an error.
bool Compare(const ExprNode& n, EvalContext* ctx, const Value& a, const Value& b, int* cmp);

// Appends a string, number or boolean as text (concat(), string(), keys); false for other types.
bool ToStringForConcat(const Value& v, std::string* out);

// Calls the built-in function of n (ExprNode::Op::kCall), in dsl/evaluator_functions.cc.
bool CallFunction(const ExprNode& n, EvalContext* ctx, Value* out);

}  // namespace evaluator_internal
}  // namespace projd

#endif  // PROJD_DSL_EVALUATOR_INTERNAL_H_
