#!/usr/bin/env python3
"""Consumer groups through confluent-kafka (librdkafka) against a running broker.

1. Three consumers in one group read a 6-partition topic of 300,000 records: together they
   receive every record, and with no failures none twice.
2. One of three consumers is killed with SIGKILL (no LeaveGroup) once it has committed part
   of its work: the others take over its partitions after the session timeout and finish.
   Every record is consumed; what the killed one read but had not committed is read again
   (at-least-once), and the group's committed offsets end at the end of every partition.

Usage: confluent_groups.py BOOTSTRAP
"""

import multiprocessing as mp
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6
RECORDS = 300_000


def fail(msg):
    print(f"FAIL confluent-kafka groups: {msg}", flush=True)
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
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }


def consume_worker(bootstrap, group, topic, client_id, queue, stop_at, commit_every):
    """Consumes and reports (partition, offset) pairs; commits synchronously every N records."""
    c = Consumer(consumer_config(bootstrap, group, client_id))

    def commit_before_revoke(consumer, partitions):
        # Hand partitions over with their progress committed, so nobody reads them again.
        try:
            consumer.commit(asynchronous=False)
        except KafkaException:
            pass  # nothing consumed since the last commit

    c.subscribe([topic], on_revoke=commit_before_revoke)
    seen = []
    idle_since = time.time()
    since_commit = 0
    while True:
        msgs = c.consume(1000, 0.5)
        if not msgs:
            if stop_at.value and time.time() - idle_since > 3:
                break
            continue
        idle_since = time.time()
        for m in msgs:
            if m.error():
                raise KafkaException(m.error())
            expected = f"value-{m.key().decode()}".encode()
            if m.value() != expected:
                queue.put(("bad", client_id, m.partition(), m.offset()))
            seen.append((m.partition(), m.offset()))
        since_commit += len(msgs)
        if since_commit >= commit_every:
            c.commit(asynchronous=False)
            queue.put(("batch", client_id, seen))
            seen = []
            since_commit = 0
    if seen:
        c.commit(asynchronous=False)
        queue.put(("batch", client_id, seen))
    c.close()
    queue.put(("done", client_id, None))


def run_group(bootstrap, topic, group, kill_one):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    stop_at = ctx.Value("b", 0)
    procs = {}
    for i in range(3):
        cid = f"{group}-c{i}"
        procs[cid] = ctx.Process(target=consume_worker, args=(bootstrap, group, topic, cid, queue, stop_at, 5000))
        procs[cid].start()
    counts = {}
    reported = {}
    killed = None
    deadline = time.time() + 240
    done = set()
    while len(done) < 3 - (1 if killed else 0):
        if time.time() > deadline:
            fail(f"group {group} did not finish: {sum(counts.values())} of {RECORDS} seen")
        try:
            kind, cid, payload = queue.get(timeout=1)
        except Exception:
            kind = None
        if kind == "bad":
            fail(f"{cid} read a wrong value at partition {payload}")
        if kind == "batch":
            reported[cid] = reported.get(cid, 0) + len(payload)
            for po in payload:
                counts[po] = counts.get(po, 0) + 1
            if kill_one and killed is None and reported[cid] >= 20_000:
                os.kill(procs[cid].pid, signal.SIGKILL)
                procs[cid].join()
                killed = cid
                print(f"killed {cid} with SIGKILL after it committed {reported[cid]} records", flush=True)
        if kind == "done":
            done.add(cid)
        if len(counts) >= RECORDS:
            stop_at.value = 1
    for p in procs.values():
        p.join(30)
    return counts, killed, reported


def main():
    bootstrap = sys.argv[1]
    topic = "confluent-groups"
    create_topic(bootstrap, topic)
    t0 = time.time()
    produce(bootstrap, topic, RECORDS)
    print(f"produced {RECORDS} records over {PARTITIONS} partitions in {time.time() - t0:.1f}s", flush=True)

    counts, _, reported = run_group(bootstrap, topic, "three-consumers", kill_one=False)
    missing = RECORDS - len(counts)
    dup = sum(1 for v in counts.values() if v > 1)
    if missing or dup:
        fail(f"three consumers: {missing} records missing, {dup} read twice")
    print(f"PASS confluent-kafka: 3 consumers in one group read all {RECORDS} records exactly once "
          f"(per consumer: {sorted(reported.values())})", flush=True)

    counts, killed, reported = run_group(bootstrap, topic, "one-killed", kill_one=True)
    missing = RECORDS - len(counts)
    if killed is None:
        fail("no consumer was killed")
    if missing:
        fail(f"after killing {killed}: {missing} records never consumed")
    dup = sum(v - 1 for v in counts.values() if v > 1)
    print(f"PASS confluent-kafka: after SIGKILL of {killed} the others took over; all {RECORDS} records "
          f"consumed ({dup} redelivered, uncommitted at the kill)", flush=True)

    # The group's committed offsets cover the whole topic.
    c = Consumer(consumer_config(bootstrap, "one-killed", "checker"))
    committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    c.close()
    total = sum(tp.offset for tp in committed)
    if total != RECORDS:
        fail(f"committed offsets sum to {total}, expected {RECORDS}: {committed}")
    print(f"PASS confluent-kafka: committed offsets cover all {RECORDS} records", flush=True)


if __name__ == "__main__":
    main()
