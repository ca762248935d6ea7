//! Kafka's command-line tools as the `rivulet` binary answers them (`rivulet topics ...` and
//! the binary called as `kafka-topics.sh`), against a real broker: topics, keyed records
//! through the console producer and consumer, and consumer-group offsets.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;

/// Runs `rivulet TOOL --bootstrap-server B ARGS` with `input` on stdin.
fn tool(bootstrap: &str, name: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .arg(name)
        .arg("--bootstrap-server")
        .arg(bootstrap)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rivulet");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().expect("tool output")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "tool failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Table rows with single spaces between columns, without blank lines.
fn rows(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn topics_console_round_trip_and_group_offsets() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        &dir.path().join("data"),
        &["--set", "group.initial.rebalance.delay.ms=0"],
    );
    let b = broker.bootstrap();

    // Called by the tool's script name through a symlink, as in the container image.
    let link = dir.path().join("kafka-topics.sh");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rivulet"), &link).unwrap();
    let created = Command::new(&link)
        .args([
            "--bootstrap-server",
            &b,
            "--create",
            "--topic",
            "orders",
            "--partitions",
            "3",
        ])
        .args(["--config", "retention.ms=3600000"])
        .output()
        .unwrap();
    assert_eq!(stdout(&created), "Created topic orders.\n");
    let again = tool(&b, "topics", &["--create", "--topic", "orders"], "");
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "Error while executing topic command : Topic 'orders' already exists.\n"
    );
    let list = stdout(&tool(&b, "topics", &["--list", "--exclude-internal"], ""));
    assert_eq!(list, "orders\n");
    let described = stdout(&tool(&b, "topics", &["--describe", "--topic", "orders"], ""));
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(lines.len(), 4, "{described}");
    assert!(lines[0].starts_with("Topic: orders\tTopicId: "), "{described}");
    assert!(
        lines[0].contains("\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: "),
        "{described}"
    );
    assert!(lines[0].contains("retention.ms=3600000"), "{described}");
    for (p, line) in lines[1..].iter().enumerate() {
        assert!(
            line.starts_with(&format!("\tTopic: orders\tPartition: {p}\tLeader: ")),
            "{line}"
        );
    }

    // Keys place records by murmur2, as the Java producer does: k1..k6 over 3 partitions
    // land 2, 3 and 1.
    let produced = tool(
        &b,
        "console-producer",
        &[
            "--topic",
            "orders",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        "k1:v1\nk2:v2\nk3:v3\nk4:v4\nk5:v5\nk6:v6 with: colon\n",
    );
    assert_eq!(stdout(&produced), "");
    assert_eq!(watermarks(&b, "orders", 0).1, 2);
    assert_eq!(watermarks(&b, "orders", 1).1, 3);
    assert_eq!(watermarks(&b, "orders", 2).1, 1);

    let consumed = tool(
        &b,
        "console-consumer",
        &[
            "--topic",
            "orders",
            "--from-beginning",
            "--max-messages",
            "6",
            "--group",
            "billing",
        ],
        "",
    );
    let mut values: Vec<String> = stdout(&consumed).lines().map(str::to_string).collect();
    values.sort();
    assert_eq!(values, ["v1", "v2", "v3", "v4", "v5", "v6 with: colon"]);
    assert!(String::from_utf8_lossy(&consumed.stderr).contains("Processed a total of 6 messages"));

    let keyed = tool(
        &b,
        "console-consumer",
        &[
            "--topic",
            "orders",
            "--partition",
            "1",
            "--offset",
            "earliest",
            "--max-messages",
            "3",
        ],
        "",
    );
    let keyed_args = ["--property", "print.key=true", "--property", "key.separator=="];
    let keyed_too = tool(
        &b,
        "console-consumer",
        &[
            &[
                "--topic",
                "orders",
                "--partition",
                "1",
                "--offset",
                "0",
                "--max-messages",
                "3",
            ][..],
            &keyed_args,
        ]
        .concat(),
        "",
    );
    assert_eq!(stdout(&keyed), "v3\nv4\nv6 with: colon\n");
    assert_eq!(stdout(&keyed_too), "k3=v3\nk4=v4\nk6=v6 with: colon\n");

    // The group committed what it consumed when it closed.
    let describe = tool(&b, "consumer-groups", &["--describe", "--group", "billing"], "");
    assert_eq!(
        rows(&stdout(&describe)),
        [
            "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID",
            "billing orders 0 2 2 0 - - -",
            "billing orders 1 3 3 0 - - -",
            "billing orders 2 1 1 0 - - -",
        ]
    );
    assert!(String::from_utf8_lossy(&describe.stderr).contains("Consumer group 'billing' has no active members."));

    let reset = tool(
        &b,
        "consumer-groups",
        &[
            "--reset-offsets",
            "--group",
            "billing",
            "--topic",
            "orders:1",
            "--to-offset",
            "1",
            "--execute",
        ],
        "",
    );
    assert_eq!(
        rows(&stdout(&reset)),
        ["GROUP TOPIC PARTITION NEW-OFFSET", "billing orders 1 1"]
    );
    let after = rows(&stdout(&tool(
        &b,
        "consumer-groups",
        &["--describe", "--group", "billing"],
        "",
    )));
    assert_eq!(after[2], "billing orders 1 1 3 2 - - -");

    // Consuming again resumes from the reset offset.
    let resumed = tool(
        &b,
        "console-consumer",
        &["--topic", "orders", "--group", "billing", "--max-messages", "2"],
        "",
    );
    let mut resumed: Vec<String> = stdout(&resumed).lines().map(str::to_string).collect();
    resumed.sort();
    assert_eq!(resumed, ["v4", "v6 with: colon"]);
}
