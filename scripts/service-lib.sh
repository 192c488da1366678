# Process and port helpers shared by scripts/kafka.sh, scripts/registry.sh and scripts/s3.sh
# (sourced; they define log, die and STATE_DIR).

# proc_state PID: the one-letter state of a process (R, S, T, Z, ...), or nothing.
proc_state() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    printf '%s\n' "${stat%% *}"
}

# gone PID: the process we just started has exited (or is a zombie). Its state alone, not its
# command line: while nohup replaces itself with the service (execve), /proc/PID/cmdline can
# read empty for a moment, and a busy machine once caught a starting service in that moment.
gone() {
    local state
    state=$(proc_state "$1")
    [[ -z $state || $state == Z || $state == X ]]
}

# live_pid PID_FILE MARK: print the pid in PID_FILE if that process lives and its command line
# holds MARK (a guard against a reused pid); fail otherwise.
live_pid() {
    local pid_file=$1 mark=$2 pid state
    [[ -r $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(proc_state "$pid")
    [[ -n $state && $state != Z && $state != X ]] || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$mark" || return 1
    printf '%s\n' "$pid"
}

# port_bindable PORT: PORT can be bound on 127.0.0.1 (checked with python3).
port_bindable() {
    python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
' "$1"
}

# service_status PID_FN ADDRESS_FN: prints "running ADDRESS pid=N [paused]" (status 0) or
# "stopped" (status 1); PID_FN prints the live pid, ADDRESS_FN the service's address.
service_status() {
    local pid paused=""
    if pid=$("$1"); then
        [[ $(proc_state "$pid") == T ]] && paused=" paused"
        printf 'running %s pid=%s%s
' "$("$2")" "$pid" "$paused"
        return 0
    fi
    printf 'stopped\n'
    return 1
}

# service_signal NAME PID_FN SIGNAL: sends SIGNAL (STOP, CONT) to the running service.
service_signal() {
    local pid
    pid=$("$2") || die "no $1 running from $STATE_DIR"
    kill -"$3" "$pid"
    log "sent SIG$3 to $1 pid $pid"
}

# service_main ARGS...: the command line of a service script with the commands fetch, start,
# stop, status, pause and resume (cmd_fetch, cmd_start, cmd_stop, cmd_status and cmd_signal,
# defined by the script, and its usage).
service_main() {
    (($#)) || {
        usage
        exit 2
    }
    case $1 in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    pause) cmd_signal STOP ;;
    resume) cmd_signal CONT ;;
    -h | --help | help) usage ;;
    *)
        usage
        die "unknown command '$1'"
        ;;
    esac
}
