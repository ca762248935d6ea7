//! The `rivulet serve` command line: config sources and their precedence, refusing bad
//! configuration, the advertised address, and start-up failures.

mod common;

use std::net::TcpListener;

use common::*;

/// Partition count of a topic auto-created by producing one record to it.
fn auto_created_partitions(bootstrap: &str, topic: &str) -> usize {
    let producer = tracked_producer(bootstrap, &[]);
    produce_all(&producer, topic, None, &[(b"k".to_vec(), b"v".to_vec())]);
    topic_partition_count(bootstrap, topic).expect("auto-created topic in metadata")
}

#[test]
fn config_file_set_flags_and_environment_in_documented_precedence() {
    let dir = temp_data_dir();
    let config = dir.path().join("rivulet.toml");
    std::fs::write(
        &config,
        "# test config\n\"num.partitions\" = 4\n[log]\n\"segment.bytes\" = 1048576\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let data = dir.path().join("a");
    let broker = BrokerProcess::start(&data, &["--config", config]);
    assert_eq!(
        auto_created_partitions(&broker.bootstrap(), "from-file"),
        4,
        "num.partitions from the file"
    );
    drop(broker);

    let data = dir.path().join("b");
    let broker = BrokerProcess::start(&data, &["--config", config, "--set", "num.partitions=5"]);
    assert_eq!(
        auto_created_partitions(&broker.bootstrap(), "from-set"),
        5,
        "--set overrides the file"
    );
    drop(broker);

    let data = dir.path().join("c");
    let broker = BrokerProcess::start_with_env(
        &data,
        &["--config", config, "--set", "num.partitions=5"],
        &[("RIVULET_NUM_PARTITIONS", "6")],
    );
    assert_eq!(
        auto_created_partitions(&broker.bootstrap(), "from-env"),
        6,
        "RIVULET_* overrides --set and the file"
    );
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let dir = temp_data_dir();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let base = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data];

    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    for (extra, mention) in [
        (&["--set", "num.partitions=many"][..], "num.partitions"),
        // A Kafka key with no effect here still needs a valid value, as on Kafka.
        (
            &["--set", "sasl.kerberos.min.time.before.relogin=soon"][..],
            "sasl.kerberos.min.time.before.relogin",
        ),
        (&["--set", "message.max.bytes=-5"][..], "message.max.bytes"),
    ] {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = expect_start_failure(&args, &[]);
        assert!(
            log.contains(mention),
            "the refusal of {extra:?} should name {mention}; log:\n{log}"
        );
    }

    let log = expect_start_failure(&base, &[("RIVULET_NUM_PARTITIONS", "zero")]);
    assert!(
        log.to_lowercase().contains("num.partitions") || log.contains("NUM_PARTITIONS"),
        "log:\n{log}"
    );

    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "this is = = not toml\n").unwrap();
    let args = with(&["--config", bad_toml.to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    expect_start_failure(&args, &[]);

    let missing = dir.path().join("missing.toml");
    let args = with(&["--config", missing.to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    expect_start_failure(&args, &[]);
}

/// As on Kafka, a key it does not know is a warning, not a refusal, and every Kafka broker key
/// is accepted: those with no meaning on one node are logged as having no effect.
#[test]
fn kafka_keys_are_accepted_and_unknown_keys_are_warnings() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start_with_env(
        dir.path(),
        &[
            "--set",
            "no.such.setting=1",
            "--set",
            "sasl.kerberos.min.time.before.relogin=30000",
            "--set",
            "process.roles=broker,controller",
        ],
        &[("RIVULET_NUM_REPLICA_FETCHERS", "4"), ("RIVULET_NO_SUCH_THING", "x")],
    );
    assert!(broker.is_alive());
    let log = broker.log();
    for key in ["no.such.setting", "RIVULET_NO_SUCH_THING"] {
        assert!(
            log.lines().any(|l| l.contains("WARN") && l.contains(key)),
            "a warning names {key}:\n{log}"
        );
    }
    for key in [
        "sasl.kerberos.min.time.before.relogin",
        "process.roles",
        "num.replica.fetchers",
    ] {
        assert!(
            log.lines().any(|l| l.contains("no effect") && l.contains(key)),
            "{key} logged as having no effect:\n{log}"
        );
    }
}

#[test]
fn a_taken_port_fails_the_start() {
    let dir = temp_data_dir();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().to_str().unwrap();
    expect_start_failure(&["serve", "--listen", &addr, "--data-dir", data], &[]);
}

#[test]
fn a_second_broker_on_the_same_data_dir_is_refused() {
    let dir = temp_data_dir();
    let first = BrokerProcess::start(dir.path(), &[]);
    create_topic(&first.bootstrap(), "owned", 1, &[]);
    let data = dir.path().to_str().unwrap();
    expect_start_failure(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data], &[]);
    // The first broker is unaffected.
    assert_eq!(topic_partition_count(&first.bootstrap(), "owned"), Some(1));
}

#[test]
fn metadata_reports_the_advertised_address() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--advertise", "localhost:19092"]);
    let mut conn = raw_connect(broker.addr());
    let brokers = raw_metadata_brokers(&mut conn, 1);
    assert_eq!(brokers.len(), 1, "one broker: {brokers:?}");
    assert_eq!(
        (brokers[0].1.as_str(), brokers[0].2),
        ("localhost", 19092),
        "advertised host and port"
    );
}
