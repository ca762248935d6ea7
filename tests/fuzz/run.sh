#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS_PER_TARGET (default 60), from seeds
# written fresh by the targets themselves. Prints `fuzz <target>: N runs, K crashes` per
# target and exits non-zero if any target crashed (a panic, abort, OOM or timeout); the
# reproducers are left in tests/fuzz/artifacts/<target>/ with each target's log.
#
# cargo-fuzz needs a nightly toolchain. Without one this prints `SKIP fuzzing: no nightly
# toolchain` and exits 0, so machines without nightly still pass.
#
# FUZZ_SANITIZER (default none) picks cargo fuzz's sanitizer: the broker is safe Rust, and
# without AddressSanitizer the build fits CI's time and each run executes several times more
# inputs. Use FUZZ_SANITIZER=address for a longer run.
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$FUZZ_DIR/../.." && pwd)"
cd "$ROOT"
TARGETS=(request_decode record_batch decompression segment_recovery sasl_exchange)
SANITIZER="${FUZZ_SANITIZER:-none}"

if ! command -v rustup >/dev/null || ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "SKIP fuzzing: no nightly toolchain"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

T0=$SECONDS
# 16 codegen units instead of cargo fuzz's 1: the generated protocol code builds minutes
# faster, at a small cost in executions per second.
cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR" -s "$SANITIZER" --codegen-units 16
echo "fuzz targets built in $((SECONDS - T0)) s"
BIN_DIR="$FUZZ_DIR/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

# Segment recovery fsyncs and creates files on every input: a tmpfs keeps that cheap.
SCRATCH="$(mktemp -d /dev/shm/rivulet-fuzz.XXXXXX 2>/dev/null || mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# fuzz_one TARGET: seeds, then a timed run; writes the summary line to $SCRATCH/TARGET.result
# and the crash details to $SCRATCH/TARGET.report.
fuzz_one() {
    local target="$1"
    local corpus="$FUZZ_DIR/corpus/$target"
    local artifacts="$FUZZ_DIR/artifacts/$target"
    local log="$FUZZ_DIR/artifacts/$target.log"
    local before="$SCRATCH/$target.before" new="$SCRATCH/$target.new"
    mkdir -p "$corpus" "$artifacts" "$SCRATCH/$target.tmp"
    RIVULET_FUZZ_WRITE_SEEDS="$corpus" "$BIN_DIR/$target" >/dev/null
    find "$artifacts" -type f | sort >"$before"
    local rc=0
    TMPDIR="$SCRATCH/$target.tmp" "$BIN_DIR/$target" "$corpus" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
    local runs crashes
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    [[ -n "$runs" ]] || runs="$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')"
    find "$artifacts" -type f | sort | comm -13 "$before" - >"$new"
    crashes="$(wc -l <"$new")"
    if [[ $rc -ne 0 && $crashes -eq 0 ]]; then
        crashes=1
    fi
    echo "fuzz $target: ${runs:-0} runs, $crashes crashes" >"$SCRATCH/$target.result"
    if [[ $crashes -ne 0 ]]; then
        {
            echo "---- $target (exit status $rc): last 40 lines of $log ----"
            tail -n 40 "$log"
            sed 's/^/reproducer: /' "$new"
        } >"$SCRATCH/$target.report"
    fi
}

# Targets run side by side, one per core: the same fuzzing time in half the wall time.
JOBS="${FUZZ_JOBS:-$(nproc)}"
running=0
for target in "${TARGETS[@]}"; do
    fuzz_one "$target" &
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

FAILED=0
for target in "${TARGETS[@]}"; do
    cat "$SCRATCH/$target.result"
    if [[ -f "$SCRATCH/$target.report" ]]; then
        FAILED=1
        cat "$SCRATCH/$target.report" >&2
    fi
done
exit $FAILED
