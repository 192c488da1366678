#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft, combined broker+controller)
# for projd's tests, from Maven Central jars: no Docker, no Kafka tarball.
#
# Usage: scripts/kafka.sh COMMAND [ARGS]
#   fetch                       collect the broker's runtime jars into the cache
#   start [--keep-data]         start the broker (fresh state dir unless --keep-data)
#                               and print PROJD_KAFKA_BROKERS=127.0.0.1:PORT last
#   stop [--keep-data]          stop it (SIGTERM, then SIGKILL after 30 s); without
#                               --keep-data its data dir is deleted (logs are kept)
#   status                      print "running ADDR pid=N [paused]" (exit 0) or
#                               "stopped" (exit 1)
#   pause | resume              SIGSTOP / SIGCONT the broker (fault tests)
#   create-topic NAME PARTITIONS [TopicCommand options...]
#                               create a topic (replication factor 1) and wait
#                               until every partition has a leader
#
# Environment:
#   PROJD_CACHE                 cache root (default $HOME/.cache/projd); jars go to
#                               $PROJD_CACHE/kafka-<version>/lib
#   PROJD_KAFKA_DIR             broker state dir (default /tmp/projd-kafka); wiped by
#                               "start" (only if it is empty or was made by this script)
#   PROJD_KAFKA_PORT            data port to try first (default 9092)
#   PROJD_KAFKA_CONTROLLER_PORT controller port to try first (default 9093)
#   PROJD_KAFKA_START_TIMEOUT   seconds to wait for readiness (default 90)
#   PROJD_KAFKA_STOP_TIMEOUT    seconds to wait after SIGTERM (default 30)
#   PROJD_KAFKA_JAVA_OPTS       extra JVM options for the broker
#   JAVA_HOME                   Java 17+ to use (default: java on PATH)
#
# Progress goes to stderr; stdout carries only results (the address, status).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=service-lib.sh
source "$SCRIPT_DIR/service-lib.sh"
SUPPORT_DIR=$SCRIPT_DIR/kafka
POM=$SUPPORT_DIR/pom.xml
LOG4J_CONF=$SUPPORT_DIR/log4j2.properties

KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1)
CACHE_ROOT=${PROJD_CACHE:-$HOME/.cache/projd}
LIB_DIR=$CACHE_ROOT/kafka-$KAFKA_VERSION/lib
LIB_MARKER=.projd-complete

STATE_DIR=$(realpath -m -- "${PROJD_KAFKA_DIR:-/tmp/projd-kafka}")
STATE_MARKER=$STATE_DIR/.projd-kafka-state
CONFIG=$STATE_DIR/server.properties
DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/logs
BROKER_LOG=$LOG_DIR/server.log
BROKER_OUT=$LOG_DIR/broker.out
PID_FILE=$STATE_DIR/pid
PORTS_FILE=$STATE_DIR/ports
BOOTSTRAP_FILE=$STATE_DIR/bootstrap

START_TIMEOUT=${PROJD_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${PROJD_KAFKA_STOP_TIMEOUT:-30}
JAVA_BIN=java
if [[ -n ${JAVA_HOME:-} ]]; then JAVA_BIN=$JAVA_HOME/bin/java; fi

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

# --- tools -------------------------------------------------------------------

# ensure_cmd COMMAND DEBIAN_PACKAGE: install the package when the command is missing.
ensure_cmd() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "'$cmd' not found; install the Debian package '$pkg'"
    fi
    log "installing $pkg (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q "$pkg" >&2; then
        apt-get update -q >&2 || die "apt-get update failed"
        apt-get install -y -q "$pkg" >&2 || die "apt-get install $pkg failed"
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' still not found after installing $pkg"
}

ensure_java() {
    if [[ $JAVA_BIN == java ]]; then ensure_cmd java openjdk-17-jre-headless; fi
    [[ -x $(command -v "$JAVA_BIN") ]] || die "no Java at $JAVA_BIN"
    local spec
    spec=$("$JAVA_BIN" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = //p')
    [[ ${spec%%.*} =~ ^[0-9]+$ && ${spec%%.*} -ge 17 ]] ||
        die "Kafka $KAFKA_VERSION needs Java 17+, $JAVA_BIN is ${spec:-unknown}"
}

# --- jars ----------------------------------------------------------------------

lib_complete() {
    [[ -f $LIB_DIR/$LIB_MARKER ]] && [[ $(<"$LIB_DIR/$LIB_MARKER") == "$(pom_hash)" ]]
}

pom_hash() { sha256sum "$POM" | cut -d ' ' -f 1; }

cmd_fetch() {
    [[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $POM"
    if lib_complete; then
        log "jars for Kafka $KAFKA_VERSION already in $LIB_DIR"
        return 0
    fi
    ensure_java
    ensure_cmd mvn maven
    mkdir -p "$(dirname -- "$LIB_DIR")"
    # Serialize concurrent fetches into the same cache.
    local lock_fd
    exec {lock_fd}>"$(dirname -- "$LIB_DIR")/.fetch.lock"
    flock "$lock_fd"
    if lib_complete; then # another fetch finished meanwhile
        exec {lock_fd}>&-
        log "jars for Kafka $KAFKA_VERSION already in $LIB_DIR"
        return 0
    fi
    local tmp=$LIB_DIR.tmp.$$
    rm -rf -- "$tmp"
    log "fetching Kafka $KAFKA_VERSION runtime jars into $LIB_DIR (Maven)"
    # Debian's Maven 3.8 prints stray colour resets even with -q -B: keep its
    # output in a file and show it (without escapes) only on failure.
    if ! mvn -q -B -Dstyle.color=never -f "$POM" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$tmp.log" >&2
        rm -rf -- "$tmp" "$tmp.log"
        die "mvn could not collect the Kafka jars (see above)"
    fi
    rm -f -- "$tmp.log"
    [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || {
        rm -rf -- "$tmp"
        die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
    }
    pom_hash >"$tmp/$LIB_MARKER"
    rm -rf -- "$LIB_DIR"
    mv -- "$tmp" "$LIB_DIR"
    exec {lock_fd}>&-
    log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
}

# --- broker process ------------------------------------------------------------

# broker_pid: print the pid of this state dir's live broker; fail if none.
broker_pid() { live_pid "$PID_FILE" "kafka.Kafka $CONFIG"; }

bootstrap_addr() {
    local data_port
    [[ -r $PORTS_FILE ]] || return 1
    read -r data_port _ <"$PORTS_FILE"
    printf '127.0.0.1:%s\n' "$data_port"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_free PORT: nothing listens on it and it can be bound on 127.0.0.1.
port_free() {
    port_open "$1" && return 1
    if command -v python3 >/dev/null 2>&1; then port_bindable "$1"; fi
}

# pick_ports: print "DATA_PORT CONTROLLER_PORT", preferring 9092/9093.
pick_ports() {
    local want_data=${PROJD_KAFKA_PORT:-9092} want_ctl=${PROJD_KAFKA_CONTROLLER_PORT:-9093}
    if port_free "$want_data" && port_free "$want_ctl"; then
        printf '%s %s\n' "$want_data" "$want_ctl"
        return 0
    fi
    if command -v python3 >/dev/null 2>&1; then
        # Two distinct ephemeral ports, held together while the kernel picks them.
        python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])
'
        return 0
    fi
    local data="" port tries
    for ((tries = 0; tries < 200; tries++)); do
        port=$((20000 + RANDOM % 30000))
        port_free "$port" || continue
        if [[ -z $data ]]; then
            data=$port
        elif [[ $port != "$data" ]]; then
            printf '%s %s\n' "$data" "$port"
            return 0
        fi
    done
    die "found no free loopback ports"
}

# metadata_ok ADDR: a metadata request answers (kcat; the probe topic need not exist).
metadata_ok() {
    timeout 15 kcat -q -b "$1" -m 5 -L -t __projd_probe >/dev/null 2>&1
}

show_logs() {
    local f
    for f in "$BROKER_OUT" "$BROKER_LOG"; do
        [[ -s $f ]] || continue
        log "---- last lines of $f ----"
        tail -n 40 -- "$f" >&2
    done
}

# wait_ready PID ADDR: wait until the port accepts connections and metadata answers.
wait_ready() {
    local pid=$1 addr=$2 deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if [[ $(proc_state "$pid") == T ]]; then
            log "broker pid $pid is paused (SIGSTOP); run: $0 resume"
            return 1
        fi
        if gone "$pid"; then
            log "broker pid $pid exited during startup"
            return 1
        fi
        if port_open "${addr##*:}" && metadata_ok "$addr"; then
            return 0
        fi
        sleep 0.25
    done
    log "broker did not answer on $addr within ${START_TIMEOUT}s"
    return 1
}

# random_uuid: a Kafka cluster id, as "kafka.tools.StorageTool random-uuid" makes it
# (16 random bytes, URL-safe base64 without padding, not starting with '-'),
# without the ~1 s of a JVM start.
random_uuid() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        [[ ${#id} -eq 22 && $id != -* && $id != AAAAAAAAAAAAAAAAAAAAA[AQ] ]] && break
    done
    printf '%s\n' "$id"
}

write_config() {
    local data_port=$1 ctl_port=$2
    cat >"$CONFIG" <<EOF
# Written by scripts/kafka.sh: single-node KRaft broker+controller for tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$ctl_port
listeners=PLAINTEXT://127.0.0.1:$data_port,CONTROLLER://127.0.0.1:$ctl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$data_port,CONTROLLER://127.0.0.1:$ctl_port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
# Tests create their topics explicitly (kafka.sh create-topic).
auto.create.topics.enable=false
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

cmd_start() {
    local keep=0
    while (($#)); do
        case $1 in
        --keep-data) keep=1 ;;
        *) die "start: unknown argument '$1'" ;;
        esac
        shift
    done

    ensure_cmd kcat kcat
    local pid addr
    if pid=$(broker_pid); then
        addr=$(bootstrap_addr) || die "broker pid $pid runs but $PORTS_FILE is missing"
        log "broker pid $pid already running on $addr"
        wait_ready "$pid" "$addr" || { show_logs; die "broker pid $pid is not answering"; }
        printf '%s\n' "$addr" >"$BOOTSTRAP_FILE"
        printf 'PROJD_KAFKA_BROKERS=%s\n' "$addr"
        return 0
    fi

    cmd_fetch
    ensure_java
    local data_port ctl_port
    if ((keep)); then
        [[ -f $STATE_MARKER && -f $CONFIG && -r $PORTS_FILE && -f $DATA_DIR/meta.properties ]] ||
            die "start --keep-data: no kept broker data in $STATE_DIR (run 'stop --keep-data' first)"
        read -r data_port ctl_port <"$PORTS_FILE"
        if ! port_free "$data_port" || ! port_free "$ctl_port"; then
            die "start --keep-data: port $data_port or $ctl_port is taken"
        fi
        rm -f -- "$PID_FILE" "$BOOTSTRAP_FILE"
    else
        if [[ -e $STATE_DIR && ! -f $STATE_MARKER ]] &&
            [[ -n $(ls -A -- "$STATE_DIR" 2>/dev/null) ]]; then
            die "$STATE_DIR is not empty and was not made by kafka.sh; not wiping it"
        fi
        rm -rf -- "$STATE_DIR"
        mkdir -p -- "$STATE_DIR"
        : >"$STATE_MARKER"
        local ports
        ports=$(pick_ports)
        read -r data_port ctl_port <<<"$ports"
        printf '%s %s\n' "$data_port" "$ctl_port" >"$PORTS_FILE"
        write_config "$data_port" "$ctl_port"
        local cluster_id
        cluster_id=$(random_uuid)
        mkdir -p -- "$LOG_DIR"
        "$JAVA_BIN" -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOG_DIR" \
            -Dprojd.kafka.log.name=storage-tool.log -cp "$LIB_DIR/*" \
            kafka.tools.StorageTool format --standalone --cluster-id "$cluster_id" \
            --config "$CONFIG" >"$LOG_DIR/format.out" 2>&1 ||
            { cat -- "$LOG_DIR/format.out" >&2; die "formatting $DATA_DIR failed"; }
    fi
    mkdir -p -- "$LOG_DIR"
    addr=127.0.0.1:$data_port

    log "starting Kafka $KAFKA_VERSION on $addr (controller 127.0.0.1:$ctl_port, state $STATE_DIR)"
    local -a java_opts=(-Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -Djava.awt.headless=true)
    if [[ -n ${PROJD_KAFKA_JAVA_OPTS:-} ]]; then
        local -a extra
        read -r -a extra <<<"$PROJD_KAFKA_JAVA_OPTS"
        java_opts+=("${extra[@]}")
    fi
    # The broker must not hold the caller's stdout/stderr open (e.g. $(kafka.sh start)).
    nohup "$JAVA_BIN" "${java_opts[@]}" \
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOG_DIR" \
        -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG" \
        </dev/null >>"$BROKER_OUT" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"

    if ! wait_ready "$pid" "$addr"; then
        show_logs
        if broker_pid >/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f -- "$PID_FILE"
        die "Kafka did not come up (state dir $STATE_DIR)"
    fi
    printf '%s\n' "$addr" >"$BOOTSTRAP_FILE"
    log "ready after ${SECONDS}s: $addr (pid $pid)"
    printf 'PROJD_KAFKA_BROKERS=%s\n' "$addr"
}

cmd_stop() {
    local keep=0
    while (($#)); do
        case $1 in
        --keep-data) keep=1 ;;
        *) die "stop: unknown argument '$1'" ;;
        esac
        shift
    done
    local pid
    if pid=$(broker_pid); then
        log "stopping broker pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        kill -CONT "$pid" 2>/dev/null || true # a paused broker acts on SIGTERM only once resumed
        local deadline=$((SECONDS + STOP_TIMEOUT))
        while broker_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if broker_pid >/dev/null; then
            log "broker pid $pid still up after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
            while broker_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        fi
        log "stopped after ${SECONDS}s"
    else
        log "no broker running from $STATE_DIR"
    fi
    rm -f -- "$PID_FILE" "$BOOTSTRAP_FILE"
    if ((!keep)) && [[ -f $STATE_MARKER ]]; then
        rm -rf -- "$DATA_DIR" # keep logs/ and server.properties for a post-mortem
    fi
}

address() { bootstrap_addr || echo unknown; }
cmd_status() { service_status broker_pid address; }
cmd_signal() { service_signal broker broker_pid "$1"; }

cmd_create_topic() {
    (($# >= 2)) || die "usage: $0 create-topic NAME PARTITIONS [TopicCommand options...]"
    local topic=$1 partitions=$2
    shift 2
    [[ $partitions =~ ^[1-9][0-9]*$ ]] || die "create-topic: bad partition count '$partitions'"
    broker_pid >/dev/null || die "no broker running from $STATE_DIR (run: $0 start)"
    ensure_cmd kcat kcat
    ensure_java
    lib_complete || die "Kafka jars missing in $LIB_DIR (run: $0 fetch)"
    local addr
    addr=$(bootstrap_addr) || die "no address in $PORTS_FILE"
    # A short-lived JVM: C1 only, class data sharing, serial GC start fastest.
    "$JAVA_BIN" -Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m \
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOG_DIR" \
        -Dprojd.kafka.log.name=tools.log -cp "$LIB_DIR/*" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "$addr" \
        --create --topic "$topic" --partitions "$partitions" --replication-factor 1 "$@"
    # Wait until the broker's metadata shows a leader for every partition.
    local deadline=$((SECONDS + 30)) led
    while ((SECONDS < deadline)); do
        led=$(timeout 15 kcat -q -b "$addr" -m 5 -L -t "$topic" 2>/dev/null |
            grep -cE '^ +partition [0-9]+, leader [0-9]+,' || true)
        ((led >= partitions)) && return 0
        sleep 0.1
    done
    die "topic $topic: not all $partitions partitions have a leader after 30s"
}

main() {
    (($#)) || {
        usage
        exit 2
    }
    local cmd=$1
    shift
    case $cmd in
    fetch) cmd_fetch "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    pause) cmd_signal STOP ;;
    resume) cmd_signal CONT ;;
    create-topic) cmd_create_topic "$@" ;;
    -h | --help | help) usage ;;
    *)
        usage
        die "unknown command '$cmd'"
        ;;
    esac
}

main "$@"
