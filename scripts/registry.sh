#!/usr/bin/env bash
# Run a real Confluent-compatible schema registry for projd's Avro tests: Apicurio Registry 3.x
# in memory, from Maven Central (io.apicurio:apicurio-registry-app, classifier all, tar.gz).
# Its Confluent API is at http://127.0.0.1:PORT/apis/ccompat/v7.
#
# Apicurio 3.3 is built for Java 21; with only Java 17 at hand, 3.0 (built for Java 17) runs.
# The newest Java found (JAVA_HOME, java on PATH, /usr/lib/jvm/*) picks the version.
#
# Usage: scripts/registry.sh COMMAND
#   fetch           download and unpack the registry into the cache
#   start           start it (fresh, in memory) and print PROJD_SCHEMA_REGISTRY=URL last
#   stop            stop it (SIGTERM, then SIGKILL after 20 s)
#   status          print "running URL pid=N [paused]" (exit 0) or "stopped" (exit 1)
#   pause | resume  SIGSTOP / SIGCONT the registry (outage tests)
#
# Environment:
#   PROJD_CACHE                    cache root (default $HOME/.cache/projd)
#   PROJD_REGISTRY_DIR             state dir: pid, port, logs (default /tmp/projd-registry)
#   PROJD_REGISTRY_PORT            HTTP port to try first (default 8081)
#   PROJD_REGISTRY_START_TIMEOUT   seconds to wait for readiness (default 180)
#   JAVA_HOME                      the Java to use (default: the newest found)
#
# Progress goes to stderr; stdout carries only results (the URL, status).
set -euo pipefail

# shellcheck source=service-lib.sh
source "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/service-lib.sh"
CACHE_ROOT=${PROJD_CACHE:-$HOME/.cache/projd}
STATE_DIR=$(realpath -m -- "${PROJD_REGISTRY_DIR:-/tmp/projd-registry}")
PID_FILE=$STATE_DIR/pid
PORT_FILE=$STATE_DIR/port
LOG_FILE=$STATE_DIR/registry.log
START_TIMEOUT=${PROJD_REGISTRY_START_TIMEOUT:-180}
VERSION_JAVA21=3.3.3
VERSION_JAVA17=3.0.9

log() { printf 'registry.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; }

java_major() {
    local spec
    spec=$("$1" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = //p')
    spec=${spec%%.*}
    [[ $spec =~ ^[0-9]+$ ]] && printf '%s\n' "$spec"
}

# pick_java: sets JAVA_BIN and JAVA_MAJOR to the newest Java 17+ found.
pick_java() {
    local candidates=() c m best=0
    [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
    command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
    for c in /usr/lib/jvm/*/bin/java; do [[ -x $c ]] && candidates+=("$c"); done
    JAVA_BIN=
    for c in "${candidates[@]}"; do
        [[ -x $c ]] || continue
        m=$(java_major "$c") || continue
        if ((m > best)); then
            best=$m
            JAVA_BIN=$c
        fi
        # JAVA_HOME, when given, wins if it is new enough for some version.
        [[ -n ${JAVA_HOME:-} && $c == "$JAVA_HOME/bin/java" && $m -ge 17 ]] && break
    done
    ((best >= 17)) || die "no Java 17 or newer found (install openjdk-17-jre-headless)"
    JAVA_MAJOR=$best
}

pick_version() {
    if ((JAVA_MAJOR >= 21)); then VERSION=$VERSION_JAVA21; else VERSION=$VERSION_JAVA17; fi
    APP_DIR=$CACHE_ROOT/apicurio-registry-$VERSION
}

app_jar() {
    if [[ -f $APP_DIR/quarkus-run.jar ]]; then
        printf '%s\n' "$APP_DIR/quarkus-run.jar"
    else
        ls "$APP_DIR"/apicurio-registry-app-*-runner.jar 2>/dev/null | head -n 1
    fi
}

cmd_fetch() {
    pick_java
    pick_version
    if [[ -f $APP_DIR/.projd-complete ]]; then
        log "Apicurio Registry $VERSION already in $APP_DIR"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found; install the Debian package 'maven'"
    mkdir -p "$CACHE_ROOT"
    local lock_fd
    exec {lock_fd}>"$CACHE_ROOT/.registry-fetch.lock"
    flock "$lock_fd"
    if [[ -f $APP_DIR/.projd-complete ]]; then
        exec {lock_fd}>&-
        return 0
    fi
    local tmp=$APP_DIR.tmp.$$
    rm -rf -- "$tmp"
    mkdir -p "$tmp/download"
    log "fetching Apicurio Registry $VERSION (Maven Central) into $APP_DIR"
    if ! mvn -q -B -Dstyle.color=never dependency:copy \
        -Dartifact="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" \
        -DoutputDirectory="$tmp/download" >"$tmp/mvn.log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" >&2
        rm -rf -- "$tmp"
        die "mvn could not fetch io.apicurio:apicurio-registry-app:$VERSION"
    fi
    tar -xzf "$tmp"/download/*.tar.gz -C "$tmp" || die "cannot unpack the registry"
    rm -rf -- "$tmp/download" "$tmp/mvn.log"
    : >"$tmp/.projd-complete"
    rm -rf -- "$APP_DIR"
    mv -- "$tmp" "$APP_DIR"
    exec {lock_fd}>&-
    [[ -n $(app_jar) ]] || die "no runnable jar in $APP_DIR"
}

registry_pid() { live_pid "$PID_FILE" "-Dprojd.registry.dir=$STATE_DIR "; }

free_port() {
    python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url_of() { printf 'http://127.0.0.1:%s/apis/ccompat/v7\n' "$1"; }

ready() { curl -fsS -m 5 -o /dev/null "$(url_of "$1")/subjects" 2>/dev/null; }

cmd_start() {
    local pid port mgmt
    if pid=$(registry_pid); then
        port=$(<"$PORT_FILE")
        log "registry pid $pid already running"
        printf 'PROJD_SCHEMA_REGISTRY=%s\n' "$(url_of "$port")"
        return 0
    fi
    cmd_fetch
    mkdir -p "$STATE_DIR"
    port=${PROJD_REGISTRY_PORT:-8081}
    port_bindable "$port" || port=$(free_port)
    mgmt=$(free_port)
    [[ $mgmt != "$port" ]] || mgmt=$(free_port)
    printf '%s\n' "$port" >"$PORT_FILE"
    log "starting Apicurio Registry $VERSION (Java $JAVA_MAJOR) on 127.0.0.1:$port"
    local jar
    jar=$(app_jar)
    (cd "$APP_DIR"
        nohup "$JAVA_BIN" -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dprojd.registry.dir="$STATE_DIR" -Dquarkus.http.host=127.0.0.1 \
        -Dquarkus.http.port="$port" -Dquarkus.management.host=127.0.0.1 \
        -Dquarkus.management.port="$mgmt" -Dquarkus.log.level=WARN \
        -jar "$jar" </dev/null >"$LOG_FILE" 2>&1 &
        printf '%s\n' "$!" >"$PID_FILE")
    pid=$(<"$PID_FILE")
    local started=$SECONDS deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if gone "$pid"; then
            tail -n 40 "$LOG_FILE" >&2 || true
            die "the registry exited during startup (log $LOG_FILE)"
        fi
        if ready "$port"; then
            log "ready after $((SECONDS - started)) s (pid $pid)"
            printf 'PROJD_SCHEMA_REGISTRY=%s\n' "$(url_of "$port")"
            return 0
        fi
        sleep 0.5
    done
    tail -n 40 "$LOG_FILE" >&2 || true
    kill -KILL "$pid" 2>/dev/null || true
    die "the registry did not answer within ${START_TIMEOUT}s"
}

cmd_stop() {
    local pid
    if pid=$(registry_pid); then
        log "stopping registry pid $pid"
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while registry_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        registry_pid >/dev/null && kill -KILL "$pid" 2>/dev/null || true
    else
        log "no registry running from $STATE_DIR"
    fi
    rm -f -- "$PID_FILE"
}

address() { url_of "$(<"$PORT_FILE")"; }
cmd_status() { service_status registry_pid address; }
cmd_signal() { service_signal registry registry_pid "$1"; }

service_main "$@"
