#!/usr/bin/env bash
# Throughput matrix and end-to-end latency, Rivulet and Apache Kafka 4.1 side by side in one
# run, with librdkafka's rdkafka_performance as the client of both.
#
#   benches/perf_matrix.sh [--records N] [--runs R] [--quick] [BROKER=HOST:PORT ...]
#
# Without BROKER arguments it starts target/release/rivulet (built if missing) and Apache
# Kafka 4.1 (tests/jvm/kafka.sh, with Kafka's default 1 GiB heap), each with a fresh data
# directory under /tmp, and stops both at the end. With them it measures the brokers given
# (for example `rivulet=127.0.0.1:9092 kafka=127.0.0.1:9093`); the first is the one the ratio
# column divides by the second.
#
# Cells: 1 and 6 partitions, 1 KiB and 100 B records, and two producer settings: linger.ms=5
# with 1 MiB batches, and linger.ms=0. Each cell produces N records (default 1,000,000) with
# acks=all into a new topic (after `sync` and, when run as root, dropping the page cache),
# then reads them back with a consumer group from the beginning; figures are records per
# second, the median of R runs (default 3), the brokers alternating within a run. Then the
# end-to-end latency: 1 KiB records at 10,000/s, linger.ms=0, each
# carrying its send time, read by a consumer; p50/p99/max of send-to-receive. Footprint:
# resident memory idle and at its peak (VmHWM), and the time from start to the first answer.
# When it started the brokers, it also runs every cell against benches/null_broker.py, which
# answers what a Rivulet answered once without storing or looking anything up: the client's
# rate alone, and how far ahead of each broker any broker could be with this client.
#
# Rivulet fsyncs every acknowledged write before answering acks=all; Apache Kafka, with its
# default settings, acknowledges before its page cache is flushed.
#
# Needs: a C compiler and librdkafka-dev 2.0.2 (rdkafka_performance is built from the source
# tests/peer/librdkafka_tests.sh --setup fetches), java and mvn for Kafka, python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECORDS=1000000
RUNS=3
QUICK=0
BROKERS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --records) RECORDS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        *=*) BROKERS+=("$1"); shift ;;
        *) echo "usage: perf_matrix.sh [--records N] [--runs R] [--quick] [NAME=HOST:PORT ...]" >&2; exit 2 ;;
    esac
done

WORK="$(mktemp -d /tmp/rivulet-perf.XXXXXX)"
RIVULET_PID=""
RECORDING_PID=""
NULL_PID=""
KAFKA_DIR=""
cleanup() {
    for pid in $NULL_PID $RECORDING_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    if [[ -n "$RIVULET_PID" ]] && kill -TERM "$RIVULET_PID" 2>/dev/null; then
        for _ in $(seq 1 100); do kill -0 "$RIVULET_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    [[ -n "$KAFKA_DIR" ]] && "$ROOT/tests/jvm/kafka.sh" stop-kafka "$KAFKA_DIR" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

# ---- rdkafka_performance --------------------------------------------------------------
PERF="$ROOT/target/bench/rdkafka_performance"
if [[ ! -x "$PERF" ]]; then
    SRC="$ROOT/tests/peer/target/librdkafka/librdkafka-2.0.2"
    [[ -d "$SRC" ]] || "$ROOT/tests/peer/librdkafka_tests.sh" --setup >/dev/null
    mkdir -p "$(dirname "$PERF")"
    gcc -O2 -I"$SRC/src" "$SRC/examples/rdkafka_performance.c" -o "$PERF" -lrdkafka -lm -lpthread
fi

# start_timed HOST:PORT LOG CMD...: starts CMD (left running) and waits until HOST:PORT answers
# ApiVersions; prints the command's pid and the milliseconds from its start to that answer.
start_timed() {
    python3 - "$@" <<'PY'
import socket, struct, subprocess, sys, time
host, port = sys.argv[1].rsplit(":", 1)
log = open(sys.argv[2], "w")
started = time.monotonic()
child = subprocess.Popen(sys.argv[3:], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
# ApiVersions v0: api key 18, version 0, correlation id 1, client id "perf".
body = struct.pack(">hhih", 18, 0, 1, 4) + b"perf"
while time.monotonic() - started < 180:
    try:
        with socket.create_connection((host, int(port)), timeout=1) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            if len(s.recv(4)) == 4:
                print(child.pid, int((time.monotonic() - started) * 1000))
                sys.exit(0)
    except OSError:
        time.sleep(0.0005)
sys.exit("no answer within 180 s")
PY
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_mb() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# ---- the brokers -------------------------------------------------------------------------
declare -A PID=()
if [[ ${#BROKERS[@]} -eq 0 ]]; then
    [[ -x "$ROOT/target/release/rivulet" ]] || (cd "$ROOT" && cargo build --release --bin rivulet)
    port="$(free_port)"
    read -r RIVULET_PID ms < <(start_timed "127.0.0.1:$port" "$WORK/rivulet.log" \
        "$ROOT/target/release/rivulet" serve --listen "127.0.0.1:$port" --data-dir "$WORK/rivulet" --log-level warn)
    echo "rivulet: start to first answer $ms ms"
    BROKERS+=("rivulet=127.0.0.1:$port")
    PID[rivulet]=$RIVULET_PID

    KAFKA_DIR="$WORK/kafka"
    port="$(free_port)"
    read -r _ ms < <(KAFKA_WATCH_PID=$$ KAFKA_PORT=$port KAFKA_HEAP_OPTS="-Xmx1G -Xms1G" \
        start_timed "127.0.0.1:$port" "$WORK/kafka-start.txt" "$ROOT/tests/jvm/kafka.sh" start-kafka "$KAFKA_DIR")
    echo "kafka: start to first answer $ms ms (storage format included, as a new container does it)"
    BROKERS+=("kafka=127.0.0.1:$port")
    PID[kafka]="$(cat "$KAFKA_DIR/kafka.pid")"
    sleep 2
fi
NAMES=()
declare -A ADDR=()
for b in "${BROKERS[@]}"; do NAMES+=("${b%%=*}"); ADDR[${b%%=*}]="${b#*=}"; done
for n in "${NAMES[@]}"; do
    [[ -n "${PID[$n]:-}" ]] && echo "$n: idle RSS $(rss_mb "${PID[$n]}" VmRSS) MB"
done

# admin NAME create TOPIC PARTITIONS | NAME delete TOPIC: through the broker's CreateTopics
# and DeleteTopics (auto-creation would give num.partitions; deleting keeps the disk free).
admin() {
    python3 - "${ADDR[$1]}" "${@:2}" <<'PY'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
op, topic = sys.argv[2], sys.argv[3].encode()
name = struct.pack(">h", len(topic)) + topic
if op == "create":
    # CreateTopics v2: [name, partitions, replication factor, no assignments, no configs],
    # timeout, validate_only.
    body = struct.pack(">hhih", 19, 2, 1, 4) + b"perf" + struct.pack(">i", 1) + name
    body += struct.pack(">ihii", int(sys.argv[4]), 1, 0, 0) + struct.pack(">i?", 30000, False)
else:
    # DeleteTopics v1: [name], timeout.
    body = struct.pack(">hhih", 20, 1, 1, 4) + b"perf" + struct.pack(">i", 1) + name
    body += struct.pack(">i", 30000)
with socket.create_connection((host, int(port)), timeout=60) as s:
    s.sendall(struct.pack(">i", len(body)) + body)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        data += chunk
# size, correlation id, throttle time, topic count, then the topic's name and error code.
error = struct.unpack(">h", data[18 + len(topic):20 + len(topic)])[0]
sys.exit(0 if error == 0 else f"{op} {topic.decode()}: error {error}")
PY
}

# The client's CPU time (user and system, ms) of the last produce or consume.
CLIENT_CPU="$WORK/client-cpu"
# client_cpu CMD...: runs CMD, writing its CPU time in ms to $CLIENT_CPU.
client_cpu() {
    local TIMEFORMAT='%3U %3S'
    { time "$@" 2>/dev/null; } 2>"$CLIENT_CPU.raw"
    awk '{ printf "%d", ($1 + $2) * 1000 }' "$CLIENT_CPU.raw" >"$CLIENT_CPU"
}
# produce NAME TOPIC SIZE LINGER: prints records/s.
produce() {
    local extra=()
    [[ "$4" != 0 ]] && extra=(-X batch.size=1048576)
    client_cpu "$PERF" -P -t "$2" -b "${ADDR[$1]}" -s "$3" -c "$RECORDS" -a -1 -X "linger.ms=$4" "${extra[@]}" -q \
        >"$WORK/out"
    sed -n 's/.* delivered .* in [0-9]*ms: \([0-9]*\) msgs\/s.*/\1/p' "$WORK/out"
}
# consume NAME TOPIC: prints records/s, from the first record to the last.
consume() {
    client_cpu "$PERF" -G "perf-$2" -t "$2" -b "${ADDR[$1]}" -c "$RECORDS" -X auto.offset.reset=earliest -q \
        >"$WORK/out"
    sed -n 's/.* consumed in [0-9]*ms: \([0-9]*\) msgs\/s.*/\1/p' "$WORK/out"
}
# cpu_ms NAME: the broker's CPU time so far (user and system) in milliseconds, when this
# script started it; empty otherwise.
cpu_ms() {
    [[ -n "${PID[$1]:-}" ]] || return 0
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/${PID[$1]}/stat"
}
# settle: writes back dirty pages and, where this user may, drops the clean page cache. Left
# in place, what the previous broker cached changes what the next one's writes cost: without
# the drop, a 1 KiB produce into Rivulet right after one into Kafka (which keeps a deleted
# topic's files for file.delete.delay.ms) cost 4.1-4.5 s of CPU per 1,000,000 records, and
# 1.0-1.1 s right after one into Rivulet; with it, 0.7-0.95 s either way.
DROP_CACHES=0
SETTLE="sync"
if [[ -w /proc/sys/vm/drop_caches ]]; then DROP_CACHES=1; SETTLE="sync and drop the page cache"; fi
settle() {
    sync
    if ((DROP_CACHES)); then echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true; fi
}
# median_of "V1 V2 ...": the median of the space-separated values (empty for none).
median_of() { tr ' ' '\n' <<<"$1" | grep . | median; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

CELLS=("1 1024 5" "1 1024 0" "6 1024 5" "6 1024 0" "1 100 5" "1 100 0" "6 100 5" "6 100 0")
[[ $QUICK == 1 ]] && CELLS=("1 1024 5" "6 1024 0")
echo
echo "records per cell: $RECORDS, median of $RUNS runs; before each produce: $SETTLE"
printf '%-28s' "partitions, size, linger"
for n in "${NAMES[@]}"; do printf '%14s %14s' "$n prod/s" "$n cons/s"; done
[[ ${#NAMES[@]} -eq 2 ]] && printf '%10s %10s' "produce" "consume"
echo
cell_no=0
declare -A MEDIAN=()
CPU_ROWS=()
CLIENT_ROWS=()
for cell in "${CELLS[@]}"; do
    read -r parts size linger <<<"$cell"
    cell_no=$((cell_no + 1))
    declare -A P=() C=() PCPU=() CCPU=() PCLIENT=() CCLIENT=()
    for run in $(seq 1 "$RUNS"); do
        order=("${NAMES[@]}")
        # Alternate which broker goes first, so neither always runs on a warmer machine.
        if ((run % 2 == 0)) && [[ ${#NAMES[@]} -eq 2 ]]; then order=("${NAMES[1]}" "${NAMES[0]}"); fi
        for n in "${order[@]}"; do
            topic="perf-$cell_no-$run-$$"
            admin "$n" create "$topic" "$parts"
            # Kafka leaves its writes to the kernel to flush later, and a deleted topic's files
            # for file.delete.delay.ms (60 s); neither must land on the next broker's
            # measurement, so every produce starts from a clean disk and page cache.
            settle
            c0="$(cpu_ms "$n")"
            P[$n]+="$(produce "$n" "$topic" "$size" "$linger") "
            c1="$(cpu_ms "$n")"
            PCLIENT[$n]+="$(cat "$CLIENT_CPU") "
            C[$n]+="$(consume "$n" "$topic") "
            c2="$(cpu_ms "$n")"
            CCLIENT[$n]+="$(cat "$CLIENT_CPU") "
            if [[ -n "$c0" ]]; then
                PCPU[$n]+="$((c1 - c0)) "
                CCPU[$n]+="$((c2 - c1)) "
            fi
            admin "$n" delete "$topic"
        done
    done
    printf '%-28s' "$parts, $size B, linger $linger"
    declare -A PM=() CM=()
    row="$(printf '%-28s' "$parts, $size B, linger $linger")"
    for n in "${NAMES[@]}"; do
        PM[$n]="$(median_of "${P[$n]}")"
        CM[$n]="$(median_of "${C[$n]}")"
        printf '%14s %14s' "${PM[$n]}" "${CM[$n]}"
        row+="$(printf '%14s %14s' "$(median_of "${PCPU[$n]:-}")" \
            "$(median_of "${CCPU[$n]:-}")")"
    done
    CPU_ROWS+=("$row")
    row="$(printf '%-28s' "$parts, $size B, linger $linger")"
    for n in "${NAMES[@]}"; do
        row+="$(printf '%14s %14s' "$(median_of "${PCLIENT[$n]}")" \
            "$(median_of "${CCLIENT[$n]}")")"
    done
    CLIENT_ROWS+=("$row")
    if [[ ${#NAMES[@]} -eq 2 ]]; then
        a="${NAMES[0]}" b="${NAMES[1]}"
        awk -v p1="${PM[$a]}" -v p2="${PM[$b]}" -v c1="${CM[$a]}" -v c2="${CM[$b]}" \
            'BEGIN { printf "%9.2fx %9.2fx", p1 / (p2 ? p2 : 1), c1 / (c2 ? c2 : 1) }'
    fi
    echo
    for n in "${NAMES[@]}"; do MEDIAN[$n,$cell_no]="${PM[$n]} ${CM[$n]}"; done
    unset P C PM CM PCPU CCPU PCLIENT CCLIENT
done

# The client shares the machine with the broker, so where the client is the busier process
# the rates say little about the broker: its CPU time for the same work does, and the
# client's shows which of the two bounds the rate.
if [[ ${#PID[@]} -gt 0 ]]; then
    echo
    echo "broker CPU time per cell (user + system, ms), median of $RUNS runs"
    printf '%-28s' "partitions, size, linger"
    for n in "${NAMES[@]}"; do printf '%14s %14s' "$n prod" "$n cons"; done
    echo
    printf '%s\n' "${CPU_ROWS[@]}"
fi
echo
echo "client (rdkafka_performance) CPU time per cell (user + system, ms), median of $RUNS runs"
printf '%-28s' "partitions, size, linger"
for n in "${NAMES[@]}"; do printf '%14s %14s' "$n prod" "$n cons"; done
echo
printf '%s\n' "${CLIENT_ROWS[@]}"

# ---- the client alone ---------------------------------------------------------------------
# Where the client is the busier process, the rate is the client's. benches/null_broker.py
# answers what a Rivulet (advertising the null broker's address) answered once, without
# storing or looking anything up, so its rate is about the most any broker reaches with this
# client on this machine; divided by a broker's, it is the most any other could be ahead.
if [[ -n "$RIVULET_PID" ]]; then
    echo
    echo "the client alone: benches/null_broker.py, no storage work; median of $RUNS runs"
    printf '%-28s%14s %14s' "partitions, size, linger" "null prod/s" "null cons/s"
    for n in "${NAMES[@]}"; do printf ' %15s %15s' "over $n prod" "over $n cons"; done
    echo
    rec_port="$(free_port)" null_port="$(free_port)"
    read -r RECORDING_PID _ < <(start_timed "127.0.0.1:$rec_port" "$WORK/recording.log" \
        "$ROOT/target/release/rivulet" serve --listen "127.0.0.1:$rec_port" \
        --advertise "127.0.0.1:$null_port" --data-dir "$WORK/recording" --log-level warn)
    ADDR[recording]="127.0.0.1:$rec_port" ADDR[null]="127.0.0.1:$null_port"
    cell_no=0
    for cell in "${CELLS[@]}"; do
        read -r parts size linger <<<"$cell"
        cell_no=$((cell_no + 1))
        topic="perf-null-$cell_no-$$" kept="$WORK/null-$cell_no"
        admin recording create "$topic" "$parts"
        read -r NULL_PID _ < <(start_timed "${ADDR[null]}" "$WORK/null.log" \
            python3 "$ROOT/benches/null_broker.py" record "${ADDR[null]}" "${ADDR[recording]}" "$kept")
        produce null "$topic" "$size" "$linger" >/dev/null
        consume null "$topic" >/dev/null
        kill "$NULL_PID"; wait "$NULL_PID" 2>/dev/null || true
        admin recording delete "$topic"
        read -r NULL_PID _ < <(start_timed "${ADDR[null]}" "$WORK/null.log" \
            python3 "$ROOT/benches/null_broker.py" serve "${ADDR[null]}" "$kept")
        np="" nc=""
        for _ in $(seq 1 "$RUNS"); do
            np+="$(produce null "$topic" "$size" "$linger") "
            nc+="$(consume null "$topic") "
        done
        kill "$NULL_PID"; wait "$NULL_PID" 2>/dev/null || true
        NULL_PID=""
        rm -rf "$kept"
        np="$(median_of "$np")" nc="$(median_of "$nc")"
        printf '%-28s%14s %14s' "$parts, $size B, linger $linger" "$np" "$nc"
        for n in "${NAMES[@]}"; do
            read -r bp bc <<<"${MEDIAN[$n,$cell_no]}"
            awk -v np="$np" -v nc="$nc" -v bp="$bp" -v bc="$bc" \
                'BEGIN { printf " %14.2fx %14.2fx", np / (bp ? bp : 1), nc / (bc ? bc : 1) }'
        done
        echo
    done
    kill -TERM "$RECORDING_PID" 2>/dev/null || true
fi

# ---- end-to-end latency ------------------------------------------------------------------
echo
echo "end-to-end latency, 1 KiB records at 10,000/s for 10 s, linger.ms=0, acks=all"
for n in "${NAMES[@]}"; do
    topic="perf-latency-$$-$n"
    admin "$n" create "$topic" 1
    settle
    "$PERF" -C -t "$topic" -p 0 -b "${ADDR[$n]}" -o end -l -A "$WORK/latency-$n.txt" -c 100000 -q \
        >/dev/null 2>&1 &
    consumer=$!
    sleep 2
    "$PERF" -P -t "$topic" -p 0 -b "${ADDR[$n]}" -s 1024 -c 100000 -r 10000 -a -1 -X linger.ms=0 -l -q \
        >/dev/null 2>&1
    sleep 1
    kill -INT "$consumer" 2>/dev/null || true
    wait "$consumer" 2>/dev/null || true
    sort -n "$WORK/latency-$n.txt" | awk -v n="$n" '{ v[NR] = $1 } END {
        if (NR == 0) { printf "%-10s no records received\n", n; exit }
        printf "%-10s %d records: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", n, NR,
            v[int(NR * 0.50)] / 1000, v[int(NR * 0.99)] / 1000, v[int(NR * 0.999)] / 1000, v[NR] / 1000 }'
done

echo
for n in "${NAMES[@]}"; do
    [[ -n "${PID[$n]:-}" ]] && echo "$n: peak RSS $(rss_mb "${PID[$n]}" VmHWM) MB, now $(rss_mb "${PID[$n]}" VmRSS) MB"
done
