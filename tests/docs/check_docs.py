#!/usr/bin/env python3
"""Checks every example of a Markdown document against projctl, so the document cannot drift
from the implementation.

Fenced blocks, by their info string:
  ```proj        a projection file: `projctl check` must accept it. When ```jsonl (events) and
                 ```json (the expected view) follow, `projctl test --expect` must agree, and the
                 dead letters must be exactly those of a following ```dead block (none if there
                 is no such block), one per line: "TOPIC:PARTITION:OFFSET: reason" or
                 "stopped at TOPIC:PARTITION:OFFSET: reason".
  ```proj-error  a file that must NOT compile; the ```error block that follows holds its exact
                 diagnostics (the file is named example.proj).
Other blocks (```text, ```sh, ...) are prose.

usage:
  check_docs.py --projctl PATH DOC.md [--coverage SRC_DIR]
  check_docs.py --projctl PATH --self-test FIXTURE_DIR [--coverage SRC_DIR]
With --coverage, every function of the compiler (dsl/compiler*.cc) and every clause and
statement of dsl/parser.cc must appear in an example, and every load-time error message of the
compiler (the query language's dsl/compiler_query.cc aside) that is a single string literal must
appear in the document. --self-test runs the checker on each fixture: good*.md
must pass, every other fixture must fail with the text of its <!-- expect: ... --> comment.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```([A-Za-z-]*)\s*$")


def blocks(path):
    """Yields (line, info, text) for each fenced block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, info, body = i + 1, m.group(1), []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise SystemExit(f"{path}:{start}: unterminated ``` block")
        i += 1
        yield start, info, "\n".join(body) + "\n"


class Example:
    def __init__(self, line, kind, text):
        self.line, self.kind, self.text = line, kind, text
        self.events = self.expected = self.dead = self.error = None
        self.dead_line = None


def group(path):
    """Groups the blocks into examples; returns (examples, problems)."""
    examples, problems, current = [], [], None
    for line, info, text in blocks(path):
        if info in ("proj", "proj-error"):
            current = Example(line, info, text)
            examples.append(current)
            continue
        if info not in ("jsonl", "json", "dead", "error"):
            continue
        attr = {"jsonl": "events", "json": "expected", "dead": "dead", "error": "error"}[info]
        wants_error = info == "error"
        if current is None or (current.kind == "proj-error") != wants_error:
            problems.append(f"{path}:{line}: a ```{info} block must follow a ```"
                            f"{'proj-error' if wants_error else 'proj'} example")
            continue
        if getattr(current, attr) is not None:
            problems.append(f"{path}:{line}: a second ```{info} block for the example at line "
                            f"{current.line}")
            continue
        if info == "json" and current.events is None:
            problems.append(f"{path}:{line}: a ```json result needs ```jsonl events before it")
            continue
        setattr(current, attr, text)
        if info == "dead":
            current.dead_line = line
    return examples, problems


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def dead_letters(stderr):
    out = []
    for l in stderr.splitlines():
        m = re.match(r"^\S+: dead letter (.*)$", l)
        if m:
            out.append(m.group(1))
            continue
        m = re.match(r"^\S+: stopped at (\S+) \(errors stop\): (.*)$", l)
        if m:
            out.append(f"stopped at {m.group(1)}: {m.group(2)}")
    return out


def check_example(projctl, path, ex, work):
    """Returns a list of problems with one example."""
    where = f"{path}:{ex.line}"
    proj = os.path.join(work, "example.proj")
    with open(proj, "w", encoding="utf-8") as f:
        f.write(ex.text)
    code, out, err = run([projctl, "check", "example.proj"], work)
    if ex.kind == "proj-error":
        if ex.error is None:
            return [f"{where}: a ```proj-error example needs an ```error block with its message"]
        if code == 0:
            return [f"{where}: the example should not compile, but projctl check accepts it"]
        got = "\n".join(l for l in err.rstrip("\n").split("\n")
                        if not re.match(r"^\d+ errors?$", l))
        if got.rstrip() != ex.error.rstrip():
            return [f"{where}: projctl check gives other errors than the ```error block says\n"
                    f"--- expected\n{ex.error.rstrip()}\n--- got\n{got.rstrip()}"]
        return []
    if code != 0:
        return [f"{where}: projctl check rejects the example:\n{err.rstrip()}"]
    if ex.events is None:
        if ex.expected is not None or ex.dead is not None:
            return [f"{where}: a result without ```jsonl events"]
        return []
    if ex.expected is None:
        return [f"{where}: ```jsonl events without a ```json result"]
    events = os.path.join(work, "events.jsonl")
    expected = os.path.join(work, "expected.json")
    with open(events, "w", encoding="utf-8") as f:
        f.write(ex.events)
    with open(expected, "w", encoding="utf-8") as f:
        f.write(ex.expected)
    problems = []
    code, out, err = run([projctl, "test", "example.proj", "--events", "events.jsonl",
                          "--expect", "expected.json"], work)
    if code != 0:
        code2, view, _ = run([projctl, "test", "example.proj", "--events", "events.jsonl"], work)
        problems.append(f"{where}: the view differs from the ```json block:\n{out.rstrip()}"
                        f"{err.rstrip()}\n--- the view the events give\n{view.rstrip()}")
    want = [l for l in (ex.dead or "").split("\n") if l.strip()]
    got = dead_letters(err)
    if want != got:
        problems.append(f"{path}:{ex.dead_line or ex.line}: dead letters differ\n--- expected\n"
                        + "\n".join(want) + "\n--- got\n" + "\n".join(got))
    return problems


def coverage(src, examples, doc):
    """Every function, clause and statement of the language appears in an example."""
    # The compiler is dsl/compiler.cc and the dsl/compiler_*.cc files beside it.
    dsl = os.path.join(src, "dsl")
    sources = {}
    for name in sorted(os.listdir(dsl)):
        if re.fullmatch(r"compiler(_\w+)?\.cc", name):
            with open(os.path.join(dsl, name), encoding="utf-8") as f:
                sources[name] = f.read()
    compiler = "".join(sources.values())
    with open(os.path.join(src, "dsl", "parser.cc"), encoding="utf-8") as f:
        parser = f.read()
    functions = re.findall(r'\{"(\w+)", ExprNode::Func::', compiler)
    clauses = re.findall(r'\bAct\("(\w+)"', parser) + ["dedupe"]
    statements = re.search(r"kStatementWords\[\] = \{([^}]*)\}", parser).group(1)
    statements = re.findall(r'"(\w+)"', statements)
    if len(functions) < 10 or len(clauses) < 10 or len(statements) < 5:
        return ["coverage: cannot read the functions, clauses and statements from dsl/"]
    text = "".join(ex.text for ex in examples if ex.kind == "proj")
    # Query examples count for what only queries use (score()).
    text += "".join(re.findall(r"^```query\n(.*?)^```", doc, re.S | re.M))
    # Comments are not examples of use.
    code = "\n".join(l.split("#")[0] if '"' not in l else l for l in text.split("\n"))
    problems = []
    for fn in functions:
        if not re.search(r"\b" + fn + r"\(", code):
            problems.append(f"coverage: no example calls {fn}()")
    for word in clauses + statements:
        if not re.search(r"\b" + word + r"\b", code):
            problems.append(f"coverage: no example uses '{word}'")
    # Every load-time error message that is one whole string literal is in the document (the
    # query language's own messages aside).
    if "Compiler::CompileQueryAst(" not in sources.get("compiler_query.cc", ""):
        return problems + ["coverage: cannot find the query compiler in dsl/compiler_query.cc"]
    file_compiler = "".join(text for name, text in sources.items() if name != "compiler_query.cc")
    messages = re.findall(r'Error\([^;"]*?,\s*"((?:[^"\\]|\\.)*)"\);', file_compiler)
    if len(messages) < 8:
        return problems + ["coverage: cannot read the error messages of dsl/compiler*.cc"]
    for m in messages:
        if "query" in m:  # the query language (README: Queries), not .proj files
            continue
        if m.replace('\\"', '"') not in doc:
            problems.append(f"coverage: the load-time error '{m}' is not in the document")
    return problems


def check_document(projctl, path, src=None):
    examples, problems = group(path)
    if not examples:
        problems.append(f"{path}: no ```proj examples")
    with tempfile.TemporaryDirectory() as work:
        for ex in examples:
            problems += check_example(projctl, path, ex, work)
    if src:
        with open(path, encoding="utf-8") as f:
            problems += coverage(src, examples, f.read())
    return examples, problems


def self_test(projctl, fixtures, src=None):
    failures = 0
    names = sorted(n for n in os.listdir(fixtures) if n.endswith(".md"))
    for name in names:
        path = os.path.join(fixtures, name)
        with open(path, encoding="utf-8") as f:
            expect = re.findall(r"<!-- expect: (.*?) -->", f.read())
        # coverage_*.md fixtures are checked for coverage of the language too.
        _, problems = check_document(projctl, path, src if name.startswith("coverage") else None)
        report = "\n".join(problems)
        if name.startswith("good"):
            ok = not problems
            why = "should pass:\n" + report
        else:
            ok = bool(problems) and bool(expect) and all(e in report for e in expect)
            why = f"should fail with {expect}, got:\n{report or '(no problem found)'}"
        print(("ok   " if ok else "FAIL ") + name)
        if not ok:
            failures += 1
            print("  " + why.replace("\n", "\n  "))
    if len(names) < 2:
        print(f"self-test: expected fixtures in {fixtures}")
        return 1
    print(f"{len(names)} fixtures, {failures} not as expected")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--projctl", required=True)
    ap.add_argument("--self-test", metavar="FIXTURE_DIR")
    ap.add_argument("--coverage", metavar="SRC_DIR")
    ap.add_argument("doc", nargs="?")
    a = ap.parse_args()
    projctl = os.path.abspath(a.projctl)
    if a.self_test:
        return self_test(projctl, a.self_test, a.coverage)
    if not a.doc:
        ap.error("DOC.md is required")
    examples, problems = check_document(projctl, a.doc, a.coverage)
    for p in problems:
        print(p)
    print(f"{a.doc}: {len(examples)} examples, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
