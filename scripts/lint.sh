#!/usr/bin/env bash
# Lints projd's C++ with clang-format-14 (--dry-run -Werror, .clang-format) and clang-tidy-14
# (.clang-tidy, with the compile commands of build/):
#   scripts/lint.sh            the C++ files changed in the last PROJD_LINT_COMMITS (10) commits
#   scripts/lint.sh FILE...    the C++ files given (e.g. $(git diff --name-only) before a commit)
# Exits 1 when either tool finds something. Only changed files are linted, so that findings
# older than the rule (long functions nobody touched) do not fail a run about other code.
#
# Which files: *.cc and *.h in every top-level source folder (dsl/, connectors/, engine/ and any
# folder added beside them), not in tests/, bench/ (test and measurement code) or build*/.
# Files changed by the last commits but since deleted are skipped; a shallow clone only sees the
# commits it has. clang-tidy needs build/compile_commands.json (scripts/build.sh writes it;
# PROJD_LINT_BUILD_DIR names another build folder) and runs PROJD_JOBS (2) files at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

commits=${PROJD_LINT_COMMITS:-10}
build_dir=${PROJD_LINT_BUILD_DIR:-build}
jobs=${PROJD_JOBS:-2}

# is_linted PATH: a C++ file of a source folder.
is_linted() {
  case $1 in
    tests/* | bench/* | build*/* | */node_modules/*) return 1 ;;
    */*.cc | */*.h) return 0 ;;
    *) return 1 ;;
  esac
}

files=()
if [[ $# -gt 0 ]]; then
  for f in "$@"; do
    f=${f#./}
    if [[ ! -f $f ]]; then
      echo "lint.sh: no such file: $f" >&2
      exit 2
    fi
    case $f in
      *.cc | *.h) files+=("$f") ;;
      *) echo "lint.sh: skipping $f (not a .cc or .h file)" >&2 ;;
    esac
  done
else
  if ! [[ $commits =~ ^[0-9]+$ ]]; then
    echo "lint.sh: PROJD_LINT_COMMITS must be a number of commits, not '$commits'" >&2
    exit 2
  fi
  while IFS= read -r f; do
    if [[ -n $f && -f $f ]] && is_linted "$f"; then files+=("$f"); fi
  done < <(git log -n "$commits" --format= --name-only | sort -u)
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "lint.sh: no C++ files to lint"
  exit 0
fi
echo "lint.sh: ${#files[@]} file(s): ${files[*]}"

for tool in clang-format-14 clang-tidy-14; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "lint.sh: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 2
  fi
done
if [[ ! -f $build_dir/compile_commands.json ]]; then
  echo "lint.sh: $build_dir/compile_commands.json is missing: build first (scripts/build.sh)" >&2
  exit 2
fi

status=0
# clang-format: the first few places per file; `clang-format-14 -i FILE` fixes them all.
echo "lint.sh: clang-format-14"
unformatted=()
for f in "${files[@]}"; do
  if ! clang-format-14 --dry-run -Werror --ferror-limit=3 "$f" 2>&1; then unformatted+=("$f"); fi
done
if [[ ${#unformatted[@]} -gt 0 ]]; then
  echo "lint.sh: not clang-formatted (run clang-format-14 -i on them): ${unformatted[*]}"
  status=1
fi

# clang-tidy, PROJD_JOBS files at a time; each file's report is kept apart and printed whole.
# A header is linted on its own (clang-tidy borrows the flags of a source file beside it); a
# source file's report covers that file only, not the headers it includes.
echo "lint.sh: clang-tidy-14 (-p $build_dir, $jobs at a time)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tidy_one() {
  local file=$1 out=$2 log
  log=$out/$(printf '%s' "$file" | tr '/' '_').log
  if clang-tidy-14 --quiet -p "$build_dir" "$file" >"$log" 2>&1; then
    rm -f "$log"
  else
    echo "lint.sh: clang-tidy: $file" >>"$out/failed"
  fi
}
export -f tidy_one
export build_dir
if ! printf '%s\0' "${files[@]}" |
  xargs -0 -n 1 -P "$jobs" bash -c 'tidy_one "$2" "$1"' _ "$out"; then
  status=1
fi
for log in "$out"/*.log; do
  [[ -e $log ]] || continue
  grep -Ev '^[0-9]+ (warning|error)s? (and [0-9]+ (warning|error)s? )?generated\.$' "$log" || true
done
if [[ -f $out/failed ]]; then
  sort "$out/failed"
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "lint.sh: clean"
fi
exit $status
