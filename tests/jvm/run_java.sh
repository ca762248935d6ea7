#!/usr/bin/env bash
# Runs one of the Java check programs (src/main/java/dev/rivulet/compat) with Kafka's jars:
#
#   run_java.sh CLASS ARGS...      CLASS without the package, e.g. AdminChecks
#   run_java.sh --compile          only compile
#
# Compiles first when a source is newer than the classes (one `mvn compile`, a few seconds),
# so a CI run pays for Maven once however many checks it runs.
#
# Environment: JAVA_OPTS   extra JVM options (e.g. -Dcompat.log.level=INFO)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLASSES="$HERE/target/classes"
STAMP="$CLASSES/.compiled"

die() { printf 'run_java.sh: %s\n' "$*" >&2; exit 1; }
[[ $# -ge 1 ]] || die "usage: run_java.sh CLASS ARGS... | --compile"
class="$1"
shift

if [[ ! -e "$STAMP" || -n "$(find "$HERE/src" "$HERE/pom.xml" -newer "$STAMP" -type f -print -quit)" ]]; then
    log="$HERE/target/mvn-compile.log"
    mkdir -p "$HERE/target"
    # -B: no colour codes or progress bars; -q: errors only.
    if ! mvn -q -B -f "$HERE/pom.xml" compile >"$log" 2>&1; then
        cat "$log" >&2
        die "mvn compile failed"
    fi
    touch "$STAMP"
fi
[[ "$class" != "--compile" ]] || exit 0

cp="$("$HERE/kafka.sh" classpath)"
# Short-lived client JVMs on a small machine: a bounded heap and the serial collector.
# shellcheck disable=SC2086
exec java -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true ${JAVA_OPTS:-} \
    -cp "$CLASSES:$cp" "dev.rivulet.compat.$class" "$@"
