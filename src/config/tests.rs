use super::*;

#[test]
fn layering_and_refusals() {
    let mut c = BrokerConfig::default();
    c.merge_toml("num.partitions = 3\n[log]\nsegment.bytes = 2048\n")
        .unwrap();
    assert_eq!(c.num_partitions(), 3);
    assert_eq!(c.get("log.segment.bytes"), Some("2048"));
    c.merge_env(vec![
        ("RIVULET_NUM_PARTITIONS".into(), "5".into()),
        ("PATH".into(), "x".into()),
    ])
    .unwrap();
    assert_eq!(c.num_partitions(), 5);
    // Unknown keys are ignored with a warning, as on Kafka; bad values are refused.
    c.set("no.such.key", "1").unwrap();
    assert_eq!(c.get("no.such.key"), None);
    let err = c.set("num.partitions", "zero").unwrap_err();
    assert!(err.0.contains("num.partitions"));
    c.merge_env(vec![("RIVULET_BOGUS_KEY".into(), "1".into())]).unwrap();
    // Kafka keys without effect here are kept and validated by Kafka's type.
    c.set("num.io.threads", "16").unwrap();
    assert_eq!(c.get("num.io.threads"), Some("16"));
    assert!(c.set("num.io.threads", "many").is_err());
    assert!(is_dynamic("num.io.threads"), "Kafka changes it without a restart");
}

#[test]
fn derived_topic_defaults() {
    let mut c = BrokerConfig::default();
    let retention = topic_def("retention.ms").unwrap();
    assert_eq!(c.topic_default(retention), ("604800000".to_string(), SOURCE_DEFAULT));
    c.set("log.retention.hours", "1").unwrap();
    assert_eq!(
        c.topic_default(retention),
        ("3600000".to_string(), SOURCE_STATIC_BROKER)
    );
    let t = TopicConfig::resolve(&c, &BTreeMap::new());
    assert_eq!(t.get("retention.ms"), "3600000");
    assert_eq!(t.get("segment.ms"), "604800000");
}

#[test]
fn topic_override_validation() {
    let mut m = BTreeMap::new();
    m.insert("cleanup.policy".to_string(), "compact,delete".to_string());
    assert!(validate_topic_overrides(&m).is_ok());
    m.insert("segment.bytes".to_string(), "-5".to_string());
    assert!(validate_topic_overrides(&m).unwrap_err().0.contains("segment.bytes"));
}

#[test]
fn dynamic_layers_sources_and_synonyms() {
    let mut c = BrokerConfig::default();
    c.set("log.retention.hours", "1").unwrap();
    let retention = topic_def("retention.ms").unwrap();
    assert!(is_dynamic("log.retention.ms"));
    assert!(is_dynamic("log.cleaner.backoff.ms"));
    assert!(
        !is_dynamic("log.retention.hours"),
        "only the primary synonym is dynamic, as on Kafka"
    );
    assert!(
        validate_dynamic("num.partitions", "3")
            .unwrap_err()
            .0
            .contains("Cannot update these configs dynamically")
    );
    assert!(
        validate_dynamic("log.retention.ms", "soon")
            .unwrap_err()
            .0
            .contains("log.retention.ms")
    );

    let mut default = BTreeMap::new();
    default.insert("log.retention.ms".to_string(), "5000".to_string());
    c.set_dynamic(DynamicScope::ClusterDefault, default);
    assert_eq!(
        c.topic_default(retention),
        ("5000".to_string(), SOURCE_DYNAMIC_DEFAULT_BROKER)
    );
    let mut mine = BTreeMap::new();
    mine.insert("log.retention.ms".to_string(), "7000".to_string());
    c.set_dynamic(DynamicScope::Broker, mine);
    assert_eq!(c.topic_default(retention), ("7000".to_string(), SOURCE_DYNAMIC_BROKER));
    assert_eq!(c.get("log.retention.ms"), Some("7000"));
    let names: Vec<(&str, i8)> = c.synonyms(retention).iter().map(|(k, _, s)| (*k, *s)).collect();
    assert_eq!(
        names,
        vec![
            ("log.retention.ms", SOURCE_DYNAMIC_BROKER),
            ("log.retention.ms", SOURCE_DYNAMIC_DEFAULT_BROKER),
        ],
        "a topic key lists only the broker key it inherits from, as on Kafka"
    );
    // Describing log.retention.hours on the broker starts at that key.
    let names: Vec<&str> = c
        .broker_synonyms("log.retention.hours")
        .iter()
        .map(|(k, _, _)| *k)
        .collect();
    assert_eq!(names, vec!["log.retention.hours", "log.retention.hours"]);
    let t = TopicConfig::resolve(&c, &BTreeMap::new());
    assert_eq!(t.log_config().retention_ms, 7000);
    c.set_dynamic(DynamicScope::Broker, BTreeMap::new());
    assert_eq!(
        TopicConfig::resolve(&c, &BTreeMap::new()).log_config().retention_ms,
        5000
    );
    let mut bg = BTreeMap::new();
    bg.insert("log.retention.check.interval.ms".to_string(), "500".to_string());
    c.set_dynamic(DynamicScope::Broker, bg);
    assert_eq!(c.background_config().retention_check_interval_ms, 500);
}

#[test]
fn topic_settings() {
    let c = BrokerConfig::default();
    let mut o = BTreeMap::new();
    o.insert("compression.type".to_string(), "zstd".to_string());
    o.insert("compression.zstd.level".to_string(), "7".to_string());
    o.insert("cleanup.policy".to_string(), "compact".to_string());
    o.insert("max.compaction.lag.ms".to_string(), "1000".to_string());
    let t = TopicConfig::resolve(&c, &validate_topic_overrides(&o).unwrap());
    assert_eq!(t.compression(), Some((Compression::Zstd, Some(7))));
    let lc = t.log_config();
    assert!(lc.compact && !lc.delete);
    assert_eq!(
        lc.segment_ms, 1000,
        "a compacted log rolls in time for max.compaction.lag.ms"
    );
    assert_eq!(TopicConfig::resolve(&c, &BTreeMap::new()).compression(), None);
    o.insert("min.compaction.lag.ms".to_string(), "5000".to_string());
    let err = validate_topic_overrides(&o).unwrap_err();
    assert!(err.0.contains("min.compaction.lag.ms"), "{err}");
}

#[test]
fn listeners() {
    let mut c = BrokerConfig::default();
    assert_eq!(c.listen_addr().unwrap(), "127.0.0.1:9092".parse().unwrap());
    c.set("listeners", "PLAINTEXT://:19092").unwrap();
    assert_eq!(c.listen_addr().unwrap(), "0.0.0.0:19092".parse().unwrap());
    c.set("advertised.listeners", "PLAINTEXT://kafka:9092").unwrap();
    assert_eq!(c.advertised().unwrap(), Some(("kafka".to_string(), 9092)));

    // A compose file written for apache/kafka: two broker listeners and a controller one.
    let mut c = BrokerConfig::default();
    c.set(
        "listeners",
        "PLAINTEXT://0.0.0.0:9092,PLAINTEXT_HOST://0.0.0.0:29092,CONTROLLER://0.0.0.0:9093",
    )
    .unwrap();
    c.set(
        "listener.security.protocol.map",
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
    )
    .unwrap();
    c.set("controller.listener.names", "CONTROLLER").unwrap();
    c.set(
        "advertised.listeners",
        "PLAINTEXT://kafka:9092,PLAINTEXT_HOST://localhost:29092",
    )
    .unwrap();
    let names: Vec<String> = c.listeners().unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, vec!["PLAINTEXT", "PLAINTEXT_HOST"]);
    let advertised = c.advertised_listeners().unwrap();
    assert_eq!(advertised["PLAINTEXT_HOST"], ("localhost".to_string(), 29092));
    assert_eq!(advertised["PLAINTEXT"], ("kafka".to_string(), 9092));

    c.set("listeners", "SSL://0.0.0.0:9093,SASL_SSL://0.0.0.0:9094")
        .unwrap();
    let protocols: Vec<String> = c.listeners().unwrap().into_iter().map(|l| l.protocol).collect();
    assert_eq!(protocols, ["SSL", "SASL_SSL"]);
    c.set("listener.security.protocol.map", "SSL:SSL,SASL_SSL:KERBEROS")
        .unwrap();
    assert!(c.listeners().unwrap_err().0.contains("KERBEROS"));
    c.set("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config", "x required;")
        .unwrap();
    assert_eq!(
        c.get("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"),
        Some("x required;")
    );
    assert!(c.set("listener.name.ssl.ssl.client.auth", "sometimes").is_err());
}

#[test]
fn kafka_environment_variables() {
    assert_eq!(kafka_env_key("KAFKA_NUM_PARTITIONS").as_deref(), Some("num.partitions"));
    assert_eq!(
        kafka_env_key("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP").as_deref(),
        Some("listener.security.protocol.map")
    );
    assert_eq!(kafka_env_key("KAFKA_A__B___C").as_deref(), Some("a_b-c"));
    assert_eq!(kafka_env_key("KAFKA_HEAP_OPTS"), None);
    assert_eq!(kafka_env_key("PATH"), None);
    let mut c = BrokerConfig::default();
    c.merge_env(vec![
        ("KAFKA_NUM_PARTITIONS".into(), "3".into()),
        ("KAFKA_PROCESS_ROLES".into(), "broker,controller".into()),
        ("KAFKA_HEAP_OPTS".into(), "-Xmx1G".into()),
    ])
    .unwrap();
    assert_eq!(c.num_partitions(), 3);
    c.merge_env(vec![
        ("KAFKA_NUM_PARTITIONS".into(), "3".into()),
        ("RIVULET_NUM_PARTITIONS".into(), "5".into()),
    ])
    .unwrap();
    assert_eq!(c.num_partitions(), 5, "RIVULET_ wins over KAFKA_");
}

#[test]
fn prometheus_endpoint_keys() {
    let mut c = BrokerConfig::default();
    assert_eq!(c.metrics_listener(), Ok(None), "off by default");
    c.set("metrics.prometheus.enable", "true").unwrap();
    assert_eq!(c.metrics_listener(), Ok(Some("0.0.0.0:9404".parse().unwrap())));
    c.set("metrics.prometheus.listener", "127.0.0.1:0").unwrap();
    assert_eq!(c.metrics_listener(), Ok(Some("127.0.0.1:0".parse().unwrap())));
    let refused = c.set("metrics.prometheus.listener", "9404").unwrap_err();
    assert!(refused.0.contains("metrics.prometheus.listener"), "{refused}");
    assert!(c.set("metrics.prometheus.listener", "somehost:x").is_err());
    assert!(c.set("metrics.prometheus.enable", "yes").is_err());

    let mut c = BrokerConfig::default();
    c.merge_env(vec![
        ("KAFKA_METRICS_PROMETHEUS_ENABLE".into(), "true".into()),
        ("KAFKA_METRICS_PROMETHEUS_LISTENER".into(), "[::1]:9500".into()),
        ("RIVULET_METRICS_PROMETHEUS_LISTENER".into(), "localhost:9600".into()),
    ])
    .unwrap();
    assert_eq!(c.metrics_listener(), Ok(Some("127.0.0.1:9600".parse().unwrap())));
}
