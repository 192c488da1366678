// Evaluation of compiled projections and expressions, per event.
#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <cstring>

#include "dsl/program.h"
#include "dsl/time.h"

namespace projd {
namespace {

std::string Where(const ExprNode& n) {
  return "line " + std::to_string(n.line) + ":" + std::to_string(n.column) + ": ";
}

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

bool Fail(EvalContext* ctx, const ExprNode& n, const std::string& message) {
  ctx->error = Where(n) + message;
  return false;
}

const char* Kind(const Value& v) { return Value::TypeName(v.type()); }
// "a number", "an array": the type with its article, for messages.
std::string AKind(const Value& v) {
  std::string k = Kind(v);
  return (k == "array" || k == "object" ? "an " : "a ") + k;
}

// Truthiness in conditions: true is true, false and null are false, anything else is an error.
bool Truth(const Value& v, bool* out) {
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

const Value kNull;

// Resolves expressions that name existing values (event paths, row fields, lets) without
// copying them; anything else is evaluated into *scratch.
bool Resolve(const ExprNode& n, EvalContext* ctx, Value* scratch, const Value** out) {
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
    std::string s;
    s.reserve(a.as_string().size() + b.as_string().size());
    s += a.as_string();
    s += b.as_string();
    *out = Value::String(std::move(s));
    return true;
  }
  return Fail(ctx, n, std::string("cannot apply '") + sym + "' to " + Kind(a) + " and " + Kind(b));
}

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

bool Compare(const ExprNode& n, EvalContext* ctx, const Value& a, const Value& b, int* cmp) {
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
  *out = Value::Number(a.as_number().Rounded(static_cast<int>(places)));
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
  const Value* s;
  if (!Arg(n, ctx, scratch, 1, &s)) return false;
  int64_t start = 0, count = -1;
  if (!s->is_number() || !s->as_number().ToInt64(&start) || start < 0) {
    return Fail(ctx, n, "substr() start must be a whole number >= 0");
  }
  if (n.args.size() == 3) {
    const Value* c;
    if (!Arg(n, ctx, scratch, 2, &c)) return false;
    if (!c->is_number() || !c->as_number().ToInt64(&count) || count < 0) {
      return Fail(ctx, n, "substr() length must be a whole number >= 0");
    }
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
    std::string_view s = a.as_string();
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    Decimal d;
    if (!Decimal::Parse(s, &d)) {
      return Fail(ctx, n, "cannot convert \"" + a.as_string() + "\" to a number");
    }
    *out = Value::Number(d);
    return true;
  }
  return Fail(ctx, n, std::string("cannot convert a ") + Kind(a) + " to a number");
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
      // their base64 text.
      Object headers;
      for (size_t i = 0; i < m.header_count; ++i) {
        const MessageHeader& h = m.headers[i];
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

bool TimeFromValue(const Value& v, int64_t* epoch_ms) {
  if (v.is_string()) return ParseRfc3339(v.as_string(), epoch_ms);
  if (v.is_number()) return v.as_number().ToInt64(epoch_ms);
  return false;
}

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
