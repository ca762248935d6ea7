#!/usr/bin/env bash
# ACLs through Kafka's own tools. With the StandardAuthorizer and no ACLs, a user (alice,
# logging in with SASL PLAIN) is refused every produce, fetch, group and admin call; after
# `kafka-acls --add --producer/--consumer` for one topic and one group, exactly those work;
# after `kafka-acls --remove` they are refused again. The same settings (Kafka's keys) start
# either broker:
#
#   acl_check.sh rivulet BINARY   the rivulet binary, with a PLAINTEXT listener for the
#                                 super user and a SASL_PLAINTEXT one for alice
#   acl_check.sh kafka            Apache Kafka 4.1 from kafka.sh, likewise
#
# Prints one PASS/FAIL line per check, then `acl: N passed, M failed`; exits non-zero if a
# check failed.
# No -e: a tool that fails is a failed check (tool sets RC), not the end of the run.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"
declare -A KNOWN_GAPS=()

BROKER="${1:?usage: acl_check.sh rivulet BINARY | kafka}"
BINARY="${2:-}"
[[ "$BROKER" == kafka || ( "$BROKER" == rivulet && -x "$BINARY" ) ]] \
    || { echo "usage: acl_check.sh rivulet BINARY | kafka" >&2; exit 2; }

start_checks acl-check 127.0.0.1:0
BROKER_PID=""
KAFKA_DIR=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
    if [[ -n "$KAFKA_DIR" ]]; then "$KAFKA" stop-kafka "$KAFKA_DIR" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(free_port)"
SPORT="$(free_port)"
while [[ "$SPORT" == "$PORT" ]]; do SPORT="$(free_port)"; done
ADMIN_BOOTSTRAP="127.0.0.1:$PORT"
USER_BOOTSTRAP="127.0.0.1:$SPORT"

# The same settings for both brokers, under Kafka's names. The PLAINTEXT listener's
# User:ANONYMOUS is the super user (on Kafka the controller connects through it too).
SECURITY="authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";"

start_secured_broker "$BROKER" "$BINARY" "$PORT" SASL_PLAINTEXT "$SPORT" "$SECURITY"
echo "$BROKER: PLAINTEXT (super user) on $ADMIN_BOOTSTRAP, SASL_PLAINTEXT (alice) on $USER_BOOTSTRAP"

cat >"$WORK/alice.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";
EOF
ALICE=(--command-config "$WORK/alice.properties")

# refused NAME: passes if the last tool's output says the request was not authorized.
refused() {
    if grep -qE "Not authorized to access|AuthorizationException|Authorization failed" "$ERR" "$OUT"; then
        pass "$1"
    else
        fail "$1" "exit $RC, stdout $(show "$(head -n 3 "$OUT")"), stderr $(show "$(grep -v '^[[:space:]]*at ' "$ERR" | head -n 3)")"
    fi
}

# as_admin / as_alice: which listener the tools that follow use.
as_admin() { BOOTSTRAP="$ADMIN_BOOTSTRAP"; }
as_alice() { BOOTSTRAP="$USER_BOOTSTRAP"; }

# ---------------------------------------------------------------------------------------
as_admin
for topic in acl-granted acl-other; do
    tool kafka-topics --create --topic "$topic" --partitions 1
    same "admin creates $topic" "Created topic $topic." "$(out)"
    tool_in $'admin 1\nadmin 2\nadmin 3\n' kafka-console-producer --topic "$topic"
    same "admin produces to $topic" "0" "$RC"
done

# Without ACLs: everything alice asks for is refused or comes back empty.
as_alice
tool_in $'alice 1\n' kafka-console-producer --topic acl-granted --producer.config "$WORK/alice.properties" \
    --producer-property max.block.ms=15000
refused "no ACLs: console producer is refused"
tool kafka-console-consumer --topic acl-granted --group acl-group --from-beginning --max-messages 1 \
    --timeout-ms 15000 --consumer.config "$WORK/alice.properties"
refused "no ACLs: console consumer is refused"
tool kafka-topics "${ALICE[@]}" --list
same "no ACLs: kafka-topics --list shows nothing" "" "$(out)"
tool kafka-topics "${ALICE[@]}" --create --topic acl-new --partitions 1
refused "no ACLs: kafka-topics --create is refused"
# A topic alice may not see is one that does not exist, to her.
tool kafka-topics "${ALICE[@]}" --describe --topic acl-granted
same "no ACLs: kafka-topics --describe does not see the topic" \
    "Error while executing topic command : Topic 'acl-granted' does not exist as expected" "$(out)"
tool kafka-configs "${ALICE[@]}" --describe --entity-type topics --entity-name acl-granted
same "no ACLs: kafka-configs --describe does not see the topic" \
    "The topic 'acl-granted' doesn't exist and doesn't have dynamic config." "$(out)"
tool kafka-consumer-groups "${ALICE[@]}" --list
same "no ACLs: kafka-consumer-groups --list shows nothing" "" "$(out)"
tool kafka-acls "${ALICE[@]}" --list
refused "no ACLs: kafka-acls --list is refused"
tool kafka-acls "${ALICE[@]}" --add --allow-principal User:alice --operation All --topic '*'
refused "no ACLs: alice cannot grant herself ACLs"

# The super user grants alice one topic and one group.
as_admin
tool kafka-acls --add --allow-principal User:alice --producer --topic acl-granted
same "kafka-acls --add --producer" "0" "$RC"
tool kafka-acls --add --allow-principal User:alice --consumer --topic acl-granted --group acl-group
same "kafka-acls --add --consumer" "0" "$RC"
tool kafka-acls --list --topic acl-granted
# The tool prints a set: its order is not fixed, so the lines are compared sorted.
same "kafka-acls --list --topic" "$(printf '%s\n' \
    "Current ACLs for resource \`ResourcePattern(resourceType=TOPIC, name=acl-granted, patternType=LITERAL)\`:" \
    "	(principal=User:alice, host=*, operation=CREATE, permissionType=ALLOW)" \
    "	(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)" \
    "	(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" \
    "	(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)" | LC_ALL=C sort)" \
    "$(sed '/^$/d' "$OUT" | LC_ALL=C sort)"
tool kafka-acls --list --group acl-group
same "kafka-acls --list --group" "$(printf '%s\n' \
    "Current ACLs for resource \`ResourcePattern(resourceType=GROUP, name=acl-group, patternType=LITERAL)\`:" \
    "	(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)")" \
    "$(sed '/^$/d' "$OUT")"

# Exactly what was granted works, and nothing else. Kafka applies new ACLs a moment after
# answering: the first call is retried for a while on both brokers.
as_alice
for _ in $(seq 1 15); do
    tool_in $'alice 1\nalice 2\nalice 3\n' kafka-console-producer --topic acl-granted \
        --producer.config "$WORK/alice.properties" --producer-property max.block.ms=15000
    [[ $RC -eq 0 ]] && ! grep -q "AuthorizationException" "$ERR" && break
    sleep 1
done
if [[ $RC -eq 0 ]] && ! grep -q "AuthorizationException" "$ERR"; then
    pass "granted: console producer to acl-granted"
else
    fail "granted: console producer to acl-granted" "exit $RC, $(errline)"
fi
tool kafka-console-consumer --topic acl-granted --group acl-group --from-beginning --max-messages 6 \
    --timeout-ms 30000 --consumer.config "$WORK/alice.properties"
same "granted: console consumer in acl-group reads acl-granted" \
    $'admin 1\nadmin 2\nadmin 3\nalice 1\nalice 2\nalice 3' "$(out)"
tool kafka-consumer-groups "${ALICE[@]}" --describe --group acl-group
same "granted: kafka-consumer-groups --describe shows the committed offset" \
    "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
acl-group acl-granted 0 6 6 0" \
    "$(table | awk '{ print $1, $2, $3, $4, $5, $6 }')"
tool kafka-topics "${ALICE[@]}" --list
same "granted: kafka-topics --list shows only acl-granted" "acl-granted" "$(out)"
tool kafka-consumer-groups "${ALICE[@]}" --list
same "granted: kafka-consumer-groups --list shows only acl-group" "acl-group" "$(out)"
tool_in $'alice 1\n' kafka-console-producer --topic acl-other --producer.config "$WORK/alice.properties" \
    --producer-property max.block.ms=15000
refused "granted: console producer to acl-other is still refused"
tool kafka-console-consumer --topic acl-granted --group other-group --from-beginning --max-messages 1 \
    --timeout-ms 15000 --consumer.config "$WORK/alice.properties"
refused "granted: console consumer in another group is still refused"
tool kafka-topics "${ALICE[@]}" --create --topic acl-new --partitions 1
refused "granted: kafka-topics --create of another topic is still refused"
tool kafka-acls "${ALICE[@]}" --list
refused "granted: kafka-acls --list is still refused"

# Removed again: refused again.
as_admin
tool kafka-acls --remove --force --allow-principal User:alice --producer --topic acl-granted
same "kafka-acls --remove --producer" "0" "$RC"
tool kafka-acls --list --topic acl-granted
# --producer and --consumer both add DESCRIBE: one ACL, which --remove --producer removes.
same "kafka-acls --list after --remove keeps only READ" "$(printf '%s\n' \
    "Current ACLs for resource \`ResourcePattern(resourceType=TOPIC, name=acl-granted, patternType=LITERAL)\`:" \
    "	(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)")" \
    "$(sed '/^$/d' "$OUT")"
as_alice
for _ in $(seq 1 15); do
    tool_in $'alice 4\n' kafka-console-producer --topic acl-granted --producer.config "$WORK/alice.properties" \
        --producer-property max.block.ms=15000
    grep -qE "Not authorized to access|AuthorizationException" "$ERR" && break
    sleep 1
done
refused "removed: console producer to acl-granted is refused again"

finish_checks acl
