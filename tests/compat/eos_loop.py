#!/usr/bin/env python3
"""Exactly-once consume-transform-produce through confluent-kafka (librdkafka).

A processor reads an input topic with a read_committed consumer and, for every batch, writes
the transformed records to an output topic and commits the batch's input offsets in the same
transaction (send_offsets_to_transaction). It is SIGKILLed and restarted repeatedly, and the
broker can be killed and restarted under it too; a read_committed reader of the output must
then see every input record exactly once.

Subcommands:

  seed BOOTSTRAP IN_TOPIC N [--partitions P]
      creates IN_TOPIC (and nothing else) and writes N keyed records with an idempotent
      producer; record i has value b"i".
  process BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TXN_ID [--keep-running] ...
      the consume-transform-produce loop; output value b"out-i" for input b"i", written to
      the input record's partition number. Creates OUT_TOPIC when missing. Exits 0 once it
      has been idle for --idle seconds and the group's committed offsets are at the end of
      every input partition (unless --keep-running: then it runs until killed), 2 on a
      fatal error, 3 when --max-seconds pass first, 4 when a client call does not return
      within --stuck-after seconds.
  verify BOOTSTRAP OUT_TOPIC N
      reads OUT_TOPIC to its end with a read_committed consumer; every value out-0 ..
      out-(N-1) must appear exactly once, and in increasing order within each partition.
      Prints one PASS/FAIL line with the figures (with the records of aborted
      transactions in the log, and any transaction still open); exits 1 on FAIL.
  run BOOTSTRAP [N] [--processor-kills 10] [--broker-restarts 3] [--broker-restart-cmd CMD]
      the whole test: seeds fresh topics, runs the processor, SIGKILLs and restarts it
      --processor-kills times and runs the broker restart command (also taken from
      $BROKER_RESTART_CMD) --broker-restarts times, each once the group has committed a
      random share of the input (the processor is held to --max-rate records a second so
      that this is mid-stream on any broker), lets the processor finish and verifies.
      Without a restart command, broker restarts are skipped. Every wait is bounded;
      elapsed time is printed per phase.

The restart command runs through the shell and must return once the broker accepts
connections at BOOTSTRAP again; it gets EOS_DRIVER_PID (the driver's pid) in its
environment, for a broker watchdog to follow. eos_loop.sh runs the whole test against an
Apache Kafka 4.1 or a Rivulet that it starts itself, with a restart command for each.
"""

import argparse
import faulthandler
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

# Exit statuses of `process`.
EXIT_FATAL = 2
EXIT_DEADLINE = 3
EXIT_STUCK = 4

OUTPUT_PREFIX = b"out-"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def kafka_error(exc):
    """The KafkaError a KafkaException carries (librdkafka raises with it as first arg)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


# ---------------------------------------------------------------------------------------
# topics


def create_topic(bootstrap, topic, partitions, exist_ok):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30, request_timeout=30)
    try:
        futures[topic].result(60)
    except KafkaException as e:
        err = kafka_error(e)
        if not (exist_ok and err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
            raise


def partition_count(client, topic, timeout=30):
    """Partitions of topic per the broker's metadata, waiting for a just-created topic to
    appear in it."""
    deadline = time.monotonic() + timeout
    while True:
        md = client.list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and md.partitions:
            return len(md.partitions)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"topic {topic} not in the metadata after {timeout} s: {md and md.error}")
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------
# seed


def seed(args):
    started = time.monotonic()
    create_topic(args.bootstrap, args.in_topic, args.partitions, exist_ok=False)
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    partition_count(producer, args.in_topic)
    delivery_errors = []

    def on_delivery(err, _msg):
        if err is not None:
            delivery_errors.append(err)

    for i in range(args.records):
        value = str(i).encode()
        while True:
            try:
                producer.produce(args.in_topic, key=b"key-" + value, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    if remaining or delivery_errors:
        first = delivery_errors[0] if delivery_errors else None
        print(f"FAIL seed: {remaining} records undelivered, {len(delivery_errors)} delivery errors (first: {first})")
        return 1
    log(f"seeded {args.records} records into {args.in_topic} ({args.partitions} partitions) in {time.monotonic() - started:.1f} s")
    return 0


# ---------------------------------------------------------------------------------------
# process


class Fatal(Exception):
    """An error after which this processor cannot continue; a restarted one can."""


class StuckCallWatchdog:
    """Ends the process when one client call runs far past its own timeout.

    After a broker restart, librdkafka's send_offsets_to_transaction can wait past its
    timeout for a group coordinator it has decommissioned, until its coordinator cache
    expires minutes later (confluentinc/librdkafka#5456, #5511). The process then exits,
    with every thread's stack on stderr, to be restarted like a killed one, which
    transactions make safe. The other calls are watched the same way."""

    def __init__(self, limit):
        self.limit = limit
        self.lock = threading.Lock()
        self.call = None
        self.since = 0.0
        threading.Thread(target=self.watch, name="stuck-call-watchdog", daemon=True).start()

    def watch(self):
        while True:
            time.sleep(1.0)
            with self.lock:
                call, since = self.call, self.since
            if call is not None and time.monotonic() - since > self.limit:
                log(f"{call} has not returned in {self.limit:.0f} s; exiting for a restart")
                faulthandler.dump_traceback(all_threads=True)
                os._exit(EXIT_STUCK)

    def run(self, what, call):
        with self.lock:
            self.call, self.since = what, time.monotonic()
        try:
            return call()
        finally:
            with self.lock:
                self.call = None


def retrying(watchdog, what, call, budget):
    """Calls call() again while it fails with a retriable error, for up to budget seconds:
    librdkafka documents init/send_offsets/commit/abort as safe to repeat after those."""
    deadline = time.monotonic() + budget
    while True:
        try:
            return watchdog.run(what, call)
        except KafkaException as e:
            err = kafka_error(e)
            if err is None or not err.retriable() or time.monotonic() >= deadline:
                raise
            log(f"{what}: retriable error, retrying: {err}")
            time.sleep(0.5)


class Processor:
    def __init__(self, args):
        self.args = args
        self.committed_txns = 0
        self.aborted_txns = 0
        self.committed_records = 0
        self.last_report = time.monotonic()
        self.fatal_error = None
        self.rate_clock = time.monotonic()
        self.watchdog = StuckCallWatchdog(args.stuck_after)
        self.consumer = Consumer(
            {
                "bootstrap.servers": args.bootstrap,
                "group.id": args.group,
                # A static member: a restarted processor takes over the killed one's place at
                # once instead of waiting out its session timeout. That timeout stays at
                # the default 45 s, above a broker restart: a member that times out on its
                # own rejoins and then gets fenced by its own new member id.
                "group.instance.id": f"{args.group}-processor",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "error_cb": self.on_client_error,
            }
        )
        self.producer = Producer(
            {
                "bootstrap.servers": args.bootstrap,
                "transactional.id": args.txn_id,
                "linger.ms": 5,
                "transaction.timeout.ms": 30_000,
                "error_cb": self.on_client_error,
            }
        )

    def on_client_error(self, err):
        # Errors without a record: librdkafka reports them here and recovers by itself,
        # except from fatal ones (a fenced static member, say), which end this instance.
        if err.fatal():
            self.fatal_error = err
        log(f"client error: {err}")

    def start(self):
        self.input_partitions = partition_count(self.consumer, self.args.in_topic)
        # Output records keep their input partition number.
        create_topic(self.args.bootstrap, self.args.out_topic, self.input_partitions, exist_ok=True)
        # Fences a previous instance with this transactional.id and aborts (or completes)
        # whatever transaction it left open.
        retrying(self.watchdog, "init_transactions", lambda: self.producer.init_transactions(30), self.args.op_timeout)
        self.consumer.subscribe([self.args.in_topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
        log(f"processor started: {self.args.in_topic} -> {self.args.out_topic}, group {self.args.group}, transactional.id {self.args.txn_id}")

    @staticmethod
    def on_assign(_consumer, partitions):
        log(f"assigned {sorted(p.partition for p in partitions)}")

    @staticmethod
    def on_revoke(_consumer, partitions):
        log(f"revoked {sorted(p.partition for p in partitions)}")

    def consume_batch(self):
        records = []
        for m in self.consumer.consume(num_messages=self.args.batch, timeout=1.0):
            err = m.error()
            if err is None:
                records.append(m)
            elif err.fatal():
                raise Fatal(f"consumer: {err}")
            else:
                # Broker unreachable, coordinator moving and the like: librdkafka recovers.
                log(f"consumer: {err}")
        if self.fatal_error is not None:
            raise Fatal(f"client: {self.fatal_error}")
        return records

    def process_batch(self, records):
        """One transaction: the batch's output records and its input offsets."""
        self.producer.begin_transaction()
        next_offsets = {}
        for m in records:
            out_value = OUTPUT_PREFIX + m.value()
            while True:
                try:
                    self.producer.produce(self.args.out_topic, key=m.key(), value=out_value, partition=m.partition())
                    break
                except BufferError:
                    self.producer.poll(0.1)
            next_offsets[(m.topic(), m.partition())] = m.offset() + 1
        self.producer.poll(0)
        self.pace(len(records))
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        group_metadata = self.consumer.consumer_group_metadata()
        retrying(
            self.watchdog,
            "send_offsets_to_transaction",
            lambda: self.producer.send_offsets_to_transaction(offsets, group_metadata, 30),
            self.args.op_timeout,
        )
        retrying(self.watchdog, "commit_transaction", lambda: self.producer.commit_transaction(30), self.args.op_timeout)
        self.committed_txns += 1
        self.committed_records += len(records)

    def pace(self, records):
        """Holds the transaction open long enough to keep to --max-rate: on a fast broker
        the input would otherwise be done before the first disruption, and the wait falls
        inside the transaction, with its records already sent, where a kill is the hardest
        case (the broker must abort what it holds)."""
        if self.args.max_rate <= 0:
            return
        # Each transaction gets records / max_rate seconds from the end of the previous
        # one's share: a slow one is not made up for by the next.
        now = time.monotonic()
        earliest = self.rate_clock + records / self.args.max_rate
        if earliest > now:
            time.sleep(earliest - now)
        self.rate_clock = max(earliest, now)

    def abort_and_rewind(self, cause):
        """The standard recovery from an abortable error: abort the transaction, then move
        the consumer back to the group's committed offsets so that the aborted batch is
        processed again."""
        log(f"aborting transaction: {cause}")
        retrying(self.watchdog, "abort_transaction", lambda: self.producer.abort_transaction(30), self.args.op_timeout)
        self.aborted_txns += 1
        assignment = self.consumer.assignment()
        if not assignment:
            return
        committed = retrying(self.watchdog, "committed", lambda: self.consumer.committed(assignment, timeout=30), self.args.op_timeout)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        log(f"rewound to committed offsets {sorted((tp.partition, tp.offset) for tp in committed)}")

    def drained(self):
        """Whether the group's committed offsets are at the end of every input partition."""
        tps = [TopicPartition(self.args.in_topic, p) for p in range(self.input_partitions)]
        try:
            committed = self.consumer.committed(tps, timeout=10)
            for tp in committed:
                _low, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
                if tp.offset != high:
                    return False
        except KafkaException as e:
            log(f"progress check failed (will retry): {kafka_error(e) or e}")
            return False
        return True

    def report(self, force=False):
        now = time.monotonic()
        if force or now - self.last_report >= 5:
            self.last_report = now
            log(f"progress: {self.committed_txns} transactions committed ({self.committed_records} records), {self.aborted_txns} aborted")

    def run(self):
        deadline = time.monotonic() + self.args.max_seconds
        idle_since = time.monotonic()
        last_drain_check = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                log(f"processor: --max-seconds {self.args.max_seconds} passed")
                return EXIT_DEADLINE
            records = self.consume_batch()
            if not records:
                if (
                    not self.args.keep_running
                    and now - idle_since >= self.args.idle
                    and now - last_drain_check >= 1.0
                ):
                    last_drain_check = now
                    if self.drained():
                        self.report(force=True)
                        log("processor done: input drained and committed")
                        return 0
                self.report()
                continue
            idle_since = time.monotonic()
            try:
                self.process_batch(records)
            except KafkaException as e:
                err = kafka_error(e)
                if err is not None and err.txn_requires_abort():
                    self.abort_and_rewind(err)
                else:
                    # Fatal (fenced, ...) or retriable beyond the budget: this producer's
                    # state is unknown, and only a new instance's init_transactions resolves
                    # it.
                    raise Fatal(f"transaction failed: {err or e}")
            self.report()

    def close(self):
        try:
            self.consumer.close()
        except Exception as e:  # noqa: BLE001 - closing is best effort on the way out
            log(f"consumer close: {e}")


def process(args):
    # A processor that hangs can be asked where: kill -USR1 PID prints every thread's stack.
    faulthandler.register(signal.SIGUSR1)
    processor = Processor(args)
    try:
        processor.start()
        status = processor.run()
    except (Fatal, KafkaException) as e:
        log(f"processor failed: {e}")
        processor.report(force=True)
        return EXIT_FATAL
    processor.close()
    return status


# ---------------------------------------------------------------------------------------
# verify


def read_to_end(bootstrap, topic, isolation, timeout):
    """All records of topic, per partition, read until every partition reports its end,
    and the end offsets: the high watermark, or under read_committed the last stable
    offset (the start of the first transaction still open)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"eos-verify-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    partitions = partition_count(consumer, topic)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    values = {p: [] for p in range(partitions)}
    at_end = {}  # partition: the offset its end was reported at
    deadline = time.monotonic() + timeout
    while len(at_end) < partitions:
        if time.monotonic() >= deadline:
            consumer.close()
            raise TimeoutError(f"{topic} ({isolation}): partitions {sorted(set(values) - set(at_end))} not read to the end within {timeout} s")
        for m in consumer.consume(num_messages=10_000, timeout=1.0):
            err = m.error()
            if err is None:
                values[m.partition()].append(m.value())
                # The end is where the consumer stands when it reports it; a record after
                # an end report means more was written meanwhile.
                at_end.pop(m.partition(), None)
            elif err.code() == KafkaError._PARTITION_EOF:
                at_end[m.partition()] = m.offset()
            elif err.fatal():
                raise KafkaException(err)
            else:
                log(f"verify consumer: {err}")
    consumer.close()
    return values, at_end


def verify(args):
    started = time.monotonic()
    try:
        committed, stable_ends = read_to_end(args.bootstrap, args.out_topic, "read_committed", args.timeout)
        uncommitted, high_watermarks = read_to_end(args.bootstrap, args.out_topic, "read_uncommitted", args.timeout)
    except (KafkaException, TimeoutError, RuntimeError) as e:
        print(f"FAIL eos verify: reading {args.out_topic}: {e}", flush=True)
        return 1

    n = args.records
    seen = bytearray(n)  # occurrences per input value, saturating at 255
    read = malformed = out_of_range = order_violations = 0
    pattern = re.compile(rb"out-(\d+)")
    for _partition, vals in committed.items():
        previous = -1
        for v in vals:
            read += 1
            match = pattern.fullmatch(v or b"")
            if not match:
                malformed += 1
                continue
            i = int(match.group(1))
            if i >= n:
                out_of_range += 1
                continue
            if seen[i] < 255:
                seen[i] += 1
            # One producer wrote each input partition in order, and the processor keeps
            # partition numbers and never commits a batch twice: within a partition the
            # input values come out strictly increasing.
            if i <= previous:
                order_violations += 1
            previous = i
    missing = sum(1 for c in seen if c == 0)
    duplicates = sum(c - 1 for c in seen if c > 1)
    in_log = sum(len(v) for v in uncommitted.values())
    open_partitions = [
        f"{p} (stable to {stable_ends[p]}, high watermark {high})"
        for p, high in sorted(high_watermarks.items())
        if stable_ends.get(p, high) < high
    ]
    ok = missing == 0 and duplicates == 0 and malformed == 0 and out_of_range == 0 and order_violations == 0
    missing_examples = [i for i, c in enumerate(seen) if c == 0][:5]
    duplicate_examples = [i for i, c in enumerate(seen) if c > 1][:5]
    summary = (
        f"{'PASS' if ok else 'FAIL'} eos verify: {n} input records, {read} read committed from "
        f"{args.out_topic} ({len(committed)} partitions), missing {missing}, duplicates {duplicates}, "
        f"malformed {malformed}, out of range {out_of_range}, order violations {order_violations}; "
        f"{in_log} records in the log of which {in_log - read} not committed "
        f"({'aborted or in an open transaction' if open_partitions else 'aborted'}); "
        f"{time.monotonic() - started:.1f} s"
    )
    if missing_examples:
        summary += f"; first missing {missing_examples}"
    if duplicate_examples:
        summary += f"; first duplicated {duplicate_examples}"
    if open_partitions:
        summary += f"; transaction still open on partitions {', '.join(open_partitions)}"
    print(summary, flush=True)
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------
# run


class ProgressProbe:
    """How far the processors have got: the group's committed input offsets, summed.

    A consumer of the group that never subscribes, so never joins it: AdminClient's
    list_consumer_group_offsets can crash librdkafka 2.16 on a freshly started broker (a
    SIGSEGV in rd_kafka_cgrp_op, from rd_kafka_handle_OffsetFetch). read_uncommitted: the
    query must not wait for a transaction in progress."""

    def __init__(self, bootstrap, group, in_topic, partitions):
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "isolation.level": "read_uncommitted",
            }
        )
        self.partitions = [TopicPartition(in_topic, p) for p in range(partitions)]

    def committed(self):
        """The sum, or None while the broker does not answer (restarting, say)."""
        try:
            return sum(max(tp.offset, 0) for tp in self.consumer.committed(self.partitions, timeout=5))
        except KafkaException:
            return None

    def close(self):
        self.consumer.close()


class Driver:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        run_id = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.in_topic = f"eos-in-{run_id}"
        self.out_topic = f"eos-out-{run_id}"
        self.group = f"eos-group-{run_id}"
        self.txn_id = f"eos-txn-{run_id}"
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="eos-loop-")
        os.makedirs(self.workdir, exist_ok=True)
        self.processor = None
        self.probe = None
        self.processor_started = 0.0
        self.processor_starts = 0
        self.unexpected_exits = 0
        self.script = os.path.abspath(__file__)

    def sub_command(self, *words):
        return [sys.executable, self.script, *words]

    def start_processor(self):
        self.processor_starts += 1
        path = os.path.join(self.workdir, f"processor-{self.processor_starts:02d}.log")
        cmd = self.sub_command(
            "process", self.args.bootstrap, self.in_topic, self.out_topic, self.group, self.txn_id,
            "--batch", str(self.args.batch), "--max-rate", str(self.args.max_rate),
            "--max-seconds", str(self.args.timeout),
        )
        with open(path, "w") as out:
            self.processor = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processor_started = time.monotonic()

    def kill_processor(self):
        if self.processor is None:
            return
        if self.processor.poll() is None:
            self.processor.send_signal(signal.SIGKILL)
        self.processor.wait(timeout=30)
        self.processor = None

    def check_processor(self, restart_finished):
        """Restarts a processor that gave up on its own after a client failure (fatal error,
        stuck call), and one that finished its work if restart_finished; fails the run when
        one ended any other way. Returns whether the processor has finished its work."""
        status = self.processor.poll()
        if status is None:
            return False
        if status == 0 and not restart_finished:
            return True
        where = f"log {self.workdir}/processor-{self.processor_starts:02d}.log"
        if status == 0:
            log(f"  processor {self.processor_starts} finished early ({where}); restarting it")
        elif status in (EXIT_FATAL, EXIT_STUCK):
            self.unexpected_exits += 1
            if self.unexpected_exits > self.args.max_give_ups:
                raise RuntimeError(f"processors gave up {self.unexpected_exits} times, the last with status {status} ({where})")
            log(f"  processor {self.processor_starts} gave up with status {status} ({where}); restarting it")
        else:
            raise RuntimeError(f"processor {self.processor_starts} exited with status {status} ({where})")
        self.start_processor()
        return False

    def sleep_watching(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.check_processor(restart_finished=True)
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def wait_for_progress(self, target):
        """Waits until the group has committed target input records; fails after
        --stall-timeout seconds without any progress."""
        best = -1
        stalled_since = time.monotonic()
        while True:
            committed = self.probe.committed()
            if committed is not None and committed >= target:
                return committed
            if committed is not None and committed > best:
                best = committed
                stalled_since = time.monotonic()
            if time.monotonic() - stalled_since >= self.args.stall_timeout:
                raise RuntimeError(f"no progress for {self.args.stall_timeout} s: the group committed "
                                   f"{max(best, 0)} of the {target} input records awaited")
            self.sleep_watching(0.1)

    def restart_broker(self):
        started = time.monotonic()
        env = dict(os.environ, EOS_DRIVER_PID=str(os.getpid()))
        try:
            result = subprocess.run(
                self.args.broker_restart_cmd, shell=True, env=env, stdin=subprocess.DEVNULL,
                timeout=self.args.broker_restart_timeout,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the broker restart command did not finish within {self.args.broker_restart_timeout} s")
        if result.returncode != 0:
            raise RuntimeError(f"the broker restart command exited with status {result.returncode}")
        log(f"  broker back in {time.monotonic() - started:.1f} s")

    def phase(self, name, started):
        elapsed = time.monotonic() - started
        log(f"phase {name}: {elapsed:.1f} s")
        return elapsed

    def run(self):
        a = self.args
        broker_restarts = a.broker_restarts if a.broker_restart_cmd else 0
        log(f"eos loop: {a.records} records, {a.processor_kills} processor kills, "
            f"{broker_restarts} broker restarts{'' if a.broker_restart_cmd else ' (no --broker-restart-cmd / BROKER_RESTART_CMD)'}, "
            f"random seed {a.seed}, topics {self.in_topic} -> {self.out_topic}, logs in {self.workdir}")
        total_started = time.monotonic()

        started = time.monotonic()
        seeded = subprocess.run(
            self.sub_command("seed", a.bootstrap, self.in_topic, str(a.records), "--partitions", str(a.partitions)),
            timeout=a.timeout,
        )
        if seeded.returncode != 0:
            log("FAIL eos loop: seeding the input failed")
            return 1
        self.phase("seed", started)

        # Each disruption once the group has committed a random share of the input, and a
        # random moment after that (a transaction takes a fraction of a second): every one
        # lands while work remains, whatever the processing rate. The processor runs
        # throughout and is restarted at once after each kill.
        events = ["kill-processor"] * a.processor_kills + ["restart-broker"] * broker_restarts
        self.rng.shuffle(events)
        thresholds = sorted(int(self.rng.uniform(0.03, 0.95) * a.records) for _ in events)
        self.probe = ProgressProbe(a.bootstrap, self.group, self.in_topic, a.partitions)
        started = time.monotonic()
        self.start_processor()
        kills = restarts = 0
        for event, threshold in zip(events, thresholds):
            self.wait_for_progress(threshold)
            self.sleep_watching(self.rng.uniform(0, a.jitter))
            if event == "kill-processor":
                kills += 1
                uptime = time.monotonic() - self.processor_started
                self.kill_processor()
                committed = self.probe.committed()
                log(f"  processor kill {kills}/{a.processor_kills}: SIGKILLed after {uptime:.1f} s up; group committed "
                    f"{committed if committed is not None else '?'}/{a.records}")
                self.start_processor()
            else:
                restarts += 1
                committed = self.probe.committed()
                log(f"  broker restart {restarts}/{broker_restarts}: group committed "
                    f"{committed if committed is not None else '?'}/{a.records}; running {a.broker_restart_cmd}")
                self.restart_broker()
        self.phase("disruptions", started)

        # The last processor stops once the input is drained and committed; processors that
        # give up on their own are restarted, within the overall timeout.
        started = time.monotonic()
        deadline = started + a.timeout
        while not self.check_processor(restart_finished=False):
            if time.monotonic() >= deadline:
                self.kill_processor()
                log(f"FAIL eos loop: the processor did not finish within {a.timeout} s")
                return 1
            time.sleep(0.2)
        self.processor = None
        self.phase("finish", started)

        started = time.monotonic()
        verified = subprocess.run(
            self.sub_command("verify", a.bootstrap, self.out_topic, str(a.records), "--timeout", str(a.timeout)),
            timeout=a.timeout + 60,
        )
        self.phase("verify", started)
        total = time.monotonic() - total_started
        verdict = "PASS" if verified.returncode == 0 else "FAIL"
        log(f"{verdict} eos loop: {a.records} records, {kills} processor kills, {restarts} broker restarts, "
            f"{self.processor_starts} processor starts ({self.unexpected_exits} after a processor gave up), "
            f"total {total:.1f} s")
        return verified.returncode

    def close(self):
        if self.processor is not None:
            self.kill_processor()
        if self.probe is not None:
            self.probe.close()


def run(args):
    if args.seed is None:
        args.seed = random.randrange(1 << 32)
    # A driver stopped by SIGTERM (timeout(1), CI) still kills its processor on the way out.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))
    driver = Driver(args)
    status = 1
    try:
        status = driver.run()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        log(f"FAIL eos loop: {e}")
    finally:
        driver.close()
    if status == 0 and not args.workdir:
        shutil.rmtree(driver.workdir, ignore_errors=True)
    else:
        log(f"processor logs in {driver.workdir}")
    return status


# ---------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("seed", help="create the input topic and write N records")
    p.add_argument("bootstrap")
    p.add_argument("in_topic")
    p.add_argument("records", type=int)
    p.add_argument("--partitions", type=int, default=3)
    p.set_defaults(func=seed)

    p = sub.add_parser("process", help="the transactional consume-transform-produce loop")
    p.add_argument("bootstrap")
    p.add_argument("in_topic")
    p.add_argument("out_topic")
    p.add_argument("group")
    p.add_argument("txn_id")
    p.add_argument("--batch", type=int, default=500, help="records per transaction at most")
    p.add_argument("--idle", type=float, default=3.0, help="seconds without input before checking whether it is drained")
    p.add_argument("--keep-running", action="store_true", help="never exit on a drained input")
    p.add_argument("--max-rate", type=float, default=0, help="records per second at most (0: no limit)")
    p.add_argument("--max-seconds", type=float, default=1800)
    p.add_argument("--op-timeout", type=float, default=120, help="seconds to keep retrying one transactional call")
    p.add_argument("--stuck-after", type=float, default=45,
                   help="seconds after which one client call (each has a 30 s timeout) counts as stuck")
    p.set_defaults(func=process)

    p = sub.add_parser("verify", help="check the output holds every input exactly once")
    p.add_argument("bootstrap")
    p.add_argument("out_topic")
    p.add_argument("records", type=int)
    p.add_argument("--timeout", type=float, default=300)
    p.set_defaults(func=verify)

    p = sub.add_parser("run", help="seed, process under kills and restarts, verify")
    p.add_argument("bootstrap")
    p.add_argument("records", type=int, nargs="?", default=100_000)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--max-rate", type=float, default=5000,
                   help="records per second at most per processor, so that disruptions land mid-stream (0: no limit)")
    p.add_argument("--processor-kills", type=int, default=10)
    p.add_argument("--broker-restarts", type=int, default=3)
    p.add_argument("--broker-restart-cmd", default=os.environ.get("BROKER_RESTART_CMD") or None,
                   help="shell command that kills the broker and starts it again (default $BROKER_RESTART_CMD)")
    p.add_argument("--broker-restart-timeout", type=float, default=180)
    p.add_argument("--jitter", type=float, default=0.5,
                   help="a disruption comes up to this many seconds after its share of the input is committed")
    p.add_argument("--timeout", type=float, default=900, help="bound on each of seeding, finishing and verifying, seconds")
    p.add_argument("--max-give-ups", type=int, default=20,
                   help="processors that end on a fatal error or a stuck call before the run fails")
    p.add_argument("--stall-timeout", type=float, default=300,
                   help="seconds without progress after which the run fails")
    p.add_argument("--seed", type=int, help="random seed for the disruption schedule")
    p.add_argument("--workdir", help="directory for the processors' logs (default: a new temporary one, removed after a PASS)")
    p.set_defaults(func=run)

    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
