// Parsing of projection files and queries into the syntax tree (dsl/ast.h).
// Internal to dsl/: callers use dsl/compiler.h.
#ifndef PROJD_DSL_PARSER_H_
#define PROJD_DSL_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

#include "dsl/ast.h"

namespace projd::dsl {

struct ParseError {
  size_t offset = 0;  // byte offset into the text
  std::string message;
};

// Parses a whole .proj file. After a syntax error the parser resumes at the next line that
// starts with `projection`, so one call reports an error per broken projection. Returns true
// when there were no errors; *out holds the projections that parsed either way.
bool ParseFile(std::string_view text, ast::File* out, std::vector<ParseError>* errors);

// Parses one query (`from VIEW ...`). Returns false and sets *error on a syntax error.
bool ParseQuery(std::string_view text, ast::Query* out, ParseError* error);

}  // namespace projd::dsl

#endif  // PROJD_DSL_PARSER_H_
