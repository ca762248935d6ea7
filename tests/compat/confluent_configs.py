#!/usr/bin/env python3
"""Topic configs through confluent-kafka's AdminClient, as `kafka-configs` uses them:
describe shows Kafka's defaults and sources, alter changes them, bad values are refused
with a message naming the key.

Usage: confluent_configs.py BOOTSTRAP
"""

import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewTopic)

TOPIC = "confluent-configs"


def fail(msg):
    print(f"FAIL confluent-kafka configs: {msg}", flush=True)
    sys.exit(1)


def describe(admin):
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    return admin.describe_configs([res])[res].result(30)


def alter(admin, key, value):
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    return admin.incremental_alter_configs([res])[res].result(30)


def main():
    admin = AdminClient({"bootstrap.servers": sys.argv[1]})
    admin.create_topics([NewTopic(TOPIC, 1, 1, config={"cleanup.policy": "compact"})])[TOPIC].result(30)

    configs = describe(admin)
    checks = [
        ("retention.ms", "604800000", ConfigSource.DEFAULT_CONFIG),
        ("segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG),
        ("cleanup.policy", "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("max.message.bytes", "1048588", ConfigSource.DEFAULT_CONFIG),
    ]
    for key, value, source in checks:
        entry = configs.get(key)
        if entry is None or entry.value != value or entry.source != source.value:
            fail(f"{key}: expected {value} from {source.name}, got {entry and (entry.value, entry.source)}")
    print("PASS confluent-kafka: describe_configs shows Kafka's defaults and sources", flush=True)

    alter(admin, "retention.ms", "3600000")
    entry = describe(admin)["retention.ms"]
    if entry.value != "3600000" or entry.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
        fail(f"retention.ms after alter: {entry.value} from {entry.source}")
    print("PASS confluent-kafka: incremental_alter_configs changes retention.ms", flush=True)

    try:
        alter(admin, "retention.ms", "not-a-number")
        fail("a non-numeric retention.ms was accepted")
    except KafkaException as e:
        err = e.args[0]
        if err.code() != 40 or "retention.ms" not in err.str():
            fail(f"bad value refused with {err.code()} {err.str()!r}, expected INVALID_CONFIG naming the key")
        print(f"PASS confluent-kafka: a bad value is refused: {err.str()}", flush=True)


if __name__ == "__main__":
    main()
