#!/usr/bin/env python3
"""Round trip through confluent-kafka (librdkafka) against a running broker.

Usage: confluent_roundtrip.py BOOTSTRAP [RECORDS]

Creates a 6-partition topic with the AdminClient, produces RECORDS (default 200,000) keyed
records spread over five producers, one per codec (none, gzip, snappy, lz4, zstd), all
interleaved, with acks=all. Every delivery report gives the record's (partition, offset).
Then a Consumer with assign() reads every partition from the beginning and every record must
be identical (key, value, headers) and sit at the offset its delivery report gave, with
offsets dense from 0 in every partition. Exits non-zero on any mismatch.
"""
import random
import sys
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 6
TOPIC = "confluent-roundtrip"
POOL = random.Random(20240611).randbytes(1 << 16)


def fail(msg):
    print(f"FAIL confluent-kafka: {msg}", flush=True)
    sys.exit(1)


def make_record(i):
    """Deterministic record i: keys spread over partitions, varied values and headers."""
    codec = CODECS[i % len(CODECS)]
    key = f"key-{i}".encode()
    if i % 17 == 0:
        value = b""
    elif i % 11 == 0:
        value = (f"compressible {codec} {i} " * 40).encode()
    else:
        seed = (i * 2654435761) & 0xFFFFFFFF
        start = seed % (len(POOL) - 400)
        value = POOL[start:start + 20 + seed % 300]
    headers = None
    if i % 5 == 0:
        headers = [("codec", codec.encode()), ("seq", str(i).encode()), ("seq", b"dup")]
    return key, value, headers


def main():
    bootstrap = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    print(f"confluent-kafka {confluent_kafka.__version__}, librdkafka {confluent_kafka.libversion()[0]}",
          flush=True)

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)],
                                  request_timeout=30)
    try:
        futures[TOPIC].result(timeout=60)
    except KafkaException as e:
        fail(f"CreateTopics: {e}")
    deadline = time.time() + 30
    while True:
        md = admin.list_topics(timeout=10)
        t = md.topics.get(TOPIC)
        if t is not None and t.error is None and len(t.partitions) == PARTITIONS:
            break
        if time.time() > deadline:
            fail(f"topic {TOPIC} not in metadata with {PARTITIONS} partitions")
        time.sleep(0.2)

    # Produce, all five producers interleaved.
    placed = {}  # (partition, offset) -> record index
    errors = []
    last_offset = {}  # (codec, partition) -> last offset, to check per-producer order

    producers = {
        c: Producer({
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "compression.type": c,
            "linger.ms": 10,
            "enable.idempotence": False,
            "queue.buffering.max.messages": 500000,
        })
        for c in CODECS
    }
    start = time.time()
    for i in range(total):
        codec = CODECS[i % len(CODECS)]
        key, value, headers = make_record(i)

        def cb(err, msg, i=i, codec=codec):
            if err is not None:
                errors.append((i, str(err)))
                return
            po = (msg.partition(), msg.offset())
            if po in placed:
                errors.append((i, f"offset {po} acknowledged twice"))
            placed[po] = i
            prev = last_offset.get((codec, po[0]))
            if prev is not None and po[1] <= prev:
                errors.append((i, f"{codec}: offset {po[1]} in partition {po[0]} not after {prev}"))
            last_offset[(codec, po[0])] = po[1]

        p = producers[codec]
        while True:
            try:
                p.produce(TOPIC, value=value, key=key, headers=headers, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    for c, p in producers.items():
        left = p.flush(60)
        if left:
            fail(f"{c} producer: {left} records still undelivered after flush")
    elapsed = time.time() - start
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[:5]}")
    if len(placed) != total:
        fail(f"{len(placed)} delivery reports for {total} records")
    per_partition = {p: sorted(o for (pp, o) in placed if pp == p) for p in range(PARTITIONS)}
    for p, offs in per_partition.items():
        if not offs:
            fail(f"no record was partitioned to partition {p}")
        if offs != list(range(len(offs))):
            fail(f"partition {p}: acknowledged offsets are not dense from 0")
    print(f"produced {total} records with {len(CODECS)} codecs in {elapsed:.1f}s "
          f"({', '.join(f'p{p}={len(o)}' for p, o in per_partition.items())})", flush=True)

    # Consume everything back with assign().
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "rivulet-compat-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "check.crcs": True,
    })
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    next_offset = {p: 0 for p in range(PARTITIONS)}
    want = {p: len(o) for p, o in per_partition.items()}
    got = 0
    ts_at = {}  # (partition, offset) -> timestamp, for the ListOffsets checks
    deadline = time.time() + 300
    while any(next_offset[p] < want[p] for p in range(PARTITIONS)):
        if time.time() > deadline:
            fail(f"timed out consuming: positions {next_offset}, expected {want}")
        for msg in consumer.consume(num_messages=10000, timeout=1.0):
            if msg.error():
                fail(f"consumer error: {msg.error()}")
            p, o = msg.partition(), msg.offset()
            if o != next_offset[p]:
                fail(f"partition {p}: got offset {o}, expected {next_offset[p]} (order/density)")
            next_offset[p] = o + 1
            i = placed.get((p, o))
            if i is None:
                fail(f"partition {p} offset {o}: no record was acknowledged there")
            key, value, headers = make_record(i)
            if msg.key() != key:
                fail(f"partition {p} offset {o}: key {msg.key()!r} != {key!r}")
            if (msg.value() or b"") != value:
                fail(f"partition {p} offset {o}: value differs (record #{i}, {len(value)} bytes sent, "
                     f"{len(msg.value() or b'')} read)")
            if (msg.headers() or None) != headers:
                fail(f"partition {p} offset {o}: headers {msg.headers()!r} != {headers!r}")
            ts_at[(p, o)] = msg.timestamp()[1]
            got += 1
    consumer.close()
    if got != total:
        fail(f"consumed {got} records, produced {total}")
    # ListOffsets: earliest, latest and max timestamp (KIP-734) for every partition.
    specs = {}
    for p in range(PARTITIONS):
        for name, spec in (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                           ("max_timestamp", OffsetSpec.max_timestamp())):
            specs[(p, name)] = (TopicPartition(TOPIC, p), spec)
    for (p, name), (tp, spec) in specs.items():
        info = admin.list_offsets({tp: spec}, request_timeout=30)[tp].result()
        if name == "earliest" and info.offset != 0:
            fail(f"ListOffsets earliest for partition {p}: {info.offset}")
        if name == "latest" and info.offset != want[p]:
            fail(f"ListOffsets latest for partition {p}: {info.offset}, expected {want[p]}")
        if name == "max_timestamp":
            max_ts = max(ts for (pp, _), ts in ts_at.items() if pp == p)
            if info.timestamp != max_ts or ts_at.get((p, info.offset)) != max_ts:
                fail(f"ListOffsets max_timestamp for partition {p}: offset {info.offset} ts {info.timestamp}, "
                     f"but the largest timestamp is {max_ts} (record at that offset has "
                     f"{ts_at.get((p, info.offset))})")
    cluster = admin.describe_cluster(request_timeout=30).result()
    if len(cluster.nodes) != 1 or f"{cluster.nodes[0].host}:{cluster.nodes[0].port}" != bootstrap:
        fail(f"DescribeCluster: nodes {cluster.nodes}")
    print(f"ListOffsets (earliest/latest/max timestamp) and DescribeCluster agree (cluster id {cluster.cluster_id})",
          flush=True)

    print(f"PASS confluent-kafka: {total} records over {PARTITIONS} partitions, codecs {'/'.join(CODECS)}, "
          f"identical and in per-partition order", flush=True)


if __name__ == "__main__":
    main()
