#!/usr/bin/env bash
# ctest package: builds the .deb from the build folder's CPack configuration into a scratch
# folder (the build folder is left as it is) and checks it:
#   - its file name is projd_VERSION_ARCH.deb, its control fields (dpkg-deb -I): name,
#     version, architecture, maintainer, description, Depends computed by dpkg-shlibdeps,
#     the conffile and the maintainer scripts;
#   - its contents (dpkg-deb -c): both programs, the unit, the sample config, the projections
#     folder, the docs; the packed unit and config are the ones in deploy/;
#   - unpacked (dpkg-deb -x) into a scratch root, both programs print their version, and
#     projd reads the packed config;
#   - postinst creates the projd user once, then leaves it alone (adduser, getent and
#     systemctl replaced by stubs: nothing on this machine changes);
#   - systemd-analyze verify accepts the unit without a word, and the check is shown to fail
#     on a broken copy of it;
#   - `cmake --install BUILD --prefix X` installs the programs and docs and nothing of /etc or
#     /lib/systemd.
# usage: package_test.sh BUILD_DIR SOURCE_DIR VERSION CPACK
set -euo pipefail

build=$1 src=$2 version=$3 cpack=$4
arch=$(dpkg --print-architecture)
tmp=$(mktemp -d /tmp/projd-package-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# --- build the package --------------------------------------------------------------------
"$cpack" -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake" >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log"
  echo "FAIL: cpack -G DEB"
  exit 1
}
debs=("$tmp"/out/*.deb)
deb=$tmp/out/projd_${version}_${arch}.deb
if [[ ${#debs[@]} -ne 1 || ! -f $deb ]]; then
  echo "FAIL: expected exactly $deb, got: ${debs[*]}"
  exit 1
fi
ok "$(basename "$deb"), $(stat -c %s "$deb") bytes"

# --- control fields -----------------------------------------------------------------------
dpkg-deb -I "$deb" >"$tmp/info"
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == projd ]] || fail "Package is '$(field Package)'"
[[ $(field Version) == "$version" ]] || fail "Version is '$(field Version)', want $version"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture is '$(field Architecture)'"
[[ $(field Maintainer) =~ ^.+\ \<.+@.+\>$ ]] || fail "Maintainer '$(field Maintainer)' is not 'Name <address>'"
[[ -n $(field Description) ]] || fail "no Description"
depends=$(field Depends)
# dpkg-shlibdeps names the packages of the libraries projd links.
for pkg in libc6 librdkafka1 liblmdb0 libstdc++6 adduser; do
  [[ ", $depends," == *", $pkg"[\ ,]* ]] || fail "Depends lacks $pkg: $depends"
done
grep -Eq '^ +[0-9]+ bytes, +[0-9]+ lines +\* +postinst ' "$tmp/info" ||
  fail "no executable postinst in the control archive"
dpkg-deb -e "$deb" "$tmp/control"
[[ $(cat "$tmp/control/conffiles") == /etc/projd/projd.toml ]] ||
  fail "conffiles is '$(cat "$tmp/control/conffiles")', want /etc/projd/projd.toml"
ok "control: $(field Package) $(field Version) $(field Architecture); Depends: $depends"

# --- contents -----------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$tmp/contents"
for want in \
  '-rwxr-xr-x root/root .* ./usr/bin/projd$' \
  '-rwxr-xr-x root/root .* ./usr/bin/projctl$' \
  '-rw-r--r-- root/root .* ./lib/systemd/system/projd.service$' \
  '-rw-r--r-- root/root .* ./etc/projd/projd.toml$' \
  'drwxr-xr-x root/root .* ./etc/projd/projections/$' \
  ' ./usr/share/doc/projd/README.md$' \
  ' ./usr/share/doc/projd/deploy.md$' \
  ' ./usr/share/projd/prometheus/projd-alerts.yml$' \
  ' ./usr/share/projd/grafana/projd.json$'; do
  grep -Eq -- "$want" "$tmp/contents" || fail "dpkg-deb -c: no line matching '$want'"
done
outside=$(grep -v '^d' "$tmp/contents" |
  grep -Ev ' \./(usr/bin|usr/share|etc/projd|lib/systemd/system)/[^ ]+$' || true)
[[ -z $outside ]] || fail "files outside /usr/bin, /usr/share, /etc/projd, /lib/systemd/system: $outside"
root=$tmp/root
dpkg-deb -x "$deb" "$root"
cmp -s "$root/lib/systemd/system/projd.service" "$src/deploy/systemd/projd.service" ||
  fail "the packed unit differs from deploy/systemd/projd.service"
cmp -s "$root/etc/projd/projd.toml" "$src/deploy/projd.toml" ||
  fail "the packed config differs from deploy/projd.toml"
ok "contents: $(grep -c . "$tmp/contents") entries"

# --- the programs run ---------------------------------------------------------------------
for prog in projd projctl; do
  if out=$("$root/usr/bin/$prog" --version 2>&1) && [[ $out == "$prog $version"* ]]; then
    ok "$prog --version: $out"
  else
    fail "'$prog --version' should print '$prog $version' (first), got: $out"
  fi
done
# The packed projd reads the packed config: with `--auth` naming a file that is not there (a
# flag wins over the file) it stops at its first step after reading both, exit 1; a config
# error is exit 2. --data and --projections point into the scratch folder so that nothing else
# is touched.
mkdir -p "$tmp/scratch/projections"
rc=0
out=$("$root/usr/bin/projd" --config "$root/etc/projd/projd.toml" \
  --auth "$tmp/scratch/no-such-auth.toml" --listen 127.0.0.1:0 \
  --data "$tmp/scratch/data" --projections "$tmp/scratch/projections" 2>&1) || rc=$?
if [[ $rc -eq 1 && $out == *"no-such-auth.toml"* ]]; then
  ok "the packed projd reads the packed /etc/projd/projd.toml"
else
  fail "the packed projd with the packed config: exit $rc: $out"
fi

# --- postinst, with stubs -----------------------------------------------------------------
stubs=$tmp/stubs
mkdir -p "$stubs"
cat >"$stubs/getent" <<EOF
#!/bin/sh
[ "\$1 \$2" = "passwd projd" ] && [ -f "$stubs/user-exists" ] && exit 0
exit 2
EOF
cat >"$stubs/adduser" <<EOF
#!/bin/sh
echo "adduser \$*" >>"$stubs/calls"
touch "$stubs/user-exists"
EOF
cat >"$stubs/systemctl" <<EOF
#!/bin/sh
echo "systemctl \$*" >>"$stubs/calls"
EOF
chmod +x "$stubs"/*
touch "$stubs/calls"
PATH=$stubs:$PATH sh "$tmp/control/postinst" configure || fail "postinst configure exited $?"
PATH=$stubs:$PATH sh "$tmp/control/postinst" configure || fail "postinst configure (again) exited $?"
adds=$(grep '^adduser' "$stubs/calls" || true)
if [[ $adds != "adduser --system --group --home /var/lib/projd --quiet projd" ]]; then
  fail "postinst twice should call adduser once, got: ${adds:-nothing}"
fi
for script in prerm postrm; do
  PATH=$stubs:$PATH sh "$tmp/control/$script" remove || fail "$script remove exited $?"
done
ok "postinst creates the projd user once ($(wc -l <"$stubs/calls") stub calls)"

# --- systemd-analyze verify ---------------------------------------------------------------
# The unit as installed names /usr/bin/projd, which need not exist on this machine: verify a
# copy whose ExecStart names the unpacked binary. verify exits 0 on unknown keys and bad
# values (it only warns), so any output counts as a failure.
verify_unit() { # FILE -> prints systemd-analyze's complaints, fails when there are any
  local out
  out=$(systemd-analyze verify "$1" 2>&1) && [[ -z $out ]] || {
    echo "$out"
    return 1
  }
}
mkdir -p "$tmp/unit" "$tmp/broken"
sed "s#^ExecStart=/usr/bin/projd #ExecStart=$root/usr/bin/projd #" \
  "$root/lib/systemd/system/projd.service" >"$tmp/unit/projd.service"
grep -q "^ExecStart=$root/usr/bin/projd --config /etc/projd/projd.toml$" "$tmp/unit/projd.service" ||
  fail "the unit's ExecStart is not '/usr/bin/projd --config /etc/projd/projd.toml'"
if complaints=$(verify_unit "$tmp/unit/projd.service"); then
  ok "systemd-analyze verify: no complaint"
else
  fail "systemd-analyze verify projd.service: $complaints"
fi
# The same check must catch a broken unit: a bad value, an unknown key, a missing binary.
for breakage in 's/^ProtectSystem=strict/ProtectSystem=stricter/' 's/^Restart=.*/&\nRestartt=always/' \
  "s#^ExecStart=$root/usr/bin/projd #ExecStart=$root/usr/bin/projdd #"; do
  sed "$breakage" "$tmp/unit/projd.service" >"$tmp/broken/projd.service"
  if verify_unit "$tmp/broken/projd.service" >/dev/null; then
    fail "systemd-analyze verify passed a broken unit ($breakage)"
  fi
done
# The settings the unit must keep.
for line in 'User=projd' 'Group=projd' 'StateDirectory=projd' 'Restart=on-failure' \
  'ExecReload=/bin/kill -HUP $MAINPID' 'LimitNOFILE=65536' 'ProtectSystem=strict' \
  'ProtectHome=true' 'PrivateTmp=true' 'PrivateDevices=true' 'NoNewPrivileges=true' \
  'ProtectKernelTunables=true' 'ProtectKernelModules=true' 'ProtectKernelLogs=true' \
  'ProtectControlGroups=true' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
  'RestrictNamespaces=true' 'LockPersonality=true' 'MemoryDenyWriteExecute=true' \
  'RestrictRealtime=true' 'SystemCallArchitectures=native' 'CapabilityBoundingSet=' \
  'ReadWritePaths=/var/lib/projd' 'WantedBy=multi-user.target'; do
  grep -qxF -- "$line" "$tmp/unit/projd.service" || fail "the unit lacks '$line'"
done

# --- cmake --install --prefix -------------------------------------------------------------
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  fail "cmake --install $build --prefix ..."
}
for f in bin/projd bin/projctl share/doc/projd/README.md share/doc/projd/language.md \
  share/doc/projd/deploy.md share/projd/prometheus/projd-alerts.yml \
  share/projd/grafana/projd.json share/projd/examples/projd.toml \
  share/projd/examples/projd.service; do
  [[ -e $tmp/prefix/$f ]] || fail "cmake --install --prefix: no $f"
done
[[ -x $tmp/prefix/bin/projd && -x $tmp/prefix/bin/projctl ]] || fail "installed programs not executable"
if grep -E '(/etc/projd|/lib/systemd)' "$tmp/install.log"; then
  fail "cmake --install --prefix wrote to /etc or /lib/systemd"
fi
ok "cmake --install --prefix: $(find "$tmp/prefix" -type f | wc -l) files"

if [[ $failures -ne 0 ]]; then
  echo "package: $failures failure(s)"
  exit 1
fi
echo "package: every check passed"
