#!/usr/bin/env bash
# Produce quotas as Kafka enforces them, against any broker:
#
#   quota_check.sh BOOTSTRAP PYTHON [TOLERANCE [SLACK_MS]]
#
# Sets a 1 MiB/s producer_byte_rate quota on a client id with kafka-configs, then runs
# tests/compat/quota_check.py with PYTHON (which needs confluent-kafka): a producer with that
# client id trying to send as fast as it can is held to within 10% of the quota over 30 s
# (TOLERANCE, a fraction; 0.1 by default) and sees throttle times, while another client's
# p99 latency stays within 3x (+SLACK_MS, 20 by default) of what it was. The quota is
# removed afterwards. Prints PASS/FAIL lines and `quota: N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 2 ]] || { echo "usage: $(basename "$0") BOOTSTRAP PYTHON [TOLERANCE [SLACK_MS]]" >&2; exit 2; }
BOOTSTRAP="$1"
PY="$2"
TOLERANCE="${3:-0.1}"
SLACK_MS="${4:-20}"
RUN="$$-$RANDOM"
TOPIC="quota-$RUN"
CLIENT="quota-throttled-$RUN"
RATE=1048576
tool() { KAFKA_TOOL_HEAP=256m "$HERE/kafka.sh" tool "$@"; }

tool kafka-topics --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC" --partitions 1 >/dev/null
tool kafka-configs --bootstrap-server "$BOOTSTRAP" --alter --entity-type clients --entity-name "$CLIENT" \
    --add-config "producer_byte_rate=$RATE" >/dev/null
# The broker applies a quota as soon as it is stored.
described="$(tool kafka-configs --bootstrap-server "$BOOTSTRAP" --describe --entity-type clients --entity-name "$CLIENT")"
echo "$described"
status=0
"$PY" "$HERE/../compat/quota_check.py" "$BOOTSTRAP" "$TOPIC" "$CLIENT" "$RATE" "$TOLERANCE" "$SLACK_MS" | tee "/tmp/quota-$RUN.txt" || status=$?
tool kafka-configs --bootstrap-server "$BOOTSTRAP" --alter --entity-type clients --entity-name "$CLIENT" \
    --delete-config producer_byte_rate >/dev/null
passed=$(grep -c '^PASS' "/tmp/quota-$RUN.txt" || true)
failed=$(grep -c '^FAIL' "/tmp/quota-$RUN.txt" || true)
rm -f "/tmp/quota-$RUN.txt"
echo "quota: $passed passed, $failed failed"
exit "$status"
