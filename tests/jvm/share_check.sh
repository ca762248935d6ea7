#!/usr/bin/env bash
# Share groups (KIP-932) through Kafka 4.1's KafkaShareConsumer (ShareGroupChecks.java): one
# PASS/FAIL line per check, then a summary line, before and after a broker restart.
#
#   share_check.sh --kafka-dir DIR     the Apache Kafka that `kafka.sh start-kafka DIR` runs
#                                      (formatted with share.version=1); it is restarted on its
#                                      ports with `kafka.sh stop-kafka` and `start-kafka`, and its
#                                      watchdog then watches this script's caller
#   share_check.sh --rivulet BIN       a Rivulet broker this script starts from BIN on a free
#                                      port with a data directory of its own, SIGKILLs and starts
#                                      again on the same port and data, and stops at the end
#
# Checks: three consumers share 30,000 records of one partition, each accepted exactly once;
# a consumer SIGKILLed while holding records has them redelivered after the record lock
# (group.share.record.lock.duration.ms, 30 s by default); after the broker restarts, nothing
# accepted before comes back and everything else does. Exits non-zero if a check failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA="$HERE/kafka.sh"

die() { printf 'share_check.sh: %s\n' "$*" >&2; exit 1; }

MODE="${1:-}"
ARG="${2:-}"
[[ ( "$MODE" == "--kafka-dir" || "$MODE" == "--rivulet" ) && -n "$ARG" ]] \
    || die "usage: share_check.sh --kafka-dir DIR | --rivulet BIN"

WORK="$(mktemp -d /tmp/share-check.XXXXXX)"
RIVULET_PID=""
cleanup() {
    if [[ -n "$RIVULET_PID" ]]; then
        kill -KILL "$RIVULET_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_rivulet PORT: starts the broker on 127.0.0.1:PORT over $WORK/data and waits until it
# listens.
start_rivulet() {
    local log="$WORK/rivulet-$SECONDS.log"
    NO_COLOR=1 setsid "$ARG" serve --listen "127.0.0.1:$1" --data-dir "$WORK/data" --log-level info \
        </dev/null >/dev/null 2>"$log" &
    RIVULET_PID=$!
    local deadline=$((SECONDS + 30))
    until grep -q "listening on 127.0.0.1:$1" "$log"; do
        kill -0 "$RIVULET_PID" 2>/dev/null || { cat "$log" >&2; die "rivulet exited during start-up"; }
        ((SECONDS < deadline)) || die "rivulet did not listen within 30 s"
        sleep 0.1
    done
}

restart() {
    if [[ "$MODE" == "--rivulet" ]]; then
        kill -KILL "$RIVULET_PID"
        wait "$RIVULET_PID" 2>/dev/null || true
        start_rivulet "$PORT"
    else
        local ports
        ports="$(sed -n 's/^listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),CONTROLLER:\/\/127.0.0.1:\([0-9]*\)$/\1 \2/p' \
            "$ARG/server.properties")"
        [[ -n "$ports" ]] || die "no listener ports in $ARG/server.properties"
        "$KAFKA" stop-kafka "$ARG"
        KAFKA_WATCH_PID="${KAFKA_WATCH_PID:-$PPID}" KAFKA_PORT="${ports% *}" KAFKA_CONTROLLER_PORT="${ports#* }" \
            "$KAFKA" start-kafka "$ARG" >/dev/null
    fi
}

if [[ "$MODE" == "--rivulet" ]]; then
    PORT="$(free_port)"
    start_rivulet "$PORT"
    BOOTSTRAP="127.0.0.1:$PORT"
else
    BOOTSTRAP="$(cat "$ARG/bootstrap")" || die "no broker started from $ARG"
fi

status=0
timeout 600 "$HERE/run_java.sh" ShareGroupChecks "$BOOTSTRAP" || status=$?

SUFFIX="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TOPIC="share-restart-$SUFFIX"
GROUP="share-restart-$SUFFIX"
if timeout 300 "$HERE/run_java.sh" ShareGroupChecks --before-restart "$BOOTSTRAP" "$TOPIC" "$GROUP" "$WORK/accepted"; then
    restart
    timeout 300 "$HERE/run_java.sh" ShareGroupChecks --after-restart "$BOOTSTRAP" "$TOPIC" "$GROUP" "$WORK/accepted" \
        || status=$?
else
    echo "FAIL restart loses no acknowledgement: accepting records before the restart failed"
    status=1
fi

if [[ "$MODE" == "--rivulet" ]]; then
    kill -TERM "$RIVULET_PID"
    wait "$RIVULET_PID" 2>/dev/null || true
    RIVULET_PID=""
fi
exit "$status"
