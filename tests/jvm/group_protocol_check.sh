#!/usr/bin/env bash
# KIP-848 consumer groups through the Java consumer with group.protocol=consumer, each member
# its own process (GroupProtocolConsumer.java), against any broker:
#
#   group_protocol_check.sh BOOTSTRAP
#
#  1. three members on a 6-partition topic share 300,000 records produced in three waves;
#     one is SIGKILLed after the first wave and its partitions move to the others after the
#     session timeout (group.consumer.session.timeout.ms, 45 s by default); a fourth joins
#     during the third wave, taking partitions while the other two keep theirs and go on
#     fetching (no stop-the-world rebalance). Every record is consumed; a record is consumed
#     twice only if the killed member read it without committing it;
#  2. a member subscribed by regex picks up a topic created after it started;
#  3. kafka-consumer-groups.sh --describe --members --verbose lists the members with their
#     epochs and assignments, --describe --state the assignor and state (asked again until
#     Stable, for up to 60 s: a member learns at its next heartbeat that a partition it waits
#     for was released), --list --type the group's type.
#
# Prints one PASS/FAIL line per check and `group protocol: N passed, M failed`; exits non-zero
# on a failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -eq 1 ]] || { echo "usage: $(basename "$0") BOOTSTRAP" >&2; exit 2; }
BOOTSTRAP="$1"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
tool() { KAFKA_TOOL_HEAP=256m "$HERE/kafka.sh" tool "$@"; }

RUN="$$-$RANDOM"
TOPIC="gp-$RUN"
GROUP="gp-group-$RUN"
"$HERE/run_java.sh" --compile

tool kafka-topics --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC" --partitions 6 >/dev/null

produce() {
    tool kafka-producer-perf-test --topic "$TOPIC" --num-records "$1" --record-size 100 \
        --throughput -1 --producer-props bootstrap.servers="$BOOTSTRAP" acks=all >/dev/null
}

member() { # member NAME SECONDS: starts a member writing to $WORK/NAME.out
    "$HERE/run_java.sh" GroupProtocolConsumer "$BOOTSTRAP" "$GROUP" --topic "$TOPIC" \
        "$WORK/$1.out" "$2" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
}

# distinct records consumed by all members
distinct() { cat "$WORK"/m*.out 2>/dev/null | awk '$1 == "R" { print $3, $4 }' | sort -u | wc -l; }
wait_distinct() { # wait_distinct N SECONDS
    local deadline=$((SECONDS + $2))
    while (($(distinct) < $1 && SECONDS < deadline)); do sleep 1; done
    (($(distinct) >= $1))
}
owned_count() { # partitions NAME owns now, from its A/V lines
    awk '$1 == "A" { o[$3] = 1 } $1 == "V" { delete o[$3] } END { n = 0; for (p in o) n++; print n }' \
        "$WORK/$1.out" 2>/dev/null || echo 0
}
records_of() { awk '$1 == "R"' "$WORK/$1.out" 2>/dev/null | wc -l; }

produce 100000
member m1 300
member m2 300
member m3 300
if wait_distinct 100000 90; then
    pass "three members consume the first wave"
else
    fail "three members consume the first wave: $(distinct) of 100000"
fi
# Every member holds partitions before one is killed.
deadline=$((SECONDS + 30))
while (($(owned_count m1) == 0 || $(owned_count m2) == 0 || $(owned_count m3) == 0)) && ((SECONDS < deadline)); do
    sleep 1
done
echo "owned before the kill: m1=$(owned_count m1) m2=$(owned_count m2) m3=$(owned_count m3)"
killed_partitions="$(awk '$1 == "A" { o[$3] = 1 } $1 == "V" { delete o[$3] } END { for (p in o) print p }' "$WORK/m1.out" | sort -n | tr '\n' ' ')"
kill -KILL "$PID_m1"
produce 100000
# The killed member's partitions are consumed by the others once its session expires.
if wait_distinct 200000 120; then
    pass "the killed member's partitions ($killed_partitions) move to the others after the session timeout"
else
    fail "the killed member's partitions ($killed_partitions) move to the others: $(distinct) of 200000 consumed"
fi
before2=$(records_of m2)
before3=$(records_of m3)
member m4 300
produce 100000
if wait_distinct 300000 120; then
    pass "all 300000 records consumed after a fourth member joins"
else
    fail "all 300000 records consumed after a fourth member joins: $(distinct)"
fi
deadline=$((SECONDS + 60))
while (($(owned_count m4) == 0)) && ((SECONDS < deadline)); do sleep 1; done
if (($(owned_count m4) > 0 && $(owned_count m2) > 0 && $(owned_count m3) > 0)); then
    pass "the fourth member takes partitions: m2=$(owned_count m2) m3=$(owned_count m3) m4=$(owned_count m4)"
else
    fail "the fourth member takes partitions: m2=$(owned_count m2) m3=$(owned_count m3) m4=$(owned_count m4)"
fi
# No stop-the-world: once m2 and m3 held partitions, they never gave all of them up at once,
# and both consumed records of the third wave.
never_empty() {
    awk '$1 == "A" { o[$3] = 1; started = 1 } $1 == "V" { delete o[$3]; n = 0; for (p in o) n++; if (started && n == 0) bad = 1 } END { exit bad }' "$WORK/$1.out"
}
if never_empty m2 && never_empty m3 && (($(records_of m2) > before2 && $(records_of m3) > before3)); then
    pass "the other members keep partitions and go on fetching while the fourth joins"
else
    fail "the other members keep partitions and go on fetching while the fourth joins (m2 $before2 -> $(records_of m2), m3 $before3 -> $(records_of m3))"
fi
# Exactly once, but for what the killed member read and never committed.
dups="$(cat "$WORK"/m*.out | awk '$1 == "R" { print $3, $4 }' | sort | uniq -d)"
uncommitted_by_m1() { # partition offset -> succeeds if m1 read it without committing past it
    awk -v p="$1" -v o="$2" '$1 == "C" && $3 == p && $4 > o { found = 1 } END { exit found }' "$WORK/m1.out"
}
bad_dups=0
while read -r p o; do
    [[ -n "$p" ]] || continue
    uncommitted_by_m1 "$p" "$o" || bad_dups=$((bad_dups + 1))
done <<<"$dups"
ndups=$(printf '%s' "$dups" | grep -c . || true)
if ((bad_dups == 0)); then
    pass "no record consumed twice except $ndups the killed member read without committing"
else
    fail "records consumed twice: $bad_dups besides the killed member's uncommitted ones"
fi

# kafka-consumer-groups.sh describes the group's members with epochs and assignments.
describe="$(tool kafka-consumer-groups --bootstrap-server "$BOOTSTRAP" --describe --group "$GROUP" --members --verbose 2>&1 || true)"
echo "$describe"
if grep -q "EPOCH" <<<"$describe" && (($(grep -c "$TOPIC" <<<"$describe") >= 3)); then
    pass "kafka-consumer-groups --describe --members --verbose shows epochs and assignments"
else
    fail "kafka-consumer-groups --describe --members --verbose shows epochs and assignments"
fi
# A member that still waits for a partition another has just released learns of it at its
# next heartbeat (5 s apart by default), and the group is Reconciling until then: ask again
# until it is Stable.
stable() { grep -qE "^$GROUP +.* uniform +Stable +3 *$" <<<"$state"; }
deadline=$((SECONDS + 60))
while :; do
    state="$(tool kafka-consumer-groups --bootstrap-server "$BOOTSTRAP" --describe --group "$GROUP" --state 2>&1 || true)"
    if stable || ((SECONDS >= deadline)); then break; fi
    sleep 2
done
echo "$state"
if stable; then
    pass "kafka-consumer-groups --describe --state shows the uniform assignor, Stable, 3 members"
else
    fail "kafka-consumer-groups --describe --state shows the uniform assignor, Stable, 3 members"
fi
if tool kafka-consumer-groups --bootstrap-server "$BOOTSTRAP" --list --type 2>&1 | grep -qE "^$GROUP +Consumer *$"; then
    pass "kafka-consumer-groups --list --type names the group's type Consumer"
else
    fail "kafka-consumer-groups --list --type names the group's type Consumer"
fi
for p in "$PID_m2" "$PID_m3" "$PID_m4"; do kill -TERM "$p" 2>/dev/null || true; done

# A regex subscription picks up a topic created after the member started.
GROUP="gp-regex-$RUN"
"$HERE/run_java.sh" GroupProtocolConsumer "$BOOTSTRAP" "$GROUP" --regex "gpre-$RUN-.*" \
    "$WORK/regex.out" 120 >"$WORK/regex.log" 2>&1 &
PIDS+=($!)
REGEX_PID=$!
sleep 8
TOPIC="gpre-$RUN-late"
tool kafka-topics --bootstrap-server "$BOOTSTRAP" --create --topic "$TOPIC" --partitions 2 >/dev/null
produce 1000
deadline=$((SECONDS + 90))
while (($(awk -v t="$TOPIC" '$1 == "R" && $2 == t' "$WORK/regex.out" 2>/dev/null | wc -l) < 1000)) && ((SECONDS < deadline)); do
    sleep 1
done
got=$(awk -v t="$TOPIC" '$1 == "R" && $2 == t' "$WORK/regex.out" 2>/dev/null | wc -l)
if ((got >= 1000)); then
    pass "a regex subscription picks up a topic created after the member started"
else
    fail "a regex subscription picks up a topic created after the member started: $got of 1000"
fi
kill -TERM "$REGEX_PID" 2>/dev/null || true

echo "group protocol: $PASSED passed, $FAILED failed"
((FAILED == 0))
