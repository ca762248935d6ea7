#!/usr/bin/env python3
"""Consumer groups through confluent-kafka (librdkafka) against a running broker.

1. Three consumers in one group read a 6-partition topic of 300,000 records: together they
   receive every record, and with no failures none twice.
2. One of three consumers is killed with SIGKILL (no LeaveGroup) once it has committed part
   of its work: the others take over its partitions after the session timeout and finish.
   Every record is consumed; what the killed one read but had not committed is read again
   (at-least-once), and the group's committed offsets end at the end of every partition.

Usage: confluent_groups.py BOOTSTRAP [classic|consumer]

With `consumer`, the members use KIP-848's group protocol (`group.protocol=consumer`): the
broker assigns partitions and the killed member is fenced after the broker's
`group.consumer.session.timeout.ms` (45 s by default).
"""

import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6
RECORDS = 300_000
PROTOCOL = sys.argv[2] if len(sys.argv) > 2 else "classic"


def fail(msg):
    print(f"FAIL confluent-kafka groups ({PROTOCOL} protocol): {msg}", flush=True)
    sys.exit(1)


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(30)


def produce(bootstrap, topic, n):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4", "acks": "all"})
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=str(i).encode(), value=f"value-{i}".encode(), partition=i % PARTITIONS)
                break
            except BufferError:
                p.poll(0.1)
        if i % 10_000 == 0:
            p.poll(0)
    if p.flush(60) != 0:
        fail("producer did not flush")


def consumer_config(bootstrap, group, client_id):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    if PROTOCOL == "consumer":
        # Session and heartbeat timing belong to the broker in this protocol.
        config["group.protocol"] = "consumer"
    else:
        config.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    return config


def consume_worker(bootstrap, group, topic, client_id, log_path, stop, commit_every, pause):
    """Consumes, appends each record's "partition offset" to its own file, then commits
    synchronously every N records. The file is written before the commit, so whatever a
    SIGKILL interrupts, every committed record is in the file."""
    c = Consumer(consumer_config(bootstrap, group, client_id))

    def commit_before_revoke(consumer, partitions):
        # Hand partitions over with their progress committed, so nobody reads them again.
        try:
            consumer.commit(asynchronous=False)
        except KafkaException:
            pass  # nothing consumed since the last commit

    c.subscribe([topic], on_revoke=commit_before_revoke)
    since_commit = 0
    with open(log_path, "a", buffering=1) as log:
        while not stop.value:
            msgs = c.consume(1000, 0.5)
            lines = []
            for m in msgs:
                if m.error():
                    raise KafkaException(m.error())
                if m.value() != f"value-{m.key().decode()}".encode():
                    lines.append(f"BAD {m.partition()} {m.offset()}\n")
                lines.append(f"{m.partition()} {m.offset()}\n")
            log.write("".join(lines))
            log.flush()
            since_commit += len(msgs)
            if msgs and pause:
                # Slow enough that the kill lands while every member still has work.
                time.sleep(pause)
            if since_commit >= commit_every:
                c.commit(asynchronous=False)
                since_commit = 0
        try:
            c.commit(asynchronous=False)
        except KafkaException:
            pass
    c.close()


def read_log(path):
    """(partition, offset) pairs a consumer has recorded; a torn last line is ignored."""
    seen = []
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                if line.startswith("BAD"):
                    fail(f"a consumer read a wrong value: {line.strip()}")
                p, o = line.split()
                seen.append((int(p), int(o)))
    except FileNotFoundError:
        pass
    return seen


def run_group(bootstrap, topic, group, kill_one, workdir):
    ctx = mp.get_context("fork")
    stop = ctx.Value("b", 0)
    procs, logs = {}, {}
    for i in range(3):
        cid = f"{group}-c{i}"
        logs[cid] = os.path.join(workdir, f"{cid}.log")
        procs[cid] = ctx.Process(target=consume_worker, args=(bootstrap, group, topic, cid, logs[cid], stop, 5000, 0.05 if kill_one else 0),
                                 daemon=True)
        procs[cid].start()
    killed = None
    deadline = time.time() + 300
    while True:
        per_consumer = {cid: read_log(path) for cid, path in logs.items()}
        counts = {}
        for seen in per_consumer.values():
            for po in seen:
                counts[po] = counts.get(po, 0) + 1
        if kill_one and killed is None:
            cid, seen = max(per_consumer.items(), key=lambda kv: len(kv[1]))
            if len(seen) >= 20_000:
                os.kill(procs[cid].pid, signal.SIGKILL)
                procs[cid].join()
                killed = cid
                print(f"killed {cid} with SIGKILL after it read {len(seen)} records", flush=True)
        if len(counts) >= RECORDS:
            break
        if time.time() > deadline:
            stop.value = 1
            fail(f"group {group} did not finish: {len(counts)} of {RECORDS} records seen")
        time.sleep(0.5)
    stop.value = 1
    for p in procs.values():
        p.join(30)
    return counts, killed, {cid: len(seen) for cid, seen in per_consumer.items()}


def main():
    bootstrap = sys.argv[1]
    topic = "confluent-groups" if PROTOCOL == "classic" else "confluent-groups-kip848"
    create_topic(bootstrap, topic)
    t0 = time.time()
    produce(bootstrap, topic, RECORDS)
    print(f"produced {RECORDS} records over {PARTITIONS} partitions in {time.time() - t0:.1f}s", flush=True)

    workdir = tempfile.mkdtemp(prefix="confluent-groups-")
    counts, _, reported = run_group(bootstrap, topic, f"three-consumers-{PROTOCOL}", kill_one=False, workdir=workdir)
    missing = RECORDS - len(counts)
    dup = sum(1 for v in counts.values() if v > 1)
    if missing or dup:
        fail(f"three consumers: {missing} records missing, {dup} read twice")
    print(f"PASS confluent-kafka ({PROTOCOL} protocol): 3 consumers in one group read all {RECORDS} records exactly once "
          f"(per consumer: {sorted(reported.values())})", flush=True)

    counts, killed, reported = run_group(bootstrap, topic, f"one-killed-{PROTOCOL}", kill_one=True, workdir=workdir)
    missing = RECORDS - len(counts)
    if killed is None:
        fail("no consumer was killed")
    if missing:
        fail(f"after killing {killed}: {missing} records never consumed")
    dup = sum(v - 1 for v in counts.values() if v > 1)
    print(f"PASS confluent-kafka ({PROTOCOL} protocol): after SIGKILL of {killed} the others took over; all {RECORDS} records "
          f"consumed ({dup} read again: read but not committed by the killed one)", flush=True)

    # The group's committed offsets cover the whole topic.
    c = Consumer(consumer_config(bootstrap, f"one-killed-{PROTOCOL}", "checker"))
    committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    c.close()
    total = sum(tp.offset for tp in committed)
    if total != RECORDS:
        fail(f"committed offsets sum to {total}, expected {RECORDS}: {committed}")
    print(f"PASS confluent-kafka ({PROTOCOL} protocol): committed offsets cover all {RECORDS} records", flush=True)


if __name__ == "__main__":
    main()
