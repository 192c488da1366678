#!/usr/bin/env bash
# Installs the Debian packages projd needs to build and test (Debian 12 / Ubuntu 22.04+).
# Installs only what is missing; needs root (or sudo) the first time.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  librdkafka-dev libavro-dev liblmdb-dev libboost1.74-dev nlohmann-json3-dev libsimdjson-dev
  catch2 libtomlplusplus-dev libssl-dev libcli11-dev libicu-dev libstemmer-dev libsqlite3-dev
  libcurl4-openssl-dev zlib1g-dev
  kcat lmdb-utils curl python3 python3-prometheus-client
  dpkg-dev prometheus python3-yaml
  openjdk-17-jre-headless maven
  nodejs npm
  chromium python3-venv
  clang-14 libclang-rt-14-dev clang-tidy-14 clang-format-14
  nginx wrk
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# A JDK other than Debian's (java on PATH, 17 or newer) serves the Kafka broker as well.
if command -v java >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == openjdk-17-jre-headless ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if command -v mvn >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == maven ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
# node and npm from elsewhere (nodesource, nvm) serve the editor-grammar test as well.
for tool in node:nodejs npm:npm; do
  if command -v "${tool%%:*}" >/dev/null 2>&1; then
    filtered=()
    for p in "${missing[@]}"; do [[ $p == "${tool##*:}" ]] || filtered+=("$p"); done
    missing=("${filtered[@]+"${filtered[@]}"}")
  fi
done
# The TextMate engine for the editor-grammar test (ctest editors), pinned by its lock file.
install_npm_packages() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/editors"
  if [[ ! -f $dir/node_modules/.package-lock.json ||
        $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
# Schemathesis for ctest openapi_schemathesis, in its own venv (Debian's pip is externally
# managed), pinned by tests/api/requirements.txt.
install_schemathesis() {
  local venv=$HOME/.cache/projd/schemathesis req
  req="$(cd "$(dirname "$0")/.." && pwd)/tests/api/requirements.txt"
  if [[ ! -x $venv/bin/st ]] || ! cmp -s "$req" "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/requirements.txt"
  fi
}
if [[ ${#missing[@]} -eq 0 ]]; then
  install_npm_packages
  install_schemathesis
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm_packages
install_schemathesis
