"""Schemathesis against a live projd: no 5xx answer, every answer as /openapi.json says.

Starts `projd --demo` (embedded broker, example projections and events, and a view with
history) on a free loopback port, waits until its views are live, then runs Schemathesis (from
the venv that scripts/install-deps.sh makes) over the document the server itself serves, with
every check, a bounded number of examples and a fixed seed (PROJD_SCHEMATHESIS_SEED changes
it). Fails if Schemathesis finds anything, or if projd does not stop cleanly afterwards.

usage: schemathesis_test.py PROJD_BIN SOURCE_DIR ST_BIN WORK_DIR [MAX_EXAMPLES]
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HISTORY_PROJECTION = """
projection balance_history {
  from "account-events"
  key event.account_id
  time event.ts
  on AccountOpened { owner = event.owner  balance = 0 }
  on Deposited, InterestPaid { balance += event.amount }
  on Withdrawn { balance -= event.amount }
  history all
}
"""


def main():
    projd_bin, source, st_bin, work = sys.argv[1:5]
    max_examples = sys.argv[5] if len(sys.argv) > 5 else "30"
    os.makedirs(work, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="projd-schemathesis-")
    log_path = os.path.join(work, "projd.log")
    log = open(log_path, "w")
    # The example projections, and one that keeps history (so that as_of reads and row history
    # answer 200 too).
    projections = os.path.join(tmp, "projections")
    shutil.copytree(os.path.join(source, "projections"), projections)
    with open(os.path.join(projections, "balance_history.proj"), "w") as f:
        f.write(HISTORY_PROJECTION)
    projd = subprocess.Popen(
        [projd_bin, "--demo", "--projections", projections,
         "--demo-events", os.path.join(source, "examples", "banking-events.jsonl"),
         "--data", os.path.join(tmp, "data"), "--listen", "127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        base = None
        deadline = time.time() + 30
        while base is None:
            if projd.poll() is not None or time.time() > deadline:
                sys.exit("projd did not start:\n" + open(log_path).read())
            m = re.search(r"HTTP API listening on ([0-9.]+:[0-9]+)", open(log_path).read())
            if m:
                base = "http://" + m.group(1)
            time.sleep(0.1)
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz") as r:
                    if json.load(r)["ready"]:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("projd's views did not catch up:\n" + open(log_path).read())
            time.sleep(0.2)
        seed = os.environ.get("PROJD_SCHEMATHESIS_SEED", "20261128")
        cmd = [st_bin, "--no-color", "--config-file",
               os.path.join(source, "tests", "api", "schemathesis.toml"),
               "run", base + "/openapi.json",
               "--max-examples", max_examples, "--seed", seed, "--workers", "1",
               "--report", "junit", "--report-dir", os.path.join(work, "report")]
        print(" ".join(cmd), flush=True)
        status = subprocess.run(cmd, cwd=work).returncode
        if projd.poll() is not None:
            sys.exit("projd died during the run:\n" + open(log_path).read())
    finally:
        if projd.poll() is None:
            projd.send_signal(signal.SIGTERM)
            try:
                code = projd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                projd.kill()
                code = "killed after 30 s"
            if code != 0:
                print(f"projd did not stop cleanly ({code}):\n" + open(log_path).read())
                status = 1
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
