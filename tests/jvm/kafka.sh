#!/usr/bin/env bash
# Apache Kafka 4.1 from Maven Central jars, without the Kafka distribution: the reference
# broker that Rivulet's behaviour is checked against, and Kafka's command-line tools.
#
#   kafka.sh classpath              resolve the jars of pom.xml and print the classpath
#   kafka.sh start-kafka DIR        start a one-node KRaft Kafka (broker+controller) with its
#                                   data, config and log under DIR; prints BOOTSTRAP=HOST:PORT
#   kafka.sh stop-kafka DIR         stop it
#   kafka.sh tool NAME ARGS...      run a tool by its script name (kafka-topics, ...)
#
# Environment:
#   KAFKA_WATCH_PID       start-kafka: the broker is killed once this process is gone
#                         (default: the process that ran start-kafka)
#   KAFKA_MAX_LIFETIME    start-kafka: seconds after which the broker is killed anyway (3600)
#   KAFKA_START_TIMEOUT   start-kafka: seconds to wait for the broker to come up (90)
#   KAFKA_PORT, KAFKA_CONTROLLER_PORT
#                         start-kafka: the broker and controller listener ports (default:
#                         free ones); a restart on the same DIR with the previous ports keeps
#                         the broker's address for its clients
#   KAFKA_EXTRA_PROPERTIES
#                         start-kafka: server properties, one KEY=VALUE a line, appended to
#                         the generated server.properties (a repeated key overrides the
#                         default above it, e.g. node.id=0 or num.partitions=4)
#   KAFKA_HEAP_OPTS       start-kafka: the broker's heap options (-Xms256m -Xmx512m; Kafka's
#                         own scripts default to -Xmx1G -Xms1G, which benches/ uses)
#   KAFKA_TOOL_HEAP       tool: heap for a tool's JVM (256m)
#   KAFKA_OPTS            tool, start-kafka: more JVM options, as Kafka's scripts take them
#                         (e.g. -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=...)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$HERE/target"
CP_CACHE="$BUILD/classpath.txt"

die() { printf 'kafka.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# classpath

# The dependency classpath of pom.xml, cached under target/ until the pom changes, so that
# every tool run after the first costs no Maven start (and works offline).
classpath() {
    if [[ ! -s "$CP_CACHE" || "$HERE/pom.xml" -nt "$CP_CACHE" ]]; then
        command -v mvn >/dev/null || die "mvn not found (install maven)"
        mkdir -p "$BUILD"
        local tmp="$CP_CACHE.tmp.$$"
        # -B: no colour codes or progress bars in the log; -q: errors only.
        if ! mvn -q -B -f "$HERE/pom.xml" dependency:build-classpath \
            -Dmdep.outputFile="$tmp" >"$BUILD/mvn-classpath.log" 2>&1; then
            cat "$BUILD/mvn-classpath.log" >&2
            rm -f "$tmp"
            die "mvn dependency:build-classpath failed"
        fi
        mv "$tmp" "$CP_CACHE"
    fi
    cat "$CP_CACHE"
}

# ---------------------------------------------------------------------------------------
# tools

# Script name (bin/NAME.sh in the Kafka distribution) to the main class it runs in 4.1.
tool_class() {
    case "$1" in
        kafka-topics) echo org.apache.kafka.tools.TopicCommand ;;
        kafka-console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
        kafka-console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
        kafka-consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
        kafka-share-groups) echo org.apache.kafka.tools.consumer.group.ShareGroupCommand ;;
        kafka-configs) echo kafka.admin.ConfigCommand ;;
        kafka-get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
        kafka-delete-records) echo org.apache.kafka.tools.DeleteRecordsCommand ;;
        kafka-log-dirs) echo org.apache.kafka.tools.LogDirsCommand ;;
        kafka-features) echo org.apache.kafka.tools.FeatureCommand ;;
        kafka-metadata-quorum) echo org.apache.kafka.tools.MetadataQuorumCommand ;;
        kafka-acls) echo org.apache.kafka.tools.AclCommand ;;
        kafka-broker-api-versions) echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
        kafka-client-metrics) echo org.apache.kafka.tools.ClientMetricsCommand ;;
        kafka-transactions) echo org.apache.kafka.tools.TransactionsCommand ;;
        kafka-producer-perf-test) echo org.apache.kafka.tools.ProducerPerformance ;;
        kafka-consumer-perf-test) echo org.apache.kafka.tools.ConsumerPerformance ;;
        kafka-storage) echo kafka.tools.StorageTool ;;
        *) return 1 ;;
    esac
}

# Tools log warnings and errors to stderr only, as the distribution's tools-log4j2 config
# does, so that stdout carries nothing but the tool's own output.
tools_log_config() {
    local f="$BUILD/tools-log4j2.properties"
    if [[ ! -s "$f" ]]; then
        mkdir -p "$BUILD"
        cat >"$f.tmp.$$" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
        mv "$f.tmp.$$" "$f"
    fi
    echo "$f"
}

# A tool's JVM lives for seconds: the C1 compiler alone and the serial collector start
# fastest on a small machine.
run_tool() {
    local name="$1"
    shift
    local class
    class="$(tool_class "$name")" || die "unknown tool '$name'"
    local cp log
    cp="$(classpath)"
    log="$(tools_log_config)"
    # shellcheck disable=SC2086 # KAFKA_OPTS holds several options
    exec java -Xmx"${KAFKA_TOOL_HEAP:-256m}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$log" ${KAFKA_OPTS:-} \
        -cp "$cp" "$class" "$@"
}

# ---------------------------------------------------------------------------------------
# reference broker

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A cluster id is a base64url-encoded 16-byte UUID without padding, as StorageTool
# random-uuid prints; generating it here saves a JVM start. Like Kafka's Uuid.randomUuid,
# never one starting with '-', which a command line would take for an option.
cluster_id() {
    local id="-"
    while [[ "$id" == -* ]]; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    echo "$id"
}

start_kafka() {
    local dir="${1:?start-kafka DIR}"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ -s "$dir/kafka.pid" ]] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
        die "a broker is already running from $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    local cp
    cp="$(classpath)"
    local started=$SECONDS
    local port cport
    port="${KAFKA_PORT:-$(free_port)}"
    cport="${KAFKA_CONTROLLER_PORT:-$(free_port)}"
    if [[ -n "${KAFKA_CONTROLLER_PORT:-}" ]]; then
        [[ "$cport" != "$port" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
    else
        while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
    fi

    # Kafka's shipped config/server.properties for a combined node, on loopback ports, with
    # the single-node settings it ships (replication factor 1 for the internal topics, no
    # initial rebalance delay).
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
EOF
    # Test suites whose own brokers run with other settings: Properties keeps the last
    # value of a repeated key.
    if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
        printf '%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$dir/server.properties"
    fi

    # The broker logs to kafka.log; the format step and anything printed before log4j
    # starts go to kafka.out.
    cat >"$dir/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = info
logger.requestlog.name = kafka.request.logger
logger.requestlog.level = warn
EOF

    : >"$dir/kafka.out"
    local jvm=(java -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties")
    # --standalone: this node alone is the controller quorum (KIP-853 dynamic quorum).
    # share.version=1 enables share groups (KIP-932), a preview Kafka 4.1 leaves off unless
    # the feature is finalized (here at format time, or with kafka-features upgrade).
    if [[ ! -e "$dir/data/meta.properties" ]]; then
        "${jvm[@]}" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$cp" \
            kafka.tools.StorageTool format --standalone -t "$(cluster_id)" \
            --feature share.version=1 \
            -c "$dir/server.properties" >>"$dir/kafka.out" 2>&1 \
            || { cat "$dir/kafka.out" >&2; die "formatting $dir/data failed"; }
    fi

    # setsid and no inherited stdio: the broker must not hold the caller's terminal or
    # pipes (a caller reading our stdout would otherwise wait for the broker to exit).
    # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS and KAFKA_OPTS hold several options
    setsid "${jvm[@]}" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_OPTS:-} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -cp "$cp" \
        kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/kafka.out" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/kafka.pid"
    echo "127.0.0.1:$port" >"$dir/bootstrap"

    # Watchdog: a broker left behind by a caller that died (or hung) would hold ports and
    # memory on a shared machine, so it is killed once the caller is gone or after the
    # maximum lifetime.
    local watch="${KAFKA_WATCH_PID:-$PPID}" max="${KAFKA_MAX_LIFETIME:-3600}"
    setsid bash -c '
        pid=$1 watch=$2 max=$3 end=$((SECONDS + max))
        while kill -0 "$pid" 2>/dev/null; do
            if ! kill -0 "$watch" 2>/dev/null || ((SECONDS >= end)); then
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.2; done
                kill -KILL "$pid" 2>/dev/null
                exit 0
            fi
            sleep 1
        done' watchdog "$pid" "$watch" "$max" </dev/null >/dev/null 2>&1 &
    echo "$!" >"$dir/watchdog.pid"

    # Up once KafkaRaftServer reports the start and the broker port accepts connections.
    local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
    until grep -q 'Kafka Server started' "$dir/kafka.log" 2>/dev/null \
        && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$dir/kafka.out" "$dir/kafka.log" >&2 2>/dev/null || true
            die "the broker exited during start-up (see $dir/kafka.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 40 "$dir/kafka.log" >&2 2>/dev/null || true
            stop_kafka "$dir" >/dev/null 2>&1 || true
            die "the broker did not start within ${KAFKA_START_TIMEOUT:-90} s"
        fi
        sleep 0.2
    done
    echo "kafka started in $((SECONDS - started)) s, pid $pid, log $dir/kafka.log" >&2
    echo "BOOTSTRAP=127.0.0.1:$port"
}

stop_kafka() {
    local dir="${1:?stop-kafka DIR}"
    local pid=""
    [[ -s "$dir/kafka.pid" ]] && pid="$(cat "$dir/kafka.pid")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        # A controlled shutdown of a one-node cluster takes a few seconds.
        local deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka.sh: broker $pid ignored SIGTERM for 30 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    if [[ -s "$dir/watchdog.pid" ]]; then
        kill -TERM "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
    fi
    rm -f "$dir/kafka.pid" "$dir/watchdog.pid"
}

# ---------------------------------------------------------------------------------------
cmd="${1:-}"
shift || true
case "$cmd" in
    classpath) classpath ;;
    start-kafka) start_kafka "$@" ;;
    stop-kafka) stop_kafka "$@" ;;
    tool) [[ $# -ge 1 ]] || die "usage: kafka.sh tool NAME ARGS..."; run_tool "$@" ;;
    *)
        sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
