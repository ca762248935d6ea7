#!/usr/bin/env bash
# Runs Apache Kafka 4.1's command-line tools against the broker at BOOTSTRAP and checks what
# they print. Every check holds on Apache Kafka 4.1 itself (a one-node KRaft cluster started
# with `kafka.sh start-kafka`); Rivulet must give the same output. Where any single broker may
# choose a value (node id, cluster id, ports, leader epochs, offsets of the metadata log,
# timestamps) the shape is compared, not the value.
#
#   tools_check.sh [--allow-known-gaps] BOOTSTRAP
#
# Prints PASS/FAIL per check and `tools: N passed, M failed`. Exits non-zero if a check
# fails; with --allow-known-gaps, failures of the checks named in KNOWN_GAPS are reported
# but do not fail the run.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"

# Checks that Rivulet does not pass yet, each with the reason. Only these may fail under
# --allow-known-gaps; a gap that starts passing is reported so that it can be removed.
declare -A KNOWN_GAPS=()

start_checks tools-check "$@"

# Names unique to this run, so that runs against one broker do not see each other.
RUN="$(date +%s)-$$"
TOPIC="tc-main-$RUN"
TOPIC_DEL="tc-del-$RUN"
TOPIC_PERF="tc-perf-$RUN"
GROUP="tc-group-$RUN"
GROUP_ACTIVE="tc-active-$RUN"

# matches NAME EXTENDED-REGEX TEXT: every line of TEXT matches, and there is at least one.
matches() {
    if [[ -n "$3" ]] && ! printf '%s\n' "$3" | grep -qvE "$2"; then
        pass "$1"
    else
        fail "$1" "expected every line to match /$2/, got $(show "$3") (exit $RC) $(errline)"
    fi
}

# The consumer group tools say on stderr that a group has no members.
no_members() { grep -xF "Consumer group '$GROUP' has no active members." "$ERR"; }

echo "tools_check against $BOOTSTRAP (topics $TOPIC, $TOPIC_DEL; group $GROUP)"
# The first JVM start also resolves the classpath; do it outside any check's timeout.
"$KAFKA" classpath >/dev/null || { echo "FAIL classpath: could not resolve the Kafka jars"; exit 1; }

# ---------------------------------------------------------------------------------------
# kafka-topics

tool kafka-topics --create --topic "$TOPIC" --partitions 1 --replication-factor 1 \
    --config retention.ms=3600000
same topics.create "Created topic $TOPIC." "$(out)"

tool kafka-topics --create --topic "$TOPIC" --partitions 1
same topics.create.exists "1 Error while executing topic command : Topic '$TOPIC' already exists." \
    "$RC $(out)"

tool kafka-topics --list
if grep -qxF "$TOPIC" "$OUT"; then pass topics.list; else fail topics.list "$TOPIC not in $(show "$(out)")"; fi

tool kafka-topics --describe --topic "$TOPIC"
# The header line: topic id and the configs that differ from the defaults (the reference
# broker adds its own static and cluster-wide settings, so only ours is looked for).
header="$(head -n 1 "$OUT")"
if [[ "$header" =~ ^Topic:\ $TOPIC$'\t'TopicId:\ [A-Za-z0-9_-]{22}$'\t'PartitionCount:\ 1$'\t'ReplicationFactor:\ 1$'\t'Configs:\ (.*)$ ]] \
    && [[ ",${BASH_REMATCH[1]}," == *",retention.ms=3600000,"* ]]; then
    pass topics.describe
else
    fail topics.describe "unexpected header $(show "$header") (exit $RC) $(errline)"
fi
# Partition lines: this node leads every partition and is the only replica; the eligible
# leader replicas (KIP-966) are empty lists, as DescribeTopicPartitions reports them.
NODE_ID="$(grep -oP '^\tTopic: .*\tLeader: \K[0-9]+' "$OUT" | head -n 1)"
same topics.describe.partitions $'\tTopic: '"$TOPIC"$'\tPartition: 0\tLeader: N\tReplicas: N\tIsr: N\tElr: \tLastKnownElr: ' \
    "$(tail -n +2 "$OUT" | sed -E 's/(Leader|Replicas|Isr): [0-9]+/\1: N/g')"

# ---------------------------------------------------------------------------------------
# console producer and consumer, with keys

tool_in $'alpha:one\nbeta:two\ngamma:three with: a colon\n' kafka-console-producer --topic "$TOPIC" \
    --property parse.key=true --property key.separator=: --producer-property acks=all
same console-producer.keys "0 " "$RC $(out)"

tool kafka-console-consumer --topic "$TOPIC" --from-beginning --max-messages 3 --group "$GROUP" \
    --property print.key=true --property key.separator=:
same console-consumer.keys $'alpha:one\nbeta:two\ngamma:three with: a colon' "$(out)"
if grep -qxF 'Processed a total of 3 messages' "$ERR"; then
    pass console-consumer.count
else
    fail console-consumer.count "stderr lacks 'Processed a total of 3 messages': $(show "$(cat "$ERR")")"
fi

# ---------------------------------------------------------------------------------------
# kafka-get-offsets

tool kafka-get-offsets --topic "$TOPIC"
same get-offsets.latest "$TOPIC:0:3" "$(out)"
tool kafka-get-offsets --topic "$TOPIC" --time earliest
same get-offsets.earliest "$TOPIC:0:0" "$(out)"

# ---------------------------------------------------------------------------------------
# kafka-consumer-groups (the console consumer above committed on close)

tool kafka-consumer-groups --list
if grep -qxF "$GROUP" "$OUT"; then pass consumer-groups.list; else fail consumer-groups.list "$GROUP not in $(show "$(out)")"; fi

GROUP_HEADER="GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID"
tool kafka-consumer-groups --describe --group "$GROUP"
same consumer-groups.describe "$GROUP_HEADER
$GROUP $TOPIC 0 3 3 0 - - -
Consumer group '$GROUP' has no active members." "$(table; no_members)"

tool kafka-consumer-groups --describe --group "$GROUP" --state
same consumer-groups.describe.state "GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS
$GROUP 127.0.0.1:PORT (N) - Empty 0" \
    "$(table | sed -E 's/[0-9.]+:[0-9]+ \([0-9]+\)/127.0.0.1:PORT (N)/')"

tool kafka-consumer-groups --describe --group "$GROUP" --members
same consumer-groups.describe.members "GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS
Consumer group '$GROUP' has no active members." "$(table; no_members)"

tool kafka-consumer-groups --reset-offsets --to-earliest --execute --group "$GROUP" --topic "$TOPIC"
same consumer-groups.reset-offsets "GROUP TOPIC PARTITION NEW-OFFSET
$GROUP $TOPIC 0 0" "$(table)"

tool kafka-consumer-groups --describe --group "$GROUP"
same consumer-groups.describe.after-reset "$GROUP_HEADER
$GROUP $TOPIC 0 0 3 3 - - -
Consumer group '$GROUP' has no active members." "$(table; no_members)"

tool kafka-consumer-groups --delete --group "$GROUP"
same consumer-groups.delete "Deletion of requested consumer groups ('$GROUP') was successful." "$(out)"

tool kafka-consumer-groups --list
if [[ $RC -eq 0 ]] && ! grep -qxF "$GROUP" "$OUT"; then
    pass consumer-groups.list.after-delete
else
    fail consumer-groups.list.after-delete "$GROUP still listed or the tool failed (exit $RC) $(errline)"
fi

tool kafka-consumer-groups --describe --group "$GROUP"
same consumer-groups.describe.deleted \
    "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group $GROUP not found." \
    "$(grep -v '^$' "$OUT")"

# ---------------------------------------------------------------------------------------
# kafka-topics --alter, after the group checks (which expect one partition)

tool kafka-topics --alter --topic "$TOPIC" --partitions 3
same topics.alter.partitions "0 " "$RC $(out)"
tool kafka-topics --describe --topic "$TOPIC"
same topics.describe.after-alter $'PartitionCount: 3\n0\n1\n2' \
    "$(grep -oE 'PartitionCount: [0-9]+' "$OUT"; grep -oP '^\tTopic: .*\tPartition: \K[0-9]+' "$OUT")"

# Keys go to partitions by the client's murmur2 hash, the same whatever the broker.
tool_in $'k1:v1\nk2:v2\nk3:v3\nk4:v4\nk5:v5\nk6:v6\n' kafka-console-producer --topic "$TOPIC" \
    --property parse.key=true --property key.separator=:
tool kafka-get-offsets --topic "$TOPIC"
same get-offsets.partitions "$TOPIC:0:5
$TOPIC:1:3
$TOPIC:2:1" "$(LC_ALL=C sort "$OUT")"

# ---------------------------------------------------------------------------------------
# kafka-consumer-groups on a group with a member: a console consumer that stays subscribed
# (it stops by itself after 60 s without records, or when this script kills it).

timeout 90 "$KAFKA" tool kafka-console-consumer --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
    --group "$GROUP_ACTIVE" --timeout-ms 60000 </dev/null >/dev/null 2>"$WORK/active.err" &
ACTIVE_PID=$!
state=""
for _ in $(seq 1 30); do
    down && break
    tool kafka-consumer-groups --describe --group "$GROUP_ACTIVE" --state
    state="$(table | sed -E 's/[0-9.]+:[0-9]+ \([0-9]+\)/127.0.0.1:PORT (N)/')"
    [[ "$state" == *" Stable 1" ]] && break
    sleep 0.5
done
same consumer-groups.describe.state.active "GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS
$GROUP_ACTIVE 127.0.0.1:PORT (N) range Stable 1" "$state"

# The member id is the client id and a UUID; the host is the client's address as Java
# prints an InetAddress.
MEMBER_RE='console-consumer-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
tool kafka-consumer-groups --describe --group "$GROUP_ACTIVE" --members
same consumer-groups.describe.members.active "GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS
$GROUP_ACTIVE MEMBER /127.0.0.1 console-consumer 3" "$(table | sed -E "s/$MEMBER_RE/MEMBER/")"

tool kafka-consumer-groups --describe --group "$GROUP_ACTIVE" --members --verbose
same consumer-groups.describe.members.verbose "GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS CURRENT-EPOCH CURRENT-ASSIGNMENT TARGET-EPOCH TARGET-ASSIGNMENT
$GROUP_ACTIVE MEMBER /127.0.0.1 console-consumer 3 - $TOPIC:0,1,2 - -" "$(table | sed -E "s/$MEMBER_RE/MEMBER/")"

# SIGTERM: the consumer closes and leaves the group, which is then empty at once.
kill -TERM "$ACTIVE_PID" 2>/dev/null
wait "$ACTIVE_PID" 2>/dev/null
tool kafka-consumer-groups --describe --group "$GROUP_ACTIVE" --state
same consumer-groups.describe.state.left "GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS
$GROUP_ACTIVE 127.0.0.1:PORT (N) - Empty 0" \
    "$(table | sed -E 's/[0-9.]+:[0-9]+ \([0-9]+\)/127.0.0.1:PORT (N)/')"
tool kafka-consumer-groups --delete --group "$GROUP_ACTIVE"

# ---------------------------------------------------------------------------------------
# kafka-configs: a topic, and the cluster-wide broker defaults

tool kafka-configs --describe --entity-type topics --entity-name "$TOPIC"
# retention.ms has broker synonyms (log.retention.ms, .minutes, .hours); Kafka lists them
# only from the first one that is set, log.retention.ms, so none here.
same configs.topic.describe "Dynamic configs for topic $TOPIC are:
  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}" "$(out)"

tool kafka-configs --alter --entity-type topics --entity-name "$TOPIC" \
    --add-config 'cleanup.policy=[compact,delete],max.message.bytes=65536'
same configs.topic.add-config "Completed updating config for topic $TOPIC." "$(out)"
tool kafka-configs --describe --entity-type topics --entity-name "$TOPIC"
same configs.topic.describe.added "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete}
  max.message.bytes=65536 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=65536, DEFAULT_CONFIG:message.max.bytes=1048588}" \
    "$(grep -E '^  (cleanup\.policy|max\.message\.bytes)=' "$OUT")"

tool kafka-configs --alter --entity-type topics --entity-name "$TOPIC" --delete-config max.message.bytes
same configs.topic.delete-config "Completed updating config for topic $TOPIC." "$(out)"
tool kafka-configs --describe --entity-type topics --entity-name "$TOPIC"
same configs.topic.describe.deleted "Dynamic configs for topic $TOPIC are:
cleanup.policy
retention.ms" "$(head -n 1 "$OUT"; tail -n +2 "$OUT" | grep -oE '^  [a-z.]+' | sed 's/^  //')"

tool kafka-configs --describe --entity-type topics --entity-name "$TOPIC" --all
same configs.topic.describe.all "  max.message.bytes=1048588 sensitive=false synonyms={DEFAULT_CONFIG:message.max.bytes=1048588}
  segment.ms=604800000 sensitive=false synonyms={}" \
    "$(grep -E '^  (max\.message\.bytes|segment\.ms)=' "$OUT")"

# The cluster-wide defaults: only what this run sets is compared (a KRaft cluster also
# holds a cluster-wide min.insync.replicas from its bootstrap).
tool kafka-configs --describe --entity-type brokers --entity-default
same configs.brokers.default.describe "Default configs for brokers in the cluster are:" "$(head -n 1 "$OUT")"
tool kafka-configs --alter --entity-type brokers --entity-default --add-config log.cleaner.threads=2
same configs.brokers.default.add-config "Completed updating default config for brokers in the cluster." "$(out)"
tool kafka-configs --describe --entity-type brokers --entity-default
same configs.brokers.default.describe.added \
    "  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.threads=2}" \
    "$(grep -E '^  log\.cleaner\.threads=' "$OUT")"
tool kafka-configs --alter --entity-type brokers --entity-default --delete-config log.cleaner.threads
same configs.brokers.default.delete-config "Completed updating default config for brokers in the cluster." "$(out)"
tool kafka-configs --describe --entity-type brokers --entity-default
same configs.brokers.default.describe.deleted "0 Default configs for brokers in the cluster are:" \
    "$RC $(grep -vE '^  min\.insync\.replicas=' "$OUT")"

# This broker's own dynamic configs (none to start with), and its defaults for keys the
# reference broker's server.properties leaves alone.
tool kafka-configs --describe --entity-type brokers --entity-name "${NODE_ID:-1}"
same configs.broker.describe "Dynamic configs for broker ${NODE_ID:-1} are:" "$(out)"
tool kafka-configs --describe --entity-type brokers --entity-name "${NODE_ID:-1}" --all
same configs.broker.describe.all "  auto.create.topics.enable=true sensitive=false synonyms={DEFAULT_CONFIG:auto.create.topics.enable=true}
  log.cleaner.threads=1 sensitive=false synonyms={DEFAULT_CONFIG:log.cleaner.threads=1}
  log.retention.ms=null sensitive=false synonyms={}
  message.max.bytes=1048588 sensitive=false synonyms={DEFAULT_CONFIG:message.max.bytes=1048588}" \
    "$(grep -E '^  (auto\.create\.topics\.enable|log\.cleaner\.threads|log\.retention\.ms|message\.max\.bytes)=' "$OUT")"
tool kafka-configs --alter --entity-type brokers --entity-name "${NODE_ID:-1}" --add-config log.cleaner.threads=2
same configs.broker.add-config "Completed updating config for broker ${NODE_ID:-1}." "$(out)"
tool kafka-configs --describe --entity-type brokers --entity-name "${NODE_ID:-1}"
same configs.broker.describe.added "Dynamic configs for broker ${NODE_ID:-1} are:
  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, DEFAULT_CONFIG:log.cleaner.threads=1}" "$(out)"
tool kafka-configs --alter --entity-type brokers --entity-name "${NODE_ID:-1}" --delete-config log.cleaner.threads
same configs.broker.delete-config "Completed updating config for broker ${NODE_ID:-1}." "$(out)"
tool kafka-configs --describe --entity-type brokers --entity-name "${NODE_ID:-1}"
same configs.broker.describe.deleted "Dynamic configs for broker ${NODE_ID:-1} are:" "$(out)"
# Kafka validates a dynamic change against the running value: the cleaner may at most
# double its threads at a time (1 to 3 is refused with INVALID_REQUEST).
tool kafka-configs --alter --entity-type brokers --entity-name "${NODE_ID:-1}" --add-config log.cleaner.threads=3
same configs.broker.add-config.invalid "1 Caused by: org.apache.kafka.common.errors.InvalidRequestException" \
    "$RC $(grep -ohE '^Caused by: [A-Za-z.]+' "$ERR" "$OUT" | head -n 1)"
if [[ $RC -eq 0 ]]; then
    # Accepted after all: take it back so that later runs start from the default.
    tool kafka-configs --alter --entity-type brokers --entity-name "${NODE_ID:-1}" --delete-config log.cleaner.threads
fi

# ---------------------------------------------------------------------------------------
# kafka-delete-records

tool kafka-topics --create --topic "$TOPIC_DEL" --partitions 1
tool_in $'a:1\nb:2\nc:3\nd:4\ne:5\n' kafka-console-producer --topic "$TOPIC_DEL" \
    --property parse.key=true --property key.separator=:
printf '{"partitions":[{"topic":"%s","partition":0,"offset":3}],"version":1}\n' "$TOPIC_DEL" \
    >"$WORK/delete-records.json"
tool kafka-delete-records --offset-json-file "$WORK/delete-records.json"
same delete-records "Executing records delete operation
Records delete operation completed:
partition: $TOPIC_DEL-0	low_watermark: 3" "$(out)"
tool kafka-get-offsets --topic "$TOPIC_DEL" --time -2
same delete-records.earliest "$TOPIC_DEL:0:3" "$(out)"
tool kafka-console-consumer --topic "$TOPIC_DEL" --from-beginning --max-messages 2 \
    --property print.key=true --property print.offset=true --property print.partition=true \
    --property print.headers=true
same delete-records.consume $'Partition:0\tOffset:3\tNO_HEADERS\td\t4\nPartition:0\tOffset:4\tNO_HEADERS\te\t5' "$(out)"

# ---------------------------------------------------------------------------------------
# kafka-log-dirs

tool kafka-log-dirs --describe --topic-list "$TOPIC_DEL"
same log-dirs.describe "Querying brokers for log directories information
Received log directory information from brokers N
version=1 brokers=1 logDirs=1 error=None absolute=True
$TOPIC_DEL-0 size>0=True offsetLag=0 isFuture=False" \
    "$(sed -n 1p "$OUT"; sed -n 2p "$OUT" | sed -E 's/brokers [0-9]+$/brokers N/'
       sed -n 3p "$OUT" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    dirs = d["brokers"][0]["logDirs"]
    print("version=%s brokers=%d logDirs=%d error=%s absolute=%s" % (
        d["version"], len(d["brokers"]), len(dirs), dirs[0]["error"], dirs[0]["logDir"].startswith("/")))
    for p in dirs[0]["partitions"]:
        print("%s size>0=%s offsetLag=%s isFuture=%s" % (p["partition"], p["size"] > 0, p["offsetLag"], p["isFuture"]))
except Exception as e:
    print("unparsable JSON: %r" % e)')"

# ---------------------------------------------------------------------------------------
# kafka-features: one line per feature; the versions are the broker's own.

tool kafka-features describe
lines="$(out)"
if [[ $RC -eq 0 ]] && printf '%s\n' "$lines" | grep -qE '^Feature: metadata\.version	SupportedMinVersion: [0-9]+\.[0-9]+-IV[0-9]+	SupportedMaxVersion: [0-9]+\.[0-9]+-IV[0-9]+	FinalizedVersionLevel: [0-9]+\.[0-9]+-IV[0-9]+	Epoch: [0-9]+$'; then
    matches features.describe \
        '^Feature: [a-z.]+	SupportedMinVersion: [0-9A-Z.-]+	SupportedMaxVersion: [0-9A-Z.-]+	FinalizedVersionLevel: [0-9A-Z.-]+	Epoch: [0-9]+$' \
        "$lines"
else
    fail features.describe "no finalized metadata.version line in $(show "$lines") (exit $RC) $(errline)"
fi

# ---------------------------------------------------------------------------------------
# kafka-metadata-quorum: this node is the whole quorum, and its leader.

tool kafka-metadata-quorum describe --status
status="$(sed -E 's/:[[:space:]]+/: /' "$OUT")"
leader="$(printf '%s\n' "$status" | sed -n 's/^LeaderId: //p')"
same metadata-quorum.status "ClusterId: ID
LeaderId: N
LeaderEpoch: N
HighWatermark: N
MaxFollowerLag: 0
MaxFollowerLagTimeMs: 0
CurrentVoters: [{\"id\": N, \"directoryId\": \"ID\", \"endpoints\": [\"NAME://HOST:PORT\"]}]
CurrentObservers: []" "$(printf '%s\n' "$status" | sed -E \
    -e 's/^ClusterId: [A-Za-z0-9_-]{22}$/ClusterId: ID/' \
    -e 's/^(LeaderId|LeaderEpoch|HighWatermark): [0-9]+$/\1: N/' \
    -e 's/"id": '"${leader:-x}"',/"id": N,/' \
    -e 's/"directoryId": "[A-Za-z0-9_-]{22}"/"directoryId": "ID"/' \
    -e 's|"[A-Z_]+://[0-9.]+:[0-9]+"|"NAME://HOST:PORT"|')"

tool kafka-metadata-quorum describe --replication
same metadata-quorum.replication "NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status
N ID N 0 N N Leader" "$(sed -e 's/[[:space:]]\+/ /g' -e 's/ $//' "$OUT" | sed -E \
    -e 's/^'"${leader:-x}"' [A-Za-z0-9_-]{22} [0-9]+ 0 [0-9]+ [0-9]+ Leader$/N ID N 0 N N Leader/')"

# ---------------------------------------------------------------------------------------
# kafka-acls: no authorizer is configured, so listing ACLs is refused as on Kafka.

tool kafka-acls --list
same acls.list "1 Error while executing ACL command: org.apache.kafka.common.errors.SecurityDisabledException: No Authorizer is configured on the broker" \
    "$RC $(head -n 1 "$OUT")"

# ---------------------------------------------------------------------------------------
# kafka-client-metrics: no subscriptions.

tool kafka-client-metrics --list
same client-metrics.list "0 " "$RC $(out)"

# ---------------------------------------------------------------------------------------
# kafka-transactions: no transactional producers have run.

tool kafka-transactions list
same transactions.list "0 TransactionalId Coordinator ProducerId TransactionState" "$RC $(table)"

# ---------------------------------------------------------------------------------------
# kafka-broker-api-versions: every API the broker advertises has Kafka 4.1's version range
# (what this client then uses is in brackets); the rest are UNSUPPORTED.

tool kafka-broker-api-versions
first="$(head -n 1 "$OUT")"
if [[ "$first" =~ ^127\.0\.0\.1:[0-9]+\ \(id:\ [0-9]+\ rack:\ null\ isFenced:\ false\)\ -\>\ \($ ]]; then
    pass broker-api-versions.node
else
    fail broker-api-versions.node "unexpected first line $(show "$first") (exit $RC) $(errline)"
fi
# Kafka 4.1's ranges, as its broker advertises them (an unstable latest version, such as
# OffsetCommit and OffsetFetch v10, is not advertised).
KAFKA_41_RANGES='Produce(0): 0 to 13
Fetch(1): 4 to 18
ListOffsets(2): 1 to 10
Metadata(3): 0 to 13
OffsetCommit(8): 2 to 9
OffsetFetch(9): 1 to 9
FindCoordinator(10): 0 to 6
JoinGroup(11): 0 to 9
Heartbeat(12): 0 to 4
LeaveGroup(13): 0 to 5
SyncGroup(14): 0 to 5
DescribeGroups(15): 0 to 6
ListGroups(16): 0 to 5
SaslHandshake(17): 0 to 1
ApiVersions(18): 0 to 4
CreateTopics(19): 2 to 7
DeleteTopics(20): 1 to 6
DeleteRecords(21): 0 to 2
InitProducerId(22): 0 to 5
OffsetForLeaderEpoch(23): 2 to 4
AddPartitionsToTxn(24): 0 to 5
AddOffsetsToTxn(25): 0 to 4
EndTxn(26): 0 to 5
WriteTxnMarkers(27): 1
TxnOffsetCommit(28): 0 to 5
DescribeAcls(29): 1 to 3
CreateAcls(30): 1 to 3
DeleteAcls(31): 1 to 3
DescribeConfigs(32): 1 to 4
AlterConfigs(33): 0 to 2
AlterReplicaLogDirs(34): 1 to 2
DescribeLogDirs(35): 1 to 4
SaslAuthenticate(36): 0 to 2
CreatePartitions(37): 0 to 3
CreateDelegationToken(38): 1 to 3
RenewDelegationToken(39): 1 to 2
ExpireDelegationToken(40): 1 to 2
DescribeDelegationToken(41): 1 to 3
DeleteGroups(42): 0 to 2
ElectLeaders(43): 0 to 2
IncrementalAlterConfigs(44): 0 to 1
AlterPartitionReassignments(45): 0 to 1
ListPartitionReassignments(46): 0
OffsetDelete(47): 0
DescribeClientQuotas(48): 0 to 1
AlterClientQuotas(49): 0 to 1
DescribeUserScramCredentials(50): 0
AlterUserScramCredentials(51): 0
DescribeQuorum(55): 0 to 2
UpdateFeatures(57): 0 to 2
DescribeCluster(60): 0 to 2
DescribeProducers(61): 0
UnregisterBroker(64): 0
DescribeTransactions(65): 0
ListTransactions(66): 0 to 2
ConsumerGroupHeartbeat(68): 0 to 1
ConsumerGroupDescribe(69): 0 to 1
GetTelemetrySubscriptions(71): 0
PushTelemetry(72): 0
ListConfigResources(74): 0 to 1
DescribeTopicPartitions(75): 0
ShareGroupHeartbeat(76): 1
ShareGroupDescribe(77): 1
ShareFetch(78): 1
ShareAcknowledge(79): 1
AddRaftVoter(80): 0
RemoveRaftVoter(81): 0
InitializeShareGroupState(83): 0
ReadShareGroupState(84): 0
WriteShareGroupState(85): 0
DeleteShareGroupState(86): 0
ReadShareGroupStateSummary(87): 0
StreamsGroupHeartbeat(88): UNSUPPORTED
StreamsGroupDescribe(89): UNSUPPORTED
DescribeShareGroupOffsets(90): 0
AlterShareGroupOffsets(91): 0
DeleteShareGroupOffsets(92): 0'
# "<api>: <range> [usable: N]" or "<api>: UNSUPPORTED"; the usable version is dropped.
advertised="$(tail -n +2 "$OUT" | grep -v '^)$' | sed -E -e 's/^\t//' -e 's/,$//' -e 's/ \[usable: [0-9]+\]$//')"
wrong="$(printf '%s\n' "$advertised" | grep -v ': UNSUPPORTED$' | grep -vxF "$KAFKA_41_RANGES")"
if [[ $RC -eq 0 && -n "$advertised" && -z "$wrong" ]]; then
    pass broker-api-versions.ranges
else
    fail broker-api-versions.ranges "ranges other than Kafka 4.1's: $(show "$wrong") (exit $RC) $(errline)"
fi
# The APIs the tools above need, and any broker serves.
core="$(printf '%s\n' "$advertised" | grep -E '^(Produce|Fetch|ListOffsets|Metadata|OffsetCommit|OffsetFetch|FindCoordinator|JoinGroup|Heartbeat|LeaveGroup|SyncGroup|DescribeGroups|ListGroups|ApiVersions|CreateTopics|DeleteTopics|DeleteRecords|DescribeConfigs|IncrementalAlterConfigs|CreatePartitions|DeleteGroups|DescribeLogDirs|DescribeCluster)\(' | grep -c -v ': UNSUPPORTED$')"
same broker-api-versions.core "23" "$core"

# ---------------------------------------------------------------------------------------
# Performance tools: they run and report what they moved.

tool kafka-topics --create --topic "$TOPIC_PERF" --partitions 2
# (It takes no --bootstrap-server.)
down || {
    timeout 90 "$KAFKA" tool kafka-producer-perf-test --topic "$TOPIC_PERF" --num-records 5000 \
        --record-size 100 --throughput -1 --producer-props bootstrap.servers="$BOOTSTRAP" acks=all \
        </dev/null >"$OUT" 2>"$ERR"
    RC=$?
}
matches producer-perf-test '^5000 records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, [0-9.]+ ms max latency, [0-9]+ ms 50th, [0-9]+ ms 95th, [0-9]+ ms 99th, [0-9]+ ms 99.9th\.$' \
    "$(tail -n 1 "$OUT")"
tool kafka-consumer-perf-test --topic "$TOPIC_PERF" --messages 5000 --timeout 30000
same consumer-perf-test "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
0.4768 5000" "$(head -n 1 "$OUT"; sed -n 2p "$OUT" | awk -F', ' '{print $3, $5}')"

# ---------------------------------------------------------------------------------------
# kafka-topics --delete, last: the topics above are no longer needed.

tool kafka-topics --delete --topic "$TOPIC"
same topics.delete "0 " "$RC $(out)"
gone=0
for _ in 1 2 3 4 5; do
    tool kafka-topics --list
    if [[ $RC -eq 0 ]] && ! grep -qxF "$TOPIC" "$OUT"; then gone=1; break; fi
    sleep 1
done
if ((gone)); then pass topics.list.after-delete; else fail topics.list.after-delete "$TOPIC still listed"; fi
tool kafka-topics --delete --topic "$TOPIC_DEL"
tool kafka-topics --delete --topic "$TOPIC_PERF"

# ---------------------------------------------------------------------------------------
finish_checks tools
