//! Topic ids on disk: every partition directory records its topic's id (`partition.metadata`,
//! Kafka's format), so a directory left behind by a deleted topic — a crash between the
//! deletion's metadata record and the directory's removal — never hands its records to a new
//! topic of the same name.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

fn records(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("k{i}").into_bytes(), format!("old-{i}").into_bytes()))
        .collect()
}

fn delete_topic(bootstrap: &str, name: &str) {
    let admin = admin_client(bootstrap);
    let results = block_on(admin.delete_topics(&[name], &admin_options())).expect("DeleteTopics");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

#[test]
fn a_partition_directory_records_its_topic_id() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    create_topic(&broker.bootstrap(), "ids", 2, &[]);
    for p in 0..2 {
        let text = std::fs::read_to_string(dir.path().join(format!("ids-{p}/partition.metadata"))).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("version: 0"));
        let id = lines
            .next()
            .and_then(|l| l.strip_prefix("topic_id: "))
            .expect("topic_id line");
        assert_eq!(id.len(), 22, "Kafka's base64 form: {id}");
    }
}

/// The directories of a deleted topic come back (as after a crash right after the deletion
/// was recorded): they are deleted at start, and a new topic of that name starts empty.
#[test]
fn leftover_directories_of_a_deleted_topic_are_not_inherited() {
    let dir = temp_data_dir();
    let saved = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    create_topic(&broker.bootstrap(), "reborn", 1, &[]);
    let producer = tracked_producer(&broker.bootstrap(), &[]);
    produce_all(&producer, "reborn", Some(0), &records(20));
    drop(producer);
    broker.terminate();
    copy_dir(&dir.path().join("reborn-0"), saved.path());

    let mut broker = BrokerProcess::start(dir.path(), &[]);
    delete_topic(&broker.bootstrap(), "reborn");
    broker.terminate();
    // The crash: the deletion is recorded, the directory is still there.
    copy_dir(&saved.path().join("reborn-0"), dir.path());

    let mut broker = BrokerProcess::start(dir.path(), &[]);
    assert!(
        broker
            .log()
            .contains("deleting partition directories of a topic that no longer exists"),
        "{}",
        broker.log()
    );
    create_topic(&broker.bootstrap(), "reborn", 1, &[]);
    assert_eq!(
        watermarks(&broker.bootstrap(), "reborn", 0),
        (0, 0),
        "the new topic starts empty"
    );
    broker.terminate();

    // The old directory comes back once more, now under a live topic of the same name with
    // another id: it is replaced by an empty one.
    let _ = std::fs::remove_dir_all(dir.path().join("reborn-0"));
    copy_dir(&saved.path().join("reborn-0"), dir.path());
    let broker = BrokerProcess::start(dir.path(), &[]);
    assert!(
        broker.log().contains("belongs to an older topic of the same name"),
        "{}",
        broker.log()
    );
    assert_eq!(watermarks(&broker.bootstrap(), "reborn", 0), (0, 0));
}
