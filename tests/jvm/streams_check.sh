#!/usr/bin/env bash
# Kafka Streams word count against a broker: exact counts for every word of a fixed corpus.
#
#   streams_check.sh BOOTSTRAP [at_least_once|exactly_once_v2] [LINES]
#
# Prints `PASS streams word count (...)` or `FAIL ...` with the first mismatching words and
# exits non-zero on failure. exactly_once_v2 needs a broker that serves transactions.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 1 ]] || { echo "usage: streams_check.sh BOOTSTRAP [GUARANTEE] [LINES]" >&2; exit 2; }
exec "$HERE/run_java.sh" WordCount "$1" "${2:-at_least_once}" "${3:-20000}"
