// Fuzz target: a .proj file through the parser and the checker (dsl::CompileFile).
//
// Invariants besides "no crash, no sanitizer report": every diagnostic formats, and each
// projection of a good file compiles again from its own definition text to the same name and
// definition hash (projd recompiles stored definitions when it restarts).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dsl/compiler.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  projd::CompiledFile compiled = projd::CompileFile("fuzz.proj", text);
  for (const auto& d : compiled.diagnostics) {
    FUZZ_CHECK(d.line >= 1 && d.column >= 1, d.Format().c_str());
    std::string formatted = d.Format();
    FUZZ_CHECK(!formatted.empty(), "empty diagnostic");
  }
  if (!compiled.ok()) return 0;
  for (const auto& p : compiled.projections) {
    projd::CompiledFile again = projd::CompileFile("again.proj", p->definition());
    std::string why = p->definition();
    for (const auto& d : again.diagnostics) why += "\n" + d.Format();
    FUZZ_CHECK(again.ok() && again.projections.size() == 1, why.c_str());
    FUZZ_CHECK(again.projections[0]->name() == p->name(), why.c_str());
    FUZZ_CHECK(again.projections[0]->definition_hash() == p->definition_hash(), why.c_str());
  }
  return 0;
}
