// The front door of dsl/: compiles projection files and queries.
//
// Errors are values: each Diagnostic names the file, line and column (1-based) and carries the
// source line for a caret display. Nothing here throws.
#ifndef PROJD_DSL_COMPILER_H_
#define PROJD_DSL_COMPILER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/program.h"
#include "dsl/query.h"

namespace projd {

struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string source_line;

  // "FILE:LINE:COL: message\n<source line>\n<spaces>^"
  std::string Format() const;
};

struct CompiledFile {
  std::vector<std::shared_ptr<const Projection>> projections;
  std::vector<Diagnostic> diagnostics;  // empty when the file is good
  bool ok() const { return diagnostics.empty(); }
};

// Parses and checks one file. Reports every error it can find (one syntax error per broken
// projection, and every check error of the projections that parsed).
CompiledFile CompileFile(std::string_view file_name, std::string_view text);

// Compiles several files together: also reports projections defined twice across files.
CompiledFile CompileFiles(const std::vector<std::pair<std::string, std::string>>& files);

// Reads and compiles every *.proj file in `dir` (sorted by name). A folder that cannot be read
// is a diagnostic too.
CompiledFile CompileDirectory(const std::string& dir);

// Parses and checks a query. `find_view` resolves a view name to its projection (nullptr when
// unknown). On error returns nullptr and sets *diag (file "query").
std::unique_ptr<Query> CompileQuery(
    std::string_view text,
    const std::function<std::shared_ptr<const Projection>(const std::string&)>& find_view,
    Diagnostic* diag);

}  // namespace projd

#endif  // PROJD_DSL_COMPILER_H_
