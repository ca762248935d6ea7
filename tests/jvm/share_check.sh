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
# accepted before comes back and everything else does; then kafka-share-groups --list,
# --describe (--state, --members, --offsets), --delete-offsets and --delete, and kafka-configs
# on the group's configs, print what they print on Kafka. Exits non-zero if a check failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"
KAFKA="$HERE/kafka.sh"
declare -A KNOWN_GAPS=()
ALLOW_GAPS=0 PASSED=0 FAILED=0 FATAL=0 RC=0
GAPS_FAILED=() GAPS_PASSED=()

die() { printf 'share_check.sh: %s\n' "$*" >&2; exit 1; }

MODE="${1:-}"
ARG="${2:-}"
[[ ( "$MODE" == "--kafka-dir" || "$MODE" == "--rivulet" ) && -n "$ARG" ]] \
    || die "usage: share_check.sh --kafka-dir DIR | --rivulet BIN"

WORK="$(mktemp -d /tmp/share-check.XXXXXX)"
OUT="$WORK/out"
ERR="$WORK/err"
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

# kafka-share-groups on the group read to its end after the restart, which has no members.
# check_lib's tool runs report failures in RC rather than stopping the script.
set +e
tool kafka-get-offsets --topic "$TOPIC"
END="$(sed -n "s/^$TOPIC:0://p" "$OUT")"
tool kafka-share-groups --list
if grep -qxF "$GROUP" "$OUT"; then pass share-groups.list; else fail share-groups.list "$GROUP not in $(show "$(out)")"; fi
tool kafka-share-groups --describe --group "$GROUP" --state
same share-groups.describe.state "GROUP COORDINATOR (ID) STATE #MEMBERS
$GROUP $BOOTSTRAP (1) Empty 0" "$(table)"
tool kafka-share-groups --describe --group "$GROUP" --members
same share-groups.describe.members "Share group '$GROUP' has no active members." \
    "$(grep -m1 -h "^Share group" "$OUT" "$ERR")"
# The start offset is only checked to be within the log: Kafka 4.1 reports the one it last
# persisted, which can stay behind what its consumers have acknowledged since the restart.
tool kafka-share-groups --describe --group "$GROUP" --offsets
same share-groups.describe.offsets "GROUP TOPIC PARTITION START-OFFSET
$GROUP $TOPIC 0 OFFSET" "$(table "\$4 = (\$4 ~ /^[0-9]+\$/ && \$4 + 0 <= ${END:-0}) ? \"OFFSET\" : \$4;")"
tool kafka-share-groups --delete-offsets --group "$GROUP" --topic "$TOPIC"
same share-groups.delete-offsets "TOPIC STATUS
$TOPIC Successful" "$(table)"
tool kafka-share-groups --describe --group "$GROUP" --offsets
same share-groups.describe.offsets.deleted "GROUP TOPIC PARTITION START-OFFSET" "$(table)"
# Group configs (resource type GROUP) through kafka-configs.
tool kafka-configs --alter --entity-type groups --entity-name "$GROUP" --add-config share.auto.offset.reset=earliest
same group-configs.alter "Completed updating config for group $GROUP." "$(out)"
tool kafka-configs --describe --entity-type groups --entity-name "$GROUP"
same group-configs.describe "Dynamic configs for group $GROUP are:
  share.auto.offset.reset=earliest sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:share.auto.offset.reset=earliest}" "$(out)"
tool kafka-configs --alter --entity-type groups --entity-name "$GROUP" --add-config share.record.lock.duration.ms=1000
same group-configs.alter.out-of-range "Caused by: org.apache.kafka.common.errors.InvalidConfigurationException: share.record.lock.duration.ms must be greater than or equal to group.share.min.record.lock.duration.ms" \
    "$(grep -m1 -h '^Caused by: ' "$OUT" "$ERR")"
tool kafka-share-groups --delete --group "$GROUP"
same share-groups.delete "Deletion of requested share groups ('$GROUP') was successful." "$(out)"
tool kafka-share-groups --describe --group "no-such-$GROUP"
same share-groups.describe.unknown "Error: Executing share group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group no-such-$GROUP not found." \
    "$(grep -m1 '^Error: ' "$OUT" "$ERR" -h)"
tool kafka-topics --delete --topic "$TOPIC"
finish_checks "share group tools" || status=1

if [[ "$MODE" == "--rivulet" ]]; then
    kill -TERM "$RIVULET_PID"
    wait "$RIVULET_PID" 2>/dev/null || true
    RIVULET_PID=""
fi
exit "$status"
