#!/usr/bin/env bash
# Kafka's command-line tools inside the running image (busybox and rivulet, no JVM), against
# the Java tools of Apache Kafka 4.1 (tests/jvm/kafka.sh) run on the host against the same
# broker: the same commands must print the same thing.
#
#   tools_in_image.sh ENGINE CONTAINER HOST_BOOTSTRAP
#
# ENGINE is the podman/docker command (with flags), CONTAINER a running image started by
# image_check.sh, HOST_BOOTSTRAP the address of its host listener.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E="$1" C="$2" HOST="$3"
KAFKA_SH="$HERE/../jvm/kafka.sh"
RUN="$$"
PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS tools in image: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL tools in image: %s\n' "$*"; }
# in_image TOOL ARGS...: the tool inside the container, through the network listener.
in_image() { $E exec -i "$C" "$@"; }
java_tool() { "$KAFKA_SH" tool "$@" 2>/dev/null; }
same() { # same NAME NATIVE JAVA
    if [[ "$2" == "$3" && -n "$2" ]]; then
        pass "$1"
    else
        fail "$1"
        diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | sed 's/^/    (java <, image >) /' | head -20
    fi
}

if in_image sh -c 'command -v java || ls /usr/lib/jvm /opt/java' >/dev/null 2>&1; then
    fail "a JVM is in the image"
fi

T="image-tools-$RUN" T2="image-tools-java-$RUN" G="image-group-$RUN"
BS=(--bootstrap-server localhost:9092)

# kafka-topics: create (the same message for another name), describe, list.
native="$(in_image kafka-topics.sh "${BS[@]}" --create --topic "$T" --partitions 1 --config retention.ms=3600000)"
java="$(java_tool kafka-topics --bootstrap-server "$HOST" --create --topic "$T2" --partitions 1 --config retention.ms=3600000)"
same "kafka-topics.sh --create" "$native" "${java//$T2/$T}"
same "kafka-topics.sh --describe" \
    "$(in_image kafka-topics.sh "${BS[@]}" --describe --topic "$T")" \
    "$(java_tool kafka-topics --bootstrap-server "$HOST" --describe --topic "$T")"
same "kafka-topics.sh --list" \
    "$(in_image kafka-topics.sh "${BS[@]}" --list)" \
    "$(java_tool kafka-topics --bootstrap-server "$HOST" --list)"

# Keyed records through the image's console producer, read back by both consumers.
printf 'k1:first\nk2:second\nk3:third\n' \
    | in_image kafka-console-producer.sh "${BS[@]}" --topic "$T" --property parse.key=true --property key.separator=:
CONSUME=(--topic "$T" --from-beginning --max-messages 3 --property print.key=true --property key.separator==)
native="$(in_image kafka-console-consumer.sh "${BS[@]}" "${CONSUME[@]}" --group "$G" 2>/dev/null)"
java="$(java_tool kafka-console-consumer --bootstrap-server "$HOST" "${CONSUME[@]}")"
same "console producer and consumer with keys" "$native" "$java"
[[ "$native" == $'k1=first\nk2=second\nk3=third' ]] && pass "the keyed records as produced" \
    || fail "the keyed records as produced: got $(printf '%q' "$native")"

# kafka-consumer-groups: the group the image's consumer committed, described and reset.
same "kafka-consumer-groups.sh --describe" \
    "$(in_image kafka-consumer-groups.sh "${BS[@]}" --describe --group "$G" 2>/dev/null)" \
    "$(java_tool kafka-consumer-groups --bootstrap-server "$HOST" --describe --group "$G")"
RESET=(--reset-offsets --group "$G" --topic "$T" --to-earliest)
same "kafka-consumer-groups.sh --reset-offsets --dry-run" \
    "$(in_image kafka-consumer-groups.sh "${BS[@]}" "${RESET[@]}" --dry-run)" \
    "$(java_tool kafka-consumer-groups --bootstrap-server "$HOST" "${RESET[@]}" --dry-run)"
in_image kafka-consumer-groups.sh "${BS[@]}" "${RESET[@]}" --execute >/dev/null
after="$(java_tool kafka-consumer-groups --bootstrap-server "$HOST" --describe --group "$G" | awk -v t="$T" '$2 == t { print $4 }')"
[[ "$after" == "0" ]] && pass "reset-offsets --execute from the image, seen by the Java tool" \
    || fail "reset-offsets --execute: the Java tool sees current offset [$after]"

echo "tools in image: $PASSED passed, $FAILED failed"
((FAILED == 0))
