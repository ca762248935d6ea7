#!/usr/bin/env bash
# Builds the container image and checks it stands in for apache/kafka in a dev stack:
#  - the image is at most 15 MB;
#  - started with only KAFKA_* variables of a typical apache/kafka compose file (two
#    listeners: PLAINTEXT for containers on the network, PLAINTEXT_HOST for the host), it
#    serves kcat round trips from the host and from a second container, each told the address
#    of its own listener;
#  - SIGTERM stops it cleanly and a restarted container finds its data in the volume;
#  - Kafka's command-line tools run inside it (no JVM in the image);
#  - Testcontainers' KafkaContainer starts it in place of apache/kafka (if java and mvn exist).
# Prints the image size and the time from `run` to the first answer.
#
#   tests/container/image_check.sh            (needs podman or docker, kcat, busybox-static)
#
# CONTAINER_ENGINE overrides the engine command; by default podman with the flags that work
# on machines without overlayfs or cgroup v2 delegation.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CONTAINER_ENGINE="${CONTAINER_ENGINE:-podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs}"
E="$CONTAINER_ENGINE"
RUN_ID="$$"
IMAGE="rivulet:check-$RUN_ID"
KCAT_IMAGE="rivulet-kcat:check-$RUN_ID"
NET="rivulet-net-$RUN_ID"
BROKER="rivulet-$RUN_ID"
VOLUME="rivulet-data-$RUN_ID"
# The runtime may not raise limits above this shell's (see docs/container.md).
ULIMITS=(--ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit "nproc=4096:4096")
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
check() { # check NAME EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

cleanup() {
    $E rm -f "$BROKER" "$BROKER-kcat" >/dev/null 2>&1 || true
    $E volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    $E network rm -f "$NET" >/dev/null 2>&1 || true
    $E rmi -f "$IMAGE" "$KCAT_IMAGE" >/dev/null 2>&1 || true
    rm -rf "$KCAT_STAGE"
}
KCAT_STAGE="$(mktemp -d /tmp/rivulet-kcat-image.XXXXXX)"
trap cleanup EXIT

# ---- the image -------------------------------------------------------------------------
config/container/build-image.sh "$IMAGE" >/dev/null
SIZE_BYTES="$($E image inspect --format '{{.Size}}' "$IMAGE")"
SIZE_MB="$(awk -v b="$SIZE_BYTES" 'BEGIN { printf "%.1f", b / 1000000 }')"
echo "image $IMAGE: $SIZE_MB MB ($SIZE_BYTES bytes)"
if ((SIZE_BYTES <= 15000000)); then pass "image size ${SIZE_MB} MB <= 15 MB"; else fail "image size ${SIZE_MB} MB > 15 MB"; fi

# ---- a second container with kcat: the host's kcat and the libraries it loads ----------
KCAT="$(command -v kcat)"
mkdir -p "$KCAT_STAGE/root/usr/bin"
cp "$KCAT" "$KCAT_STAGE/root/usr/bin/kcat"
for lib in $(ldd "$KCAT" | awk '/=>/ { print $3 } /^\s*\/lib/ { print $1 }'); do
    mkdir -p "$KCAT_STAGE/root$(dirname "$lib")"
    cp -L "$lib" "$KCAT_STAGE/root$lib"
done
[[ -e /lib64 ]] && mkdir -p "$KCAT_STAGE/root/lib64" && cp -L /lib64/ld-linux-x86-64.so.2 "$KCAT_STAGE/root/lib64/" 2>/dev/null || true
printf 'FROM scratch\nCOPY root/ /\nENTRYPOINT ["/usr/bin/kcat"]\n' > "$KCAT_STAGE/Containerfile"
$E build -q -t "$KCAT_IMAGE" -f "$KCAT_STAGE/Containerfile" "$KCAT_STAGE" >/dev/null

# ---- the broker, configured as an apache/kafka compose file configures it --------------
HOST_PORT="$(free_port)"
METRICS_PORT="$(free_port)"
$E network create "$NET" >/dev/null
$E volume create "$VOLUME" >/dev/null
start_broker() {
    $E run -d --name "$BROKER" --network "$NET" "${ULIMITS[@]}" \
        -p "127.0.0.1:$HOST_PORT:29092" -p "127.0.0.1:$METRICS_PORT:9404" -v "$VOLUME:/var/lib/kafka/data" \
        -e KAFKA_NODE_ID=1 \
        -e KAFKA_PROCESS_ROLES=broker,controller \
        -e KAFKA_LISTENERS="PLAINTEXT://0.0.0.0:9092,PLAINTEXT_HOST://0.0.0.0:29092,CONTROLLER://0.0.0.0:9093" \
        -e KAFKA_ADVERTISED_LISTENERS="PLAINTEXT://$BROKER:9092,PLAINTEXT_HOST://127.0.0.1:$HOST_PORT" \
        -e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT" \
        -e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
        -e KAFKA_CONTROLLER_QUORUM_VOTERS="1@$BROKER:9093" \
        -e KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT \
        -e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
        -e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 \
        -e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
        -e KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0 \
        -e KAFKA_NUM_PARTITIONS=3 \
        -e KAFKA_METRICS_PROMETHEUS_ENABLE=true \
        "$IMAGE" >/dev/null
}
# first_answer: waits until the host listener answers Metadata; prints the elapsed ms.
first_answer() {
    local start="$1"
    for _ in $(seq 1 600); do
        if kcat -b "127.0.0.1:$HOST_PORT" -L -m 1 >/dev/null 2>&1; then
            echo $(($(now_ms) - start))
            return 0
        fi
        sleep 0.02
    done
    return 1
}
kcat_in_network() { # runs kcat in a second container on the network
    $E run --rm -i --network "$NET" "${ULIMITS[@]}" "$KCAT_IMAGE" "$@"
}

T0="$(now_ms)"
start_broker
if ELAPSED="$(first_answer "$T0")"; then
    echo "time from run to first answer: $ELAPSED ms (container creation included)"
    pass "broker answers on the host listener"
else
    fail "broker did not answer within 12 s"; $E logs "$BROKER" 2>&1 | tail -20; exit 1
fi
if $E logs "$BROKER" 2>&1 | grep -q 'Transitioning from RECOVERY to RUNNING'; then
    pass "logs Kafka's RUNNING transition (Testcontainers waits for it)"
else
    fail "no 'Transitioning from RECOVERY to RUNNING' line"
fi

# Each listener advertises its own address: Metadata from the host names the published
# port, Metadata from the network names the container.
HOST_META="$(kcat -b "127.0.0.1:$HOST_PORT" -L -m 5 | grep -m1 -o 'broker 1 at [^ ]*')"
check "host listener advertises the published port" "broker 1 at 127.0.0.1:$HOST_PORT" "$HOST_META"
NET_META="$(kcat_in_network -b "$BROKER:9092" -L -m 5 | grep -m1 -o 'broker 1 at [^ ]*')"
check "network listener advertises the container name" "broker 1 at $BROKER:9092" "$NET_META"

# Round trips: host -> container client, container client -> host.
printf 'k1:from-host-1\nk2:from-host-2\n' | kcat -b "127.0.0.1:$HOST_PORT" -t from-host -K: -P -p 0
GOT="$(kcat_in_network -b "$BROKER:9092" -t from-host -K: -C -p 0 -e -q -f '%k=%s\n')"
check "host produce, network consume" $'k1=from-host-1\nk2=from-host-2' "$GOT"
printf 'k3:from-net-1\nk4:from-net-2\n' | kcat_in_network -b "$BROKER:9092" -t from-net -K: -P -p 0
GOT="$(kcat -b "127.0.0.1:$HOST_PORT" -t from-net -K: -C -p 0 -e -q -f '%k=%s\n')"
check "network produce, host consume" $'k3=from-net-1\nk4=from-net-2' "$GOT"

# The Prometheus endpoint, enabled by its KAFKA_* variable, counts what the host produced.
BYTES_IN="$(python3 -c 'import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(sum(float(l.split()[-1]) for l in text.splitlines()
          if l.startswith("kafka_server_brokertopicmetrics_bytesin_total{topic=\"from-host\"}")))' \
    "http://127.0.0.1:$METRICS_PORT/metrics" 2>&1)"
if awk -v b="$BYTES_IN" 'BEGIN { exit !(b > 0) }'; then
    pass "metrics: bytes in of topic from-host = $BYTES_IN"
else
    fail "metrics: no bytes in for topic from-host ($BYTES_IN)"
fi

# ---- SIGTERM, then a new container on the same volume ---------------------------------
$E stop -t 20 "$BROKER" >/dev/null
EXIT_CODE="$($E inspect --format '{{.State.ExitCode}}' "$BROKER")"
check "SIGTERM: exit code" "0" "$EXIT_CODE"
if $E logs "$BROKER" 2>&1 | grep -q 'shutdown complete'; then pass "SIGTERM: clean shutdown logged"; else fail "SIGTERM: no clean shutdown"; fi
$E rm "$BROKER" >/dev/null
T0="$(now_ms)"
start_broker
if ELAPSED="$(first_answer "$T0")"; then
    echo "time from run to first answer on a used volume: $ELAPSED ms"
else
    fail "restarted broker did not answer"; exit 1
fi
GOT="$(kcat -b "127.0.0.1:$HOST_PORT" -t from-host -K: -C -p 0 -e -q -f '%k=%s@%o\n')"
check "data kept in the volume across containers" $'k1=from-host-1@0\nk2=from-host-2@1' "$GOT"

# ---- Kafka's tools inside the image ----------------------------------------------------
if $E exec "$BROKER" sh -c 'command -v java' >/dev/null 2>&1; then fail "the image has a JVM"; else pass "no JVM in the image"; fi
if command -v java >/dev/null; then
    if tests/container/tools_in_image.sh "$E" "$BROKER" "127.0.0.1:$HOST_PORT"; then
        pass "Kafka's tools in the image print what the Java tools print"
    else
        fail "Kafka's tools in the image"
    fi
else
    echo "SKIP Kafka's tools in the image: no java for the Java tools to compare with"
fi

# ---- Testcontainers' KafkaContainer, as a suite written for apache/kafka starts it ------
if command -v mvn >/dev/null && command -v java >/dev/null; then
    if tests/container/testcontainers_check.sh "$IMAGE"; then
        pass "Testcontainers KafkaContainer with the image as apache/kafka"
    else
        fail "Testcontainers KafkaContainer with the image as apache/kafka"
    fi
else
    echo "SKIP Testcontainers check: no java or mvn"
fi

echo "image check: $PASSED passed, $FAILED failed (image $SIZE_MB MB)"
((FAILED == 0))
