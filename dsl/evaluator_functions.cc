// The built-in functions of the language (ExprNode::Op::kCall): CallFunction and its families.
#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "dsl/evaluator_internal.h"
#include "dsl/limits.h"
#include "dsl/program.h"
#include "dsl/time.h"

namespace projd {
namespace {

using evaluator_internal::AKind;
using evaluator_internal::Compare;
using evaluator_internal::Fail;
using evaluator_internal::Kind;
using evaluator_internal::Resolve;
using evaluator_internal::TooLong;
using evaluator_internal::ToStringForConcat;

// Unicode simple case mapping through the C.UTF-8 locale (built into glibc), so the result
// does not depend on the environment's locale settings; ASCII only if it is missing.
locale_t Utf8Locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

std::string ChangeCase(const std::string& in, bool upper) {
  std::string out;
  out.reserve(in.size());
  locale_t loc = Utf8Locale();
  for (size_t i = 0; i < in.size();) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < in.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(in[i + 1]) & 0x3Fu);
      len = 2;
    } else if ((c & 0xF0) == 0xE0 && i + 2 < in.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(in[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(in[i + 2]) & 0x3Fu);
      len = 3;
    } else if ((c & 0xF8) == 0xF0 && i + 3 < in.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(in[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(in[i + 2]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(in[i + 3]) & 0x3Fu);
      len = 4;
    } else {
      out.push_back(in[i++]);  // not UTF-8: keep the byte
      continue;
    }
    uint32_t mapped = cp;
    if (loc) {
      mapped = static_cast<uint32_t>(upper ? towupper_l(static_cast<wint_t>(cp), loc)
                                           : towlower_l(static_cast<wint_t>(cp), loc));
    } else if (!upper && cp >= 'A' && cp <= 'Z') {
      mapped = cp - 'A' + 'a';
    } else if (upper && cp >= 'a' && cp <= 'z') {
      mapped = cp - 'a' + 'A';
    }
    if (mapped == cp) {
      out.append(in, i, len);
    } else if (mapped < 0x80) {
      out.push_back(static_cast<char>(mapped));
    } else if (mapped < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (mapped >> 6)));
      out.push_back(static_cast<char>(0x80 | (mapped & 0x3F)));
    } else if (mapped < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (mapped >> 12)));
      out.push_back(static_cast<char>(0x80 | ((mapped >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (mapped & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (mapped >> 18)));
      out.push_back(static_cast<char>(0x80 | ((mapped >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((mapped >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (mapped & 0x3F)));
    }
    i += len;
  }
  return out;
}

// Code points of a UTF-8 string, as byte offsets.
std::vector<size_t> CodePointStarts(const std::string& s) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  return starts;
}

// Resolves argument i of the call n, evaluating it into scratch[i] when it names no existing
// value.
inline bool Arg(const ExprNode& n, EvalContext* ctx, Value* scratch, size_t i, const Value** v) {
  return Resolve(n.args[i], ctx, &scratch[i], v);
}

// coalesce(a, b, ...): the first argument that is not null.
inline bool CallCoalesce(const ExprNode& n, EvalContext* ctx, Value* scratch, Value* out) {
  for (size_t i = 0; i < n.args.size(); ++i) {
    const Value* v;
    if (!Arg(n, ctx, scratch, i, &v)) return false;
    if (!v->is_null()) {
      *out = *v;
      return true;
    }
  }
  *out = Value();
  return true;
}

// min(a, b, ...) and max(a, b, ...): nulls skipped, numbers or strings compared.
inline bool CallMinMax(const ExprNode& n, EvalContext* ctx, Value* scratch, Value* out) {
  using F = ExprNode::Func;
  const Value* best = nullptr;
  for (size_t i = 0; i < n.args.size(); ++i) {
    const Value* v;
    if (!Arg(n, ctx, scratch, i, &v)) return false;
    if (v->is_null()) continue;
    if (!v->is_number() && !v->is_string()) {
      return Fail(ctx, n,
                  std::string(n.func == F::kMin ? "min" : "max") +
                      "() needs numbers or strings, not " + Kind(*v));
    }
    if (!best) {
      best = v;
      continue;
    }
    int c;
    if (!Compare(n, ctx, *v, *best, &c)) return false;
    if ((n.func == F::kMin && c < 0) || (n.func == F::kMax && c > 0)) best = v;
  }
  *out = best ? *best : Value();
  return true;
}

// concat(a, b, ...): the arguments as text, nulls skipped.
inline bool CallConcat(const ExprNode& n, EvalContext* ctx, Value* scratch, Value* out) {
  std::string s;
  for (size_t i = 0; i < n.args.size(); ++i) {
    const Value* v;
    if (!Arg(n, ctx, scratch, i, &v)) return false;
    if (v->is_null()) continue;
    if (!ToStringForConcat(*v, &s)) {
      return Fail(ctx, n, "concat() cannot join " + AKind(*v));
    }
    if (s.size() > kMaxValueBytes) return Fail(ctx, n, TooLong());
  }
  *out = Value::String(std::move(s));
  return true;
}

// contains(a, b) (a string or an array) and starts_with(a, b); a is the resolved first argument.
inline bool CallContainsStartsWith(const ExprNode& n, EvalContext* ctx, Value* scratch,
                                   const Value& a, Value* out) {
  using F = ExprNode::Func;
  const Value* b;
  if (!Arg(n, ctx, scratch, 1, &b)) return false;
  if (a.is_null() || b->is_null()) {
    *out = Value::Bool(false);
    return true;
  }
  if (n.func == F::kContains && a.is_array()) {
    bool found = false;
    for (const auto& e : a.as_array()) found = found || e == *b;
    *out = Value::Bool(found);
    return true;
  }
  if (!a.is_string() || !b->is_string()) {
    return Fail(ctx, n,
                std::string(n.func == F::kContains ? "contains" : "starts_with") +
                    "() needs strings, not " + Kind(a) + " and " + Kind(*b));
  }
  const std::string& s = a.as_string();
  const std::string& t = b->as_string();
  *out = Value::Bool(n.func == F::kContains ? s.find(t) != std::string::npos
                                            : s.compare(0, t.size(), t) == 0);
  return true;
}

// round(a) and round(a, places); a is the resolved, non-null first argument.
inline bool CallRound(const ExprNode& n, EvalContext* ctx, Value* scratch, const Value& a,
                      Value* out) {
  if (!a.is_number()) {
    return Fail(ctx, n, std::string("round() needs a number, not ") + Kind(a));
  }
  int64_t places = 0;
  if (n.args.size() == 2) {
    const Value* p;
    if (!Arg(n, ctx, scratch, 1, &p)) return false;
    if (!p->is_number() || !p->as_number().ToInt64(&places) || places < 0 || places > 18) {
      return Fail(ctx, n, "round() places must be a whole number from 0 to 18");
    }
  }
  Decimal rounded;
  if (!a.as_number().Rounded(static_cast<int>(places), &rounded)) {
    return Fail(ctx, n, "number overflow in round() (|n| must stay below 10^20)");
  }
  *out = Value::Number(rounded);
  return true;
}

// lower(a) and upper(a).
inline bool CallChangeCase(const ExprNode& n, EvalContext* ctx, const Value& a, Value* out) {
  using F = ExprNode::Func;
  if (!a.is_string()) {
    return Fail(
        ctx, n,
        std::string(n.func == F::kLower ? "lower" : "upper") + "() needs a string, not " + Kind(a));
  }
  *out = Value::String(ChangeCase(a.as_string(), n.func == F::kUpper));
  return true;
}

// len(a): code points of a string, elements of an array, members of an object.
inline bool CallLen(const ExprNode& n, EvalContext* ctx, const Value& a, Value* out) {
  size_t len;
  if (a.is_string()) {
    len = CodePointStarts(a.as_string()).size();
  } else if (a.is_array()) {
    len = a.as_array().size();
  } else if (a.is_object()) {
    len = a.as_object().size();
  } else {
    return Fail(ctx, n, std::string("len() needs a string, array or object, not ") + Kind(a));
  }
  *out = Value::Number(Decimal::FromInt(static_cast<int64_t>(len)));
  return true;
}

// substr(a, start) and substr(a, start, length), in code points.
inline bool CallSubstr(const ExprNode& n, EvalContext* ctx, Value* scratch, const Value& a,
                       Value* out) {
  if (!a.is_string()) return Fail(ctx, n, std::string("substr() needs a string, not ") + Kind(a));
  // A whole number >= 0 as a count of code points: past INT64_MAX (numbers reach 10^20) is as
  // good as INT64_MAX, past any string's end.
  auto whole = [](const Value& v, int64_t* out) {
    if (!v.is_number() || !v.as_number().IsInteger() || v.as_number() < Decimal()) return false;
    if (!v.as_number().ToInt64(out)) *out = INT64_MAX;
    return true;
  };
  const Value* s;
  if (!Arg(n, ctx, scratch, 1, &s)) return false;
  int64_t start = 0, count = -1;
  if (!whole(*s, &start)) return Fail(ctx, n, "substr() start must be a whole number >= 0");
  if (n.args.size() == 3) {
    const Value* c;
    if (!Arg(n, ctx, scratch, 2, &c)) return false;
    if (!whole(*c, &count)) return Fail(ctx, n, "substr() length must be a whole number >= 0");
  }
  const std::string& str = a.as_string();
  std::vector<size_t> cps = CodePointStarts(str);
  size_t total = cps.size();
  size_t from = std::min<size_t>(static_cast<size_t>(start), total);
  size_t to = count < 0 ? total : std::min<size_t>(total, from + static_cast<size_t>(count));
  size_t b0 = from < total ? cps[from] : str.size();
  size_t b1 = to < total ? cps[to] : str.size();
  *out = Value::String(str.substr(b0, b1 - b0));
  return true;
}

// date(t), month(t) and hour(t): the UTC bucket of a time as text.
inline bool CallTimeBucket(const ExprNode& n, EvalContext* ctx, const Value& a, Value* out) {
  using F = ExprNode::Func;
  int64_t ms;
  if (!TimeFromValue(a, &ms)) {
    std::string shown = a.is_string() ? "\"" + a.as_string() + "\"" : ToJson(a);
    return Fail(ctx, n, shown + " is not an RFC 3339 time or epoch millis");
  }
  CivilTime t = ToCivil(ms);
  char buf[40];
  if (n.func == F::kDate) {
    snprintf(buf, sizeof(buf), "%04lld-%02d-%02d", static_cast<long long>(t.year), t.month, t.day);
  } else if (n.func == F::kMonth) {
    snprintf(buf, sizeof(buf), "%04lld-%02d", static_cast<long long>(t.year), t.month);
  } else {
    snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d", static_cast<long long>(t.year), t.month,
             t.day, t.hour);
  }
  *out = Value::String(buf);
  return true;
}

// number(a): a number as it is, a string (spaces around it allowed) parsed.
inline bool CallNumber(const ExprNode& n, EvalContext* ctx, const Value& a, Value* out) {
  if (a.is_number()) {
    *out = a;
    return true;
  }
  if (a.is_string()) {
    Decimal d;
    if (!NumberFromText(a.as_string(), &d)) {
      return Fail(ctx, n, "cannot convert \"" + a.as_string() + "\" to a number");
    }
    *out = Value::Number(d);
    return true;
  }
  std::string kind = Kind(a);
  return Fail(ctx, n,
              std::string("cannot convert ") + (kind[0] == 'a' || kind[0] == 'o' ? "an " : "a ") +
                  kind + " to a number");
}

// string(a): scalars in their concat form, arrays and objects as JSON.
inline bool CallString(const Value& a, Value* out) {
  std::string s;
  if (!ToStringForConcat(a, &s)) s = ToJson(a);
  *out = Value::String(std::move(s));
  return true;
}

// The functions that give null for a null first argument a.
inline bool CallOnValue(const ExprNode& n, EvalContext* ctx, Value* scratch, const Value& a,
                        Value* out) {
  using F = ExprNode::Func;
  switch (n.func) {
    case F::kAbs:
      if (!a.is_number()) return Fail(ctx, n, std::string("abs() needs a number, not ") + Kind(a));
      *out = Value::Number(a.as_number().Abs());
      return true;
    case F::kRound:
      return CallRound(n, ctx, scratch, a, out);
    case F::kLower:
    case F::kUpper:
      return CallChangeCase(n, ctx, a, out);
    case F::kLen:
      return CallLen(n, ctx, a, out);
    case F::kSubstr:
      return CallSubstr(n, ctx, scratch, a, out);
    case F::kDate:
    case F::kMonth:
    case F::kHour:
      return CallTimeBucket(n, ctx, a, out);
    case F::kNumber:
      return CallNumber(n, ctx, a, out);
    case F::kString:
      return CallString(a, out);
    default:
      return Fail(ctx, n, "function not available here");
  }
}

}  // namespace

namespace evaluator_internal {

bool CallFunction(const ExprNode& n, EvalContext* ctx, Value* out) {
  using F = ExprNode::Func;
  Value small[4];
  std::vector<Value> large;
  if (n.args.size() > 4) large.resize(n.args.size());
  Value* scratch = n.args.size() > 4 ? large.data() : small;
  switch (n.func) {
    case F::kScore:
      if (!ctx->text) return Fail(ctx, n, "score() is only available in a query with matches");
      return ctx->text->Score(ctx->key, out, &ctx->error);
    case F::kCoalesce:
      return CallCoalesce(n, ctx, scratch, out);
    case F::kMin:
    case F::kMax:
      return CallMinMax(n, ctx, scratch, out);
    default:
      break;
  }
  // The remaining functions give null for a null first argument.
  const Value* a;
  if (!Arg(n, ctx, scratch, 0, &a)) return false;
  if (n.func == F::kExists) {
    *out = Value::Bool(!a->is_null());
    return true;
  }
  if (n.func == F::kConcat) return CallConcat(n, ctx, scratch, out);
  if (n.func == F::kContains || n.func == F::kStartsWith) {
    return CallContainsStartsWith(n, ctx, scratch, *a, out);
  }
  if (a->is_null()) {
    *out = Value();
    return true;
  }
  return CallOnValue(n, ctx, scratch, *a, out);
}

}  // namespace evaluator_internal
}  // namespace projd
