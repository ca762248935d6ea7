#!/usr/bin/env python3
"""Idempotent producers with each client's own settings: kafka-python's default producer
(idempotence on by default in 3.x) and confluent-kafka with enable.idempotence=true. Every
record must come back exactly once, in order.

Usage: idempotent_producers.py BOOTSTRAP
"""

import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaProducer

N = 5000


def fail(msg):
    print(f"FAIL idempotent producers: {msg}", flush=True)
    sys.exit(1)


def read_back(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    values = []
    while True:
        msgs = c.consume(1000, 5.0)
        if not msgs:
            break
        for m in msgs:
            if m.error():
                fail(str(m.error()))
            values.append(m.value())
    c.close()
    return values


def main():
    bootstrap = sys.argv[1]
    expected = [f"record-{i}".encode() for i in range(N)]

    p = KafkaProducer(bootstrap_servers=bootstrap)
    if not p.config["enable_idempotence"]:
        fail("kafka-python's default producer is expected to be idempotent")
    for v in expected:
        p.send("idempotent-kafka-python", value=v, partition=0)
    p.flush(60)
    p.close()
    if read_back(bootstrap, "idempotent-kafka-python") != expected:
        fail("kafka-python: records missing, duplicated or out of order")
    print(f"PASS kafka-python: the default (idempotent) producer wrote {N} records exactly once, in order", flush=True)

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for v in expected:
        p.produce("idempotent-confluent", value=v, partition=0)
    if p.flush(60) != 0:
        fail("confluent-kafka: producer did not flush")
    if read_back(bootstrap, "idempotent-confluent") != expected:
        fail("confluent-kafka: records missing, duplicated or out of order")
    print(f"PASS confluent-kafka: enable.idempotence=true wrote {N} records exactly once, in order", flush=True)


if __name__ == "__main__":
    main()
