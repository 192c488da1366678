#include "engine/query_exec.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "dsl/hex.h"
#include "engine/query_group.h"
#include "engine/query_text.h"

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;
using Op = ExprNode::Op;

// The operands of a chain of `op` (kAnd: the conjuncts a, b, c of a and b and c; kOr: the
// alternatives), nested chains flattened.
void Operands(const ExprNode& n, Op op, std::vector<const ExprNode*>* out) {
  if (n.op == op && n.args.size() == 2) {
    Operands(n.args[0], op, out);
    Operands(n.args[1], op, out);
  } else {
    out->push_back(&n);
  }
}

bool IsConst(const ExprNode& n) { return n.op == Op::kConst; }

// The largest decimal there is (10^20 - 10^-18).
Decimal LargestDecimal() {
  __int128 raw = 1;
  for (int i = 0; i < 38; ++i) raw *= 10;
  return Decimal::FromRaw(raw - 1);
}

struct Plan {
  enum class Kind {
    kScan,
    kKey,
    kPrefix,
    kKeyRange,
    kIndex,
    kHistory,
    kText,
    kTextUnion
  } kind = Kind::kScan;
  int text_slot = -1;  // kText: the matches condition whose postings drive the query
  // kTextUnion (a where clause `A or B ...` each of whose alternatives holds a matches
  // condition): one condition of each alternative, the rows of which are the candidates.
  std::vector<int> text_slots;
  std::string key_or_prefix;
  std::vector<std::string> keys;  // kKey: every key asked for (key in (...), key == A or ...)
  std::string start, end;         // kKeyRange: start inclusive, end exclusive ("": unbounded)
  std::string field;
  std::vector<Value> equals;  // index: any of these values
  const Value* lo = nullptr;
  const Value* hi = nullptr;
  bool lo_inclusive = true, hi_inclusive = true;
  // Bounds made by the plan itself (an indexed field's prefix), used instead of lo and hi.
  std::optional<Value> owned_lo, owned_hi;
  const Value* Lo() const { return owned_lo ? &*owned_lo : lo; }
  const Value* Hi() const { return owned_hi ? &*owned_hi : hi; }
};

// Mirrors a comparison so the field is on the left: 5 < x  ->  x > 5.
Op Mirror(Op op) {
  switch (op) {
    case Op::kLt:
      return Op::kGt;
    case Op::kLe:
      return Op::kGe;
    case Op::kGt:
      return Op::kLt;
    case Op::kGe:
      return Op::kLe;
    default:
      return op;
  }
}

// A kTextUnion plan from the where clause's conjuncts `conj`: the first that is an or whose
// every alternative has a matches condition among its own conjuncts (the most selective is
// taken). False when there is none.
bool TextUnion(const std::vector<const ExprNode*>& conj, const QueryText& text, Plan* plan) {
  for (const ExprNode* c : conj) {
    if (c->op != Op::kOr) continue;
    std::vector<const ExprNode*> alternatives;
    Operands(*c, Op::kOr, &alternatives);
    std::vector<int> slots;
    for (const ExprNode* a : alternatives) {
      std::vector<const ExprNode*> parts;
      Operands(*a, Op::kAnd, &parts);
      int best = -1;
      for (const ExprNode* part : parts) {
        if (part->op == Op::kMatches &&
            (best < 0 || text.Selectivity(part->slot) < text.Selectivity(best))) {
          best = part->slot;
        }
      }
      if (best < 0) break;
      slots.push_back(best);
    }
    if (slots.size() != alternatives.size()) continue;
    plan->kind = Plan::Kind::kTextUnion;
    plan->text_slots = std::move(slots);
    for (int slot : plan->text_slots) {
      const std::string& field = text.field(slot);
      bool named = false;
      for (int other : plan->text_slots) {
        if (other == slot) break;
        named = named || text.field(other) == field;
      }
      if (!named) plan->field += (plan->field.empty() ? "" : " or ") + field;
    }
    return true;
  }
  return false;
}

// The constants of `n` when it is `SUBJECT == C` (either side), `SUBJECT in (C, ...)` or an
// `or` of those, for one subject (the key, or one field): false otherwise. Null constants
// count as none found (a missing field has no index entry).
bool EqualsAlternatives(const ExprNode& n, std::string* subject, std::vector<Value>* out) {
  auto subject_of = [](const ExprNode& e) -> std::string {
    if (e.op == Op::kKey) return std::string(1, '\0');  // no field is named so
    if (e.op == Op::kField) return e.name;
    return std::string();
  };
  auto same = [subject](const std::string& s) {
    if (s.empty()) return false;
    if (subject->empty()) *subject = s;
    return *subject == s;
  };
  if (n.op == Op::kOr && n.args.size() == 2) {
    return EqualsAlternatives(n.args[0], subject, out) &&
           EqualsAlternatives(n.args[1], subject, out);
  }
  if (n.op == Op::kEq && n.args.size() == 2) {
    const ExprNode* a = &n.args[0];
    const ExprNode* b = &n.args[1];
    if (IsConst(*a) && !IsConst(*b)) std::swap(a, b);
    if (!IsConst(*b) || b->constant.is_null() || !same(subject_of(*a))) return false;
    out->push_back(b->constant);
    return true;
  }
  if (n.op == Op::kIn && n.args.size() >= 2) {
    if (!same(subject_of(n.args[0]))) return false;
    for (size_t i = 1; i < n.args.size(); ++i) {
      if (!IsConst(n.args[i]) || n.args[i].constant.is_null()) return false;
      out->push_back(n.args[i].constant);
    }
    return true;
  }
  return false;
}

// What the where clause's conjuncts offer, one kind of plan each (Choose picks among them).
struct Candidates {
  Plan prefix, eq, range, keys, key_range;
  bool have_prefix = false, have_eq = false, have_range = false, have_keys = false;
  bool have_key_range = false;
};

// key in (...), key == A or key == B: those keys; F == A or F == B on an indexed F: the index's
// entries of those values. False when `c` is neither.
bool OfferEqualsAlternatives(const ExprNode& c, const std::vector<std::string>& indexes,
                             Candidates* k) {
  std::string subject;
  std::vector<Value> values;
  if (!EqualsAlternatives(c, &subject, &values)) return false;
  if (subject == std::string(1, '\0')) {
    bool strings = true;
    for (const Value& v : values) strings = strings && v.is_string();
    if (strings && !k->have_keys) {
      k->keys.kind = Plan::Kind::kKey;
      for (const Value& v : values) k->keys.keys.push_back(v.as_string());
      std::sort(k->keys.keys.begin(), k->keys.keys.end());
      k->keys.keys.erase(std::unique(k->keys.keys.begin(), k->keys.keys.end()), k->keys.keys.end());
      k->have_keys = true;
    }
    return true;
  }
  if (std::find(indexes.begin(), indexes.end(), subject) != indexes.end() && !k->have_eq) {
    k->eq.kind = Plan::Kind::kIndex;
    k->eq.field = subject;
    k->eq.equals = std::move(values);
    k->have_eq = true;
  }
  return true;
}

// A comparison `a op b` (b a constant): a key range, or a range of an indexed field.
void OfferComparison(const Query& q, const ExprNode* a, const ExprNode* b, Op op, bool indexed,
                     Candidates* k) {
  if (!q.has_as_of && a->op == Op::kKey && IsConst(*b) && b->constant.is_string()) {
    // A key range: start inclusive, end exclusive (the key right after K is K + "\0").
    const std::string& key = b->constant.as_string();
    Plan& r = k->key_range;
    r.kind = Plan::Kind::kKeyRange;
    if (op == Op::kGt || op == Op::kGe) {
      std::string start = op == Op::kGe ? key : key + std::string(1, '\0');
      if (start > r.start) r.start = std::move(start);
    } else {
      std::string end = op == Op::kLt ? key : key + std::string(1, '\0');
      if (r.end.empty() || end < r.end) r.end = std::move(end);
    }
    k->have_key_range = true;
    return;
  }
  if (q.has_as_of || !indexed || !IsConst(*b)) return;
  if (!b->constant.is_number() && !b->constant.is_string()) return;
  if (k->have_range && k->range.field != a->name) return;
  k->range.kind = Plan::Kind::kIndex;
  k->range.field = a->name;
  k->have_range = true;
  if (op == Op::kGt || op == Op::kGe) {
    k->range.lo = &b->constant;
    k->range.lo_inclusive = op == Op::kGe;
  } else {
    k->range.hi = &b->constant;
    k->range.hi_inclusive = op == Op::kLe;
  }
}

// The plan of a range on an indexed field.
Plan RangePlan(Plan range) {
  // Keep to values of the bound's type: numbers sort before strings in the index, so a range
  // with one bound must not run into the other type.
  static const Value kMinString = Value::String("");
  static const Value kMaxNumber = Value::Number(LargestDecimal());
  static const Value kMinNumber = Value::Number(LargestDecimal().Negated());
  const Value* bound = range.lo ? range.lo : range.hi;
  if (bound->is_number()) {
    if (!range.lo) range.lo = &kMinNumber;
    if (!range.hi) range.hi = &kMaxNumber;
  } else if (!range.lo) {
    range.lo = &kMinString;
  }
  return range;
}

Plan Choose(const Query& q, const QueryText& text) {
  Plan plan;
  if (q.has_as_of) plan.kind = Plan::Kind::kHistory;
  if (!q.has_where) return plan;
  std::vector<const ExprNode*> conj;
  Operands(q.where, Op::kAnd, &conj);
  const auto& indexes = q.projection->indexes();
  auto indexed = [&](const ExprNode& n) {
    return n.op == Op::kField && std::find(indexes.begin(), indexes.end(), n.name) != indexes.end();
  };
  Candidates k;
  int text_slot = -1;  // the most selective matches condition
  for (const ExprNode* c : conj) {
    if (c->op == Op::kMatches && !q.has_as_of &&
        (text_slot < 0 || text.Selectivity(c->slot) < text.Selectivity(text_slot))) {
      text_slot = c->slot;
    }
    if (!q.has_as_of && (c->op == Op::kOr || c->op == Op::kIn) &&
        OfferEqualsAlternatives(*c, indexes, &k)) {
      continue;
    }
    if (c->args.size() != 2 && c->op != Op::kIn && c->op != Op::kCall) continue;
    const ExprNode* a = c->args.empty() ? nullptr : &c->args[0];
    const ExprNode* b = c->args.size() > 1 ? &c->args[1] : nullptr;
    if (!a || !b) continue;
    if (c->op == Op::kEq) {
      if (IsConst(*a) && !IsConst(*b)) std::swap(a, b);
      if (a->op == Op::kKey && IsConst(*b) && b->constant.is_string()) {
        plan.kind = q.has_as_of ? Plan::Kind::kHistory : Plan::Kind::kKey;
        plan.key_or_prefix = b->constant.as_string();
        return plan;  // a single key: nothing narrower
      }
      // A missing field reads as null but has no index entry: null needs a scan.
      if (!q.has_as_of && indexed(*a) && IsConst(*b) && !b->constant.is_null() && !k.have_eq) {
        k.eq.kind = Plan::Kind::kIndex;
        k.eq.field = a->name;
        k.eq.equals = {b->constant};
        k.have_eq = true;
      }
    } else if (c->op == Op::kStartsWith ||
               (c->op == Op::kCall && c->func == ExprNode::Func::kStartsWith)) {
      if (a->op == Op::kKey && IsConst(*b) && b->constant.is_string() && !k.have_prefix) {
        k.prefix.kind = Plan::Kind::kPrefix;
        k.prefix.key_or_prefix = b->constant.as_string();
        k.have_prefix = true;
      } else if (!q.has_as_of && indexed(*a) && IsConst(*b) && b->constant.is_string() &&
                 !k.have_range) {
        // An indexed string field's prefix: the index's strings from it to it followed by a
        // byte no UTF-8 text holds (a range; the where clause decides on each row).
        k.range.kind = Plan::Kind::kIndex;
        k.range.field = a->name;
        k.range.owned_lo = b->constant;
        k.range.owned_hi = Value::String(b->constant.as_string() + "\xFF");
        k.range.lo_inclusive = true;
        k.range.hi_inclusive = false;
        k.have_range = true;
      }
    } else if (c->op == Op::kLt || c->op == Op::kLe || c->op == Op::kGt || c->op == Op::kGe) {
      Op op = c->op;
      if (IsConst(*a) && !IsConst(*b)) {
        std::swap(a, b);
        op = Mirror(op);
      }
      OfferComparison(q, a, b, op, indexed(*a), &k);
    }
  }
  if (text_slot >= 0) {
    // The text index drives, within the key prefix when there is one; the other conditions
    // (and other indexed fields) are checked on its candidates.
    plan.kind = Plan::Kind::kText;
    plan.text_slot = text_slot;
    plan.field = text.field(text_slot);
    if (k.have_prefix) plan.key_or_prefix = k.prefix.key_or_prefix;
    return plan;
  }
  if (!q.has_as_of && TextUnion(conj, text, &plan)) {
    if (k.have_prefix) plan.key_or_prefix = k.prefix.key_or_prefix;
    return plan;
  }
  if (k.have_keys) return k.keys;
  if (k.have_prefix && !q.has_as_of) return k.prefix;
  if (q.has_as_of) {
    // As of a time the indexes do not apply: keys come from the history, narrowed by a
    // key prefix when there is one.
    if (k.have_prefix) plan.key_or_prefix = k.prefix.key_or_prefix;
    return plan;
  }
  if (k.have_eq) return k.eq;
  if (k.have_range && k.range.owned_lo) return k.range;
  if (k.have_key_range) return k.key_range;
  // A number bound and a string bound: no value lies in both, but the where clause fails on
  // the rows a scan reads (comparing a string with a number); so does this query, by scanning.
  const Plan& r = k.range;
  if (k.have_range && !(r.lo && r.hi && r.lo->type() != r.hi->type())) return RangePlan(r);
  return plan;
}

struct SortKey {
  std::vector<Value> values;
  std::string key;
};

}  // namespace

namespace query_detail {

bool ClausePasses(const Value& v, const char* clause, const char* subject_kind,
                  const std::string& subject, bool* pass, std::string* error) {
  if (!v.is_bool() && !v.is_null()) {
    *error = std::string(clause) + " failed on " + subject_kind + subject + ": the " + clause +
             " clause needs a boolean, not " + Value::TypeName(v.type());
    return false;
  }
  *pass = v.is_bool() && v.as_bool();
  return true;
}

bool EvaluateOnRow(const ExprNode& expr, const std::string& what, const std::string& key,
                   const Object& fields, Value* out, std::string* error, const TextOracle* text) {
  EvalContext ctx;
  ctx.key = key;
  ctx.row = &fields;
  ctx.text = text;
  if (Evaluate(expr, &ctx, out)) return true;
  *error = what + " failed on row " + key + ": " + ctx.error;
  return false;
}

int CompareValues(const Value& a, const Value& b) {
  auto rank = [](const Value& v) {
    switch (v.type()) {
      case Value::Type::kNull:
        return 0;
      case Value::Type::kBool:
        return 1;
      case Value::Type::kNumber:
        return 2;
      case Value::Type::kString:
        return 3;
      default:
        return 4;
    }
  };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.type()) {
    case Value::Type::kNull:
      return 0;
    case Value::Type::kBool:
      return a.as_bool() == b.as_bool() ? 0 : (a.as_bool() ? 1 : -1);
    case Value::Type::kNumber:
      return a.as_number().Compare(b.as_number());
    case Value::Type::kString: {
      int c = a.as_string().compare(b.as_string());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default: {
      int c = ToJson(a).compare(ToJson(b));
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
  }
}

std::string EncodeCursor(const Query& q, Object c) {
  c.Set("q", Value::String(q.cursor_tag));
  return HexEncode(ToJson(Value::MakeObject(std::move(c))));
}

bool DecodeCursor(const Query& q, const std::string& cursor, Value* out) {
  std::string raw, perr;
  if (!HexDecode(cursor, &raw) || !ParseJson(raw, out, &perr) || !out->is_object()) return false;
  const Value* tag = out->as_object().Find("q");
  return tag && tag->is_string() && tag->as_string() == q.cursor_tag;
}

}  // namespace query_detail

namespace {

using query_detail::ClausePasses;
using query_detail::CompareValues;
using query_detail::EvaluateOnRow;

const char* PlanName(const Plan& plan, std::string* buf) {
  switch (plan.kind) {
    case Plan::Kind::kScan:
      return "scan";
    case Plan::Kind::kKey:
      return "key";
    case Plan::Kind::kPrefix:
      return "key prefix";
    case Plan::Kind::kKeyRange:
      return "key range";
    case Plan::Kind::kIndex:
      *buf = "index " + plan.field;
      return buf->c_str();
    case Plan::Kind::kHistory:
      return "history";
    case Plan::Kind::kText:
    case Plan::Kind::kTextUnion:
      *buf = "text " + plan.field + (plan.key_or_prefix.empty() ? "" : " in key prefix");
      return buf->c_str();
  }
  return "?";
}

using RowFn = std::function<bool(const std::string& key, RowRecord&& rec)>;

// The rows of an index plan: those of the values or range, in key order.
void IndexKeys(const Plan& plan, ViewStore* store, std::vector<std::string>* keys,
               uint64_t* scanned) {
  if (!plan.equals.empty()) {
    for (const Value& v : plan.equals) {
      store->IndexRange(plan.field, &v, true, &v, true, keys, scanned);
    }
  } else {
    store->IndexRange(plan.field, plan.Lo(), plan.lo_inclusive, plan.Hi(), plan.hi_inclusive, keys,
                      scanned);
    // Rows whose field holds another type than the bound are candidates too: the where
    // clause then fails on them exactly as a scan would (or filters them out).
    static const Value kFalse = Value::Bool(false), kTrue = Value::Bool(true);
    static const Value kEmptyString = Value::String("");
    static const Value kMinNum = Value::Number(LargestDecimal().Negated());
    static const Value kMaxNum = Value::Number(LargestDecimal());
    static const Value kEmptyArray = Value::MakeArray(Array());
    store->IndexRange(plan.field, &kFalse, true, &kTrue, true, keys, scanned);
    if (plan.Lo()->is_number()) {
      store->IndexRange(plan.field, &kEmptyString, true, nullptr, true, keys, scanned);
    } else {
      store->IndexRange(plan.field, &kMinNum, true, &kMaxNum, true, keys, scanned);
      store->IndexRange(plan.field, &kEmptyArray, true, nullptr, true, keys, scanned);
    }
  }
  std::sort(keys->begin(), keys->end());
  keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
}

// Whether a plan reads rows one at a time as it goes, so that QueryLimits::give_up_after
// bounds its work: not a scan (the rows before the first match are unbounded), not as-of
// history and not an index plan that collects every matching key first.
bool Bounded(const Plan& plan, bool stream) {
  switch (plan.kind) {
    case Plan::Kind::kKey:
    case Plan::Kind::kPrefix:
    case Plan::Kind::kKeyRange:
    case Plan::Kind::kText:
      return true;
    case Plan::Kind::kIndex:
      return plan.equals.size() == 1 && stream;
    case Plan::Kind::kScan:
    case Plan::Kind::kHistory:
    case Plan::Kind::kTextUnion:
      return false;
  }
  return false;
}

// Feeds the rows of `keys` (in key order; with key_paged, only those after after_key) to
// `consider` until it returns false; keys without a row are passed over.
void ConsiderKeys(const std::vector<std::string>& keys, ViewStore* store, bool key_paged,
                  const std::string& after_key, const RowFn& consider) {
  for (const auto& k : keys) {
    if (key_paged && k <= after_key) continue;
    RowRecord rec;
    uint64_t dead;
    if (!store->GetRow(k, &rec, &dead)) continue;
    if (!consider(k, std::move(rec))) break;
  }
}

// Feeds the plan's candidate rows to `consider` in key order until it returns false. With
// key_paged, only keys after `after_key`; with `stream`, a one-value index plan is read a
// chunk at a time (for pages in key order). A text plan stops with *gave_up once `scanned`
// reaches give_up_after (0: never); `consider` does so for the rows it is given. False with
// *error when the store fails.
bool ForEachRow(const Query& q, const Plan& plan, ViewStore* store, const QueryText& text,
                bool key_paged, const std::string& after_key, bool stream, bool need_row,
                uint64_t* scanned, uint64_t give_up_after, bool* gave_up, const RowFn& consider,
                std::string* error) {
  switch (plan.kind) {
    case Plan::Kind::kText: {
      text.ForEachMatch(
          plan.text_slot, key_paged ? after_key : std::string(), !key_paged, plan.key_or_prefix,
          [&](std::string_view match) {
            std::string k(match);
            RowRecord rec;
            uint64_t dead;
            // A query that reads no field before its answer is chosen (where, order) reads
            // only the rows it answers with, after choosing them (late_rows in RunQuery).
            if (need_row && !store->GetRow(k, &rec, &dead)) return true;
            return consider(k, std::move(rec));
          },
          scanned, give_up_after, gave_up);
      return true;
    }
    case Plan::Kind::kTextUnion: {
      // The rows that match one alternative's condition, each once, in key order; the where
      // clause decides on them (a row may match an alternative's condition and not the rest
      // of it).
      std::vector<std::string> keys;
      bool ignored = false;
      for (int slot : plan.text_slots) {
        text.ForEachMatch(
            slot, key_paged ? after_key : std::string(), !key_paged, plan.key_or_prefix,
            [&keys](std::string_view match) {
              keys.emplace_back(match);
              return true;
            },
            scanned, 0, &ignored);
      }
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      ConsiderKeys(keys, store, false, after_key, consider);
      return true;
    }
    case Plan::Kind::kKey: {
      // One key, or several in key order.
      const std::vector<std::string> one{plan.key_or_prefix};
      ConsiderKeys(plan.keys.empty() ? one : plan.keys, store, key_paged, after_key, consider);
      return true;
    }
    case Plan::Kind::kScan:
    case Plan::Kind::kPrefix:
    case Plan::Kind::kKeyRange: {
      ViewStore::ScanOptions so;
      if (plan.kind == Plan::Kind::kPrefix) so.prefix = plan.key_or_prefix;
      if (plan.kind == Plan::Kind::kKeyRange) {
        so.start = plan.start;
        so.end = plan.end;
        // An empty range: no row (an empty end would mean no end).
        if (!so.end.empty() && so.start >= so.end) return true;
      }
      so.limit = 1024;
      if (key_paged) so.after = after_key;
      while (true) {
        std::vector<std::pair<std::string, RowRecord>> rows;
        bool scan_more = false;
        if (!store->Scan(so, &rows, &scan_more, error)) return false;
        for (auto& [k, rec] : rows) {
          if (!consider(k, std::move(rec))) return true;
        }
        if (!scan_more || rows.empty()) return true;
        so.after = rows.back().first;
      }
    }
    case Plan::Kind::kIndex: {
      if (plan.equals.size() == 1 && stream) {
        // One value, key order wanted: stream the index entries a chunk at a time and stop
        // when the page is full, instead of collecting every match.
        std::string after = key_paged ? after_key : "";
        while (true) {
          std::vector<std::string> chunk;
          bool chunk_more = false;
          store->IndexEqual(plan.field, plan.equals[0], after, 256, &chunk, &chunk_more);
          for (const auto& k : chunk) {
            RowRecord rec;
            uint64_t dead;
            if (!store->GetRow(k, &rec, &dead)) continue;
            if (!consider(k, std::move(rec))) return true;
          }
          if (!chunk_more || chunk.empty()) return true;
          after = chunk.back();
        }
      }
      std::vector<std::string> keys;
      IndexKeys(plan, store, &keys, scanned);
      // Index entries were counted as examined; the rows they lead to are counted below.
      *scanned = 0;
      ConsiderKeys(keys, store, key_paged, after_key, consider);
      return true;
    }
    case Plan::Kind::kHistory: {
      std::vector<std::string> keys;
      store->HistoryKeys(&keys);
      for (const auto& k : keys) {
        if (key_paged && k <= after_key) continue;
        if (!plan.key_or_prefix.empty() &&
            k.compare(0, plan.key_or_prefix.size(), plan.key_or_prefix) != 0) {
          continue;
        }
        RowRecord rec;
        if (!store->AsOf(k, q.as_of_ms, &rec)) continue;
        if (!consider(k, std::move(rec))) break;
      }
      return true;
    }
  }
  return true;
}

using Matches = std::vector<std::pair<std::string, RowRecord>>;

// Whether evaluating n reads the row's fields (the key, score() and matches conditions do not:
// they are answered from the key and the text index).
bool ReadsFields(const ExprNode& n) {
  if (n.op == Op::kMatches || n.op == Op::kKey || n.op == Op::kConst) return false;
  if (n.op == Op::kField || n.op == Op::kEvent || n.op == Op::kLocal) return true;
  for (const auto& a : n.args) {
    if (ReadsFields(a)) return true;
  }
  return false;
}

// Whether a row must be read to decide if, and where, it is in the answer: its where clause,
// its order, its groups and aggregates.
bool DecidingReadsRow(const Query& q) {
  if (q.has_where && ReadsFields(q.where)) return true;
  if (q.aggregates) {
    for (const auto& g : q.group_by) {
      if (ReadsFields(g)) return true;
    }
    for (const auto& a : q.aggregate_calls) {
      if (a.func != Aggregate::kCount && ReadsFields(a.arg)) return true;
    }
    return false;
  }
  for (const auto& o : q.order) {
    if (o.item >= 0 ? ReadsFields(q.select[static_cast<size_t>(o.item)].expr)
                    : (!o.score && o.field != "key")) {
      return true;
    }
  }
  return false;
}

// Whether the answer rows show the row's fields (whole rows, or a select item that reads one).
bool AnswerReadsRow(const Query& q) {
  if (q.select.empty()) return true;
  for (const auto& item : q.select) {
    if (ReadsFields(item.expr)) return true;
  }
  return false;
}

// A row's values for `order by`.
bool SortValues(const Query& q, const std::string& key, const RowRecord& rec,
                const TextOracle* text, SortKey* out, std::string* error) {
  out->key = key;
  out->values.clear();
  for (const auto& o : q.order) {
    Value v;
    if (o.item >= 0) {
      const auto& item = q.select[static_cast<size_t>(o.item)];
      if (!EvaluateOnRow(item.expr, item.label, key, rec.fields, &v, error, text)) return false;
    } else if (o.score) {
      if (!text->Score(key, &v, error)) return false;
    } else if (o.field == "key") {
      v = Value::String(key);
    } else if (const Value* f = rec.fields.Find(o.field)) {
      v = *f;
    }
    out->values.push_back(std::move(v));
  }
  return true;
}

// The first rows in `order by` order after a cursor: keeps the best page + 1 rows seen (to know
// whether there are more) in a heap, so that memory stays bounded however many rows match.
class TopRows {
 public:
  TopRows(const Query& q, const SortKey* after, size_t page)
      : q_(q), after_(after), keep_(page + 1) {}

  bool Less(const SortKey& a, const SortKey& b) const {
    for (size_t f = 0; f < q_.order.size(); ++f) {
      const Value& va = f < a.values.size() ? a.values[f] : kNull;
      const Value& vb = f < b.values.size() ? b.values[f] : kNull;
      int c = CompareValues(va, vb);
      if (c != 0) return q_.order[f].descending ? c > 0 : c < 0;
    }
    return a.key < b.key;
  }
  void Add(SortKey&& sk, RowRecord&& rec) {
    if (after_ && !Less(*after_, sk)) return;  // on an earlier page
    auto worse = [this](const Entry& a, const Entry& b) { return Less(a.sort, b.sort); };
    if (rows_.size() == keep_) {
      if (!Less(sk, rows_.front().sort)) return;
      std::pop_heap(rows_.begin(), rows_.end(), worse);
      rows_.pop_back();
    }
    rows_.push_back({std::move(sk), std::move(rec)});
    std::push_heap(rows_.begin(), rows_.end(), worse);
  }
  struct Entry {
    SortKey sort;
    RowRecord rec;
  };
  // The rows kept, best first.
  std::vector<Entry> Take() {
    std::sort(rows_.begin(), rows_.end(),
              [this](const Entry& a, const Entry& b) { return Less(a.sort, b.sort); });
    return std::move(rows_);
  }

 private:
  const Value kNull;
  const Query& q_;
  const SortKey* after_;
  size_t keep_;
  std::vector<Entry> rows_;  // a heap: the worst kept row first
};

// One answer row: the whole row, or the select items.
bool Project(const Query& q, const std::string& key, const RowRecord& rec, Value* out,
             std::string* error, const TextOracle* text) {
  Object o;
  if (q.select.empty()) {
    o.Set("key", Value::String(key));
    o.Set("row", Value::MakeObject(rec.fields));
  } else {
    for (const auto& item : q.select) {
      Value v;
      if (!EvaluateOnRow(item.expr, item.label, key, rec.fields, &v, error, text)) return false;
      o.Set(item.label, std::move(v));
    }
  }
  *out = Value::MakeObject(std::move(o));
  return true;
}

// The cursor of a page of rows: the last key of the previous page (key order), or the sort
// values and key of its last row (order by).
bool ParseRowCursor(const Query& q, const std::string& cursor, SortKey* after, std::string* error) {
  Value cv;
  if (!query_detail::DecodeCursor(q, cursor, &cv) || !cv.as_object().Find("k") ||
      !cv.as_object().Find("k")->is_string()) {
    *error = "bad cursor: not a cursor from this view's query answers";
    return false;
  }
  after->key = cv.as_object().Find("k")->as_string();
  if (const Value* sv = cv.as_object().Find("s"); sv && sv->is_array()) {
    after->values = sv->as_array();
  }
  return true;
}

// The answer rows of `order by`: the first page of the kept rows, each row read now when the
// answer shows fields the query did not read before.
bool AnswerSorted(const Query& q, std::vector<TopRows::Entry> rows, size_t page, bool read_rows,
                  ViewStore* store, const TextOracle* text, QueryAnswer* answer,
                  std::string* error) {
  size_t emitted = 0;
  for (auto& e : rows) {
    if (emitted == page) break;
    uint64_t dead;
    if (read_rows && !store->GetRow(e.sort.key, &e.rec, &dead)) continue;
    Value v;
    if (!Project(q, e.sort.key, e.rec, &v, error, text)) return false;
    answer->rows.push_back(std::move(v));
    ++emitted;
    Object c;
    c.Set("k", Value::String(e.sort.key));
    c.Set("s", Value::MakeArray(std::move(e.sort.values)));
    answer->next_cursor = query_detail::EncodeCursor(q, std::move(c));
  }
  if (rows.size() <= page) answer->next_cursor.clear();
  return true;
}

}  // namespace

namespace {

// Whether the row passes the query's where clause (*pass); false with *error when the clause
// fails on it. null counts as false; any other value than a boolean is an error, as in a
// projection's `if`.
bool PassesWhere(const Query& q, const std::string& key, const Object& fields,
                 const TextOracle* oracle, bool* pass, std::string* error) {
  Value v;
  return EvaluateOnRow(q.where, "where", key, fields, &v, error, oracle) &&
         ClausePasses(v, "where", "row ", key, pass, error);
}

}  // namespace

bool RunQuery(const Query& q, ViewStore* store, const std::string& cursor,
              const QueryLimits& limits, QueryAnswer* answer, std::string* error) {
  auto started = Clock::now();
  QueryText text;
  if (!text.Prepare(q, store, error)) return false;
  const TextOracle* oracle = text.empty() ? nullptr : &text;
  Plan plan = Choose(q, text);
  std::string plan_buf;
  answer->plan = PlanName(plan, &plan_buf);
  bool ordered = !q.order.empty();
  size_t page = q.limit >= 0 ? std::min<size_t>(static_cast<size_t>(q.limit), limits.max_rows)
                             : limits.default_rows;
  if (q.limit > static_cast<int64_t>(limits.max_rows)) {
    *error = "limit " + std::to_string(q.limit) + " is above the maximum of " +
             std::to_string(limits.max_rows) + " rows per answer; page with next_cursor";
    return false;
  }
  // Grouped answers read their own cursor (Grouper::Answer).
  SortKey after;
  bool has_after = !cursor.empty() && !q.aggregates;
  if (has_after && !ParseRowCursor(q, cursor, &after, error)) {
    answer->bad_cursor = true;
    return false;
  }

  Matches matches;  // unordered: candidate rows that pass where, in key order
  TopRows top(q, has_after ? &after : nullptr, page);  // ordered: the first rows after the cursor
  SortKey sort;
  bool more = false;
  // A text plan reads a candidate's row only when deciding on it needs one; else the rows
  // answered are read at the end.
  bool need_row = plan.kind != Plan::Kind::kText || DecidingReadsRow(q);
  bool late_rows = !need_row && !q.aggregates && AnswerReadsRow(q);
  query_detail::Grouper grouper(q, limits.max_sorted);
  uint64_t give_up_after = limits.give_up_after;
  bool stream = !ordered && !q.aggregates;
  if (give_up_after && !need_row && limits.give_up_after_checks) {
    if (text.Selectivity(plan.text_slot) <= limits.give_up_after_checks) {
      give_up_after = 0;  // its candidates are known to be few: it cannot give up
    } else if (plan.key_or_prefix.empty() && limits.text_give_up_after) {
      // Many candidates, and more it may examine. When its words' row counts say its answer
      // takes that many or more, it gives up now rather than after that work.
      give_up_after = limits.text_give_up_after;
      if (text.ExpectedChecks(plan.text_slot, stream ? page + 1 : 0) >= give_up_after) {
        answer->gave_up = true;
        return false;
      }
    }
  }
  auto over_budget = [&]() {
    if (Clock::now() - started <= limits.budget) return false;
    *error = "query took longer than " + std::to_string(limits.budget.count()) + " ms (examined " +
             std::to_string(answer->scanned) +
             " rows); narrow it with the key, a key prefix or an indexed field";
    return true;
  };
  // Returns false to stop (error or page full).
  bool failed = false;
  auto consider = [&](const std::string& key, RowRecord&& rec) -> bool {
    ++answer->scanned;
    if (give_up_after && answer->scanned >= give_up_after) {
      answer->gave_up = true;
      return false;
    }
    if ((answer->scanned & 1023) == 0 && over_budget()) {
      failed = true;
      return false;
    }
    bool pass = true;
    if (q.has_where && !PassesWhere(q, key, rec.fields, oracle, &pass, error)) {
      failed = true;
      return false;
    }
    if (!pass) return true;
    if (q.aggregates) {
      failed = !grouper.Add(key, rec.fields, error, oracle);
      return !failed;
    }
    if (!ordered && matches.size() >= page) {
      more = true;
      return false;
    }
    if (ordered) {
      failed = !SortValues(q, key, rec, oracle, &sort, error);
      if (!failed) top.Add(std::move(sort), std::move(rec));
      return !failed;
    }
    matches.emplace_back(key, std::move(rec));
    return true;
  };
  bool key_paged = !ordered && !q.aggregates && has_after;
  if (limits.give_up_after && !Bounded(plan, stream)) {
    answer->gave_up = true;
    return false;
  }
  if (!ForEachRow(q, plan, store, text, key_paged, after.key, stream, need_row, &answer->scanned,
                  give_up_after, &answer->gave_up, consider, error)) {
    return false;
  }
  if (failed || answer->gave_up) return false;
  if (q.aggregates) return grouper.Answer(cursor, page, answer, error);
  if (ordered) {
    return AnswerSorted(q, top.Take(), page, late_rows, store, oracle, answer, error);
  }
  for (auto& [k, rec] : matches) {
    uint64_t dead;
    if (late_rows && !store->GetRow(k, &rec, &dead)) continue;
    Value v;
    if (!Project(q, k, rec, &v, error, oracle)) return false;
    answer->rows.push_back(std::move(v));
  }
  if (more && !matches.empty()) {
    Object c;
    c.Set("k", Value::String(matches.back().first));
    answer->next_cursor = query_detail::EncodeCursor(q, std::move(c));
  }
  return true;
}

}  // namespace projd
