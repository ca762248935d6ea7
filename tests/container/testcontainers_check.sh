#!/usr/bin/env bash
# Starts IMAGE through Testcontainers' KafkaContainer (org.testcontainers:kafka, written for
# apache/kafka) with asCompatibleSubstituteFor("apache/kafka"), and round-trips records with
# the Java client through the bootstrap address it gives. Testcontainers talks to the Docker
# API; with podman, a `podman system service` on a private socket serves it.
#
#   testcontainers_check.sh IMAGE                 the image through KafkaContainer
#   testcontainers_check.sh --bootstrap HOST:PORT the same round trip against a running broker
#
# CONTAINER_ENGINE: the podman command with its flags (as in image_check.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$HERE/testcontainers"
E="${CONTAINER_ENGINE:-podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs}"

mkdir -p "$PROJECT/target"
if ! mvn -q -B -f "$PROJECT/pom.xml" compile dependency:build-classpath \
    -Dmdep.outputFile="$PROJECT/target/classpath.txt" >"$PROJECT/target/mvn.log" 2>&1; then
    cat "$PROJECT/target/mvn.log" >&2
    echo "testcontainers_check: mvn compile failed" >&2
    exit 1
fi
run_check() {
    java -Xmx256m -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$PROJECT/target/classes:$(cat "$PROJECT/target/classpath.txt")" \
        dev.rivulet.container.KafkaContainerCheck "$@"
}
if [[ "$1" == "--bootstrap" ]]; then
    run_check "$@"
    exit
fi

IMAGE="$1"
SERVICE_DIR="$(mktemp -d /tmp/rivulet-podman-service.XXXXXX)"
SOCKET="$SERVICE_DIR/podman.sock"
SERVICE_PID=""
stop_service() {
    [[ -n "$SERVICE_PID" ]] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
    rm -rf "$SERVICE_DIR"
}
trap stop_service EXIT
# Containers the service starts get limits no higher than this shell's: the runtime cannot
# raise them (see docs/container.md).
cat >"$SERVICE_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -n):$(ulimit -n)", "nproc=4096:4096"]
CONF
# shellcheck disable=SC2086 # E carries flags
CONTAINERS_CONF="$SERVICE_DIR/containers.conf" $E system service --time=0 "unix://$SOCKET" \
    >"$SERVICE_DIR/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 100); do [[ -S "$SOCKET" ]] && break; sleep 0.1; done
[[ -S "$SOCKET" ]] || { cat "$SERVICE_DIR/service.log" >&2; echo "podman service did not start" >&2; exit 1; }

# Ryuk (Testcontainers' reaper) is an image from a registry; the check removes its container
# itself when it closes.
DOCKER_HOST="unix://$SOCKET" TESTCONTAINERS_RYUK_DISABLED=true run_check "$IMAGE"
