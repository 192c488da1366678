#!/usr/bin/env python3
"""ctest package_config: deploy/projd.toml, the sample /etc/projd/projd.toml of the package.

usage: config_test.py PROJD SOURCE_DIR

- it documents every setting projd's config file accepts: the names Apply() and
  LoadConfig() of cmd/projd_main.cc compare against, `-` written `_`; and no other;
- each setting comes with its default (a comment saying `Default` or `Required` above it);
- projd accepts it as shipped, and with every commented setting switched on (the
  documented example values are valid);
- the check itself tells a bad file from a good one: a file with an unknown key is refused.

projd has no "check the config" mode: it is run with the file and `--auth` naming a file
that does not exist (a flag wins over the file), which makes it stop with exit 1 at its first
step after the whole command line and file were read and checked, before it listens or reads
anything else; a config error is exit 2. --data and --projections also point into a scratch
folder, so that nothing of the machine is touched.
"""

import os
import re
import subprocess
import sys
import tempfile

# A setting line, commented or not: `# key = value` or `key = value`.
SETTING = re.compile(r"^#?\s*([a-z][a-z0-9_-]*)\s*=\s*(.+)$")
TABLE = re.compile(r"^#?\s*\[([a-z_]+)\]\s*$")
# An entry of a table: `# "security.protocol" = "SSL"`.
TABLE_ENTRY = re.compile(r'^#?\s*("[^"]+"|[A-Za-z0-9_.-]+)\s*=\s*(.+)$')


def source_settings(src):
    """The setting names cmd/projd_main.cc accepts in a config file."""
    with open(os.path.join(src, "cmd", "projd_main.cc")) as f:
        code = f.read()
    names = set()
    for func in ("bool Apply(", "bool LoadConfig("):
        start = code.find(func)
        if start < 0:
            raise SystemExit("FAIL: no %s in cmd/projd_main.cc" % func)
        end = code.find("\n}\n", start)
        body = code[start:end]
        names |= set(re.findall(r'\b(?:name|key)\s*==\s*"([a-z0-9-]+)"', body))
    names = {n.replace("-", "_") for n in names}
    # kafka-prop (the flag's name, KEY=VALUE) and kafka-props name the same table in a file.
    if "kafka_prop" in names:
        names.discard("kafka_prop")
        names.add("kafka_props")
    if len(names) < 10:
        raise SystemExit("FAIL: found only %s in cmd/projd_main.cc" % sorted(names))
    return names


def documented(lines):
    """{setting: line index} of deploy/projd.toml, and the table names it has."""
    keys, tables, in_table = {}, {}, False
    for i, line in enumerate(lines):
        t = TABLE.match(line)
        if t:
            tables[t.group(1)] = i
            in_table = True
            continue
        m = SETTING.match(line)
        if m and not in_table:
            keys.setdefault(m.group(1).replace("-", "_"), i)
    return keys, tables


def has_default(lines, i):
    """The comment lines right above line i say the default (or that there is none)."""
    j = i - 1
    while j >= 0 and lines[j].startswith("#"):
        if "Default" in lines[j] or "Required" in lines[j]:
            return True
        j -= 1
    return False


def run_projd(projd, config, scratch):
    os.makedirs(os.path.join(scratch, "projections"), exist_ok=True)
    r = subprocess.run(
        [projd, "--config", config, "--auth", os.path.join(scratch, "no-such-auth.toml"),
         "--data", os.path.join(scratch, "data"),
         "--projections", os.path.join(scratch, "projections")],
        capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def accepted(projd, config, scratch):
    rc, out = run_projd(projd, config, scratch)
    return rc == 1 and "no-such-auth.toml" in out, rc, out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    projd, src = sys.argv[1:]
    path = os.path.join(src, "deploy", "projd.toml")
    with open(path) as f:
        lines = f.read().splitlines()
    errors = []

    want = source_settings(src)
    keys, tables = documented(lines)
    have = set(keys) | set(tables)
    for k in sorted(want - have):
        errors.append("projd accepts `%s`, deploy/projd.toml does not document it" % k)
    for k in sorted(have - want):
        errors.append("deploy/projd.toml documents `%s`, projd does not accept it" % k)
    for k, i in sorted(list(keys.items()) + list(tables.items())):
        if not has_default(lines, i):
            errors.append("`%s` (line %d) has no comment saying its default" % (k, i + 1))

    # Every commented setting switched on: settings set already stay as they are; the
    # commented table comes last with its commented entries.
    active = {SETTING.match(l).group(1) for l in lines if SETTING.match(l) and not l.startswith("#")}
    everything, in_table = [], False
    for line in lines:
        if TABLE.match(line):
            in_table = True
            everything.append(line.lstrip("#").strip())
            continue
        m = SETTING.match(line)
        if in_table and TABLE_ENTRY.match(line) or (
                m and line.startswith("#") and m.group(1) not in active):
            everything.append(line.lstrip("#").strip())
        else:
            everything.append(line)

    with tempfile.TemporaryDirectory() as tmp:
        variants = {"as shipped": path}
        for name, text in (("every setting on", everything),
                           ("an unknown key", lines[:1] + ["no_such_setting = 1"] + lines[1:])):
            p = os.path.join(tmp, name.replace(" ", "_") + ".toml")
            with open(p, "w") as f:
                f.write("\n".join(text) + "\n")
            variants[name] = p
        for name, p in variants.items():
            ok, rc, out = accepted(projd, p, tmp)
            if name == "an unknown key":
                if ok or rc != 2 or not re.search(r"no[_-]such[_-]setting", out):
                    errors.append("projd did not refuse a config with an unknown key "
                                  "(exit %d): %s" % (rc, out.strip()))
            elif not ok:
                errors.append("projd refused deploy/projd.toml %s (exit %d): %s"
                              % (name, rc, out.strip()))
            else:
                print("ok: projd accepts deploy/projd.toml %s" % name)

    print("settings documented: %s" % " ".join(sorted(have)))
    if errors:
        for e in errors:
            print("FAIL: " + e)
        sys.exit(1)
    print("package_config: deploy/projd.toml documents every setting, with its default")


if __name__ == "__main__":
    main()
