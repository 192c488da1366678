#!/usr/bin/env bash
# Run a real S3-compatible server for projd's S3 tests: s3proxy (org.gaul:s3proxy, the
# jar-with-dependencies from Maven Central, checked against its published .sha1) storing objects
# in a fresh folder. Path-style requests, AWS SigV2 or SigV4 (signatures checked as S3 does).
# Access key projd-test, secret projd-test-secret, any region (tests use us-east-1).
#
# The backend is s3proxy's filesystem-nio2, not jclouds' "filesystem": that one lists every
# folder of the store as an object of its own ("a/", "a/b/", size 4096), which S3 never does.
# s3proxy answers 501 NotImplemented to x-amz-security-token (no session tokens).
#
# Usage: scripts/s3.sh COMMAND
#   fetch           download the s3proxy jar into the cache
#   start           start it (fresh, empty data dir) and print PROJD_S3_ENDPOINT=URL last
#   stop            stop it (SIGTERM, then SIGKILL after 20 s); its data dir is deleted
#   status          print "running URL pid=N [paused]" (exit 0) or "stopped" (exit 1)
#   pause | resume  SIGSTOP / SIGCONT the server (outage tests)
#
# Environment:
#   PROJD_CACHE              cache root (default $HOME/.cache/projd)
#   PROJD_S3_DIR             state dir: pid, port, properties, data, log (default /tmp/projd-s3)
#   PROJD_S3_PORT            HTTP port to try first (default 9000)
#   PROJD_S3_START_TIMEOUT   seconds to wait for readiness (default 60)
#   JAVA_HOME                Java 17+ to use (default: java on PATH)
#
# Progress goes to stderr; stdout carries only results (the URL, status).
set -euo pipefail

# shellcheck source=service-lib.sh
source "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/service-lib.sh"
CACHE_ROOT=${PROJD_CACHE:-$HOME/.cache/projd}
STATE_DIR=$(realpath -m -- "${PROJD_S3_DIR:-/tmp/projd-s3}")
STATE_MARKER=$STATE_DIR/.projd-s3-state
PID_FILE=$STATE_DIR/pid
PORT_FILE=$STATE_DIR/port
PROPERTIES=$STATE_DIR/s3proxy.properties
DATA_DIR=$STATE_DIR/data
LOG_FILE=$STATE_DIR/s3proxy.log
START_TIMEOUT=${PROJD_S3_START_TIMEOUT:-60}
VERSION=2.6.0
JAR_NAME=s3proxy-$VERSION-jar-with-dependencies.jar
JAR_URL=https://repo1.maven.org/maven2/org/gaul/s3proxy/$VERSION/$JAR_NAME
JAR=$CACHE_ROOT/s3proxy-$VERSION/$JAR_NAME
IDENTITY=projd-test
CREDENTIAL=projd-test-secret
JAVA_BIN=java
if [[ -n ${JAVA_HOME:-} ]]; then JAVA_BIN=$JAVA_HOME/bin/java; fi

log() { printf 's3.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; }

ensure_java() {
    command -v "$JAVA_BIN" >/dev/null 2>&1 ||
        die "no Java at $JAVA_BIN (install openjdk-17-jre-headless or set JAVA_HOME)"
    local spec
    spec=$("$JAVA_BIN" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = //p')
    [[ ${spec%%.*} =~ ^[0-9]+$ && ${spec%%.*} -ge 17 ]] ||
        die "s3proxy $VERSION is run with Java 17+, $JAVA_BIN is ${spec:-unknown}"
}

cmd_fetch() {
    if [[ -f $JAR ]]; then
        log "s3proxy $VERSION already in $JAR"
        return 0
    fi
    command -v curl >/dev/null 2>&1 || die "curl not found; install the Debian package 'curl'"
    local dir lock_fd
    dir=$(dirname -- "$JAR")
    mkdir -p -- "$dir"
    exec {lock_fd}>"$dir/.fetch.lock"
    flock "$lock_fd"
    if [[ -f $JAR ]]; then # another fetch finished meanwhile
        exec {lock_fd}>&-
        return 0
    fi
    local tmp=$JAR.tmp.$$ want got
    log "fetching s3proxy $VERSION (Maven Central) into $dir"
    if ! curl -fsSL --retry 3 -o "$tmp" "$JAR_URL"; then
        rm -f -- "$tmp"
        die "cannot download $JAR_URL"
    fi
    # Maven Central publishes the SHA-1 next to each file (the hash, sometimes followed by a name).
    if ! want=$(curl -fsSL --retry 3 "$JAR_URL.sha1"); then
        rm -f -- "$tmp"
        die "cannot download $JAR_URL.sha1"
    fi
    want=${want%%[[:space:]]*}
    got=$(sha1sum -- "$tmp" | cut -d ' ' -f 1)
    if [[ $got != "$want" ]]; then
        rm -f -- "$tmp"
        die "SHA-1 mismatch for $JAR_NAME: got $got, Maven Central says $want"
    fi
    mv -- "$tmp" "$JAR"
    exec {lock_fd}>&-
    log "fetched $JAR_NAME (sha1 $got)"
}

s3_pid() { live_pid "$PID_FILE" "-Dprojd.s3.dir=$STATE_DIR "; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url_of() { printf 'http://127.0.0.1:%s\n' "$1"; }

# ready PORT: an HTTP request gets an HTTP answer (anonymous, so likely 403: any status will do).
ready() {
    local code
    code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$(url_of "$1")/" 2>/dev/null) || return 1
    [[ $code =~ ^[1-5][0-9][0-9]$ ]]
}

write_properties() {
    cat >"$PROPERTIES" <<EOF
# Written by scripts/s3.sh: s3proxy on loopback over a fresh filesystem folder, for tests.
s3proxy.endpoint=$(url_of "$1")
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$IDENTITY
s3proxy.credential=$CREDENTIAL
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$DATA_DIR
# The backend wants credentials of its own; nothing checks them.
jclouds.identity=$IDENTITY
jclouds.credential=$CREDENTIAL
EOF
}

cmd_start() {
    local pid port
    if pid=$(s3_pid); then
        port=$(<"$PORT_FILE")
        log "s3proxy pid $pid already running"
        printf 'PROJD_S3_ENDPOINT=%s\n' "$(url_of "$port")"
        return 0
    fi
    cmd_fetch
    ensure_java
    if [[ -e $STATE_DIR && ! -f $STATE_MARKER ]] &&
        [[ -n $(ls -A -- "$STATE_DIR" 2>/dev/null) ]]; then
        die "$STATE_DIR is not empty and was not made by s3.sh; not wiping it"
    fi
    rm -rf -- "$STATE_DIR"
    mkdir -p -- "$DATA_DIR"
    : >"$STATE_MARKER"
    port=${PROJD_S3_PORT:-9000}
    if port_open "$port" || ! port_bindable "$port"; then port=$(free_port); fi
    printf '%s\n' "$port" >"$PORT_FILE"
    write_properties "$port"
    log "starting s3proxy $VERSION on 127.0.0.1:$port (state $STATE_DIR)"
    # The server must not hold the caller's stdout/stderr open (e.g. $(s3.sh start)).
    nohup "$JAVA_BIN" -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dprojd.s3.dir="$STATE_DIR" -jar "$JAR" --properties "$PROPERTIES" \
        </dev/null >"$LOG_FILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    local started=$SECONDS deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if gone "$pid"; then
            tail -n 40 -- "$LOG_FILE" >&2 || true
            rm -f -- "$PID_FILE"
            die "s3proxy exited during startup (log $LOG_FILE)"
        fi
        if ready "$port"; then
            log "ready after $((SECONDS - started)) s (pid $pid)"
            printf 'PROJD_S3_ENDPOINT=%s\n' "$(url_of "$port")"
            return 0
        fi
        sleep 0.2
    done
    tail -n 40 -- "$LOG_FILE" >&2 || true
    kill -KILL "$pid" 2>/dev/null || true
    rm -f -- "$PID_FILE"
    die "s3proxy did not answer within ${START_TIMEOUT}s"
}

cmd_stop() {
    local pid
    if pid=$(s3_pid); then
        log "stopping s3proxy pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        kill -CONT "$pid" 2>/dev/null || true # a paused JVM acts on SIGTERM only once resumed
        local deadline=$((SECONDS + 20))
        while s3_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if s3_pid >/dev/null; then
            log "s3proxy pid $pid still up after 20 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    else
        log "no s3proxy running from $STATE_DIR"
    fi
    rm -f -- "$PID_FILE"
    if [[ -f $STATE_MARKER ]]; then
        rm -rf -- "$DATA_DIR" # keep the log and properties for a post-mortem
    fi
}

address() { url_of "$(<"$PORT_FILE")"; }
cmd_status() { service_status s3_pid address; }
cmd_signal() { service_signal s3proxy s3_pid "$1"; }

service_main "$@"
