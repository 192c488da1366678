#include "engine/query_group.h"

#include <algorithm>

namespace projd {
namespace query_detail {

namespace {

constexpr __int128 kE37 = static_cast<__int128>(1000000000000000000LL) * 10000000000000000000ULL;
constexpr __int128 kE38 = kE37 * 10;

using u128 = unsigned __int128;

// A 256-bit magnitude, four 64-bit limbs, least significant first.
struct U256 {
  uint64_t limb[4] = {0, 0, 0, 0};
};

// a * b + c, for a, b, c below 2^128.
U256 MulAdd(u128 a, u128 b, u128 c) {
  uint64_t x[2] = {static_cast<uint64_t>(a), static_cast<uint64_t>(a >> 64)};
  uint64_t y[2] = {static_cast<uint64_t>(b), static_cast<uint64_t>(b >> 64)};
  U256 r;
  for (int i = 0; i < 2; ++i) {
    u128 carry = 0;
    for (int j = 0; j < 2; ++j) {
      u128 t = static_cast<u128>(x[i]) * y[j] + r.limb[i + j] + carry;
      r.limb[i + j] = static_cast<uint64_t>(t);
      carry = t >> 64;
    }
    for (int k = i + 2; k < 4 && carry; ++k) {
      u128 t = static_cast<u128>(r.limb[k]) + carry;
      r.limb[k] = static_cast<uint64_t>(t);
      carry = t >> 64;
    }
  }
  u128 carry = c;
  for (int k = 0; k < 4 && carry; ++k) {
    u128 t = static_cast<u128>(r.limb[k]) + static_cast<uint64_t>(carry);
    r.limb[k] = static_cast<uint64_t>(t);
    carry = (carry >> 64) + (t >> 64);
  }
  return r;
}

}  // namespace

void WideSum::Add(Decimal d) {
  low_ += d.raw();  // |low_| < 10^37 and |raw| < 10^38: no overflow
  if (low_ >= kE37 || low_ <= -kE37) {
    __int128 q = low_ / kE37;
    high_ += q;
    low_ -= q * kE37;
  }
}

bool WideSum::ToDecimal(Decimal* out) const {
  if (high_ > 10 || high_ < -10) return false;
  __int128 total = high_ * kE37 + low_;  // |total| < 1.1 * 10^38
  if (total >= kE38 || total <= -kE38) return false;
  *out = Decimal::FromRaw(total);
  return true;
}

bool WideSum::Average(int64_t n, Decimal* out) const {
  if (n <= 0) return false;
  // The total as a sign and a magnitude: high and low given the same sign first.
  __int128 high = high_, low = low_;
  if (high > 0 && low < 0) {
    --high;
    low += kE37;
  } else if (high < 0 && low > 0) {
    ++high;
    low -= kE37;
  }
  bool negative = high < 0 || (high == 0 && low < 0);
  u128 h = static_cast<u128>(high < 0 ? -high : high);
  u128 l = static_cast<u128>(low < 0 ? -low : low);
  U256 total = MulAdd(h, static_cast<u128>(kE37), l);
  // Long division by n, from the most significant limb; then half-even on the remainder.
  U256 q;
  u128 rem = 0;
  for (int k = 3; k >= 0; --k) {
    u128 cur = (rem << 64) | total.limb[k];
    q.limb[k] = static_cast<uint64_t>(cur / static_cast<uint64_t>(n));
    rem = cur % static_cast<uint64_t>(n);
  }
  if (q.limb[3] != 0 || q.limb[2] != 0) return false;
  u128 mag = (static_cast<u128>(q.limb[1]) << 64) | q.limb[0];
  u128 twice = rem * 2;
  if (twice > static_cast<u128>(n) || (twice == static_cast<u128>(n) && (mag & 1))) ++mag;
  if (mag >= static_cast<u128>(kE38)) return false;
  __int128 raw = static_cast<__int128>(mag);
  *out = Decimal::FromRaw(negative ? -raw : raw);
  return true;
}

bool Grouper::Add(const std::string& key, const Object& fields, std::string* error,
                  const TextOracle* text) {
  std::vector<Value> keys(q_.group_by.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!EvaluateOnRow(q_.group_by[i], "group by", key, fields, &keys[i], error, text)) {
      return false;
    }
  }
  // Values that are equal have one encoding (numbers are exact decimals, object members
  // sorted), so the encoding is the group's identity; null is a group of its own.
  std::string id;
  EncodeBinary(Value::MakeArray(keys), &id);
  auto it = groups_.find(id);
  if (it == groups_.end()) {
    if (groups_.size() >= max_groups_) {
      *error = "group by would make more than " + std::to_string(max_groups_) +
               " groups; narrow the query with where";
      return false;
    }
    Group g;
    g.keys = std::move(keys);
    g.aggs.resize(q_.aggregate_calls.size());
    it = groups_.emplace(std::move(id), std::move(g)).first;
  }
  return Accumulate(key, fields, &it->second, error, text);
}

bool Grouper::Accumulate(const std::string& key, const Object& fields, Group* g, std::string* error,
                         const TextOracle* text) {
  ++g->rows;
  for (size_t i = 0; i < q_.aggregate_calls.size(); ++i) {
    const auto& call = q_.aggregate_calls[i];
    if (call.func == Aggregate::kCount) continue;
    Value v;
    if (!EvaluateOnRow(call.arg, call.label, key, fields, &v, error, text)) return false;
    if (v.is_null()) continue;
    State& s = g->aggs[i];
    switch (call.func) {
      case Aggregate::kSum:
      case Aggregate::kAvg:
        if (!v.is_number()) {
          *error = call.label + ": row " + key + " holds " + ToJson(v) + ", not a number";
          return false;
        }
        s.sum.Add(v.as_number());
        ++s.n;
        break;
      case Aggregate::kCountDistinct: {
        std::string enc;
        EncodeBinary(v, &enc);
        s.distinct.insert(std::move(enc));
        break;
      }
      default: {  // min, max: of any values, in the order of order by
        int c = s.has ? CompareValues(v, s.best) : 0;
        if (!s.has || (call.func == Aggregate::kMin ? c < 0 : c > 0)) s.best = std::move(v);
        break;
      }
    }
    s.has = true;
  }
  return true;
}

bool Grouper::Result(size_t i, const Group& g, Value* out, std::string* error) const {
  const State& s = g.aggs[i];
  const auto& call = q_.aggregate_calls[i];
  switch (call.func) {
    case Aggregate::kCount:
      *out = Value::Number(Decimal::FromInt(g.rows));
      return true;
    case Aggregate::kSum: {
      Decimal sum;
      if (!s.sum.ToDecimal(&sum)) {
        *error = call.label + ": number overflow (the sum is 10^20 or more)";
        return false;
      }
      *out = Value::Number(sum);
      return true;
    }
    case Aggregate::kAvg: {
      // The exact sum divided by the count, rounded half-even to 18 places (the sum may pass
      // 10^20 while the average does not; an average that does not fit cannot happen).
      Decimal avg;
      *out = s.n > 0 && s.sum.Average(s.n, &avg) ? Value::Number(avg) : Value();
      return true;
    }
    case Aggregate::kCountDistinct:
      *out = Value::Number(Decimal::FromInt(static_cast<int64_t>(s.distinct.size())));
      return true;
    default:
      *out = s.has ? s.best : Value();
      return true;
  }
}

// Computes group g's answer row and sort values; *keep is false when having drops it.
bool Grouper::Finish(const Group& g, bool* keep, Out* out, std::string* error) const {
  Object group_row;
  for (size_t i = 0; i < g.keys.size(); ++i) group_row.Set(GroupRowName('g', i), g.keys[i]);
  std::string where = q_.group_by.empty() ? std::string("the whole view")
                                          : "group " + ToJson(Value::MakeArray(g.keys));
  for (size_t i = 0; i < q_.aggregate_calls.size(); ++i) {
    Value v;
    if (!Result(i, g, &v, error)) {
      *error += " in " + where;
      return false;
    }
    group_row.Set(GroupRowName('a', i), std::move(v));
  }
  auto eval = [&](const ExprNode& e, const std::string& what, Value* v) {
    EvalContext ctx;
    ctx.row = &group_row;
    if (Evaluate(e, &ctx, v)) return true;
    *error = what + " failed on " + where + ": " + ctx.error;
    return false;
  };
  Object row;
  for (size_t i = 0; i < q_.select.size(); ++i) {
    Value v;
    if (!eval(q_.select[i].expr, q_.select[i].label, &v)) return false;
    row.Set(q_.select[i].label, v);
    group_row.Set(GroupRowName('s', i), std::move(v));
  }
  *keep = true;
  if (q_.has_having) {
    Value v;
    if (!eval(q_.having, "having", &v) || !ClausePasses(v, "having", "", where, keep, error)) {
      return false;
    }
  }
  out->group = &g;
  for (const auto& o : q_.order) {
    const Value* v = group_row.Find(GroupRowName('s', static_cast<size_t>(o.item)));
    out->sort.push_back(v ? *v : Value());
  }
  out->row = Value::MakeObject(std::move(row));
  return true;
}

int Grouper::Compare(const std::vector<Value>& sort_a, const std::vector<Value>& keys_a,
                     const std::vector<Value>& sort_b, const std::vector<Value>& keys_b) const {
  for (size_t f = 0; f < q_.order.size(); ++f) {
    int c = CompareValues(sort_a[f], sort_b[f]);
    if (c != 0) return q_.order[f].descending ? -c : c;
  }
  for (size_t i = 0; i < keys_a.size(); ++i) {
    int c = CompareValues(keys_a[i], keys_b[i]);
    if (c != 0) return c;
  }
  return 0;
}

bool Grouper::Answer(const std::string& cursor, size_t page, QueryAnswer* answer,
                     std::string* error) {
  // A cursor is the place of the last group answered in the order (its order by values and
  // group values): the next page starts after it, so groups that came or went between the
  // pages do not make others repeat or go missing. (A cursor {"g": N} of older builds is the
  // position N.)
  std::vector<Value> after_sort, after_keys;
  bool has_after = false;
  int64_t offset = -1;
  if (!cursor.empty()) {
    Value cv;
    const Value *s = nullptr, *k = nullptr, *g = nullptr;
    bool ok = DecodeCursor(q_, cursor, &cv);
    if (ok && (g = cv.as_object().Find("g"))) {
      ok = g->is_number() && g->as_number().ToInt64(&offset) && offset >= 0;
    } else if (ok) {
      s = cv.as_object().Find("s");
      k = cv.as_object().Find("k");
      ok = s && k && s->is_array() && k->is_array() && s->as_array().size() == q_.order.size() &&
           k->as_array().size() == q_.group_by.size();
      if (ok) {
        after_sort = s->as_array();
        after_keys = k->as_array();
        has_after = true;
      }
    }
    if (!ok) {
      *error = "bad cursor: not a cursor from this view's query answers";
      answer->bad_cursor = true;
      return false;
    }
  }
  // Without group by, the whole view is one group, rows or not.
  if (q_.group_by.empty() && groups_.empty()) {
    Group g;
    g.aggs.resize(q_.aggregate_calls.size());
    groups_.emplace(std::string(), std::move(g));
  }
  std::vector<Out> outs;
  outs.reserve(groups_.size());
  for (const auto& [id, g] : groups_) {
    Out out;
    bool keep = true;
    if (!Finish(g, &keep, &out, error)) return false;
    if (keep) outs.push_back(std::move(out));
  }
  // order by the select items, then by the group expressions ascending.
  std::sort(outs.begin(), outs.end(), [&](const Out& a, const Out& b) {
    return Compare(a.sort, a.group->keys, b.sort, b.group->keys) < 0;
  });
  size_t from = offset >= 0 ? static_cast<size_t>(offset) : 0;
  if (has_after) {
    from = static_cast<size_t>(std::partition_point(outs.begin(), outs.end(),
                                                    [&](const Out& o) {
                                                      return Compare(o.sort, o.group->keys,
                                                                     after_sort, after_keys) <= 0;
                                                    }) -
                               outs.begin());
  }
  size_t end = std::min(outs.size(), from + page);
  for (size_t i = from; i < end; ++i) answer->rows.push_back(std::move(outs[i].row));
  if (page > 0 && end < outs.size() && end > from) {
    const Out& last = outs[end - 1];
    Object c;
    c.Set("s", Value::MakeArray(last.sort));
    c.Set("k", Value::MakeArray(last.group->keys));
    answer->next_cursor = EncodeCursor(q_, std::move(c));
  }
  return true;
}

}  // namespace query_detail
}  // namespace projd
