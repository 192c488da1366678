// The Boost.Spirit X3 grammar of the projection language and of the query language. Both share
// one expression grammar. This is the only translation unit that instantiates the grammar:
// keep it that way, X3 is expensive to compile.
#include "dsl/parser.h"

#include <boost/fusion/include/adapt_struct.hpp>
#include <boost/fusion/include/at_c.hpp>
#include <boost/fusion/include/deque.hpp>
#include <boost/spirit/home/x3.hpp>
#include <boost/spirit/home/x3/support/ast/variant.hpp>
#include <deque>
#include <limits>

BOOST_FUSION_ADAPT_STRUCT(projd::ast::Postfix, base, accessors)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Call, function, args)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Unary, op, operand)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Operation, op, operand)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Chain, first, rest)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Assign, field, op, value)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Let, name, value)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Push, field, value, limit)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::If, condition, then_block, else_block)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Projection, name, clauses)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::File, projections)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::OrderItem, field, direction)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::SelectItem, expr, alias)
BOOST_FUSION_ADAPT_STRUCT(projd::ast::Query, view, clauses)

namespace projd::dsl {
namespace {

namespace x3 = boost::spirit::x3;
using Iterator = std::string_view::const_iterator;

// ---- position annotation ----
struct begin_tag;  // the start of the text, for offsets

// Rule IDs deriving from this record where their node starts.
struct Annotate {
  template <typename It, typename Attr, typename Context>
  void on_success(const It& first, const It& last, Attr& node, const Context& context) {
    if constexpr (std::is_base_of_v<ast::Located, Attr>) {
      const It& begin = x3::get<begin_tag>(context);
      node.offset = static_cast<size_t>(first - begin);
      if constexpr (std::is_same_v<Attr, ast::Projection>) {
        node.end_offset = static_cast<size_t>(last - begin);
      }
    }
  }
};

// Rules whose right side holds semantic actions get no attribute in X3's on_success, so their
// right side is wrapped in located[...], which records where the match starts (after skipping)
// in the rule's own attribute.
template <typename Subject>
struct LocatedDirective : x3::unary_parser<Subject, LocatedDirective<Subject>> {
  using base_type = x3::unary_parser<Subject, LocatedDirective<Subject>>;
  static bool const is_pass_through_unary = true;
  constexpr explicit LocatedDirective(const Subject& subject) : base_type(subject) {}

  template <typename It, typename Context, typename RContext, typename Attribute>
  bool parse(It& first, const It& last, const Context& context, RContext& rcontext,
             Attribute& attr) const {
    x3::skip_over(first, last, context);
    It start = first;
    if (!this->subject.parse(first, last, context, rcontext, attr)) return false;
    if constexpr (std::is_base_of_v<ast::Located, std::remove_reference_t<RContext>>) {
      const It& begin = x3::get<begin_tag>(context);
      rcontext.offset = static_cast<size_t>(start - begin);
    }
    return true;
  }
};

struct LocatedGen {
  template <typename Subject>
  constexpr LocatedDirective<typename x3::extension::as_parser<Subject>::value_type> operator[](
      const Subject& subject) const {
    return LocatedDirective<typename x3::extension::as_parser<Subject>::value_type>(
        x3::as_parser(subject));
  }
};
constexpr LocatedGen located{};

// Expressions and `if` statements nest at most this deep. The parser (and after it the checker
// and the evaluator) recurse once per level, so a deep enough input (a query of ten thousand
// '(') would overflow the stack.
constexpr int kMaxNesting = 100;
// The parser's own levels around the ones a reader counts (a statement's expression, the
// expression inside parentheses): 100 parentheses, or 100 nested ifs, are within the limit.
constexpr int kParserLevels = 2;
thread_local int nesting = 0;

struct NestingTooDeep {
  size_t offset;
};

// nested[p]: p, counted as one level of nesting; throws NestingTooDeep past kMaxNesting.
template <typename Subject>
struct NestedDirective : x3::unary_parser<Subject, NestedDirective<Subject>> {
  using base_type = x3::unary_parser<Subject, NestedDirective<Subject>>;
  static bool const is_pass_through_unary = true;
  constexpr explicit NestedDirective(const Subject& subject) : base_type(subject) {}

  template <typename It, typename Context, typename RContext, typename Attribute>
  bool parse(It& first, const It& last, const Context& context, RContext& rcontext,
             Attribute& attr) const {
    if (nesting >= kMaxNesting + kParserLevels) {
      x3::skip_over(first, last, context);
      throw NestingTooDeep{static_cast<size_t>(first - x3::get<begin_tag>(context))};
    }
    struct Level {
      Level() { ++nesting; }
      ~Level() { --nesting; }
    } level;
    return this->subject.parse(first, last, context, rcontext, attr);
  }
};

std::string TooDeepMessage() {
  return "nesting too deep (at most " + std::to_string(kMaxNesting) + " levels)";
}

// One expression (with everything inside its parentheses, arguments and lists) holds at most
// this many binary operators and accessors. A chain `a + b + c ...` parses flat, but compiles
// to a tree as deep as the chain, which the checker, the evaluator and the destructors walk
// recursively: ten thousand terms would overflow the stack.
constexpr int kMaxTerms = 1000;
thread_local int terms = 0;
thread_local int expression_level = 0;

struct ExpressionTooLong {
  size_t offset;
};

// A query holds at most this many expressions (select, group and order items, list items and
// call arguments count one each, as does every parenthesized expression). Each costs its
// syntax tree's nodes, a kilobyte or two: without a bound, a body of a million bytes of
// `x in (1,1,1,...)` took a gigabyte to parse, even to be refused. A .proj file, an
// operator's, is not bounded so.
constexpr size_t kMaxQueryExpressions = 20000;
thread_local size_t expressions_left = 0;

struct TooManyExpressions {
  size_t offset;
};

std::string TooManyMessage() {
  return "query too long (at most " + std::to_string(kMaxQueryExpressions) +
         " expressions: each select, group and order item, list item and argument counts one)";
}

// expression[p]: p is an expression; the outermost one starts a new count of terms.
template <typename Subject>
struct ExpressionDirective : x3::unary_parser<Subject, ExpressionDirective<Subject>> {
  using base_type = x3::unary_parser<Subject, ExpressionDirective<Subject>>;
  static bool const is_pass_through_unary = true;
  constexpr explicit ExpressionDirective(const Subject& subject) : base_type(subject) {}

  template <typename It, typename Context, typename RContext, typename Attribute>
  bool parse(It& first, const It& last, const Context& context, RContext& rcontext,
             Attribute& attr) const {
    if (expressions_left == 0) {
      x3::skip_over(first, last, context);
      throw TooManyExpressions{static_cast<size_t>(first - x3::get<begin_tag>(context))};
    }
    --expressions_left;
    if (expression_level == 0) terms = 0;
    struct Level {
      Level() { ++expression_level; }
      ~Level() { --expression_level; }
    } level;
    return this->subject.parse(first, last, context, rcontext, attr);
  }
};

// term[p]: p (an operator and its operand, or an accessor), counted once it has parsed;
// throws ExpressionTooLong past kMaxTerms.
template <typename Subject>
struct TermDirective : x3::unary_parser<Subject, TermDirective<Subject>> {
  using base_type = x3::unary_parser<Subject, TermDirective<Subject>>;
  static bool const is_pass_through_unary = true;
  constexpr explicit TermDirective(const Subject& subject) : base_type(subject) {}

  template <typename It, typename Context, typename RContext, typename Attribute>
  bool parse(It& first, const It& last, const Context& context, RContext& rcontext,
             Attribute& attr) const {
    x3::skip_over(first, last, context);
    It start = first;
    if (!this->subject.parse(first, last, context, rcontext, attr)) return false;
    if (++terms > kMaxTerms) {
      throw ExpressionTooLong{static_cast<size_t>(start - x3::get<begin_tag>(context))};
    }
    return true;
  }
};

// The `name[p]` form of the directives above: wraps parser p in Directive.
template <template <typename> class Directive>
struct DirectiveGen {
  template <typename Subject>
  constexpr Directive<typename x3::extension::as_parser<Subject>::value_type> operator[](
      const Subject& subject) const {
    return Directive<typename x3::extension::as_parser<Subject>::value_type>(
        x3::as_parser(subject));
  }
};
constexpr DirectiveGen<NestedDirective> nested{};
constexpr DirectiveGen<ExpressionDirective> expression{};
constexpr DirectiveGen<TermDirective> term{};

std::string TooLongMessage() {
  return "expression too long (at most " + std::to_string(kMaxTerms) +
         " operators and accessors; a long list of alternatives reads better as `x in (...)`)";
}

// ---- lexical pieces ----
// ASCII character classes of our own: Spirit's classify bytes >= 0x80 with the C library,
// which is undefined for them (and asserts in debug builds); identifiers are ASCII anyway.
const auto ascii_space = x3::char_(" \t\r\n\f\v");
const auto ascii_digit = x3::char_('0', '9');
const auto ascii_alpha = x3::char_('a', 'z') | x3::char_('A', 'Z');
const auto skipper = ascii_space | ('#' >> *(x3::char_ - x3::eol) >> (x3::eol | x3::eoi));

const auto ident_char = ascii_alpha | ascii_digit | x3::char_('_');

// Names for error messages ("expected 'days'"), kept for the life of the program.
const char* Quoted(const char* word) {
  static std::deque<std::string> names;
  names.push_back(std::string("'") + word + "'");
  return names.back().c_str();
}

// A keyword: the word not followed by an identifier character.
auto kw(const char* word) {
  return x3::rule<struct kw_id>{Quoted(word)} = x3::lexeme[x3::lit(word) >> !ident_char];
}
// The same, giving the word as its attribute.
auto kw_str(const char* word) {
  return x3::rule<struct kw_str_id, std::string>{Quoted(word)} =
             x3::lexeme[x3::string(word) >> !ident_char];
}

const char* const kReserved[] = {"and", "or", "not", "in", "true", "false", "null"};

bool IsReserved(const std::string& s) {
  for (const char* r : kReserved) {
    if (s == r) return true;
  }
  return false;
}

// Decodes the body of a JSON string literal (between the quotes). Returns false on a bad
// escape.
bool DecodeJsonString(std::string_view raw, std::string* out) {
  out->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i >= raw.size()) return false;
    switch (raw[i]) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        auto hex4 = [&](size_t at, uint32_t* v) {
          if (at + 4 > raw.size()) return false;
          *v = 0;
          for (size_t k = at; k < at + 4; ++k) {
            char h = raw[k];
            *v <<= 4;
            if (h >= '0' && h <= '9')
              *v |= h - '0';
            else if (h >= 'a' && h <= 'f')
              *v |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              *v |= h - 'A' + 10;
            else
              return false;
          }
          return true;
        };
        uint32_t cp;
        if (!hex4(i + 1, &cp)) return false;
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (i + 2 >= raw.size() || raw[i + 1] != '\\' || raw[i + 2] != 'u' || !hex4(i + 3, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF) {
            return false;
          }
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return false;
        }
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
          out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
          out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// ---- rules ----
struct ident_id;
struct name_ident_id;
struct string_value_id;
struct digits_id;
struct number_id : Annotate {};
struct string_lit_id : Annotate {};
struct bool_id : Annotate {};
struct null_id : Annotate {};
struct name_id : Annotate {};
struct call_id : Annotate {};
struct accessor_id : Annotate {};
struct postfix_id : Annotate {};
struct primary_id;
struct unary_id;
struct neg_id : Annotate {};
struct mul_id : Annotate {};
struct add_id : Annotate {};
struct cmp_id : Annotate {};
struct not_id;
struct not_op_id : Annotate {};
struct and_id : Annotate {};
struct or_id : Annotate {};
struct op_step_id : Annotate {};
struct expr_id;
struct tuple_id : Annotate {};

const x3::rule<ident_id, std::string> ident = "identifier";
const x3::rule<name_ident_id, std::string> name_ident = "name";
const x3::rule<string_value_id, std::string> string_value = "string";
const x3::rule<digits_id, std::string> digits = "number";
const x3::rule<number_id, ast::NumberLit> number_lit = "number";
const x3::rule<string_lit_id, ast::StringLit> string_lit = "string";
const x3::rule<bool_id, ast::BoolLit> bool_lit = "true or false";
const x3::rule<null_id, ast::NullLit> null_lit = "null";
const x3::rule<name_id, ast::Name> name = "name";
const x3::rule<call_id, ast::Call> call = "function call";
const x3::rule<tuple_id, ast::Call> tuple = "parenthesized list";
const x3::rule<accessor_id, ast::Accessor> accessor = "field access";
const x3::rule<postfix_id, ast::Postfix> postfix = "expression";
const x3::rule<primary_id, ast::Operand> primary = "expression";
const x3::rule<unary_id, ast::Operand> unary = "expression";
const x3::rule<neg_id, ast::Unary> neg = "expression";
const x3::rule<mul_id, ast::Chain> mul_expr = "expression";
const x3::rule<add_id, ast::Chain> add_expr = "expression";
const x3::rule<cmp_id, ast::Chain> cmp_expr = "expression";
const x3::rule<not_id, ast::Operand> not_expr = "expression";
const x3::rule<not_op_id, ast::Unary> not_op = "expression";
const x3::rule<and_id, ast::Chain> and_expr = "expression";
const x3::rule<or_id, ast::Chain> or_expr = "expression";
const x3::rule<expr_id, ast::Operand> expr = "expression";

struct mul_step_id : Annotate {};
struct add_step_id : Annotate {};
struct cmp_step_id : Annotate {};
struct and_step_id : Annotate {};
struct or_step_id : Annotate {};
const x3::rule<mul_step_id, ast::Operation> mul_step = "operator";
const x3::rule<add_step_id, ast::Operation> add_step = "operator";
const x3::rule<cmp_step_id, ast::Operation> cmp_step = "operator";
const x3::rule<and_step_id, ast::Operation> and_step = "operator";
const x3::rule<or_step_id, ast::Operation> or_step = "operator";

const auto ident_def = x3::lexeme[(ascii_alpha | x3::char_('_')) >> *ident_char];

// An identifier that is not a reserved word.
const auto check_not_reserved = [](auto& ctx) {
  if (IsReserved(x3::_attr(ctx))) {
    x3::_pass(ctx) = false;
  } else {
    x3::_val(ctx) = x3::_attr(ctx);
  }
};
const auto name_ident_def = ident[check_not_reserved];

const auto decode_string = [](auto& ctx) {
  const auto& range = x3::_attr(ctx);
  std::string_view raw(&*range.begin(), static_cast<size_t>(range.end() - range.begin()));
  raw = raw.substr(1, raw.size() - 2);
  if (!DecodeJsonString(raw, &x3::_val(ctx))) x3::_pass(ctx) = false;
};
const auto string_value_def =
    x3::raw[x3::lexeme['"' >> *(('\\' >> x3::char_) |
                                (x3::char_ - x3::char_("\"\\") - x3::char_('\0', '\x1f'))) >>
                       '"']][decode_string];

const auto digits_def = x3::lexeme[+ascii_digit >> !ident_char];

const auto set_number_text = [](auto& ctx) {
  const auto& range = x3::_attr(ctx);
  x3::_val(ctx).text.assign(range.begin(), range.end());
};
const auto number_lit_def =
    located[x3::raw[x3::lexeme[+ascii_digit >> -('.' >> +ascii_digit) >>
                               -(x3::char_("eE") >> -x3::char_("+-") >> +ascii_digit) >>
                               !ident_char]][set_number_text]];

const auto set_string_lit = [](auto& ctx) { x3::_val(ctx).value = x3::_attr(ctx); };
const auto string_lit_def = located[string_value[set_string_lit]];

const auto set_true = [](auto& ctx) { x3::_val(ctx).value = true; };
const auto set_false = [](auto& ctx) { x3::_val(ctx).value = false; };
const auto bool_lit_def = located[kw("true")[set_true] | kw("false")[set_false]];
const auto null_lit_def = located[kw("null")[([](auto&) {})]];

const auto set_name = [](auto& ctx) { x3::_val(ctx).name = x3::_attr(ctx); };
const auto name_def = located[name_ident[set_name]];

// A call's arguments: after a comma an expression must follow.
const auto call_args = x3::rule<struct call_args_id, std::vector<ast::Operand>>{
    "expression"} = expr >> *(',' > expr);
const auto call_def = (name_ident >> '(' >> -call_args) > ')';
const auto tuple_def = x3::attr(std::string()) >> '(' >> (expr % ',') > ')';

const auto set_field = [](auto& ctx) { x3::_val(ctx).field = x3::_attr(ctx); };
const auto set_index = [](auto& ctx) { x3::_val(ctx).index = x3::_attr(ctx); };
const auto accessor_def =
    term[located[('.' > ident)[set_field] | (('[' >> string_value) > ']')[set_field] |
                 (('[' >> digits) > ']')[set_index]]];

const auto primary_def =
    number_lit | string_lit | bool_lit | null_lit | call | name | ('(' > expr > ')');
const auto postfix_def = primary >> *accessor;
const auto neg_def = nested[term[x3::string("-") >> unary]];
const auto unary_def = neg | postfix;

const auto mul_op = x3::string("*") | x3::string("/") | x3::string("%");
const auto add_op = (x3::string("+") | x3::string("-")) >> !x3::lit('=');
// The word operators are field names when an assignment follows (`x = 1  matches = 2`: the
// second statement sets the field `matches`).
const auto assignment_ahead = x3::lit("+=") | x3::lit("-=") | (x3::lit('=') >> !x3::lit('='));
const auto cmp_op = x3::string("==") | x3::string("!=") | x3::string("<=") | x3::string(">=") |
                    x3::string("<") | x3::string(">") |
                    ((kw_str("starts_with") | kw_str("matches")) >> !assignment_ahead);

const auto mul_step_def = term[mul_op > unary];
const auto mul_expr_def = unary >> *mul_step;
const auto add_step_def = term[add_op > mul_expr];
const auto add_expr_def = mul_expr >> *add_step;
const auto cmp_step_def = term[(cmp_op > add_expr) | (kw_str("in") > tuple)];
const auto cmp_expr_def = add_expr >> x3::repeat(0, 1)[cmp_step];
const auto not_op_def = nested[term[kw_str("not") > not_expr]];
const auto not_expr_def = not_op | cmp_expr;
const auto and_step_def = term[kw_str("and") > not_expr];
const auto and_expr_def = not_expr >> *and_step;
const auto or_step_def = term[kw_str("or") > and_expr];
const auto or_expr_def = and_expr >> *or_step;
const auto expr_def = nested[expression[or_expr]];

BOOST_SPIRIT_DEFINE(ident, name_ident, string_value, digits, number_lit, string_lit, bool_lit,
                    null_lit, name, call, tuple, accessor, primary, postfix, neg, unary, mul_step,
                    mul_expr, add_step, add_expr, cmp_step, cmp_expr, not_op, not_expr, and_step,
                    and_expr, or_step, or_expr, expr)

// ---- statements ----
struct assign_id : Annotate {};
struct unset_id : Annotate {};
struct delete_id : Annotate {};
struct let_id : Annotate {};
struct push_id : Annotate {};
struct if_id : Annotate {};
struct stmt_id;
struct block_id;
struct else_body_id;
struct field_id;

const x3::rule<field_id, std::string> field_name = "field name";
const x3::rule<assign_id, ast::Assign> assign = "statement";
const x3::rule<unset_id, ast::Unset> unset_stmt = "statement";
const x3::rule<delete_id, ast::Delete> delete_stmt = "statement";
const x3::rule<let_id, ast::Let> let_stmt = "statement";
const x3::rule<push_id, ast::Push> push_stmt = "statement";
const x3::rule<if_id, ast::If> if_stmt = "statement";
const x3::rule<stmt_id, ast::Stmt> stmt = "statement";
const x3::rule<block_id, std::vector<ast::Stmt>> block = "block";
const x3::rule<else_body_id, std::vector<ast::Stmt>> else_body = "'{' or 'if'";

const char* const kStatementWords[] = {"if", "else", "let", "unset", "delete", "push"};
const auto check_field = [](auto& ctx) {
  const std::string& s = x3::_attr(ctx);
  for (const char* w : kStatementWords) {
    if (s == w) {
      x3::_pass(ctx) = false;
      return;
    }
  }
  x3::_val(ctx) = s;
};
const auto field_name_def = name_ident[check_field];

const auto assign_op = x3::string("+=") | x3::string("-=") | (x3::string("=") >> !x3::lit('='));
const auto assign_def = (field_name >> assign_op) > expr;
const auto set_unset = [](auto& ctx) { x3::_val(ctx).field = x3::_attr(ctx); };
const auto unset_stmt_def = located[(kw("unset") > field_name)[set_unset]];
const auto delete_stmt_def = located[kw("delete")[([](auto&) {})]];
const auto let_stmt_def = kw("let") > name_ident > '=' > expr;
const auto push_stmt_def = kw("push") > field_name > expr > kw("limit") > number_lit;
const auto block_end = x3::rule<struct block_end_id>{"statement or '}'"} = x3::lit('}');
const auto block_def = '{' > *(*x3::lit(';') >> stmt) > *x3::lit(';') > block_end;
const auto if_stmt_def = nested[kw("if") > expr > block > -(kw("else") > else_body)];
const auto else_body_def = block | x3::repeat(1)[&kw("if") >> stmt];
const auto stmt_def = if_stmt | let_stmt | unset_stmt | delete_stmt | push_stmt | assign;

BOOST_SPIRIT_DEFINE(field_name, assign, unset_stmt, delete_stmt, let_stmt, push_stmt, block,
                    if_stmt, else_body, stmt)

// ---- projections ----
struct clause_id : Annotate {};
struct projection_id : Annotate {};
struct file_id;
const x3::rule<clause_id, ast::Clause> clause = "clause";
const x3::rule<projection_id, ast::Projection> projection = "projection";
const x3::rule<file_id, ast::File> file = "file";

template <typename F>
auto Act(const char* kind, F fill) {
  return [kind, fill](auto& ctx) {
    x3::_val(ctx).kind = kind;
    fill(x3::_val(ctx), x3::_attr(ctx));
  };
}
const auto fill_names = [](ast::Clause& c, auto& a) { c.names = a; };
const auto fill_exprs = [](ast::Clause& c, auto& a) { c.exprs = a; };
const auto fill_expr = [](ast::Clause& c, auto& a) { c.exprs = {a}; };
const auto fill_word = [](ast::Clause& c, auto& a) { c.word = a; };
const auto fill_on = [](ast::Clause& c, auto& a) {
  c.names = boost::fusion::at_c<0>(a);
  c.block = boost::fusion::at_c<1>(a);
};
const auto fill_alert = [](ast::Clause& c, auto& a) {
  c.word = boost::fusion::at_c<0>(a);
  c.seconds = static_cast<bool>(boost::fusion::at_c<1>(a));
};

const auto event_name = x3::rule<struct event_name_id, std::string>{"event type"} =
    ident | string_value;
const auto on_names = x3::rule<struct on_names_id, std::vector<std::string>>{"event type or '*'"} =
    (x3::lit('*') >> x3::attr(std::vector<std::string>{"*"})) | (event_name % ',');
const auto history_spec = x3::rule<struct history_spec_id, std::string>{"'all' or N days"} =
    kw_str("all") | (digits > kw("days"));
const auto errors_word = x3::rule<struct errors_word_id, std::string>{"'skip' or 'stop'"} =
    kw_str("skip") | kw_str("stop");
const auto format_word = x3::rule<struct format_word_id, std::string>{"'json' or 'avro'"} =
    kw_str("json") | kw_str("avro");
const auto alert_seconds =
    x3::rule<struct alert_seconds_id, boost::optional<std::string>>{"'seconds'"} =
        -kw_str("seconds");

const auto string_list = x3::rule<struct string_list_id, std::vector<std::string>>{"string"} =
    string_value % ',';
const auto expr_list = x3::rule<struct expr_list_id, std::vector<ast::Operand>>{"expression"} =
    expr % ',';
const auto ident_list = x3::rule<struct ident_list_id, std::vector<std::string>>{"identifier"} =
    ident % ',';

// audit NAME = EXPR, ...: the names and the expressions, in order.
const auto fill_audit = [](ast::Clause& c, auto& a) {
  for (const auto& item : a) {
    c.names.push_back(boost::fusion::at_c<0>(item));
    c.exprs.push_back(boost::fusion::at_c<1>(item));
  }
};
const auto audit_item =
    x3::rule<struct audit_item_id, boost::fusion::deque<std::string, ast::Operand>>{
        "NAME = expression"} = ident > '=' > expr;
const auto audit_list =
    x3::rule<struct audit_list_id, std::vector<boost::fusion::deque<std::string, ast::Operand>>>{
        "NAME = expression"} = audit_item % ',';

// index text FIELD [language "NAME"]: the field, and the language ("" when not given).
const auto fill_text_index = [](ast::Clause& c, auto& a) {
  c.names = {boost::fusion::at_c<0>(a)};
  const auto& language = boost::fusion::at_c<1>(a);
  c.word = language ? *language : std::string();
};
const auto text_language =
    x3::rule<struct text_language_id, boost::optional<std::string>>{"'language'"} =
        -(kw("language") > string_value);
const auto text_index =
    x3::rule<struct text_index_id, boost::fusion::deque<std::string, boost::optional<std::string>>>{
        "text index"} = (kw("text") >> ident) > text_language;

const auto clause_def =
    located[(kw("from") > string_list)[Act("from", fill_names)] |
            (kw("audit") > audit_list)[Act("audit", fill_audit)] |
            (kw("correlation") > expr)[Act("correlation", fill_expr)] |
            (kw("key") > expr_list)[Act("key", fill_exprs)] |
            (kw("type") > expr)[Act("type", fill_expr)] |
            (kw("time") > expr)[Act("time", fill_expr)] | (kw("id") > expr)[Act("id", fill_expr)] |
            kw("dedupe")[([](auto& ctx) { x3::_val(ctx).kind = "dedupe"; })] |
            (kw("where") > expr)[Act("where", fill_expr)] |
            (kw("on") > on_names > block)[Act("on", fill_on)] |
            (kw("index") >> text_index)[Act("index text", fill_text_index)] |
            (kw("index") > ident_list)[Act("index", fill_names)] |
            (kw("history") > history_spec)[Act("history", fill_word)] |
            (kw("errors") > errors_word)[Act("errors", fill_word)] |
            (kw("format") > format_word)[Act("format", fill_word)] |
            (kw("alert") > kw("lag") > '>' > digits > alert_seconds)[Act("alert", fill_alert)]];

const auto clause_end = x3::rule<struct clause_end_id>{"clause or '}'"} = x3::lit('}');
const auto projection_def = kw("projection") > ident > '{' > *clause > clause_end;
const auto file_def = *projection;

BOOST_SPIRIT_DEFINE(clause, projection, file)

// ---- queries ----
struct query_clause_id : Annotate {};
struct order_item_id : Annotate {};
struct select_item_id : Annotate {};
struct alias_name_id : Annotate {};
struct query_id : Annotate {};
const x3::rule<query_clause_id, ast::QueryClause> query_clause = "query clause";
const x3::rule<order_item_id, ast::OrderItem> order_item = "field";
const x3::rule<select_item_id, ast::SelectItem> select_item = "expression";
const x3::rule<alias_name_id, ast::Name> alias_name = "alias name";
const x3::rule<query_id, ast::Query> query = "query";

template <typename F>
auto QAct(const char* kind, F fill) {
  return [kind, fill](auto& ctx) {
    x3::_val(ctx).kind = kind;
    fill(x3::_val(ctx), x3::_attr(ctx));
  };
}
const auto q_exprs = [](ast::QueryClause& c, auto& a) { c.exprs = a; };
const auto q_expr = [](ast::QueryClause& c, auto& a) { c.exprs = {a}; };
const auto q_word = [](ast::QueryClause& c, auto& a) { c.word = a; };
const auto q_order = [](ast::QueryClause& c, auto& a) { c.order = a; };
const auto q_items = [](ast::QueryClause& c, auto& a) { c.items = a; };
const auto direction = x3::rule<struct direction_id, std::string>{"direction"} =
    kw_str("asc") | kw_str("desc") | x3::attr(std::string());

// An order by item: a name (a field, `key` or an alias) or an expression, kept as its source
// text (`count()`, `sum(balance)`, `v * 2`), which names the select item of that text.
const auto order_key = x3::rule<struct order_key_id, std::string>{"field"} = x3::raw[expr];
const auto order_item_def = order_key >> direction;
const auto order_list = x3::rule<struct order_list_id, std::vector<ast::OrderItem>>{"field"} =
    order_item % ',';

// `as NAME` after a select item; not `as of`, the clause. The words of the query's clauses
// are no alias names.
const char* const kQueryWords[] = {"as",    "of",     "from",  "where", "select",
                                   "group", "having", "order", "by",    "limit"};
const auto set_alias = [](auto& ctx) {
  for (const char* w : kQueryWords) {
    if (x3::_attr(ctx) == w) {
      x3::_pass(ctx) = false;
      return;
    }
  }
  x3::_val(ctx).name = x3::_attr(ctx);
};
const auto alias_name_def = located[name_ident[set_alias]];
const auto select_item_def = expr >> -((kw("as") >> !kw("of")) > alias_name);
const auto select_list =
    x3::rule<struct select_list_id, std::vector<ast::SelectItem>>{"expression"} = select_item % ',';

const auto query_clause_def =
    located[(kw("as") > kw("of") > string_value)[QAct("as of", q_word)] |
            (kw("where") > expr)[QAct("where", q_expr)] |
            (kw("select") > select_list)[QAct("select", q_items)] |
            (kw("group") > kw("by") > expr_list)[QAct("group by", q_exprs)] |
            (kw("having") > expr)[QAct("having", q_expr)] |
            (kw("order") > kw("by") > order_list)[QAct("order by", q_order)] |
            (kw("limit") > digits)[QAct("limit", q_word)]];
const auto query_end = x3::rule<struct query_end_id>{"query clause or end of query"} = x3::eoi;
const auto query_def = kw("from") > ident > *query_clause > query_end;

BOOST_SPIRIT_DEFINE(order_item, alias_name, select_item, query_clause, query)

std::string DescribeExpected(const std::string& which) {
  if (which.empty()) return "syntax error";
  return "expected " + which;
}

}  // namespace

bool ParseFile(std::string_view text, ast::File* out, std::vector<ParseError>* errors) {
  out->projections.clear();
  const Iterator begin = text.begin();
  const Iterator end = text.end();
  Iterator it = begin;
  bool ok = true;
  expressions_left = std::numeric_limits<size_t>::max();
  while (true) {
    ast::File part;
    Iterator start = it;
    Iterator error_at = end;
    std::string message;
    try {
      bool r = x3::phrase_parse(it, end, x3::with<begin_tag>(begin)[file], skipper, part);
      x3::parse(it, end, *skipper);
      if (r && it == end) {
        for (auto& p : part.projections) out->projections.push_back(std::move(p));
        break;
      }
      error_at = it;
      message = "expected 'projection'";
    } catch (const x3::expectation_failure<Iterator>& e) {
      error_at = e.where();
      message = DescribeExpected(e.which());
    } catch (const NestingTooDeep& e) {
      error_at = begin + static_cast<std::ptrdiff_t>(e.offset);
      message = TooDeepMessage();
    } catch (const ExpressionTooLong& e) {
      error_at = begin + static_cast<std::ptrdiff_t>(e.offset);
      message = TooLongMessage();
    }
    ok = false;
    x3::parse(error_at, end, *skipper);  // point at the offending token, not the blank before
    // Projections that parsed completely before the error are kept (the checker may still
    // report their own errors).
    for (auto& p : part.projections) {
      if (p.end_offset != 0) out->projections.push_back(std::move(p));
    }
    errors->push_back({static_cast<size_t>(error_at - begin), message});
    // Resume at the next line that starts with `projection`, past the error.
    size_t from = static_cast<size_t>(error_at - begin);
    if (error_at == start) ++from;
    size_t next = std::string_view::npos;
    for (size_t pos = text.find("projection", from); pos != std::string_view::npos;
         pos = text.find("projection", pos + 1)) {
      size_t line_start = pos;
      while (line_start > 0 && (text[line_start - 1] == ' ' || text[line_start - 1] == '\t')) {
        --line_start;
      }
      if (line_start == 0 || text[line_start - 1] == '\n') {
        next = pos;
        break;
      }
    }
    if (next == std::string_view::npos) break;
    it = begin + static_cast<std::ptrdiff_t>(next);
  }
  return ok;
}

bool ParseQuery(std::string_view text, ast::Query* out, ParseError* error) {
  const Iterator begin = text.begin();
  const Iterator end = text.end();
  Iterator it = begin;
  expressions_left = kMaxQueryExpressions;
  try {
    bool r = x3::phrase_parse(it, end, x3::with<begin_tag>(begin)[query], skipper, *out);
    if (r) return true;
    x3::parse(it, end, *skipper);
    error->offset = static_cast<size_t>(it - begin);
    error->message = "expected 'from'";
  } catch (const x3::expectation_failure<Iterator>& e) {
    Iterator at = e.where();
    x3::parse(at, end, *skipper);
    error->offset = static_cast<size_t>(at - begin);
    error->message = DescribeExpected(e.which());
  } catch (const NestingTooDeep& e) {
    error->offset = e.offset;
    error->message = TooDeepMessage();
  } catch (const ExpressionTooLong& e) {
    error->offset = e.offset;
    error->message = TooLongMessage();
  } catch (const TooManyExpressions& e) {
    error->offset = e.offset;
    error->message = TooManyMessage();
  }
  return false;
}

}  // namespace projd::dsl
