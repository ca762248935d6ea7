#!/usr/bin/env bash
# kafka-python 3.0.12's integration tests (test/integration of its PyPI sdist), run against
# the broker at BOOTSTRAP the way the suite targets a broker it did not start:
# KAFKA_VERSION=4.1.0 KAFKA_URI=kafka://BOOTSTRAP pytest test/integration.
# Every test run passes on Apache Kafka 4.1 (a one-node KRaft cluster from
# `tests/jvm/kafka.sh start-kafka` with the settings `--broker-config` prints); Rivulet must
# pass them too.
#
#   kafka_python_tests.sh [--allow-known-gaps] BOOTSTRAP
#   kafka_python_tests.sh --broker-config    print the broker settings the suite expects,
#                                            one KEY=VALUE a line
#   kafka_python_tests.sh --setup            only download and install (what a first run does)
#
# The broker must also advertise BOOTSTRAP explicitly (advertised.listeners, Rivulet's
# --advertise), as the suite's own broker does: a DescribeConfigs test expects it reported
# as a static broker config.
#
# A failed test is run once more (pytest-rerunfailures), on every broker alike: on a loaded
# two-core machine a test's 30 s consumer timeout can pass before the broker under test has
# done anything wrong. The runs repeated are listed as RERUN lines.
#
# Prints one line per test (PASS/FAIL/SKIP) and `kafka-python: N passed, M failed,
# K skipped`; the tests in EXCLUDED are counted as skipped. Exits non-zero if a test fails;
# with --allow-known-gaps, failures of the tests named in KNOWN_GAPS are reported but do not
# fail the run.
#
# The first run downloads the sdist and the test dependencies (pip) into a virtualenv under
# tests/peer/target/; later runs reuse them.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$HERE/target/kafka-python"
VERSION=3.0.12
SRC="$BUILD/kafka_python-$VERSION"
VENV="$BUILD/venv"

die() { printf 'kafka_python_tests.sh: %s\n' "$*" >&2; exit 2; }

# The settings of the broker the suite's own fixture starts (KafkaFixture: node 0, 4
# partitions, short group session timeouts allowed, no initial rebalance delay).
broker_config() {
    cat <<'EOF'
node.id=0
num.partitions=4
auto.create.topics.enable=true
group.min.session.timeout.ms=1000
group.initial.rebalance.delay.ms=0
EOF
}

# Tests not run, each with the reason, by pytest node id under test/integration/ (a file
# name covers all its tests). They are counted as skipped, on every broker.
declare -A EXCLUDED=(
    [test_admin_integration.py::test_create_describe_delete_acls]="ACLs: needs a broker with an authorizer (both answer SECURITY_DISABLED)"
    [test_sasl_integration.py]="starts brokers of its own with SASL users from a Kafka distribution"
    [test_ssl_integration.py]="starts a TLS broker of its own from a Kafka distribution"
)

# Tests that Rivulet does not pass yet, each with the reason. Only these may fail under
# --allow-known-gaps; a gap that starts passing is reported so that it can be removed.
declare -A KNOWN_GAPS=(
)

if [[ "${1:-}" == "--broker-config" ]]; then
    broker_config
    exit 0
fi
SETUP_ONLY=0
if [[ "${1:-}" == "--setup" ]]; then
    SETUP_ONLY=1
    set -- setup-only
fi
ALLOW_GAPS=0
if [[ "${1:-}" == "--allow-known-gaps" ]]; then
    ALLOW_GAPS=1
    shift
fi
BOOTSTRAP="${1:?usage: kafka_python_tests.sh [--allow-known-gaps] BOOTSTRAP | --broker-config | --setup}"

# ---------------------------------------------------------------------------------------
# setup

setup() {
    local t0=$SECONDS
    rm -rf "$VENV" "$SRC"
    mkdir -p "$BUILD/download"
    python3 -m venv "$VENV" || die "python3 -m venv failed (install python3-venv)"
    # The sdist itself (kafka-python's sources and tests), and what the tests import: pytest
    # with the plugins pyproject.toml's `testing` extra names, and the compression codecs.
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
        -d "$BUILD/download" "kafka-python==$VERSION" || die "pip download kafka-python==$VERSION failed"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "pytest==9.2.0" "pytest-mock==3.17.0" "pytest-timeout==2.4.0" \
        "pytest-rerunfailures==16.7" \
        "python-snappy==0.7.3" "lz4==4.4.5" "zstandard==0.25.0" "crc32c==2.9.post0" \
        || die "pip install of the test dependencies failed"
    tar -xzf "$BUILD/download/kafka_python-$VERSION.tar.gz" -C "$BUILD" || die "unpacking the sdist failed"
    # The sdist leaves out test/__init__.py (without it `test` is Python's own test package)
    # and test/service.py, which the fixtures import.
    : >"$SRC/test/__init__.py"
    cp "$HERE/kafka_python/service.py" "$SRC/test/service.py"
    echo "kafka-python $VERSION sdist and test dependencies installed in $((SECONDS - t0)) s"
}

if [[ ! -x "$VENV/bin/pytest" || ! -f "$SRC/test/service.py" ]] \
    || ! "$VENV/bin/python" -c 'import pytest_rerunfailures' 2>/dev/null; then
    setup
fi
# The shim may have changed since the last setup.
cmp -s "$HERE/kafka_python/service.py" "$SRC/test/service.py" \
    || cp "$HERE/kafka_python/service.py" "$SRC/test/service.py"
((SETUP_ONLY)) && exit 0

# ---------------------------------------------------------------------------------------
# run

WORK="$(mktemp -d /tmp/kafka-python-tests.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
# The fixtures check that KAFKA_ROOT (a Kafka distribution) exists even for an external
# broker; nothing in it is used.
mkdir -p "$WORK/no-kafka-distribution"

export KAFKA_VERSION=4.1.0 KAFKA_URI="kafka://$BOOTSTRAP" KAFKA_ROOT="$WORK/no-kafka-distribution"

# Every test of the suite, so that each excluded one is listed and counted.
(cd "$SRC" && "$VENV/bin/python" -m pytest test/integration --collect-only -q -p no:cacheprovider) \
    2>/dev/null | sed -n 's|^test/integration/||p' | grep '::' >"$WORK/collected"
[[ -s "$WORK/collected" ]] || die "pytest collected no tests"

args=(test/integration -p no:cacheprovider -q -rR --tb=native --reruns 1
    -o log_level=WARNING --junitxml="$WORK/junit.xml")
for id in "${!EXCLUDED[@]}"; do
    # --deselect takes node id prefixes: a file name deselects all its tests.
    args+=(--deselect "test/integration/$id")
done

T0=$SECONDS
# --tb=native: pytest's own traceback rendering re-parses the sources, which trips over a
# CPython 3.11 AST recursion check on some of these tests.
(cd "$SRC" && timeout -k 10 900 "$VENV/bin/python" -m pytest "${args[@]}") >"$WORK/pytest.log" 2>&1
PYTEST_RC=$?
ELAPSED=$((SECONDS - T0))
if [[ ! -s "$WORK/junit.xml" ]]; then
    tail -n 40 "$WORK/pytest.log"
    echo "kafka-python: 0 passed, 1 failed, 0 skipped (pytest exited with status $PYTEST_RC, no results)"
    exit 1
fi

# One line per test case: STATE<TAB>file.py::name<TAB>message.
"$VENV/bin/python" - "$WORK/junit.xml" >"$WORK/results" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET

# A test run again appears once per run; its last run is its result.
results = {}
for case in ET.parse(sys.argv[1]).iter("testcase"):
    module = case.get("classname", "").rsplit(".", 1)[-1]
    name = f"{module}.py::{case.get('name')}"
    state, message = "PASSED", f"{float(case.get('time', 0)):.1f} s"
    for child in case:
        if child.tag in ("failure", "error"):
            state, message = "FAILED", (child.get("message") or child.tag)
            break
        if child.tag == "skipped":
            state, message = "SKIPPED", (child.get("message") or "skipped")
    results[name] = (state, message)
for name, (state, message) in results.items():
    print(state, name, " ".join(message.split())[:300], sep="\t")
PYEOF

PASSED=0
FAILED=0
SKIPPED=0
FATAL=0
GAPS_FAILED=()
GAPS_PASSED=()
while IFS=$'\t' read -r state name message; do
    case "$state" in
        PASSED)
            PASSED=$((PASSED + 1))
            if [[ -n "${KNOWN_GAPS[$name]:-}" ]]; then GAPS_PASSED+=("$name"); fi
            printf 'PASS %s (%s)\n' "$name" "$message"
            ;;
        SKIPPED)
            SKIPPED=$((SKIPPED + 1))
            printf 'SKIP %s: %s\n' "$name" "$message"
            ;;
        *)
            FAILED=$((FAILED + 1))
            if [[ -n "${KNOWN_GAPS[$name]:-}" ]]; then
                GAPS_FAILED+=("$name")
                printf 'FAIL %s [known gap: %s]: %s\n' "$name" "${KNOWN_GAPS[$name]}" "$message"
                ((ALLOW_GAPS)) || FATAL=1
            else
                printf 'FAIL %s: %s\n' "$name" "$message"
                FATAL=1
            fi
            ;;
    esac
done <"$WORK/results"
EXCLUDED_N=0
while read -r test; do
    for id in "${!EXCLUDED[@]}"; do
        if [[ "$test" == "$id" || "$test" == "$id"::* ]]; then
            SKIPPED=$((SKIPPED + 1))
            EXCLUDED_N=$((EXCLUDED_N + 1))
            printf 'SKIP %s: [excluded] %s\n' "$test" "${EXCLUDED[$id]}"
            break
        fi
    done
done <"$WORK/collected"
if ((FATAL)); then
    # The failures' tracebacks, for a failure seen only in CI's log.
    sed -n '/^=* FAILURES =*$/,/^=* short test summary/p' "$WORK/pytest.log" | tail -n 150
fi

echo
if ((${#GAPS_FAILED[@]})); then
    echo "known gaps that failed: ${GAPS_FAILED[*]}"
fi
if ((${#GAPS_PASSED[@]})); then
    echo "known gaps that passed this run (remove those that pass steadily): ${GAPS_PASSED[*]}"
fi
# Tests that passed only when run again stay visible.
grep '^RERUN ' "$WORK/pytest.log" | sed 's|test/integration/||'
echo "tests run in $ELAPSED s; $EXCLUDED_N of the skipped are excluded here; $(grep -c '^RERUN ' "$WORK/pytest.log") runs repeated"
echo "kafka-python: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FATAL == 0))
