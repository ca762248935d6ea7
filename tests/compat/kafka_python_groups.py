#!/usr/bin/env python3
"""A kafka-python group consumer reads a whole topic and commits; a second consumer in the
same group then starts at the committed offsets and reads only what was produced after.

Usage: kafka_python_groups.py BOOTSTRAP TOPIC EXPECTED_RECORDS
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer


def fail(msg):
    print(f"FAIL kafka-python groups: {msg}", flush=True)
    sys.exit(1)


def consume(bootstrap, topic, group, want, timeout_s=120):
    c = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )
    got = []
    deadline = time.time() + timeout_s
    while len(got) < want and time.time() < deadline:
        for m in c:
            got.append((m.partition, m.offset, m.value))
            if len(got) >= want:
                break
    c.commit()
    c.close()
    return got


def main():
    bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    group = "kafka-python-group"
    first = consume(bootstrap, topic, group, expected)
    if len(first) != expected:
        fail(f"read {len(first)} of {expected} records")
    if len({(p, o) for p, o, _ in first}) != expected:
        fail("some records were read twice")
    print(f"PASS kafka-python: group consumer read all {expected} records of {topic} and committed", flush=True)

    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    p.send(topic, key=b"after-commit", value=b"only this").get(timeout=30)
    p.close()
    second = consume(bootstrap, topic, group, 1, timeout_s=60)
    if [v for _, _, v in second] != [b"only this"]:
        fail(f"the second consumer of the group did not resume at the committed offset: {second[:3]}")
    print("PASS kafka-python: a new group member resumed at the committed offset", flush=True)


if __name__ == "__main__":
    main()
