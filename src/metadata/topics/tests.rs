use super::*;

fn new_topic(name: &str) -> NewTopic {
    NewTopic {
        name: name.to_string(),
        partitions: 2,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: BTreeMap::new(),
    }
}

#[test]
fn altered_configs_are_applied_persisted_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Arc::new(BrokerConfig::default());
    let registry = TopicRegistry::open(broker.clone(), dir.path()).unwrap();
    let logs = LogManager::open(dir.path(), |_| crate::log::LogConfig::default()).unwrap();
    registry.attach_logs(logs.clone()).unwrap();
    registry.create_topic(new_topic("t"), false).unwrap();

    let set = |k: &str, v: &str| {
        let (k, v) = (k.to_string(), v.to_string());
        move |cur: &BTreeMap<String, String>| {
            let mut m = cur.clone();
            m.insert(k, v);
            Ok(m)
        }
    };
    // Refusals name the key; validate_only changes nothing.
    let err = registry
        .alter_topic_configs("t", false, set("retention.ms", "-7"))
        .unwrap_err();
    assert_eq!(err.code(), 40);
    assert!(err.to_string().contains("retention.ms"));
    assert_eq!(
        registry
            .alter_topic_configs("nope", false, set("retention.ms", "1"))
            .unwrap_err()
            .code(),
        3
    );
    registry
        .alter_topic_configs("t", true, set("retention.ms", "1000"))
        .unwrap();
    assert!(registry.get("t").unwrap().overrides.is_empty());

    registry
        .alter_topic_configs("t", false, set("retention.ms", "1000"))
        .unwrap();
    assert_eq!(
        logs.get("t", 1).unwrap().config().retention_ms,
        1000,
        "partitions follow at once"
    );
    let err = registry
        .alter_broker_configs(DynamicScope::Broker, false, set("num.partitions", "4"))
        .unwrap_err();
    assert_eq!(err.code(), 42);
    registry
        .alter_broker_configs(DynamicScope::ClusterDefault, false, set("log.segment.bytes", "4096"))
        .unwrap();
    assert_eq!(logs.get("t", 0).unwrap().config().segment_bytes, 4096);
    assert_eq!(registry.topic_config("t").get("segment.bytes"), "4096");
    logs.shutdown().unwrap();
    drop(registry);

    let registry = TopicRegistry::open(broker, dir.path()).unwrap();
    let t = registry.get("t").unwrap();
    assert_eq!(t.overrides.get("retention.ms").map(String::as_str), Some("1000"));
    assert_eq!(
        t.config.get("segment.bytes"),
        "4096",
        "dynamic defaults replayed before topics resolve"
    );
    assert_eq!(
        registry
            .broker_config()
            .dynamic(DynamicScope::ClusterDefault)
            .get("log.segment.bytes")
            .map(String::as_str),
        Some("4096")
    );

    // Enough changes to make the next open rewrite the log as a snapshot: dynamic configs
    // and overrides are part of it.
    for i in 0..80 {
        registry
            .alter_broker_configs(DynamicScope::Broker, false, set("log.retention.ms", &i.to_string()))
            .unwrap();
    }
    drop(registry);
    let registry = TopicRegistry::open(Arc::new(BrokerConfig::default()), dir.path()).unwrap();
    assert!(registry.log.lock().record_count() < 10, "rewritten as a snapshot");
    drop(registry);
    let registry = TopicRegistry::open(Arc::new(BrokerConfig::default()), dir.path()).unwrap();
    let broker = registry.broker_config();
    assert_eq!(broker.get("log.retention.ms"), Some("79"));
    assert_eq!(broker.get("log.segment.bytes"), Some("4096"));
    assert_eq!(registry.get("t").unwrap().config.get("retention.ms"), "1000");
    assert_eq!(registry.topic_config("t").log_config().segment_bytes, 4096);
}

#[test]
fn names() {
    assert!(validate_name("orders.v1-x_y").is_ok());
    assert!(validate_name("").is_err());
    assert!(validate_name("..").is_err());
    assert!(validate_name("a b").is_err());
    assert!(validate_name(&"x".repeat(250)).is_err());
}
