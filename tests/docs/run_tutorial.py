#!/usr/bin/env python3
"""Runs the tutorial (docs/tutorial.md) as a reader would: every ```sh block, in order, in one
bash session in a fresh folder, with projd and projctl on the PATH; after a block followed by an
```output block, each line of that block must appear in what the block printed. Port 8090 is
replaced by a free one. Exit 1 on the first difference or failing command.

usage: run_tutorial.py TUTORIAL.md BIN_DIR
"""
import os
import re
import socket
import subprocess
import sys
import tempfile


def blocks(text):
    """(kind, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.S | re.M)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    tutorial, bin_dir = sys.argv[1], sys.argv[2]
    text = open(tutorial).read()
    port = str(free_port())
    steps = []  # (command block, expected lines or None)
    found = blocks(text)
    for i, (kind, body) in enumerate(found):
        if kind != "sh":
            continue
        expected = None
        if i + 1 < len(found) and found[i + 1][0] == "output":
            expected = [l.strip() for l in found[i + 1][1].splitlines() if l.strip()]
        steps.append((body.replace("8090", port), expected))
    if not steps:
        sys.exit("no sh blocks in " + tutorial)
    work = tempfile.mkdtemp(prefix="projd-tutorial-")
    script = ["set -euo pipefail"]
    for n, (body, _) in enumerate(steps):
        script.append("echo '@@step %d@@'" % n)
        script.append(body)
    script.append("echo '@@end@@'")
    env = dict(os.environ)
    env["PATH"] = os.path.abspath(bin_dir) + os.pathsep + env["PATH"]
    try:
        run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=240)
    except subprocess.TimeoutExpired as e:
        print(e.stdout or "")
        subprocess.run(["pkill", "-f", "--", "--data data --listen 127.0.0.1:" + port])
        sys.exit("FAIL: the tutorial did not finish within 240 s")
    out = run.stdout
    parts = re.split(r"^@@(step \d+|end)@@$", out, flags=re.M)
    # parts: [before, "step 0", text0, "step 1", text1, ..., "end", rest]
    outputs = {}
    for j in range(1, len(parts) - 1, 2):
        m = re.match(r"step (\d+)", parts[j])
        if m:
            outputs[int(m.group(1))] = parts[j + 1]
    failed = False
    if run.returncode != 0 or "@@end@@" not in out:
        last = max(outputs) if outputs else 0
        print("FAIL: step %d exited %d:\n%s\n--- output:\n%s" %
              (last, run.returncode, steps[last][0], outputs.get(last, out)))
        failed = True
    for n, (body, expected) in enumerate(steps):
        if failed or expected is None:
            continue
        got = outputs.get(n, "")
        squeezed = re.sub(r"\s+", " ", got)
        for line in expected:
            if line not in got and re.sub(r"\s+", " ", line) not in squeezed:
                print("FAIL: step %d did not print %r\n--- commands:\n%s\n--- output:\n%s" %
                      (n, line, body, got))
                failed = True
                break
    subprocess.run(["pkill", "-f", "--", "--data data --listen 127.0.0.1:" + port])
    if failed:
        sys.exit(1)
    print("tutorial: %d steps ran as written" % len(steps))


if __name__ == "__main__":
    main()
