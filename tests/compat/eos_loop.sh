#!/usr/bin/env bash
# The exactly-once loop of eos_loop.py, processor kills and broker kills included, against
# a broker this script starts, kills and restarts itself:
#
#   eos_loop.sh kafka [N]             Apache Kafka 4.1 (tests/jvm/kafka.sh), N input records
#                                     (100000)
#   eos_loop.sh rivulet BINARY [N]    a Rivulet binary (e.g. target/release/rivulet)
#
# and the broker restart hooks it hands to eos_loop.py, usable on their own:
#
#   eos_loop.sh restart-kafka DIR     SIGKILL the Kafka started from DIR (by kafka.sh), start
#                                     it again on the same data and ports; its watchdog
#                                     follows KAFKA_WATCH_PID, else the driver that runs the
#                                     hook (EOS_DRIVER_PID), and stops it when that ends
#   eos_loop.sh restart-rivulet DIR   the same for a Rivulet started by this script
#
# Environment:
#   PYTHON        a Python with confluent-kafka 2.16.1 (python3)
#   EOS_ARGS      further arguments for `eos_loop.py run`, e.g.
#                 "--processor-kills 10 --broker-restarts 3 --seed 7"
#   EOS_DIR       directory for the broker's data and logs (default: a new temporary one,
#                 removed after a PASS)
#   RIVULET_ARGS  further arguments for `rivulet serve`, e.g. "--set KEY=VALUE"
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_SH="$HERE/../jvm/kafka.sh"
PYTHON="${PYTHON:-python3}"

die() { printf 'eos_loop.sh: %s\n' "$*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $2 seconds for process $1 to be gone. A killed broker whose parent has exited
# may linger as a zombie until something reaps it: that counts as gone once its last thread
# has exited too (the leader of a killed multi-threaded process turns zombie while another
# thread still finishes, say, an fsync, and the process keeps its files and locks until then).
wait_gone() {
    local pid="$1" deadline=$((SECONDS + $2)) state threads
    while kill -0 "$pid" 2>/dev/null; do
        state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
        threads="$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
        [[ "$state" == Z && "$threads" -le 1 ]] && return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------------------
# Apache Kafka 4.1

restart_kafka() {
    local dir="${1:?restart-kafka DIR}"
    [[ -s "$dir/bootstrap" && -s "$dir/server.properties" ]] || die "no Kafka was started from $dir"
    local port cport pid
    port="$(sed 's/.*://' "$dir/bootstrap")"
    cport="$(sed -n 's/^controller\.quorum\.bootstrap\.servers=.*://p' "$dir/server.properties" | tail -n 1)"
    [[ -n "$port" && -n "$cport" ]] || die "cannot read the ports of the Kafka in $dir"
    if [[ -s "$dir/kafka.pid" ]]; then
        pid="$(cat "$dir/kafka.pid")"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 30 || die "Kafka $pid still alive 30 s after SIGKILL"
    fi
    [[ -s "$dir/watchdog.pid" ]] && kill -TERM "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
    rm -f "$dir/kafka.pid" "$dir/watchdog.pid"
    # start-kafka waits for 'Kafka Server started' in kafka.log: the killed broker's log
    # goes aside so that only the new broker's line counts.
    local n=1
    while [[ -e "$dir/kafka-killed-$n.log" ]]; do n=$((n + 1)); done
    [[ -e "$dir/kafka.log" ]] && mv "$dir/kafka.log" "$dir/kafka-killed-$n.log"
    # The new broker's watchdog follows whoever runs the test (the caller of this hook is
    # gone as soon as it returns).
    KAFKA_WATCH_PID="${KAFKA_WATCH_PID:-${EOS_DRIVER_PID:?set KAFKA_WATCH_PID or EOS_DRIVER_PID}}" \
        KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT="$cport" \
        "$KAFKA_SH" start-kafka "$dir" >/dev/null
}

# ---------------------------------------------------------------------------------------
# Rivulet

start_rivulet() {
    local dir="$1" binary port
    binary="$(cat "$dir/binary")"
    port="$(sed 's/.*://' "$dir/bootstrap")"
    local n=1
    while [[ -e "$dir/rivulet-$n.log" ]]; do n=$((n + 1)); done
    local log="$dir/rivulet-$n.log"
    # setsid and no inherited stdio, as for Kafka: the broker outlives the hook that starts it.
    # Started from a subshell, it is no job of this shell, which would report its SIGKILL.
    # shellcheck disable=SC2086 # RIVULET_ARGS is a list of words
    (
        NO_COLOR=1 setsid "$binary" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" \
            --log-level info ${RIVULET_ARGS:-} </dev/null >/dev/null 2>"$log" &
        echo $! >"$dir/rivulet.pid"
    )
    local pid
    pid="$(cat "$dir/rivulet.pid")"
    local deadline=$((SECONDS + 60))
    until grep -q "listening on 127.0.0.1:$port" "$log" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "rivulet exited during start-up (log $log)"; }
        ((SECONDS < deadline)) || die "rivulet did not start listening within 60 s (log $log)"
        sleep 0.1
    done
    echo "rivulet started, pid $pid, log $log" >&2
}

stop_rivulet() {
    local dir="$1"
    [[ -s "$dir/rivulet.pid" ]] || return 0
    local pid
    pid="$(cat "$dir/rivulet.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/rivulet.pid"
}

restart_rivulet() {
    local dir="${1:?restart-rivulet DIR}"
    [[ -s "$dir/binary" && -s "$dir/bootstrap" ]] || die "no Rivulet was started from $dir"
    if [[ -s "$dir/rivulet.pid" ]]; then
        local pid
        pid="$(cat "$dir/rivulet.pid")"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 30 || die "rivulet $pid still alive 30 s after SIGKILL"
    fi
    start_rivulet "$dir"
}

# ---------------------------------------------------------------------------------------

BROKER_DIR=""
BROKER_KIND=""
LOOP_PID=""

cleanup() {
    local rc=$?
    if [[ -n "$LOOP_PID" ]] && kill -0 "$LOOP_PID" 2>/dev/null; then
        # The driver kills its processor when terminated.
        kill -TERM "$LOOP_PID" 2>/dev/null || true
        wait "$LOOP_PID" 2>/dev/null || true
    fi
    case "$BROKER_KIND" in
        kafka) "$KAFKA_SH" stop-kafka "$BROKER_DIR" || true ;;
        rivulet) stop_rivulet "$BROKER_DIR" ;;
    esac
    if [[ -n "$BROKER_DIR" ]]; then
        if [[ $rc -eq 0 && -z "${EOS_DIR:-}" ]]; then
            rm -rf "$BROKER_DIR"
        else
            echo "eos_loop.sh: broker data and logs kept in $BROKER_DIR" >&2
        fi
    fi
    exit $rc
}

# run_loop BOOTSTRAP N RESTART_COMMAND
run_loop() {
    # In the background and waited for: a signal to this script then runs the cleanup at
    # once (bash defers traps while a foreground command runs).
    # shellcheck disable=SC2086 # EOS_ARGS is a list of words
    "$PYTHON" "$HERE/eos_loop.py" run "$1" "$2" --broker-restart-cmd "$3" \
        --workdir "$BROKER_DIR/processors" ${EOS_ARGS:-} &
    LOOP_PID=$!
    wait "$LOOP_PID"
}

# begin_run KIND: the broker directory, and the cleanup that stops the broker however this
# script ends.
begin_run() {
    trap cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    if [[ -n "${EOS_DIR:-}" ]]; then
        mkdir -p "$EOS_DIR"
        BROKER_DIR="$(cd "$EOS_DIR" && pwd)"
    else
        BROKER_DIR="$(mktemp -d /tmp/eos-loop.XXXXXX)"
    fi
    BROKER_KIND="$1"
}

cmd="${1:-}"
shift || true
case "$cmd" in
    kafka)
        n="${1:-100000}"
        begin_run kafka
        # The broker lives as long as this script: restarts by the hook included.
        export KAFKA_WATCH_PID=$$
        started=$SECONDS
        bootstrap="$("$KAFKA_SH" start-kafka "$BROKER_DIR")"
        bootstrap="${bootstrap#BOOTSTRAP=}"
        echo "Apache Kafka 4.1 at $bootstrap (data and logs in $BROKER_DIR), up in $((SECONDS - started)) s"
        run_loop "$bootstrap" "$n" "$(printf '%q ' "$HERE/eos_loop.sh" restart-kafka "$BROKER_DIR")"
        ;;
    rivulet)
        binary="${1:?usage: eos_loop.sh rivulet BINARY [N]}"
        n="${2:-100000}"
        [[ -x "$binary" ]] || die "$binary is not an executable"
        begin_run rivulet
        mkdir -p "$BROKER_DIR/data"
        (cd "$(dirname "$binary")" && echo "$(pwd)/$(basename "$binary")") >"$BROKER_DIR/binary"
        echo "127.0.0.1:$(free_port)" >"$BROKER_DIR/bootstrap"
        start_rivulet "$BROKER_DIR"
        bootstrap="$(cat "$BROKER_DIR/bootstrap")"
        echo "Rivulet at $bootstrap (data and logs in $BROKER_DIR)"
        run_loop "$bootstrap" "$n" "$(printf '%q ' "$HERE/eos_loop.sh" restart-rivulet "$BROKER_DIR")"
        ;;
    restart-kafka) restart_kafka "$@" ;;
    restart-rivulet) restart_rivulet "$@" ;;
    *)
        sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
