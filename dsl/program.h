// A compiled projection: the checked, evaluable form of one `projection` block.
//
// The compiler (dsl/compiler.h) builds these; the engine evaluates them per event. A
// Projection is immutable after compilation and safe to share between threads.
#ifndef PROJD_DSL_PROGRAM_H_
#define PROJD_DSL_PROGRAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/event_meta.h"
#include "dsl/limits.h"
#include "dsl/value.h"

namespace projd {

// The version of the terms store/text_analyzer.cc makes for a text index: raised with every
// change to them (2: long words hashed, not cut; the words of stemmed fields kept for
// prefixes; 3: a run of katakana one word), so that views with a text index are rebuilt by a
// projd that analyzes otherwise.
constexpr int kTextAnalyzerVersion = 3;

// One node of an evaluable expression.
struct ExprNode {
  enum class Op : uint8_t {
    kConst,   // constant
    kEvent,   // the whole event
    kMeta,    // meta.<name>
    kKey,     // the view key of the row
    kField,   // a row field: name
    kLocal,   // a let name: slot
    kAccess,  // args[0].name (field) or args[0][slot] (index, when name is empty)
    kNeg,
    kNot,
    kAdd,
    kSub,
    kMul,
    kDiv,
    kMod,
    kEq,
    kNe,
    kLt,
    kLe,
    kGt,
    kGe,
    kAnd,
    kOr,
    kIn,          // args[0] in (args[1..])
    kStartsWith,  // infix
    kMatches,     // queries: args[0] (a text-indexed field) matches Query::text_matches[slot]
    kCall,        // function `func` on args
  };
  enum class Func : uint8_t {
    kNone,
    kCoalesce,
    kMin,
    kMax,
    kAbs,
    kRound,
    kLower,
    kUpper,
    kLen,
    kConcat,
    kSubstr,
    kContains,
    kStartsWith,
    kExists,
    kDate,
    kMonth,
    kHour,
    kNumber,
    kString,
    // Aggregates: only in a query's select list.
    kCount,
    kSum,
    kAvg,
    // Queries with `matches`: the row's BM25 relevance.
    kScore,
  };

  Op op = Op::kConst;
  Func func = Func::kNone;
  MetaField meta = MetaField::kTopic;  // kMeta: which field
  Value constant;
  std::string name;
  int slot = 0;
  // kAccess of a top-level event member (event.name): its slot in Projection::event_fields().
  int event_slot = -1;
  int line = 0, column = 0;  // where it starts in the source, for runtime error messages
  std::vector<ExprNode> args;
};

struct StmtNode {
  enum class Kind : uint8_t { kSet, kAdd, kSub, kUnset, kDelete, kLet, kPush, kIf };
  Kind kind = Kind::kSet;
  std::string field;
  int slot = 0;
  int64_t limit = 0;  // push
  ExprNode expr;
  // kIf: branches tried in order; a branch with `has_condition == false` is the else.
  struct Branch {
    bool has_condition = true;
    ExprNode condition;
    std::vector<StmtNode> body;
  };
  std::vector<Branch> branches;
  int line = 0, column = 0;
};

struct Handler {
  std::vector<std::string> types;  // empty: `on *`
  std::vector<StmtNode> body;
  int locals = 0;  // number of let slots
  int line = 0;
};

// A row as the handlers see it.
struct RowState {
  bool exists = false;
  Object fields;
  // After Apply, when the event deleted the row (exists false): its fields before the event
  // (what a change feed's `where` filters a deletion on). Empty otherwise.
  Object before_delete;
};

// The outcome of routing an event through where / type / key / id / time.
struct PreparedEvent {
  const Handler* handler = nullptr;  // nullptr: the event is ignored by this projection
  bool has_key = false;              // set as soon as the key is known, even if a later
  std::string key;                   // step fails: the view key
  bool has_id = false;
  std::string id;
  int64_t event_time_ms = 0;
  // The projection's audit values and correlation for this event (audit / correlation
  // clauses; evaluated only for events that reach a handler).
  Object audit;
  bool has_correlation = false;
  std::string correlation;
};

// An event as a projection reads it: the whole parsed value, or (when the projection reads
// only named top-level members, see Projection::event_fields()) just those members, one slot
// each in that order, null when absent. Slots are faster: nothing else is built.
struct EventInput {
  const Value* whole = nullptr;  // set when slots is null
  const Value* slots = nullptr;
  static EventInput Whole(const Value& v) { return {&v, nullptr}; }
  static EventInput Slots(const Value* s) { return {nullptr, s}; }
};

// One statement run, for `projctl explain`.
struct TraceStep {
  int line = 0;
  std::string text;  // e.g. "balance += event.amount  ->  balance = 125.5"
};

struct EvalContext;

class Projection {
 public:
  enum class History : uint8_t { kNone, kAll, kDays };
  enum class ErrorPolicy : uint8_t { kSkip, kStop };
  enum class Format : uint8_t { kJson, kAvro };

  const std::string& name() const { return name_; }
  const std::string& file() const { return file_; }
  const std::vector<std::string>& topics() const { return topics_; }
  const std::vector<std::string>& indexes() const { return indexes_; }
  // Full-text indexes (`index text FIELD [language "NAME"]`): field and language ("simple"
  // or "english"). The definition hash of a projection with one includes
  // kTextAnalyzerVersion.
  struct TextIndex {
    std::string field;
    std::string language;
  };
  const std::vector<TextIndex>& text_indexes() const { return text_indexes_; }
  const TextIndex* text_index(const std::string& field) const {
    for (const auto& t : text_indexes_) {
      if (t.field == field) return &t;
    }
    return nullptr;
  }
  History history() const { return history_; }
  int64_t history_days() const { return history_days_; }
  ErrorPolicy errors() const { return errors_; }
  Format format() const { return format_; }
  bool dedupe() const { return dedupe_; }
  bool has_id() const { return has_id_; }
  bool has_time() const { return has_time_; }
  bool has_audit() const { return !audit_.empty(); }
  bool has_correlation() const { return has_correlation_; }
  // alert lag > N [seconds]; 0 when absent.
  int64_t alert_lag() const { return alert_lag_; }
  bool alert_lag_seconds() const { return alert_lag_seconds_; }
  // The source text of this projection block, and a hash of it with comments and layout
  // removed (so reformatting does not trigger a rebuild).
  const std::string& definition() const { return definition_; }
  const std::string& definition_hash() const { return definition_hash_; }
  // Row fields assigned anywhere in the handlers (for query checking).
  const std::vector<std::string>& fields() const { return fields_; }
  // The top-level event members the projection reads (`event.name` anywhere, and `type` when
  // there is no type clause), in slot order; the event may be given as slots unless
  // reads_whole_event() (an expression uses `event` itself, not one of its members).
  const JsonFieldSet& event_fields() const { return event_fields_; }
  bool reads_whole_event() const { return reads_whole_event_; }
  // Whether an expression reads `meta.headers` (else a source need not deliver headers).
  bool reads_headers() const { return reads_headers_; }

  // Evaluates where, type, key, id and time for an event. Returns false and sets *error on an
  // event error (the event must then be dead-lettered or stop the view); *out->handler is null
  // when the event is ignored (where not true, or no handler for its type).
  bool Prepare(const EventInput& event, const EventMeta& meta, PreparedEvent* out,
               std::string* error) const;

  // Runs the prepared event's handler on *row, which then holds the row after the event.
  // Returns false and sets *error on an event error; *row is then as it was before (the event
  // applies atomically). With `trace`, records each statement run.
  bool Apply(const PreparedEvent& prepared, const EventInput& event, const EventMeta& meta,
             RowState* row, std::string* error, std::vector<TraceStep>* trace = nullptr) const;

 private:
  friend class Compiler;

  std::string name_, file_;
  std::vector<std::string> topics_;
  std::vector<ExprNode> key_parts_;
  bool has_type_ = false, has_time_ = false, has_id_ = false, has_where_ = false;
  ExprNode type_, time_, id_, where_;
  std::vector<std::pair<std::string, ExprNode>> audit_;
  bool has_correlation_ = false;
  ExprNode correlation_;
  bool dedupe_ = false;
  std::vector<Handler> handlers_;
  // Dispatch by event type: the first handler naming each type, and the first `on *`.
  std::vector<std::pair<std::string, const Handler*>> handler_by_type_;
  const Handler* catch_all_ = nullptr;
  const Handler* FindHandler(const Value& type) const;
  // Prepare's audit values and correlation.
  bool PrepareAudit(EvalContext* ctx, PreparedEvent* out, std::string* error) const;
  std::vector<std::string> indexes_;
  std::vector<TextIndex> text_indexes_;
  History history_ = History::kNone;
  int64_t history_days_ = 0;
  ErrorPolicy errors_ = ErrorPolicy::kSkip;
  Format format_ = Format::kJson;
  int64_t alert_lag_ = 0;
  bool alert_lag_seconds_ = false;
  std::string definition_, definition_hash_;
  std::vector<std::string> fields_;
  JsonFieldSet event_fields_;
  bool reads_whole_event_ = false;
  bool reads_headers_ = false;
  int type_slot_ = -1;                     // slot of `type` when there is no type clause
  std::vector<std::string> source_lines_;  // for traces
};

// Expression evaluation, shared by projections and queries.
// Answers `matches` and score() for the rows of a query (the engine's, over the view's text
// index).
class TextOracle {
 public:
  virtual ~TextOracle() = default;
  // Whether row `key` matches Query::text_matches[slot]; false with *error when the index
  // cannot be read.
  virtual bool Matches(int slot, std::string_view key, bool* out, std::string* error) const = 0;
  // The row's BM25 relevance: the sum over the query's matches it satisfies.
  virtual bool Score(std::string_view key, Value* out, std::string* error) const = 0;
};

struct EvalContext {
  const Value* event = nullptr;        // null outside event processing (queries)
  const Value* event_slots = nullptr;  // instead of `event`: see EventInput
  const EventMeta* meta = nullptr;
  std::string_view key;
  const Object* row = nullptr;  // null where row fields are not available
  std::vector<Value>* locals = nullptr;
  const TextOracle* text = nullptr;  // queries with matches
  std::string error;
};
// Returns false and sets ctx->error on an event error.
bool Evaluate(const ExprNode& node, EvalContext* ctx, Value* out);

// The string form of a key part or id ("12.5", "true", the string itself); false for null,
// arrays and objects.
bool KeyPartString(const Value& v, std::string* out);
// Joins key parts with '|', escaping '|' and '\' inside parts with '\'.
std::string JoinKeyParts(const std::vector<std::string>& parts);
// An event time from a value: an RFC 3339 string or epoch milliseconds of years 0000 to 9999.
bool TimeFromValue(const Value& v, int64_t* epoch_ms);
// The number a text stands for, as number() reads it: a decimal, spaces around it ignored.
bool NumberFromText(std::string_view text, Decimal* out);

}  // namespace projd

#endif  // PROJD_DSL_PROGRAM_H_
