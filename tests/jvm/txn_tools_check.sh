#!/usr/bin/env bash
# Apache Kafka 4.1's kafka-transactions tool against the broker at BOOTSTRAP, on a transaction
# whose producer died without ending it: list, describe and describe-producers show it open,
# find-hanging does not count it as hanging (its coordinator still tracks it), abort ends it
# on the partition, and read_committed consumers then read past it. Every check holds on
# Apache Kafka 4.1 itself (`kafka.sh start-kafka`, default settings); values any broker
# chooses (producer ids, timestamps, the node id) are compared for shape.
#
#   txn_tools_check.sh [--allow-known-gaps] BOOTSTRAP
#
# Prints PASS/FAIL per check and `transaction tools: N passed, M failed`. Exits non-zero if
# a check fails; with --allow-known-gaps, failures of the checks named in KNOWN_GAPS are
# reported but do not fail the run.
#
# The transaction is left open by `TransactionChecks --hang` (run_java.sh), which halts its
# JVM right after producing, with transaction.timeout.ms 600000 so that the broker does not
# abort it while the checks run. The run ends it through the coordinator (`--fence`); should
# the run itself die first, the broker aborts it after those 10 minutes.
#
# Note: the transactional ids used here stay in `kafka-transactions list` afterwards (as any
# transactional id does until transactional.id.expiration.ms), so tools_check.sh's check of
# an empty list must run before this against the same broker.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"

# Checks that Rivulet does not pass yet, each with the reason, as
#     [transactions.find-hanging.topic]="DescribeProducers not served"
# Only these may fail under --allow-known-gaps; a gap that starts passing is reported so that
# it can be removed.
declare -A KNOWN_GAPS=()

start_checks txn-tools-check "$@"

# Names unique to this run, so that runs against one broker do not see each other.
RUN="$(date +%s)-$$"
TOPIC="ttc-$RUN"
TXN_ID="ttc-hanging-$RUN"

# java_mode MODE ARGS...: TransactionChecks in one of its modes, bounded like a tool.
java_mode() {
    down && return
    timeout 90 "$HERE/run_java.sh" TransactionChecks "$@" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
}

echo "txn_tools_check against $BOOTSTRAP (topic $TOPIC, transactional id $TXN_ID)"
# The first JVM starts also resolve the classpath and compile the Java checks; do it outside
# any check's timeout.
"$KAFKA" classpath >/dev/null || { echo "FAIL classpath: could not resolve the Kafka jars"; exit 1; }
"$HERE/run_java.sh" --compile || { echo "FAIL compile: the Java checks do not compile"; exit 1; }

# ---------------------------------------------------------------------------------------
# A partition with three records (offsets 0-2), a transaction of two (3-4) whose producer
# halts without ending it, and two records written after it (5-6): a read_committed
# consumer must stop at offset 3 until the transaction is over.

tool kafka-topics --create --topic "$TOPIC" --partitions 1
same transactions.setup.topic "Created topic $TOPIC." "$(out)"
tool kafka-topics --describe --topic "$TOPIC"
NODE_ID="$(grep -oP '^\tTopic: .*\tLeader: \K[0-9]+' "$OUT" | head -n 1)"
NODE_ID="${NODE_ID:-1}"

tool_in $'a\nb\nc\n' kafka-console-producer --topic "$TOPIC"
same transactions.setup.before "0 " "$RC $(out)"

java_mode --hang "$BOOTSTRAP" "$TOPIC" 0 "$TXN_ID" 2
same transactions.hang "0 START_OFFSET=3" "$RC $(out)"

tool_in $'d\ne\n' kafka-console-producer --topic "$TOPIC"
same transactions.setup.after "0 " "$RC $(out)"

# ---------------------------------------------------------------------------------------
# The open transaction as the tool shows it.

# One row per producer of the partition: the two console producers (idempotent, no
# transaction) and the halted one, whose transaction starts at offset 3. Producer ids and
# timestamps are the broker's.
tool kafka-transactions describe-producers --topic "$TOPIC" --partition 0
PRODUCER_ID="$(awk 'NR > 1 && $6 == "3" { print $1 }' "$OUT")"
same transactions.describe-producers.ongoing "0 ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset
ID 0 -1 1 TS 3
ID 0 -1 1 TS None
ID 0 -1 2 TS None" "$RC $(table '$1 = "ID"; $5 = "TS";')"

tool kafka-transactions list
same transactions.list.ongoing "0 TransactionalId Coordinator ProducerId TransactionState
$TXN_ID $NODE_ID PRODUCER Ongoing" \
    "$RC $(table "if (\$1 != \"$TXN_ID\") next; if (\$3 == \"${PRODUCER_ID:-x}\") \$3 = \"PRODUCER\";")"

tool kafka-transactions describe --transactional-id "$TXN_ID"
same transactions.describe.ongoing "0 CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions
$NODE_ID $TXN_ID PRODUCER 0 Ongoing 600000 START DURATION $TOPIC-0" \
    "$RC $(table "if (\$3 == \"${PRODUCER_ID:-x}\") \$3 = \"PRODUCER\"; if (\$7 ~ /^[0-9]+\$/) \$7 = \"START\"; if (\$8 ~ /^[0-9]+\$/) \$8 = \"DURATION\";")"

# find-hanging counts an open transaction as hanging only if its coordinator no longer tracks
# the partition in it. --max-transaction-timeout is in minutes and open transactions younger
# than it are not looked at; 0 has it look at this one (ListTransactions by producer id, then
# DescribeTransactions) and find its coordinator still tracking it: not hanging.
FIND_HANGING_HEADER="Topic Partition ProducerId ProducerEpoch CoordinatorEpoch StartOffset LastTimestamp Duration(min)"
tool kafka-transactions find-hanging --topic "$TOPIC" --partition 0 --max-transaction-timeout 0
same transactions.find-hanging.topic "0 $FIND_HANGING_HEADER" "$RC $(table)"
# The same over every partition the broker holds; hanging transactions of other runs on a
# shared broker are not this run's business, so only rows of this topic count.
tool kafka-transactions find-hanging --broker-id "$NODE_ID" --max-transaction-timeout 0
same transactions.find-hanging.broker "0 $FIND_HANGING_HEADER" \
    "$RC $(table "if (\$1 != \"$TOPIC\") next;")"

# read_committed stops at the open transaction: the records after it wait too.
tool kafka-console-consumer --topic "$TOPIC" --from-beginning --isolation-level read_committed \
    --max-messages 5 --timeout-ms 3000 --property print.offset=true
same transactions.read-committed.ongoing $'Offset:0\ta\nOffset:1\tb\nOffset:2\tc' "$(out)"

# ---------------------------------------------------------------------------------------
# abort: the tool finds the producer by the transaction's start offset and writes the abort
# marker to the partition itself (WriteTxnMarkers), with coordinator epoch 0 since the
# producer has none yet.

tool kafka-transactions abort --topic "$TOPIC" --partition 0 --start-offset 3
same transactions.abort "0 " "$RC $(out)"

tool kafka-transactions describe-producers --topic "$TOPIC" --partition 0
same transactions.describe-producers.aborted "0 ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset
ID 0 -1 1 TS None
ID 0 -1 2 TS None
ID 0 0 1 TS None" "$RC $(table '$1 = "ID"; $5 = "TS";')"

tool kafka-transactions abort --topic "$TOPIC" --partition 0 --start-offset 3
same transactions.abort.again "1 Could not find any open transactions starting at offset 3 on partition $TOPIC-0" \
    "$RC $(errline)"

# The aborted records (3-4) are skipped, the marker (7) passed; the records after them read.
tool kafka-console-consumer --topic "$TOPIC" --from-beginning --isolation-level read_committed \
    --max-messages 5 --timeout-ms 10000 --property print.offset=true
same transactions.read-committed.aborted $'Offset:0\ta\nOffset:1\tb\nOffset:2\tc\nOffset:5\td\nOffset:6\te' "$(out)"

# The marker went to the partition only: the coordinator still has the transaction open,
# and would abort it (again) at its timeout.
tool kafka-transactions list
same transactions.list.aborted "0 TransactionalId Coordinator ProducerId TransactionState
$TXN_ID $NODE_ID PRODUCER Ongoing" \
    "$RC $(table "if (\$1 != \"$TXN_ID\") next; if (\$3 == \"${PRODUCER_ID:-x}\") \$3 = \"PRODUCER\";")"

# ---------------------------------------------------------------------------------------
# A new producer with the transactional id: the coordinator aborts the open transaction and
# the id is idle. (The producer epoch moves on by however many bumps the fencing takes.)

java_mode --fence "$BOOTSTRAP" "$TXN_ID"
same transactions.fence "0 FENCED" "$RC $(out)"

tool kafka-transactions list
same transactions.list.fenced "0 TransactionalId Coordinator ProducerId TransactionState
$TXN_ID $NODE_ID PRODUCER Empty" \
    "$RC $(table "if (\$1 != \"$TXN_ID\") next; if (\$3 == \"${PRODUCER_ID:-x}\") \$3 = \"PRODUCER\";")"

# An idle id has no start time, duration or partitions (the row ends after the timeout of
# the last producer, 60000).
tool kafka-transactions describe --transactional-id "$TXN_ID"
same transactions.describe.fenced "0 CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions
$NODE_ID $TXN_ID PRODUCER EPOCH Empty 60000 None None" \
    "$RC $(table "if (\$3 == \"${PRODUCER_ID:-x}\") \$3 = \"PRODUCER\"; if (\$4 ~ /^[1-9][0-9]*\$/) \$4 = \"EPOCH\";")"

tool kafka-transactions describe-producers --topic "$TOPIC" --partition 0
# Still the three producers, none with an open transaction.
same transactions.describe-producers.fenced "0 3 producers, 0 open" \
    "$RC $(awk 'NR > 1 { n++; if ($6 != "None") open++ } END { printf "%d producers, %d open", n, open }' "$OUT")"

# ---------------------------------------------------------------------------------------

tool kafka-topics --delete --topic "$TOPIC"

finish_checks "transaction tools"
