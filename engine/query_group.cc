#include "engine/query_group.h"

#include <algorithm>

namespace projd {
namespace query_detail {

bool Grouper::Add(const std::string& key, const Object& fields, std::string* error) {
  std::vector<Value> keys(q_.group_by.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!EvaluateOnRow(q_.group_by[i], "group by", key, fields, &keys[i], error)) return false;
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
  return Accumulate(key, fields, &it->second, error);
}

bool Grouper::Accumulate(const std::string& key, const Object& fields, Group* g,
                         std::string* error) {
  ++g->rows;
  for (size_t i = 0; i < q_.aggregate_calls.size(); ++i) {
    const auto& call = q_.aggregate_calls[i];
    if (call.func == Aggregate::kCount) continue;
    Value v;
    if (!EvaluateOnRow(call.arg, call.label, key, fields, &v, error)) return false;
    if (v.is_null()) continue;
    State& s = g->aggs[i];
    switch (call.func) {
      case Aggregate::kSum:
      case Aggregate::kAvg:
        if (!v.is_number()) {
          *error = call.label + ": row " + key + " holds " + ToJson(v) + ", not a number";
          return false;
        }
        if (!Decimal::Add(s.sum, v.as_number(), &s.sum)) {
          *error = call.label + ": number overflow (|n| must stay below 10^20)";
          return false;
        }
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

// The value of aggregate i for group g.
Value Grouper::Result(size_t i, const Group& g) const {
  const State& s = g.aggs[i];
  switch (q_.aggregate_calls[i].func) {
    case Aggregate::kCount:
      return Value::Number(Decimal::FromInt(g.rows));
    case Aggregate::kSum:
      return Value::Number(s.sum);
    case Aggregate::kAvg: {
      // The exact sum divided by the count, rounded half-even to 18 places.
      Decimal avg;
      if (s.n > 0 && Decimal::Div(s.sum, Decimal::FromInt(s.n), &avg)) return Value::Number(avg);
      return Value();
    }
    case Aggregate::kCountDistinct:
      return Value::Number(Decimal::FromInt(static_cast<int64_t>(s.distinct.size())));
    default:
      return s.has ? s.best : Value();
  }
}

// Computes group g's answer row and sort values; *keep is false when having drops it.
bool Grouper::Finish(const Group& g, bool* keep, Out* out, std::string* error) const {
  Object group_row;
  for (size_t i = 0; i < g.keys.size(); ++i) group_row.Set(GroupRowName('g', i), g.keys[i]);
  for (size_t i = 0; i < q_.aggregate_calls.size(); ++i) {
    group_row.Set(GroupRowName('a', i), Result(i, g));
  }
  std::string where = q_.group_by.empty() ? std::string("the whole view")
                                          : "group " + ToJson(Value::MakeArray(g.keys));
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
    if (!eval(q_.having, "having", &v)) return false;
    *keep = v.is_bool() && v.as_bool();
  }
  out->group = &g;
  for (const auto& o : q_.order) {
    const Value* v = group_row.Find(GroupRowName('s', static_cast<size_t>(o.item)));
    out->sort.push_back(v ? *v : Value());
  }
  out->row = Value::MakeObject(std::move(row));
  return true;
}

bool Grouper::Answer(const std::string& cursor, size_t page, QueryAnswer* answer,
                     std::string* error) {
  // Groups are computed whole for every page, so a cursor is the position in their order.
  size_t from = 0;
  if (!cursor.empty()) {
    Value cv;
    const Value* g = nullptr;
    int64_t at = -1;
    if (!DecodeCursor(cursor, &cv) || !cv.is_object() || !(g = cv.as_object().Find("g")) ||
        !g->is_number() || !g->as_number().ToInt64(&at) || at < 0) {
      *error = "bad cursor: not a cursor from this view's query answers";
      return false;
    }
    from = static_cast<size_t>(at);
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
  auto by_keys = [](const Out& a, const Out& b) {
    for (size_t i = 0; i < a.group->keys.size(); ++i) {
      int c = CompareValues(a.group->keys[i], b.group->keys[i]);
      if (c != 0) return c < 0;
    }
    return false;
  };
  // order by the select items, then by the group expressions ascending.
  std::stable_sort(outs.begin(), outs.end(), [&](const Out& a, const Out& b) {
    for (size_t f = 0; f < q_.order.size(); ++f) {
      int c = CompareValues(a.sort[f], b.sort[f]);
      if (c != 0) return q_.order[f].descending ? c > 0 : c < 0;
    }
    return by_keys(a, b);
  });
  for (size_t i = from; i < outs.size() && i - from < page; ++i) {
    answer->rows.push_back(std::move(outs[i].row));
  }
  if (page > 0 && from + page < outs.size()) {
    Object c;
    c.Set("g", Value::Number(Decimal::FromInt(static_cast<int64_t>(from + page))));
    answer->next_cursor = EncodeCursor(Value::MakeObject(std::move(c)));
  }
  return true;
}

}  // namespace query_detail
}  // namespace projd
