// The front door of the compiler (compiler.h): CompileFile, CompileFiles, CompileDirectory and
// CompileQuery; diagnostics; the source text helpers shared by the compiler's files. The checks
// and plans are in compiler_expr.cc (expressions), compiler_projection.cc (statements and
// clauses) and compiler_query.cc (queries).
#include "dsl/compiler.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "dsl/ast.h"
#include "dsl/compiler_internal.h"
#include "dsl/parser.h"
#include "dsl/value_internal.h"

namespace projd {
namespace {

using compiler_internal::LineIndex;

// The Damerau-Levenshtein distance between two names in its optimal string alignment form
// (inserting, deleting or replacing a byte, or swapping two adjacent bytes, is one edit), or
// limit + 1 when it is above `limit`.
size_t EditDistance(std::string_view a, std::string_view b, size_t limit) {
  size_t longer = std::max(a.size(), b.size());
  if (longer - std::min(a.size(), b.size()) > limit) return limit + 1;
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  size_t previous_row_min = 0;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t row_min = d[i][0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
      row_min = std::min(row_min, d[i][j]);
    }
    // A cell is at least the least value of the row above, or of the row two above plus one
    // (a swap): once two rows in a row are past the limit, every later one is too.
    if (row_min > limit && previous_row_min > limit) return limit + 1;
    previous_row_min = row_min;
  }
  return std::min(d[a.size()][b.size()], limit + 1);
}

}  // namespace

namespace compiler_internal {

std::string Normalize(std::string_view text) {
  std::string out;
  bool in_string = false;
  bool pending_space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      pending_space = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
    if (c == '"') in_string = true;
  }
  return out;
}

std::string ClosestName(const std::string& name, const std::vector<std::string>& candidates) {
  size_t limit = std::clamp<size_t>(name.size() / 3, 1, 2);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    if (c == name) continue;
    size_t dist = EditDistance(name, c, limit);
    if (dist < best_distance && dist < name.size()) {
      best = c;
      best_distance = dist;
    }
  }
  return best;
}

std::string HashHex(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace compiler_internal

std::string Diagnostic::Format() const {
  std::string out =
      file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message + "\n";
  if (line > 0) {
    out += source_line + "\n";
    // Keep tabs so the caret lines up under a tab-indented source line.
    int col = 1;
    for (size_t i = 0; i < source_line.size() && col < column; ++i) {
      unsigned char c = static_cast<unsigned char>(source_line[i]);
      if ((c & 0xC0) == 0x80) continue;
      out.push_back(c == '\t' ? '\t' : ' ');
      ++col;
    }
    for (; col < column; ++col) out.push_back(' ');
    out += "^\n";
  }
  return out;
}

namespace {

// A .proj file and a query are UTF-8 text: the first byte that is not, reported at its place
// (its bytes would otherwise become U+FFFD in names and strings, silently).
bool CheckUtf8(std::string_view text, Compiler* compiler) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    size_t len = value_internal::Utf8SequenceLength(p, text.size(), i);
    if (len == 0) {
      char byte[8];
      snprintf(byte, sizeof(byte), "0x%02X", p[i]);
      compiler->Error(i, std::string("not UTF-8: byte ") + byte +
                             " does not begin a well-formed UTF-8 sequence (the text must be "
                             "UTF-8)");
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

CompiledFile CompileFile(std::string_view file_name, std::string_view text) {
  CompiledFile result;
  // A UTF-8 byte order mark (some Windows editors write one) is not part of the text.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Compiler compiler(file_name, text);
  if (!CheckUtf8(text, &compiler)) {
    result.diagnostics = std::move(compiler.diagnostics());
    return result;
  }
  ast::File file;
  std::vector<dsl::ParseError> errors;
  dsl::ParseFile(text, &file, &errors);
  for (const auto& e : errors) compiler.Error(e.offset, e.message);
  std::map<std::string, size_t> names;
  for (const auto& p : file.projections) {
    auto it = names.find(p.name);
    if (it != names.end()) {
      int line, col;
      LineIndex(text).Locate(it->second, &line, &col);
      compiler.Error(p.offset, "duplicate projection '" + p.name + "' (first defined at line " +
                                   std::to_string(line) + ")");
      continue;
    }
    names[p.name] = p.offset;
    auto proj = compiler.CompileProjection(p);
    result.projections.push_back(std::move(proj));
  }
  if (errors.empty() && file.projections.empty()) {
    compiler.Error(0, "no projection in this file (a .proj file holds one or more)");
  }
  result.diagnostics = std::move(compiler.diagnostics());
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return a.line != b.line ? a.line < b.line : a.column < b.column;
                   });
  if (!result.ok()) result.projections.clear();
  return result;
}

CompiledFile CompileFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  CompiledFile result;
  std::map<std::string, std::string> owner;
  for (const auto& [name, text] : files) {
    CompiledFile one = CompileFile(name, text);
    for (auto& d : one.diagnostics) result.diagnostics.push_back(std::move(d));
    for (auto& p : one.projections) {
      auto it = owner.find(p->name());
      if (it != owner.end()) {
        Diagnostic d;
        d.file = name;
        // Point at the projection's own line.
        LineIndex idx(text);
        size_t off = text.find("projection " + p->name());
        idx.Locate(off == std::string::npos ? 0 : off, &d.line, &d.column);
        d.source_line = idx.Line(d.line);
        d.message = "duplicate projection '" + p->name() + "' (also defined in " + it->second + ")";
        result.diagnostics.push_back(std::move(d));
        continue;
      }
      owner[p->name()] = name;
      result.projections.push_back(std::move(p));
    }
  }
  if (!result.ok()) result.projections.clear();
  return result;
}

CompiledFile CompileDirectory(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".proj") names.push_back(entry.path().string());
  }
  if (ec) {
    CompiledFile r;
    Diagnostic d;
    d.file = dir;
    d.message = "cannot read projections folder: " + ec.message();
    r.diagnostics.push_back(d);
    return r;
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::ifstream in(n, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      CompiledFile r;
      Diagnostic d;
      d.file = n;
      d.message = "cannot read file";
      r.diagnostics.push_back(d);
      return r;
    }
    files.emplace_back(n, ss.str());
  }
  return CompileFiles(files);
}

std::unique_ptr<Query> CompileQuery(
    std::string_view text,
    const std::function<std::shared_ptr<const Projection>(const std::string&)>& find_view,
    Diagnostic* diag) {
  Compiler compiler("query", text);
  if (!CheckUtf8(text, &compiler)) {
    *diag = compiler.diagnostics()[0];
    return nullptr;
  }
  ast::Query q;
  dsl::ParseError error;
  if (!dsl::ParseQuery(text, &q, &error)) {
    compiler.Error(error.offset, error.message);
    *diag = compiler.diagnostics()[0];
    return nullptr;
  }
  auto query = compiler.CompileQueryAst(q, find_view);
  if (!query) {
    // The first error in the text (clauses are compiled in an order of their own).
    auto& d = compiler.diagnostics();
    std::stable_sort(d.begin(), d.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    *diag = d[0];
  }
  return query;
}

}  // namespace projd
