#!/usr/bin/env python3
"""Round trip through kafka-python (a pure-Python client) against a running broker.

Usage: kafka_python_roundtrip.py BOOTSTRAP [RECORDS]

Creates a 6-partition topic with KafkaAdminClient, produces RECORDS (default 200,000) keyed
records through five KafkaProducers, one per codec (None, gzip, snappy, lz4, zstd), all
interleaved, with acks=all. Every send's metadata gives the record's (partition, offset).
Then a KafkaConsumer with assign() + seek_to_beginning() reads every partition and every
record must be identical (key, value, headers) and sit at its acknowledged offset, with
offsets dense from 0 in every partition. Exits non-zero on any mismatch.
"""
import random
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 6
TOPIC = "kafka-python-roundtrip"
POOL = random.Random(99).randbytes(1 << 16)


def fail(msg):
    print(f"FAIL kafka-python: {msg}", flush=True)
    sys.exit(1)


def make_record(i):
    codec = CODECS[i % len(CODECS)] or "none"
    key = f"kp-{i}".encode()
    if i % 13 == 0:
        value = b""
    elif i % 7 == 0:
        value = (f"compressible {codec} {i} " * 30).encode()
    else:
        seed = (i * 2246822519) & 0xFFFFFFFF
        start = seed % (len(POOL) - 400)
        value = POOL[start:start + 10 + seed % 250]
    headers = []
    if i % 4 == 0:
        headers = [("codec", codec.encode()), ("i", str(i).encode())]
    return key, value, headers


def main():
    bootstrap = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    print(f"kafka-python {kafka.__version__}", flush=True)

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="rivulet-compat")
    try:
        admin.create_topics({TOPIC: {"num_partitions": PARTITIONS, "replication_factor": 1}},
                            timeout_ms=30000)
    except Exception as e:  # noqa: BLE001 - report whatever the client raised
        fail(f"create_topics: {e!r}")
    deadline = time.time() + 30
    while True:
        described = {t.get("name", t.get("topic")): t for t in admin.describe_topics([TOPIC])}
        t = described.get(TOPIC)
        if t and t.get("error_code", 0) == 0 and len(t.get("partitions", [])) == PARTITIONS:
            break
        if time.time() > deadline:
            fail(f"topic {TOPIC} not described with {PARTITIONS} partitions: {described}")
        time.sleep(0.2)
    admin.close()

    # Rivulet does not serve InitProducerId yet, so idempotence (kafka-python's default since
    # 3.0) is turned off explicitly.
    producers = {
        c: KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=c, linger_ms=10,
                         enable_idempotence=False, client_id=f"rivulet-compat-{c or 'none'}")
        for c in CODECS
    }
    placed = {}
    errors = []
    last_offset = {}
    start = time.time()
    for i in range(total):
        codec = CODECS[i % len(CODECS)]
        key, value, headers = make_record(i)

        def ok(md, i=i, codec=codec):
            po = (md.partition, md.offset)
            if po in placed:
                errors.append((i, f"offset {po} acknowledged twice"))
            placed[po] = i
            prev = last_offset.get((codec, md.partition))
            if prev is not None and md.offset <= prev:
                errors.append((i, f"{codec}: offset {md.offset} in partition {md.partition} not after {prev}"))
            last_offset[(codec, md.partition)] = md.offset

        def err(exc, i=i):
            errors.append((i, repr(exc)))

        producers[codec].send(TOPIC, key=key, value=value, headers=headers).add_callback(ok).add_errback(err)
    for c, p in producers.items():
        p.flush(timeout=120)
        p.close(timeout=10)
    elapsed = time.time() - start
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[:5]}")
    if len(placed) != total:
        fail(f"{len(placed)} acknowledgements for {total} records")
    per_partition = {p: sorted(o for (pp, o) in placed if pp == p) for p in range(PARTITIONS)}
    for p, offs in per_partition.items():
        if not offs:
            fail(f"no record was partitioned to partition {p}")
        if offs != list(range(len(offs))):
            fail(f"partition {p}: acknowledged offsets are not dense from 0")
    print(f"produced {total} records with {len(CODECS)} codecs in {elapsed:.1f}s "
          f"({', '.join(f'p{p}={len(o)}' for p, o in per_partition.items())})", flush=True)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=15000,
                             check_crcs=True, client_id="rivulet-compat-consumer")
    tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    next_offset = {p: 0 for p in range(PARTITIONS)}
    want = {p: len(o) for p, o in per_partition.items()}
    got = 0
    for msg in consumer:
        p, o = msg.partition, msg.offset
        if o != next_offset[p]:
            fail(f"partition {p}: got offset {o}, expected {next_offset[p]} (order/density)")
        next_offset[p] = o + 1
        i = placed.get((p, o))
        if i is None:
            fail(f"partition {p} offset {o}: no record was acknowledged there")
        key, value, headers = make_record(i)
        if msg.key != key:
            fail(f"partition {p} offset {o}: key {msg.key!r} != {key!r}")
        if (msg.value or b"") != value:
            fail(f"partition {p} offset {o}: value differs (record #{i})")
        if list(msg.headers or []) != headers:
            fail(f"partition {p} offset {o}: headers {msg.headers!r} != {headers!r}")
        got += 1
        if got == total:
            break
    consumer.close()
    if next_offset != want:
        fail(f"consumed up to {next_offset}, expected {want} (consumer_timeout_ms expired)")
    # DescribeLogDirs: the topic's partitions are listed with their sizes.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="rivulet-compat")
    result = admin.describe_log_dirs([TOPIC])
    admin.close()
    sizes = {}
    for per_broker in result:
        for log_dir in per_broker["log_dirs"]:
            if log_dir.get("error_code", 0) != 0:
                fail(f"DescribeLogDirs: error {log_dir}")
            for t in log_dir.get("topics", []):
                if t.get("name") == TOPIC:
                    for part in t["partitions"]:
                        sizes[part["partition_index"]] = part["partition_size"]
    if sorted(sizes) != list(range(PARTITIONS)) or min(sizes.values()) <= 0:
        fail(f"DescribeLogDirs: partition sizes {sizes}")
    print(f"DescribeLogDirs lists {len(sizes)} partitions, {sum(sizes.values())} bytes", flush=True)

    print(f"PASS kafka-python: {total} records over {PARTITIONS} partitions, codecs "
          f"{'/'.join(c or 'none' for c in CODECS)}, identical and in per-partition order", flush=True)


if __name__ == "__main__":
    main()
