#!/usr/bin/env bash
# Kafka transactions through the Java producer, consumer and admin client
# (TransactionChecks.java): one PASS/FAIL line per check, then `transactions: N passed, M failed`.
#
#   txn_check.sh BOOTSTRAP                     every failure is fatal (Apache Kafka)
#   txn_check.sh --allow-known-gaps BOOTSTRAP  failures of the checks in KNOWN_GAPS below
#                                              are reported but not fatal (Rivulet)
#
# Exits non-zero if a fatal check failed.
#
# The broker must have Kafka's defaults for transaction.max.timeout.ms (900000) and
# transaction.abort.timed.out.transaction.cleanup.interval.ms (10000) or less: one check
# leaves a transaction with a 3 s timeout open and waits up to 3 s + 10 s + 15 s for the
# broker to abort it. Nothing else is needed; a shorter cleanup interval, e.g.
#   KAFKA_EXTRA_PROPERTIES='transaction.abort.timed.out.transaction.cleanup.interval.ms=1000'
# for `kafka.sh start-kafka`, only lets that check pass sooner.
#
# The transactional ids used here stay in `kafka-transactions list` afterwards (as any
# transactional id does until transactional.id.expiration.ms), so tools_check.sh's check of
# an empty list must run before this against the same broker.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"

# Checks Rivulet is known to fail, each with why, as
#     ["describeTransactions CompleteCommit"]="the coordinator does not keep completed states"
# Everything that passes on Kafka 4.1 must pass on Rivulet too; a gap that starts to pass is
# reported so that it can be taken off.
declare -A KNOWN_GAPS=()

run_java_checks TransactionChecks transactions "transaction checks" "$@"
