// Evaluation of compiled expressions, per event. The built-in functions are in
// evaluator_functions.cc, a projection's handling of an event in evaluator_apply.cc.
#include <algorithm>
#include <cstring>

#include "dsl/evaluator_internal.h"
#include "dsl/limits.h"
#include "dsl/program.h"
#include "dsl/time.h"

namespace projd {
namespace evaluator_internal {

const Value kNull;

bool ToStringForConcat(const Value& v, std::string* out) {
  if (v.is_string()) {
    *out += v.as_string();
  } else if (v.is_number()) {
    v.as_number().AppendTo(out);
  } else if (v.is_bool()) {
    *out += v.as_bool() ? "true" : "false";
  } else {
    return false;
  }
  return true;
}

std::string TooLong() {
  return "value longer than " + std::to_string(kMaxValueBytes) + " bytes, or nested deeper than " +
         std::to_string(kMaxValueDepth) + " levels (the most a string or pushed value may hold)";
}

bool FitsIn(const Value& v, size_t* budget, int depth) {
  if ((v.is_array() || v.is_object()) && depth >= kMaxValueDepth) return false;
  size_t need = 8;
  if (v.is_string()) need += v.as_string().size();
  if (need > *budget) return false;
  *budget -= need;
  if (v.is_array()) {
    for (const Value& e : v.as_array()) {
      if (!FitsIn(e, budget, depth + 1)) return false;
    }
  } else if (v.is_object()) {
    for (const auto& m : v.as_object().members()) {
      if (m.first.size() > *budget) return false;
      *budget -= m.first.size();
      if (!FitsIn(m.second, budget, depth + 1)) return false;
    }
  }
  return true;
}

}  // namespace evaluator_internal

namespace {

using evaluator_internal::CallFunction;
using evaluator_internal::Compare;
using evaluator_internal::Fail;
using evaluator_internal::Kind;
using evaluator_internal::Resolve;
using evaluator_internal::TooLong;
using evaluator_internal::ToStringForConcat;
using evaluator_internal::Truth;

// Whether s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// Standard base64 (RFC 4648) with padding.
std::string Base64(std::string_view s) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  for (size_t i = 0; i < s.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16;
    if (i + 1 < s.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
    if (i + 2 < s.size()) v |= static_cast<unsigned char>(s[i + 2]);
    out.push_back(kChars[(v >> 18) & 63]);
    out.push_back(kChars[(v >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kChars[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < s.size() ? kChars[v & 63] : '=');
  }
  return out;
}

bool Arith(const ExprNode& n, EvalContext* ctx, const Value& a, const Value& b, Value* out) {
  const char* sym = n.op == ExprNode::Op::kAdd   ? "+"
                    : n.op == ExprNode::Op::kSub ? "-"
                    : n.op == ExprNode::Op::kMul ? "*"
                    : n.op == ExprNode::Op::kDiv ? "/"
                                                 : "%";
  if (a.is_number() && b.is_number()) {
    Decimal r;
    bool ok = false;
    switch (n.op) {
      case ExprNode::Op::kAdd:
        ok = Decimal::Add(a.as_number(), b.as_number(), &r);
        break;
      case ExprNode::Op::kSub:
        ok = Decimal::Sub(a.as_number(), b.as_number(), &r);
        break;
      case ExprNode::Op::kMul:
        ok = Decimal::Mul(a.as_number(), b.as_number(), &r);
        break;
      case ExprNode::Op::kDiv:
        ok = Decimal::Div(a.as_number(), b.as_number(), &r);
        break;
      default:
        ok = Decimal::Mod(a.as_number(), b.as_number(), &r);
        break;
    }
    if (!ok) {
      if ((n.op == ExprNode::Op::kDiv || n.op == ExprNode::Op::kMod) && b.as_number().IsZero()) {
        return Fail(ctx, n, "division by zero");
      }
      return Fail(ctx, n,
                  std::string("number overflow in '") + sym + "' (|n| must stay below 10^20)");
    }
    *out = Value::Number(r);
    return true;
  }
  if (n.op == ExprNode::Op::kAdd && a.is_string() && b.is_string()) {
    if (a.as_string().size() + b.as_string().size() > kMaxValueBytes) {
      return Fail(ctx, n, TooLong());
    }
    std::string s;
    s.reserve(a.as_string().size() + b.as_string().size());
    s += a.as_string();
    s += b.as_string();
    *out = Value::String(std::move(s));
    return true;
  }
  return Fail(ctx, n, std::string("cannot apply '") + sym + "' to " + Kind(a) + " and " + Kind(b));
}

// meta.topic, meta.partition, meta.offset, meta.timestamp, meta.key and meta.headers; null
// outside an event.
inline bool EvalMeta(const ExprNode& n, EvalContext* ctx, Value* out) {
  if (!ctx->meta) {
    *out = Value();
    return true;
  }
  const EventMeta& m = *ctx->meta;
  switch (n.meta) {
    case MetaField::kTopic:
      *out = Value::String(std::string(m.topic));
      break;
    case MetaField::kPartition:
      *out = Value::Number(Decimal::FromInt(m.partition));
      break;
    case MetaField::kOffset:
      *out = Value::Number(Decimal::FromInt(m.offset));
      break;
    case MetaField::kTimestamp:
      *out = Value::Number(Decimal::FromInt(m.timestamp_ms));
      break;
    case MetaField::kKey:
      *out = m.has_key ? Value::String(std::string(m.key)) : Value();
      break;
    case MetaField::kHeaders: {
      // Name -> value; the last of a repeated name wins; bytes that are not UTF-8 read as
      // their base64 text; a header without a value reads as null.
      Object headers;
      for (size_t i = 0; i < m.header_count; ++i) {
        const MessageHeader& h = m.headers[i];
        if (h.is_null()) {
          headers.Set(std::string(h.name), Value());
          continue;
        }
        std::string value = IsUtf8(h.value) ? std::string(h.value) : Base64(h.value);
        headers.Set(std::string(h.name), Value::String(std::move(value)));
      }
      *out = Value::MakeObject(std::move(headers));
      break;
    }
  }
  return true;
}

// -a and not a.
inline bool EvalUnary(const ExprNode& n, EvalContext* ctx, Value* out) {
  Value s;
  const Value* v;
  if (!Resolve(n.args[0], ctx, &s, &v)) return false;
  if (n.op == ExprNode::Op::kNeg) {
    if (!v->is_number()) return Fail(ctx, n, std::string("cannot negate ") + Kind(*v));
    *out = Value::Number(v->as_number().Negated());
    return true;
  }
  bool b;
  if (!Truth(*v, &b)) return Fail(ctx, n, std::string("'not' needs a boolean, not ") + Kind(*v));
  *out = Value::Bool(!b);
  return true;
}

// a and b, a or b: the right side only when the left one does not decide.
inline bool EvalAndOr(const ExprNode& n, EvalContext* ctx, Value* out) {
  using Op = ExprNode::Op;
  Value s;
  const Value* v;
  if (!Resolve(n.args[0], ctx, &s, &v)) return false;
  bool b;
  const char* name = n.op == Op::kAnd ? "'and'" : "'or'";
  if (!Truth(*v, &b)) return Fail(ctx, n, std::string(name) + " needs booleans, not " + Kind(*v));
  if (b == (n.op == Op::kOr)) {
    *out = Value::Bool(b);
    return true;
  }
  if (!Resolve(n.args[1], ctx, &s, &v)) return false;
  if (!Truth(*v, &b)) return Fail(ctx, n, std::string(name) + " needs booleans, not " + Kind(*v));
  *out = Value::Bool(b);
  return true;
}

// a + b, a - b, a * b, a / b, a % b.
inline bool EvalArith(const ExprNode& n, EvalContext* ctx, Value* out) {
  Value sa, sb;
  const Value *a, *b;
  if (!Resolve(n.args[0], ctx, &sa, &a) || !Resolve(n.args[1], ctx, &sb, &b)) return false;
  return Arith(n, ctx, *a, *b, out);
}

// a == b and a != b.
inline bool EvalEquality(const ExprNode& n, EvalContext* ctx, Value* out) {
  Value sa, sb;
  const Value *a, *b;
  if (!Resolve(n.args[0], ctx, &sa, &a) || !Resolve(n.args[1], ctx, &sb, &b)) return false;
  bool eq = *a == *b;
  *out = Value::Bool(n.op == ExprNode::Op::kEq ? eq : !eq);
  return true;
}

// a < b, a <= b, a > b, a >= b: false when either side is null.
inline bool EvalOrdering(const ExprNode& n, EvalContext* ctx, Value* out) {
  using Op = ExprNode::Op;
  Value sa, sb;
  const Value *a, *b;
  if (!Resolve(n.args[0], ctx, &sa, &a) || !Resolve(n.args[1], ctx, &sb, &b)) return false;
  if (a->is_null() || b->is_null()) {
    *out = Value::Bool(false);
    return true;
  }
  int c;
  if (!Compare(n, ctx, *a, *b, &c)) return false;
  bool r = n.op == Op::kLt ? c < 0 : n.op == Op::kLe ? c <= 0 : n.op == Op::kGt ? c > 0 : c >= 0;
  *out = Value::Bool(r);
  return true;
}

// a in (b, c, ...).
inline bool EvalIn(const ExprNode& n, EvalContext* ctx, Value* out) {
  Value sa;
  const Value* a;
  if (!Resolve(n.args[0], ctx, &sa, &a)) return false;
  for (size_t i = 1; i < n.args.size(); ++i) {
    Value sb;
    const Value* b;
    if (!Resolve(n.args[i], ctx, &sb, &b)) return false;
    if (*a == *b) {
      *out = Value::Bool(true);
      return true;
    }
  }
  *out = Value::Bool(false);
  return true;
}

// a starts_with b (the operator).
inline bool EvalStartsWith(const ExprNode& n, EvalContext* ctx, Value* out) {
  Value sa, sb;
  const Value *a, *b;
  if (!Resolve(n.args[0], ctx, &sa, &a) || !Resolve(n.args[1], ctx, &sb, &b)) return false;
  if (a->is_null() || b->is_null()) {
    *out = Value::Bool(false);
    return true;
  }
  if (!a->is_string() || !b->is_string()) {
    return Fail(ctx, n,
                std::string("starts_with needs strings, not ") + Kind(*a) + " and " + Kind(*b));
  }
  *out = Value::Bool(a->as_string().compare(0, b->as_string().size(), b->as_string()) == 0);
  return true;
}

}  // namespace

namespace evaluator_internal {

bool ResolveHeader(const std::string& name, EvalContext* ctx, Value* scratch, const Value** out) {
  *out = &kNull;
  if (!ctx->meta) return true;
  const EventMeta& m = *ctx->meta;
  for (size_t i = m.header_count; i-- > 0;) {
    const MessageHeader& h = m.headers[i];
    if (h.name != name) continue;
    if (h.is_null()) return true;  // a header without a value: null
    if (IsUtf8(h.value)) {
      scratch->SetString(h.value);
    } else {
      *scratch = Value::String(Base64(h.value));
    }
    *out = scratch;
    return true;
  }
  return true;
}

}  // namespace evaluator_internal

bool Evaluate(const ExprNode& n, EvalContext* ctx, Value* out) {
  using Op = ExprNode::Op;
  switch (n.op) {
    case Op::kConst:
      *out = n.constant;
      return true;
    case Op::kEvent:
    case Op::kField:
    case Op::kLocal:
    case Op::kAccess: {
      Value scratch;
      const Value* v;
      if (!Resolve(n, ctx, &scratch, &v)) return false;
      if (v == &scratch) {
        *out = std::move(scratch);
      } else {
        *out = *v;
      }
      return true;
    }
    case Op::kMeta:
      return EvalMeta(n, ctx, out);
    case Op::kKey:
      *out = Value::String(std::string(ctx->key));
      return true;
    case Op::kNeg:
    case Op::kNot:
      return EvalUnary(n, ctx, out);
    case Op::kAnd:
    case Op::kOr:
      return EvalAndOr(n, ctx, out);
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMod:
      return EvalArith(n, ctx, out);
    case Op::kEq:
    case Op::kNe:
      return EvalEquality(n, ctx, out);
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
      return EvalOrdering(n, ctx, out);
    case Op::kIn:
      return EvalIn(n, ctx, out);
    case Op::kStartsWith:
      return EvalStartsWith(n, ctx, out);
    case Op::kMatches: {
      if (!ctx->text) return Fail(ctx, n, "matches is only available in queries on a view");
      bool m = false;
      if (!ctx->text->Matches(n.slot, ctx->key, &m, &ctx->error)) return false;
      *out = Value::Bool(m);
      return true;
    }
    case Op::kCall:
      return CallFunction(n, ctx, out);
  }
  return Fail(ctx, n, "unknown expression");
}

bool KeyPartString(const Value& v, std::string* out) {
  out->clear();
  return ToStringForConcat(v, out);
}

std::string JoinKeyParts(const std::vector<std::string>& parts) {
  if (parts.size() == 1) return parts[0];
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back('|');
    for (char c : parts[i]) {
      if (c == '|' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

bool NumberFromText(std::string_view text, Decimal* out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return Decimal::Parse(text, out);
}

bool TimeFromValue(const Value& v, int64_t* epoch_ms) {
  if (v.is_string()) return ParseRfc3339(v.as_string(), epoch_ms);
  // Epoch millis between years 0000 and 9999: the times an RFC 3339 string can show.
  if (v.is_number()) {
    return v.as_number().ToInt64(epoch_ms) && *epoch_ms >= kRfc3339MinMs &&
           *epoch_ms <= kRfc3339MaxMs;
  }
  return false;
}

}  // namespace projd
