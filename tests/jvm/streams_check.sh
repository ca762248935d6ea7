#!/usr/bin/env bash
# Kafka Streams word count against a broker: exact counts for every word of a fixed corpus.
#
#   streams_check.sh BOOTSTRAP [at_least_once|exactly_once_v2] [LINES] [--kill N]
#
# Prints `PASS streams word count (...)` or `FAIL ...` with the first mismatching words and
# exits non-zero on failure. exactly_once_v2 needs a broker that serves transactions.
#
# --kill N: the topology runs in a child JVM that is killed with SIGKILL N times mid-stream
# and restarted with the same application.id and state directory; the last instance runs to
# the end. With exactly_once_v2 every word's committed counts must then read 1, 2, ... up to
# its exact count, with no update repeated or skipped. One line per kill shows what was
# committed when it landed. Each restart waits out the killed instance's 6 s session
# timeout, so three kills take about half a minute. (With at_least_once the kills normally
# cause double counts and the check fails: a control, not a broker test.)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { echo "usage: streams_check.sh BOOTSTRAP [GUARANTEE] [LINES] [--kill N]" >&2; exit 2; }

positional=()
kills=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --kill)
            [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || usage
            kills="$2"
            shift 2
            ;;
        *)
            positional+=("$1")
            shift
            ;;
    esac
done
[[ ${#positional[@]} -ge 1 && ${#positional[@]} -le 3 ]] || usage
args=("${positional[0]}" "${positional[1]:-at_least_once}" "${positional[2]:-20000}")

if [[ -z "$kills" ]]; then
    exec "$HERE/run_java.sh" WordCount "${args[@]}"
fi
# The program bounds each of its waits (about two minutes without progress at most); this
# bounds the whole run should a JVM hang. Its child instances stop on their own once the
# program's JVM is gone.
exec timeout --kill-after=30 $((600 + 180 * kills)) "$HERE/run_java.sh" WordCount "${args[@]}" --kill "$kills"
