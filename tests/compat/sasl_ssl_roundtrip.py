#!/usr/bin/env python3
"""confluent-kafka and kafka-python over SASL_SSL with SCRAM-SHA-512 against a running broker.

Usage: sasl_ssl_roundtrip.py BOOTSTRAP CA_FILE USER PASSWORD

For each client: produce 100 records to a topic of its own with acks=all, read them back
from the beginning, and check a login with a wrong password is refused with an
authentication error. Prints one `PASS name` or `FAIL name: why` line per check; exits
non-zero if any failed.
"""
import logging
import sys
import time

import confluent_kafka
import kafka
import kafka.errors
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

BOOTSTRAP, CA, USER, PASSWORD = sys.argv[1:5]
N = 100
failed = 0


def report(name, ok, why=""):
    global failed
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {why}", flush=True)


def confluent_config(password):
    return {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": USER,
        "sasl.password": password,
        "ssl.ca.location": CA,
        "broker.address.family": "v4",
    }


def confluent_roundtrip():
    topic = "sasl-confluent"
    producer = Producer({**confluent_config(PASSWORD), "acks": "all"})
    errors = []
    for i in range(N):
        producer.produce(topic, key=f"k{i}".encode(), value=f"confluent {i}".encode(),
                         on_delivery=lambda err, msg: err and errors.append(err))
    left = producer.flush(60)
    if left or errors:
        return report("confluent-kafka round trip", False, f"{left} undelivered, errors {errors[:3]}")
    consumer = Consumer({**confluent_config(PASSWORD), "group.id": "sasl-confluent",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values = []
    deadline = time.time() + 60
    while len(values) < N and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            return report("confluent-kafka round trip", False, str(msg.error()))
        values.append(msg.value().decode())
    consumer.close()
    expected = [f"confluent {i}" for i in range(N)]
    report("confluent-kafka round trip", values == expected, f"read {len(values)} records, first {values[:2]}")


def confluent_wrong_password():
    errors = []
    producer = Producer({**confluent_config(PASSWORD + "-wrong"), "error_cb": errors.append})
    try:
        producer.list_topics(timeout=15)
        refused = False
    except KafkaException:
        refused = True
    producer.poll(1)
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    report("confluent-kafka wrong password refused", refused and bool(auth),
           f"metadata refused: {refused}, errors: {[str(e) for e in errors[:3]]}")


def kafka_python_config(password):
    return dict(bootstrap_servers=BOOTSTRAP, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username=USER, sasl_plain_password=password, ssl_cafile=CA)


def kafka_python_roundtrip():
    topic = "sasl-kafka-python"
    producer = kafka.KafkaProducer(acks="all", **kafka_python_config(PASSWORD))
    for i in range(N):
        producer.send(topic, key=f"k{i}".encode(), value=f"kafka-python {i}".encode())
    producer.flush(60)
    producer.close()
    consumer = kafka.KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=20000,
                                   group_id=None, **kafka_python_config(PASSWORD))
    values = []
    for msg in consumer:
        values.append(msg.value.decode())
        if len(values) == N:
            break
    consumer.close()
    expected = [f"kafka-python {i}" for i in range(N)]
    report("kafka-python round trip", values == expected, f"read {len(values)} records, first {values[:2]}")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def kafka_python_wrong_password():
    # kafka-python logs the broker's SASL_AUTHENTICATION_FAILED message and then reports the
    # bootstrap as unavailable, so the log tells a refused login from a broker that is down.

    collect = Collect()
    logging.getLogger("kafka").addHandler(collect)
    logging.getLogger("kafka").setLevel(logging.INFO)
    try:
        consumer = kafka.KafkaConsumer(request_timeout_ms=40000, **kafka_python_config(PASSWORD + "-wrong"))
        consumer.topics()
        consumer.close()
        report("kafka-python wrong password refused", False, "metadata was served")
    except kafka.errors.KafkaError as e:
        refused = [line for line in collect.lines if "Authentication failed" in line]
        # Kafka over TLS often closes the connection before kafka-python reads the error
        # reply; a connection lost during authentication is a refusal too.
        lost = [line for line in collect.lines if "Connection lost" in line]
        report("kafka-python wrong password refused", bool(refused or lost),
               f"{type(e).__name__}: {e}; {len(collect.lines)} log lines, last: {collect.lines[-3:]}")
        print(f"kafka-python wrong password: {len(refused)} authentication failures, "
              f"{len(lost)} connections lost", flush=True)


for check in (confluent_roundtrip, confluent_wrong_password, kafka_python_roundtrip, kafka_python_wrong_password):
    try:
        check()
    except Exception as e:  # a client error is a failed check, not a crash of the script
        report(check.__name__, False, f"{type(e).__name__}: {e}")
print(f"confluent-kafka {confluent_kafka.__version__}, kafka-python {kafka.__version__}", flush=True)
sys.exit(1 if failed else 0)
