//! Transactions through librdkafka's transactional producer and read_committed consumers:
//! commit and abort, fencing by a new producer, the abort of a transaction left open past its
//! timeout, offsets sent to a transaction, and a broker killed with SIGKILL mid-transaction.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

fn txn_producer(bootstrap: &str, id: &str, settings: &[(&str, &str)]) -> TrackedProducer {
    let mut all = vec![("transactional.id", id), ("enable.idempotence", "true")];
    all.extend_from_slice(settings);
    let producer = tracked_producer(bootstrap, &all);
    producer.init_transactions(TXN_TIMEOUT).expect("init_transactions");
    producer
}

/// Produces `values` round-robin over `partitions` partitions of `topic`.
fn produce_values(producer: &TrackedProducer, topic: &str, partitions: i32, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        let record = BaseRecord::with_opaque_to(topic, i)
            .partition(i as i32 % partitions)
            .key(v.as_bytes())
            .payload(v.as_bytes());
        send(producer, record);
    }
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every value in `topic` up to the end an `isolation` consumer sees (its high watermark,
/// the last stable offset under read_committed), sorted.
fn read_all(bootstrap: &str, topic: &str, partitions: i32, isolation: &str) -> Vec<String> {
    let consumer = plain_consumer(bootstrap, &[("isolation.level", isolation)]);
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in 0..partitions {
        let (_, hi) = consumer.fetch_watermarks(topic, p, CLIENT_TIMEOUT).expect("watermarks");
        ends.insert(p, hi);
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let positions = consumer.position().unwrap();
        let done = (0..partitions).all(|p| match positions.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o >= ends[&p],
            _ => ends[&p] == 0,
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out reading {topic} ({isolation}), ends {ends:?}"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("consume");
            out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
        }
    }
    out.sort();
    out
}

/// Restarts keep the port, so the clients' bootstrap address stays valid.
fn same_port(bootstrap: &str) -> String {
    format!("listeners=PLAINTEXT://{bootstrap}")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The high watermark an `isolation` consumer is told (read_committed: the last stable offset).
fn end_offset(bootstrap: &str, topic: &str, partition: i32, isolation: &str) -> i64 {
    plain_consumer(bootstrap, &[("isolation.level", isolation)])
        .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
        .expect("watermarks")
        .1
}

#[test]
fn committed_and_aborted_transactions() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    create_topic(&bs, "tx", 2, &[]);
    let producer = txn_producer(&bs, "tx-basic", &[]);

    producer.begin_transaction().unwrap();
    produce_values(&producer, "tx", 2, &values("c1", 100));
    producer.commit_transaction(TXN_TIMEOUT).unwrap();

    producer.begin_transaction().unwrap();
    produce_values(&producer, "tx", 2, &values("a", 50));
    flush(&producer);
    // While the transaction is open, read_committed consumers stop at its first offset.
    assert_eq!(end_offset(&bs, "tx", 0, "read_committed"), 51, "last stable offset");
    assert_eq!(end_offset(&bs, "tx", 0, "read_uncommitted"), 76, "high watermark");
    producer.abort_transaction(TXN_TIMEOUT).unwrap();

    producer.begin_transaction().unwrap();
    produce_values(&producer, "tx", 2, &values("c2", 20));
    producer.commit_transaction(TXN_TIMEOUT).unwrap();

    let mut expected = values("c1", 100);
    expected.extend(values("c2", 20));
    assert_eq!(read_all(&bs, "tx", 2, "read_committed"), sorted(expected.clone()));
    expected.extend(values("a", 50));
    assert_eq!(read_all(&bs, "tx", 2, "read_uncommitted"), sorted(expected));
}

#[test]
fn a_new_producer_fences_the_old_and_aborts_its_transaction() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    create_topic(&bs, "fence", 1, &[]);
    let old = txn_producer(&bs, "tx-fence", &[]);
    old.begin_transaction().unwrap();
    produce_values(&old, "fence", 1, &values("old", 10));
    flush(&old);

    let new = txn_producer(&bs, "tx-fence", &[]);
    let err = old
        .commit_transaction(TXN_TIMEOUT)
        .expect_err("the fenced producer cannot commit");
    assert!(
        err.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Fenced)
            || err.to_string().to_lowercase().contains("fenced"),
        "{err}"
    );
    new.begin_transaction().unwrap();
    produce_values(&new, "fence", 1, &values("new", 5));
    new.commit_transaction(TXN_TIMEOUT).unwrap();
    assert_eq!(read_all(&bs, "fence", 1, "read_committed"), sorted(values("new", 5)));
}

#[test]
fn an_open_transaction_is_aborted_after_its_timeout() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        dir.path(),
        &[
            "--set",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
        ],
    );
    let bs = broker.bootstrap();
    create_topic(&bs, "timeout", 1, &[]);
    let producer = txn_producer(
        &bs,
        "tx-timeout",
        &[("transaction.timeout.ms", "1500"), ("message.timeout.ms", "1500")],
    );
    producer.begin_transaction().unwrap();
    produce_values(&producer, "timeout", 1, &values("left", 10));
    flush(&producer);
    assert_eq!(end_offset(&bs, "timeout", 0, "read_committed"), 0);
    // The broker aborts it: the marker follows the ten records.
    wait_for(
        Duration::from_secs(20),
        "the timed-out transaction to be aborted",
        || (end_offset(&bs, "timeout", 0, "read_committed") == 11).then_some(()),
    );
    assert!(read_all(&bs, "timeout", 1, "read_committed").is_empty());
    // The producer was fenced by the abort's epoch bump.
    assert!(producer.commit_transaction(TXN_TIMEOUT).is_err());
}

#[test]
fn offsets_sent_to_a_transaction_commit_with_it() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "group.initial.rebalance.delay.ms=0"]);
    let bs = broker.bootstrap();
    create_topic(&bs, "offs", 1, &[]);
    let producer = txn_producer(&bs, "tx-offsets", &[]);
    let member: BaseConsumer = client_config(&bs).set("group.id", "eos-group").create().unwrap();
    let group = member.group_metadata().expect("group metadata");
    let committed = |bs: &str| -> Option<i64> {
        let consumer: BaseConsumer = client_config(bs)
            .set("group.id", "eos-group")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("offs", 0);
        match consumer.committed_offsets(tpl, CLIENT_TIMEOUT).unwrap().elements()[0].offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    };
    let offsets = |o: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("offs", 0, Offset::Offset(o)).unwrap();
        tpl
    };

    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(&offsets(42), &group, TXN_TIMEOUT)
        .unwrap();
    producer.commit_transaction(TXN_TIMEOUT).unwrap();
    assert_eq!(committed(&bs), Some(42));

    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(&offsets(99), &group, TXN_TIMEOUT)
        .unwrap();
    producer.abort_transaction(TXN_TIMEOUT).unwrap();
    assert_eq!(
        committed(&bs),
        Some(42),
        "an aborted transaction's offsets are not committed"
    );

    // Both outcomes survive a restart, decided by the markers in __consumer_offsets.
    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(&offsets(77), &group, TXN_TIMEOUT)
        .unwrap();
    producer.commit_transaction(TXN_TIMEOUT).unwrap();
    assert_eq!(committed(&bs), Some(77));
    drop(producer);
    let mut broker = broker;
    broker.kill9();
    let broker = BrokerProcess::start(
        dir.path(),
        &["--set", &same_port(&bs), "--set", "group.initial.rebalance.delay.ms=0"],
    );
    assert_eq!(committed(&broker.bootstrap()), Some(77));
}

#[test]
fn a_broker_killed_mid_transaction_restarts_with_it_open() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    create_topic(&bs, "crash", 2, &[]);
    let producer = txn_producer(&bs, "tx-crash", &[]);
    producer.begin_transaction().unwrap();
    produce_values(&producer, "crash", 2, &values("committed", 40));
    producer.commit_transaction(TXN_TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    produce_values(&producer, "crash", 2, &values("open", 30));
    flush(&producer);
    drop(producer);

    let mut broker = broker;
    broker.kill9();
    let broker = BrokerProcess::start(dir.path(), &["--set", &same_port(&bs)]);
    // The transaction is still open: read_committed stops at its first offset.
    assert_eq!(end_offset(&bs, "crash", 0, "read_committed"), 21);
    assert_eq!(
        read_all(&bs, "crash", 2, "read_committed"),
        sorted(values("committed", 40))
    );

    // A new producer of the same id aborts it, then commits its own.
    let producer = txn_producer(&bs, "tx-crash", &[]);
    producer.begin_transaction().unwrap();
    produce_values(&producer, "crash", 2, &values("after", 6));
    producer.commit_transaction(TXN_TIMEOUT).unwrap();
    drop(producer);
    let mut expected = values("committed", 40);
    expected.extend(values("after", 6));
    assert_eq!(read_all(&bs, "crash", 2, "read_committed"), sorted(expected.clone()));

    // The aborted transaction stays aborted through another crash (the transaction index).
    let mut broker = broker;
    broker.kill9();
    let _broker = BrokerProcess::start(dir.path(), &["--set", &same_port(&bs)]);
    assert_eq!(read_all(&bs, "crash", 2, "read_committed"), sorted(expected.clone()));
    expected.extend(values("open", 30));
    assert_eq!(read_all(&bs, "crash", 2, "read_uncommitted"), sorted(expected));
}

/// SIGKILL lands at a random point of EndTxn (before the decision is durable, between markers,
/// before the completion): after a restart, and once a new producer of the same id has
/// settled what was left, each transaction is all or nothing across its partitions, and every
/// transaction committed before stays.
#[test]
fn a_kill_during_commit_leaves_each_transaction_all_or_nothing() {
    let rounds: u64 = std::env::var("RIVULET_TXN_CRASHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    const PARTITIONS: i32 = 16;
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let bs = broker.bootstrap();
    create_topic(&bs, "allornothing", PARTITIONS, &[]);
    let mut committed: Vec<String> = Vec::new();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for round in 0..rounds {
        // The round's first transaction commits normally; the second is cut by the kill.
        let producer = txn_producer(&bs, "tx-kill", &[("transaction.timeout.ms", "60000")]);
        producer.begin_transaction().unwrap();
        let safe = values(&format!("safe{round}"), 32);
        produce_values(&producer, "allornothing", PARTITIONS, &safe);
        producer.commit_transaction(TXN_TIMEOUT).unwrap();
        committed.extend(safe);
        producer.begin_transaction().unwrap();
        let cut = values(&format!("cut{round}"), 64);
        produce_values(&producer, "allornothing", PARTITIONS, &cut);
        flush(&producer);
        let committing = std::thread::spawn(move || {
            let outcome = producer.commit_transaction(Duration::from_secs(5)).is_ok();
            drop(producer);
            outcome
        });
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_micros((seed >> 33) % 8_000));
        broker.kill9();
        let acknowledged = committing.join().unwrap();
        broker = BrokerProcess::start(dir.path(), &["--set", &same_port(&bs)]);
        // A new producer of the id finishes a decided transaction or aborts an undecided one.
        drop(txn_producer(&bs, "tx-kill", &[]));
        let seen = read_all(&bs, "allornothing", PARTITIONS, "read_committed");
        let cut_seen = seen.iter().filter(|v| v.starts_with(&format!("cut{round}-"))).count();
        assert!(
            cut_seen == 0 || cut_seen == cut.len(),
            "round {round}: {cut_seen} of {} records of the cut transaction are visible",
            cut.len()
        );
        assert!(
            !acknowledged || cut_seen == cut.len(),
            "round {round}: an acknowledged commit was lost"
        );
        println!(
            "round {round}: the cut transaction was {} (commit acknowledged: {acknowledged})",
            if cut_seen == 0 { "aborted" } else { "committed" }
        );
        if cut_seen == cut.len() {
            committed.extend(cut);
        }
        let mut expected = committed.clone();
        expected.sort();
        assert_eq!(
            seen, expected,
            "round {round}: read_committed sees exactly the committed records"
        );
    }
}
