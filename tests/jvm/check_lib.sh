# What the check scripts share; sourced, not run. Each script takes
# `[--allow-known-gaps] BOOTSTRAP`, sets HERE to its directory and declares KNOWN_GAPS, the
# checks Rivulet is known to fail (an associative array from check name to why): under
# --allow-known-gaps their failures are reported but not fatal, and a gap that starts to
# pass is reported so that it can be taken off.
#
#   admin_check.sh, txn_check.sh         run a Java check program: run_java_checks
#   tools_check.sh, txn_tools_check.sh   run Kafka's tools and check their output here:
#                                        start_checks, tool, same, ..., finish_checks

# allow_known_gaps ARGS...: succeeds if the command line starts with --allow-known-gaps,
# which the caller then shifts off; sets ALLOW_GAPS to 1 if so, else 0.
allow_known_gaps() {
    ALLOW_GAPS=0
    [[ "${1:-}" == "--allow-known-gaps" ]] || return 1
    ALLOW_GAPS=1
}

# ---------------------------------------------------------------------------------------
# Java check programs (src/main/java/dev/rivulet/compat), which print one PASS/FAIL line per
# check and then `SUITE: N passed, M failed (T s)`.

# run_java_checks CLASS SUITE WHAT ARGS...: runs CLASS on the script's command line ARGS and
# exits: with the program's status, or under --allow-known-gaps non-zero only for a failure
# outside KNOWN_GAPS (or the program failing without any FAIL line). WHAT names the checks in
# the line reporting a missing summary.
run_java_checks() {
    local class="$1" suite="$2" what="$3"
    shift 3
    allow_known_gaps "$@" && shift
    [[ $# -eq 1 ]] || { echo "usage: $(basename "$0") [--allow-known-gaps] BOOTSTRAP" >&2; exit 2; }

    OUT="$(mktemp)"
    trap 'rm -f "$OUT"' EXIT
    local status=0 summary
    # Every client call the programs make has its own timeout; this bounds the whole run
    # should the JVM hang.
    timeout 600 "$HERE/run_java.sh" "$class" "$1" | tee "$OUT" || status=$?
    summary="$(grep -E "^$suite: " "$OUT" || true)"
    [[ -n "$summary" ]] || { echo "FAIL $what: no summary line (exit status $status)"; exit 1; }
    ((ALLOW_GAPS)) || exit "$status"

    local fatal=0 gaps=0 line name
    while IFS= read -r line; do
        name="${line#FAIL }"
        name="${name%%: *}"
        if [[ -n "${KNOWN_GAPS[$name]+set}" ]]; then
            gaps=$((gaps + 1))
            echo "known gap: $name (${KNOWN_GAPS[$name]})"
        else
            fatal=$((fatal + 1))
            echo "not a known gap: $line"
        fi
    done < <(grep -E '^FAIL ' "$OUT" || true)
    for name in "${!KNOWN_GAPS[@]}"; do
        if grep -qxF "PASS $name" "$OUT"; then
            echo "note: known gap '$name' passes now; take it off KNOWN_GAPS in $0"
        fi
    done
    echo "$suite (known gaps allowed): $summary; $gaps known gaps, $fatal fatal"
    if ((fatal > 0)); then exit 1; fi
    # The program itself failing otherwise (no FAIL line, non-zero exit) is fatal too.
    if ((status != 0 && gaps == 0)); then exit "$status"; fi
    exit 0
}

# ---------------------------------------------------------------------------------------
# Checks of command-line tools' output, each reported by pass or fail (or same, which
# compares), then finish_checks.

# start_checks NAME ARGS...: reads the script's command line ARGS into ALLOW_GAPS and
# BOOTSTRAP; makes a scratch directory WORK (removed on exit) named NAME, where a tool's
# stdout goes to $OUT and its stderr to $ERR (its exit status to $RC); sets KAFKA to kafka.sh.
start_checks() {
    local name="$1"
    shift
    allow_known_gaps "$@" && shift
    BOOTSTRAP="${1:?usage: $(basename "$0") [--allow-known-gaps] BOOTSTRAP}"
    KAFKA="$HERE/kafka.sh"
    WORK="$(mktemp -d "/tmp/$name.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    OUT="$WORK/out"
    ERR="$WORK/err"
    RC=0
    PASSED=0
    FAILED=0
    FATAL=0
    GAPS_FAILED=()
    GAPS_PASSED=()
}

pass() {
    PASSED=$((PASSED + 1))
    if [[ -n "${KNOWN_GAPS[$1]:-}" ]]; then GAPS_PASSED+=("$1"); fi
    printf 'PASS %s\n' "$1"
}

fail() {
    local name="$1"
    shift
    FAILED=$((FAILED + 1))
    if [[ -n "${KNOWN_GAPS[$name]:-}" ]]; then
        GAPS_FAILED+=("$name")
        printf 'FAIL %s [known gap: %s]: %s\n' "$name" "${KNOWN_GAPS[$name]}" "$*"
        ((ALLOW_GAPS)) || FATAL=$((FATAL + 1))
    else
        printf 'FAIL %s: %s\n' "$name" "$*"
        FATAL=$((FATAL + 1))
    fi
}

# One line, escapes visible, cut short: for messages about multi-line output.
show() {
    local s
    s="$(printf '%s' "$1" | head -c 400 | sed -e ':a;N;$!ba;s/\n/\\n/g' -e 's/\t/\\t/g')"
    printf '"%s"' "$s"
}

# The first line of stderr that is not a log4j line or a stack frame: the tool's message.
errline() {
    grep -vE '^\[[0-9-]+ [0-9:,]+\] |^[[:space:]]+at |^$' "$ERR" | head -n 1
}

# same NAME EXPECTED ACTUAL
same() {
    if [[ "$2" == "$3" ]]; then
        pass "$1"
    else
        fail "$1" "expected $(show "$2"), got $(show "$3")${RC:+ (exit $RC)} $(errline)"
    fi
}

# A broker that has gone away would make every tool wait for its admin timeout; each tool
# is skipped (and its checks fail) once the bootstrap port refuses connections.
down() {
    if (exec 3<>"/dev/tcp/${BOOTSTRAP%:*}/${BOOTSTRAP##*:}") 2>/dev/null; then
        return 1
    fi
    : >"$OUT"
    echo "the broker at $BOOTSTRAP does not accept connections" >"$ERR"
    RC=255
}

# tool NAME ARGS...: runs a tool with stdin closed; stdout in $OUT, stderr in $ERR, status
# in $RC. --bootstrap-server goes first: tools with subcommands (kafka-features describe,
# kafka-transactions list) take it only before the subcommand. The timeout bounds a tool
# that waits for a broker that does not answer.
tool() {
    local name="$1"
    shift
    down && return
    timeout 90 "$KAFKA" tool "$name" --bootstrap-server "$BOOTSTRAP" "$@" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
}

# tool_in INPUT NAME ARGS...: the same with INPUT on stdin.
tool_in() {
    local input="$1" name="$2"
    shift 2
    down && return
    printf '%s' "$input" | timeout 90 "$KAFKA" tool "$name" --bootstrap-server "$BOOTSTRAP" "$@" \
        >"$OUT" 2>"$ERR"
    RC=$?
}

out() { cat "$OUT"; }

# A table on stdout with single spaces between columns, the header first and the rows
# sorted: the tools size columns to their contents and do not fix the row order. An awk
# program may rewrite the rows (not the header) first, to hide values a broker chooses.
table() {
    sed -e '/^[[:space:]]*$/d' -e 's/[[:space:]]\+/ /g' -e 's/ $//' "$OUT" \
        | awk "NR == 1 { print; next } { ${1:-} print }" \
        | { IFS= read -r header && printf '%s\n' "$header"; LC_ALL=C sort; }
}

# finish_checks SUITE: the known gaps that failed or now pass, then `SUITE: N passed, M
# failed`; fails if a check failed fatally.
finish_checks() {
    echo
    if ((${#GAPS_FAILED[@]})); then
        echo "known gaps that failed: ${GAPS_FAILED[*]}"
    fi
    if ((ALLOW_GAPS && ${#GAPS_PASSED[@]})); then
        echo "known gaps that now pass (remove them from KNOWN_GAPS): ${GAPS_PASSED[*]}"
    fi
    echo "$1: $PASSED passed, $FAILED failed"
    ((FATAL == 0))
}

# ---------------------------------------------------------------------------------------
# A broker of its own with a PLAINTEXT listener and one secured listener, for the security
# checks; the same settings (Kafka's keys) start either broker.

# free_port: a free loopback port.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_secured_broker BROKER BINARY PLAIN_PORT NAME PORT SETTINGS: starts Rivulet (BROKER
# rivulet, from BINARY) or Apache Kafka 4.1 from kafka.sh (BROKER kafka) with a PLAINTEXT
# listener on PLAIN_PORT and a listener NAME (also its security protocol) on PORT, plus
# SETTINGS (server.properties lines), and waits until the listeners accept connections.
# Sets BROKER_PID (Rivulet) or KAFKA_DIR (Kafka), which the caller's cleanup stops; exits
# the script if the broker does not come up. EXTRA_LISTENER=NAME:PROTOCOL:PORT adds one more
# listener.
start_secured_broker() {
    local broker="$1" binary="$2" plain="$3" name="$4" port="$5" settings="$6"
    local extra="" extra_map="" extra_port=""
    if [[ -n "${EXTRA_LISTENER:-}" ]]; then
        IFS=: read -r extra extra_map extra_port <<<"$EXTRA_LISTENER"
        extra_map=",$extra:$extra_map"
        extra=",$extra://127.0.0.1:$extra_port"
    fi
    if [[ "$broker" == rivulet ]]; then
        local args=(serve --data-dir "$WORK/data" --log-level info
            --set "listeners=PLAINTEXT://127.0.0.1:$plain,$name://127.0.0.1:$port$extra"
            --set "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,$name:$name$extra_map")
        while IFS= read -r line; do args+=(--set "$line"); done <<<"$settings"
        NO_COLOR=1 "$binary" "${args[@]}" </dev/null >/dev/null 2>"$WORK/broker.log" &
        BROKER_PID=$!
    else
        local cport
        cport="$(free_port)"
        while [[ "$cport" == "$plain" || "$cport" == "$port" || "$cport" == "$extra_port" ]]; do cport="$(free_port)"; done
        KAFKA_DIR="$WORK/kafka"
        local listeners="PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$cport,$name://127.0.0.1:$port$extra"
        KAFKA_PORT="$plain" KAFKA_CONTROLLER_PORT="$cport" KAFKA_WATCH_PID=$$ KAFKA_EXTRA_PROPERTIES="listeners=$listeners
advertised.listeners=$listeners
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,$name:$name$extra_map
$settings" "$KAFKA" start-kafka "$KAFKA_DIR" >/dev/null || { echo "FAIL the reference Kafka did not start"; exit 1; }
    fi
    local deadline=$((SECONDS + 60))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$plain") 2>/dev/null \
        && { [[ -z "$extra_port" ]] || (exec 3<>"/dev/tcp/127.0.0.1/$extra_port") 2>/dev/null; }; do
        if [[ -n "${BROKER_PID:-}" ]] && ! kill -0 "$BROKER_PID" 2>/dev/null; then
            cat "$WORK/broker.log" >&2
            echo "FAIL the broker exited during start-up"
            exit 1
        fi
        ((SECONDS < deadline)) || { echo "FAIL the broker's listeners did not open within 60 s"; exit 1; }
        sleep 0.2
    done
}
