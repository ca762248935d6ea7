#!/usr/bin/env bash
# Runs Rivulet's native command-line tools (`rivulet topics ...`, the binary called as
# kafka-topics.sh) and Apache Kafka 4.1's Java tools with the same arguments against the
# broker at BOOTSTRAP, and compares what they print. It must pass against Rivulet and
# against Apache Kafka 4.1 (`kafka.sh start-kafka`).
#
#   native_tools_check.sh [--allow-known-gaps] BOOTSTRAP
#
# RIVULET_BIN names the binary (default: target/debug/rivulet). Commands that change the
# cluster run once per side on names of their own (a topic or group suffixed -jv or
# -nt); the outputs are compared with those names put back to one. Only what
# legitimately varies is normalised: run-specific names, topic ids, member ids, timestamps.
# Prints PASS/FAIL per check and `native-tools: N passed, M failed`.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"

declare -A KNOWN_GAPS=()

start_checks native-tools-check "$@"
: >"$ERR"
RIVULET="${RIVULET_BIN:-$HERE/../../target/debug/rivulet}"
[[ -x "$RIVULET" ]] || { echo "FAIL setup: no rivulet binary at $RIVULET (cargo build --bin rivulet)"; exit 1; }
# The binary answers by the name it is called as, as in the container image.
mkdir -p "$WORK/bin"
for t in topics console-producer console-consumer consumer-groups configs get-offsets delete-records \
    producer-perf-test consumer-perf-test; do
    ln -s "$(cd "$(dirname "$RIVULET")" && pwd)/$(basename "$RIVULET")" "$WORK/bin/kafka-$t.sh"
done

RUN="$(date +%s)-$$"
# Each side's names end in a suffix of the same length, so that columns sized to their
# contents line up.
declare -A SUF=([java]=jv [native]=nt)
T="ntc-$RUN"
G="ntc-group-$RUN"

echo "native_tools_check against $BOOTSTRAP (topic $T-*, group $G-*)"
"$KAFKA" classpath >/dev/null || { echo "FAIL classpath: could not resolve the Kafka jars"; exit 1; }

# side SIDE TOOL ARGS...: runs one side's tool; @T and @G in ARGS become this side's topic
# (the other side's with CROSS=1) and group, @S this side's suffix; stdout to $WORK/SIDE.out with the names put
# back, status to $WORK/SIDE.rc. stdin comes from $INPUT when set.
side() {
    local side="$1" tool="$2"
    shift 2
    local tside="$side"
    if ((${CROSS:-0})); then
        if [[ $side == java ]]; then tside=native; else tside=java; fi
    fi
    local args=() a
    for a in "$@"; do
        a="${a//@T/$T-${SUF[$tside]}}"
        a="${a//@G/$G-${SUF[$side]}}"
        a="${a//@S/${SUF[$side]}}"
        args+=("$a")
    done
    local cmd
    if [[ "$side" == java ]]; then
        cmd=("$KAFKA" tool "$tool")
    else
        cmd=("$WORK/bin/$tool.sh")
    fi
    if down; then
        : >"$WORK/$side.out"
        echo 255 >"$WORK/$side.rc"
        return
    fi
    local rc=0
    # The producer perf test takes its servers in --producer-props only (NO_BOOTSTRAP=1).
    ((${NO_BOOTSTRAP:-0})) || args=(--bootstrap-server "$BOOTSTRAP" "${args[@]}")
    printf '%s' "${INPUT:-}" | timeout 90 "${cmd[@]}" "${args[@]}" \
        >"$WORK/$side.raw" 2>"$WORK/$side.err" || rc=$?
    echo "$rc" >"$WORK/$side.rc"
    sed -e "s/$T-${SUF[$tside]}/@T/g" -e "s/$G-${SUF[$side]}/@G/g" "$WORK/$side.raw" >"$WORK/$side.out"
}

# both NAME TOOL ARGS...: runs the Java and the native tool and compares status and
# stdout after $NORM (a sed script, may be empty) and, with SORTED=1, with lines sorted.
both() {
    local name="$1"
    shift
    side java "$@"
    side native "$@"
    local j n
    j="$(cat "$WORK/java.rc") $(normalise "$WORK/java.out")"
    n="$(cat "$WORK/native.rc") $(normalise "$WORK/native.out")"
    if [[ "$j" == "$n" ]]; then
        pass "$name"
    else
        fail "$name" "java printed $(show "$j"), native $(show "$n") $(grep -v '^\s*at ' "$WORK/native.err" | head -n 2)"
    fi
}

normalise() {
    local s=("sed" "-E" "-e" "${NORM:-s/^//}")
    if ((${SORTED:-0})); then
        "${s[@]}" "$1" | LC_ALL=C sort
    else
        "${s[@]}" "$1"
    fi
}

# stderr_same NAME RE: both runs printed the same (sorted) matches of RE on stderr.
stderr_same() {
    local name="$1" re="$2" j n
    j="$(sed -e "s/$T-jv/@T/g" -e "s/$G-jv/@G/g" "$WORK/java.err" | grep -oE "$re" | LC_ALL=C sort)"
    n="$(sed -e "s/$T-nt/@T/g" -e "s/$G-nt/@G/g" "$WORK/native.err" | grep -oE "$re" | LC_ALL=C sort)"
    same "$name" "$j" "$n"
}

TOPIC_ID='s/TopicId: [A-Za-z0-9_-]{22}/TopicId: ID/'

# ---------------------------------------------------------------------------------------
# kafka-topics

both topics.create kafka-topics --create --topic @T --partitions 3 --replication-factor 1 \
    --config retention.ms=3600000
both topics.create.exists kafka-topics --create --topic @T --partitions 1
both topics.create.if-not-exists kafka-topics --create --topic @T --if-not-exists
both topics.create.bad-partitions kafka-topics --create --topic @T-x --partitions 0
both topics.create.bad-replication kafka-topics --create --topic @T-x --replication-factor 0
both topics.create.collision-warning kafka-topics --create --topic @T.x_y
both topics.delete.collision kafka-topics --delete --topic '@T\.x_y'
both topics.list.topic kafka-topics --list --topic '@T'
# Configs: only the override this run set; a broker adds its own static settings.
NORM="$TOPIC_ID; s/Configs: .*retention\.ms=3600000.*/Configs: retention.ms=3600000/" \
    both topics.describe kafka-topics --describe --topic @T
both topics.describe.missing kafka-topics --describe --topic @T-missing
both topics.describe.if-exists kafka-topics --describe --topic @T-missing --if-exists
both topics.alter.partitions kafka-topics --alter --topic @T --partitions 4
NORM="$TOPIC_ID; s/Configs: .*retention\.ms=3600000.*/Configs: retention.ms=3600000/" \
    both topics.describe.altered kafka-topics --describe --topic @T
both topics.describe.under-replicated kafka-topics --describe --topic @T --under-replicated-partitions
NORM="$TOPIC_ID; s/Configs: .*retention\.ms=3600000.*/Configs: retention.ms=3600000/" \
    both topics.describe.overrides kafka-topics --describe --topic @T --topics-with-overrides
both topics.usage.no-action kafka-topics --topic @T

# ---------------------------------------------------------------------------------------
# console producer and consumer: each side's producer writes its own topic; then each
# consumer reads the topic the other side's producer wrote, so a record the native
# producer got wrong shows in the Java consumer's output and the other way round.

INPUT=$'alpha:one\nbeta:two\ngamma:three with: a colon\nk1:v1\nk2:v2\nk3:v3\nk4:v4\nk5:v5\nk6:v6\n' \
    both console-producer.keys kafka-console-producer --topic @T --property parse.key=true \
    --property key.separator=: --producer-property acks=all
INPUT=$'h1:x,h2:y\tkz:z1\n' \
    both console-producer.headers kafka-console-producer --topic @T --property parse.key=true \
    --property key.separator=: --property parse.headers=true --compression-codec lz4
INPUT=$'nokey\n' \
    both console-producer.no-separator kafka-console-producer --topic @T-x --property parse.key=true
stderr_same console-producer.no-separator.message "No key separator found on line number 1: 'nokey'"

CROSS=1 SORTED=1 both console-consumer.cross kafka-console-consumer --topic @T --from-beginning \
    --max-messages 10 --property print.key=true --property key.separator=: \
    --property print.partition=true --property print.offset=true --property print.headers=true
stderr_same console-consumer.count '^Processed a total of [0-9]+ messages'
# Group consumption, committing on close (each side its own group, on its own topic).
SORTED=1 both console-consumer.group kafka-console-consumer --topic @T --group @G --from-beginning \
    --max-messages 10 --property print.key=true
both console-consumer.partition-offset kafka-console-consumer --topic @T --partition 1 --offset 1 \
    --max-messages 2 --property print.offset=true
NORM='s/CreateTime:[0-9]+/CreateTime:TS/' \
    both console-consumer.timestamp kafka-console-consumer --topic @T --partition 2 --offset earliest \
    --max-messages 1 --property print.timestamp=true --isolation-level read_committed
both console-consumer.timeout kafka-console-consumer --topic @T --partition 0 --offset latest \
    --timeout-ms 1500

# ---------------------------------------------------------------------------------------
# kafka-consumer-groups (the group consumers above committed 10 records on close)

SORTED=1 both consumer-groups.describe kafka-consumer-groups --describe --group @G
# LEADER-EPOCH: the consumers committed each offset with its record's leader epoch.
SORTED=1 both consumer-groups.describe.verbose kafka-consumer-groups --describe --group @G --verbose
stderr_same consumer-groups.describe.no-members "Consumer group '@G' has no active members."
NORM='s/^@G +[0-9.]+:[0-9]+  \([0-9]+\) /@G COORDINATOR /' \
    both consumer-groups.describe.state kafka-consumer-groups --describe --group @G --state
both consumer-groups.describe.members kafka-consumer-groups --describe --group @G --members
both consumer-groups.describe.members.verbose kafka-consumer-groups --describe --group @G --members --verbose
SORTED=1 both consumer-groups.reset.earliest kafka-consumer-groups --reset-offsets --to-earliest \
    --group @G --topic @T --execute
SORTED=1 both consumer-groups.describe.after-reset kafka-consumer-groups --describe --group @G --verbose
SORTED=1 both consumer-groups.reset.to-offset kafka-consumer-groups --reset-offsets --to-offset 1 \
    --group @G --topic @T:0,1 --execute
SORTED=1 both consumer-groups.reset.shift-by kafka-consumer-groups --reset-offsets --shift-by -5 \
    --group @G --all-topics --dry-run
stderr_same consumer-groups.reset.shift-by.warnings \
    'New offset \(-?[0-9]+\) is (higher|lower) than [a-z]+ offset for topic partition [^ ]+\. Value will be set to [0-9]+'
SORTED=1 both consumer-groups.reset.to-latest kafka-consumer-groups --reset-offsets --to-latest \
    --group @G --all-topics
SORTED=1 both consumer-groups.reset.to-datetime kafka-consumer-groups --reset-offsets \
    --to-datetime 2020-01-01T00:00:00.000 --group @G --all-topics --execute
SORTED=1 both consumer-groups.describe.after-datetime kafka-consumer-groups --describe --group @G
both consumer-groups.delete-offsets kafka-consumer-groups --delete-offsets --group @G --topic @T:0 \
    --topic @T-missing
both consumer-groups.delete-offsets.missing-group kafka-consumer-groups --delete-offsets --group @G-missing \
    --topic @T

# A member that stays: each side's console consumer in its own group, described by both
# tools (so both the native membership and the native description are compared).
for s in java native; do
    if [[ $s == java ]]; then cmd=("$KAFKA" tool kafka-console-consumer); else cmd=("$WORK/bin/kafka-console-consumer.sh"); fi
    timeout 90 "${cmd[@]}" --bootstrap-server "$BOOTSTRAP" --topic "$T-${SUF[$s]}" --group "$G-active-${SUF[$s]}" \
        --timeout-ms 60000 </dev/null >/dev/null 2>"$WORK/active-$s.err" &
    echo $! >"$WORK/active-$s.pid"
done
for s in java native; do
    for _ in $(seq 1 60); do
        "$WORK/bin/kafka-consumer-groups.sh" --bootstrap-server "$BOOTSTRAP" --describe --group "$G-active-${SUF[$s]}" \
            --state 2>/dev/null | grep -q ' Stable ' && break
        sleep 0.5
    done
done
MEMBER='s/console-consumer-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/MEMBER/g'
for who in java native; do
    NORM="$MEMBER; s/$G-active-${SUF[$who]}/@A/g; s/$T-${SUF[$who]}/@T/g" \
        both "consumer-groups.active.$who-member.members" kafka-consumer-groups --describe --group "$G-active-${SUF[$who]}" --members --verbose
    NORM="$MEMBER; s/$G-active-${SUF[$who]}/@A/g; s/$T-${SUF[$who]}/@T/g; s/^@A +[0-9.]+:[0-9]+  \([0-9]+\) /@A COORDINATOR /" \
        both "consumer-groups.active.$who-member.state" kafka-consumer-groups --describe --group "$G-active-${SUF[$who]}" --state
    NORM="$MEMBER; s/$G-active-${SUF[$who]}/@A/g; s/$T-${SUF[$who]}/@T/g" SORTED=1 \
        both "consumer-groups.active.$who-member.offsets" kafka-consumer-groups --describe --group "$G-active-${SUF[$who]}"
done
# The members' views must agree too: the native member is described as the Java one is.
j="$(sed -E "$MEMBER; s/$G-active-jv/@A/g; s/$T-jv/@T/g" <("$WORK/bin/kafka-consumer-groups.sh" --bootstrap-server "$BOOTSTRAP" --describe --group "$G-active-jv" --members 2>/dev/null))"
n="$(sed -E "$MEMBER; s/$G-active-nt/@A/g; s/$T-nt/@T/g" <("$WORK/bin/kafka-consumer-groups.sh" --bootstrap-server "$BOOTSTRAP" --describe --group "$G-active-nt" --members 2>/dev/null))"
same consumer-groups.active.native-member-as-java "$j" "$n"
for s in java native; do
    kill -TERM "$(cat "$WORK/active-$s.pid")" 2>/dev/null
    wait "$(cat "$WORK/active-$s.pid")" 2>/dev/null
done
# Closed by SIGTERM: the member left, and the group is empty at once.
for s in java native; do
    side "$s" kafka-consumer-groups --describe --group "$G-active-${SUF[$s]}" --state
    sed -E -e "s/$G-active-${SUF[$s]}/@A/g" -e 's/^@A +[0-9.]+:[0-9]+  \([0-9]+\) /@A COORDINATOR /' "$WORK/$s.raw" >"$WORK/left-$s"
done
same consumer-groups.active.left.both "$(cat "$WORK/left-java")" "$(cat "$WORK/left-native")"

both consumer-groups.delete kafka-consumer-groups --delete --group @G
both consumer-groups.describe.deleted kafka-consumer-groups --describe --group @G
both consumer-groups.delete.missing kafka-consumer-groups --delete --group @G-missing
# Listing: this run's groups are listed by both tools alike.
for s in java native; do
    side "$s" kafka-consumer-groups --list --state
    grep -E "^$G" "$WORK/$s.raw" | sed -E 's/ +/ /g' | LC_ALL=C sort >"$WORK/list-$s"
done
same consumer-groups.list.state "$(cat "$WORK/list-java")" "$(cat "$WORK/list-native")"

# A KIP-848 consumer group (two Java consumers with group.protocol=consumer), described by
# both tools: ConsumerGroupDescribe's epochs, assignor and target assignments.
K="$G-kip848"
for i in 1 2; do
    timeout 120 "$HERE/run_java.sh" GroupProtocolConsumer "$BOOTSTRAP" "$K" --topic "$T-jv" "$WORK/kip848-$i.out" 60 \
        >"$WORK/kip848-$i.log" 2>&1 &
    echo $! >"$WORK/kip848-$i.pid"
done
for _ in $(seq 1 90); do
    "$WORK/bin/kafka-consumer-groups.sh" --bootstrap-server "$BOOTSTRAP" --describe --group "$K" --state 2>/dev/null \
        | grep -qE ' Stable +2 *$' && break
    sleep 0.5
done
NORM="s/$K/@K/g; s/$T-jv/@T/g" SORTED=1 both consumer-groups.kip848.members kafka-consumer-groups --describe --group "$K" --members --verbose
NORM="s/$K/@K/g; s/$T-jv/@T/g" SORTED=1 both consumer-groups.kip848.state kafka-consumer-groups --describe --group "$K" --state --verbose
NORM="s/$K/@K/g; s/$T-jv/@T/g" SORTED=1 both consumer-groups.kip848.offsets kafka-consumer-groups --describe --group "$K"
for s in java native; do
    side "$s" kafka-consumer-groups --list --type consumer --state
    grep -E "^$G" "$WORK/$s.raw" | LC_ALL=C sort >"$WORK/list-type-$s"
done
same consumer-groups.list.type.state "$(cat "$WORK/list-type-java")" "$(cat "$WORK/list-type-native")"
for i in 1 2; do kill -TERM "$(cat "$WORK/kip848-$i.pid")" 2>/dev/null || true; done

# ---------------------------------------------------------------------------------------
# kafka-configs: topic overrides, and the cluster-wide broker defaults (which both sides
# share, so only changes that can be made twice run on both).

both configs.topic.describe kafka-configs --describe --entity-type topics --entity-name @T
both configs.topic.add-config kafka-configs --alter --entity-type topics --entity-name @T \
    --add-config 'cleanup.policy=[compact,delete],max.message.bytes=65536'
both configs.topic.describe.added kafka-configs --describe --topic @T
both configs.topic.describe.all kafka-configs --describe --topic @T --all
both configs.topic.delete-config kafka-configs --alter --entity-type topics --entity-name @T \
    --delete-config max.message.bytes
both configs.topic.describe.deleted kafka-configs --describe --entity-type topics --entity-name @T
both configs.topic.delete-config.missing kafka-configs --alter --entity-type topics --entity-name @T \
    --delete-config no.such.key
stderr_same configs.topic.delete-config.missing.message 'Invalid config\(s\): no\.such\.key'
both configs.topic.add-config.invalid kafka-configs --alter --entity-type topics --entity-name @T \
    --add-config retention.ms=abc
stderr_same configs.topic.add-config.invalid.cause '^Caused by: [A-Za-z.]+'
both configs.topic.add-config.malformed kafka-configs --alter --topic @T --add-config retention.ms
both configs.topic.missing kafka-configs --describe --entity-type topics --entity-name @T-missing
both configs.brokers.default.add-config kafka-configs --alter --entity-type brokers --entity-default \
    --add-config log.cleaner.threads=2
SORTED=1 both configs.brokers.default.describe kafka-configs --describe --entity-type brokers --entity-default
SORTED=1 both configs.brokers.describe kafka-configs --describe --entity-type brokers
side native kafka-configs --alter --entity-type brokers --entity-default --delete-config log.cleaner.threads
same configs.brokers.default.delete-config "0 Completed updating default config for brokers in the cluster." \
    "$(cat "$WORK/native.rc") $(cat "$WORK/native.out")"

# ---------------------------------------------------------------------------------------
# kafka-get-offsets and kafka-delete-records

both get-offsets.latest kafka-get-offsets --topic @T
both get-offsets.earliest kafka-get-offsets --topic @T --time -2
both get-offsets.partitions kafka-get-offsets --topic @T --partitions 0,2 --time earliest
both get-offsets.topic-partitions kafka-get-offsets --topic-partitions @T:1-3
both get-offsets.future kafka-get-offsets --topic @T --time 99999999999999
both get-offsets.missing kafka-get-offsets --topic @T-missing
stderr_same get-offsets.missing.message '^Error occurred: .*'
for s in jv nt; do
    printf '{"partitions":[{"topic":"%s","partition":0,"offset":3},{"topic":"%s","partition":1,"offset":-1}],"version":1}\n' \
        "$T-$s" "$T-$s" >"$WORK/delete-records-$s.json"
done
# The Java tool prints partitions in hash order.
SORTED=1 both delete-records kafka-delete-records --offset-json-file "$WORK/delete-records-@S.json"
both delete-records.earliest kafka-get-offsets --topic @T --time -2
SORTED=1 both delete-records.consume kafka-console-consumer --topic @T --from-beginning --max-messages 3 \
    --property print.key=true --property print.offset=true --property print.partition=true

# ---------------------------------------------------------------------------------------
# perf tests: the figures vary; the lines, the record counts and the data sizes do not.

NO_BOOTSTRAP=1 NORM='s/[0-9]+\.[0-9]+/F/g; s/[0-9]+ ms/N ms/g' \
    both perf.producer kafka-producer-perf-test --topic @T-perf --num-records 500 --record-size 64 \
    --throughput -1 --producer-props "bootstrap.servers=$BOOTSTRAP" acks=all
NORM='s/^[^,]+, [^,]+, ([^,]+), [^,]+, ([^,]+), .*/\1 \2/' \
    both perf.consumer kafka-consumer-perf-test --topic @T-perf --messages 500
NORM='s/^[^,]+, [^,]+, ([^,]+), [^,]+, ([^,]+), .*/\1 \2/' \
    both perf.consumer.hide-header kafka-consumer-perf-test --topic @T-perf --messages 500 --hide-header

# ---------------------------------------------------------------------------------------
both topics.delete kafka-topics --delete --topic @T
both topics.delete.perf kafka-topics --delete --topic @T-perf
both topics.delete.missing kafka-topics --delete --topic @T

finish_checks native-tools
