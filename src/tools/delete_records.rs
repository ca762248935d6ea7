//! `kafka-delete-records.sh`: moves partitions' log start offsets (DeleteRecords) as a JSON
//! file of Kafka's format lists them.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use kafka_protocol::messages::DeleteRecordsRequest;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};

use super::args::{Opt, valued};
use super::client::{self, API_TIMEOUT, Client, sb};
use super::consumer::{self, TopicPartition};
use super::errors::{self, KafkaError};

const ABOUT: &str = "This tool helps to delete records of the given partitions down to the specified offset.";

const OPTS: &[Opt] = &[
    valued(
        "bootstrap-server",
        "String: server(s) to use for bootstrapping",
        "REQUIRED: The server to connect to.",
    ),
    valued(
        "command-config",
        "String: command config property file path",
        "A property file containing configs to be passed to Admin Client.",
    ),
    super::HELP,
    valued(
        "offset-json-file",
        "String: Offset json file path",
        "REQUIRED: The JSON file with offset per partition. The format to use is:\n{\"partitions\":\n  [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n \"version\":1\n}",
    ),
    super::VERSION,
];

pub fn main(args: &[String]) -> i32 {
    let parsed = match super::start_tool(OPTS, ABOUT, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let bootstrap = parsed.value("bootstrap-server").unwrap_or_default();
    let Some(file) = parsed.value("offset-json-file") else {
        return super::usage_error(OPTS, ABOUT, "Missing required argument \"[offset-json-file]\"");
    };
    let plan = match read_plan(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e:#}");
            return 1;
        }
    };
    let result = super::command_config(&parsed, "command-config")
        .map_err(anyhow::Error::msg)
        .and_then(|_| Client::connect(bootstrap, "adminclient-1"))
        .and_then(|mut c| run(&mut c, &plan));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

/// The file's partitions and offsets; a partition named twice is refused, as by Kafka.
fn read_plan(path: &str) -> Result<BTreeMap<TopicPartition, i64>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("Cannot read {path}: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("The input string is not a valid JSON: {e}"))?;
    let partitions = json
        .get("partitions")
        .and_then(|p| p.as_array())
        .ok_or_else(|| anyhow!("Missing partitions field"))?;
    let mut plan = BTreeMap::new();
    for p in partitions {
        let topic = p
            .get("topic")
            .and_then(|t| t.as_str())
            .ok_or_else(|| anyhow!("Missing topic field"))?;
        let partition = p
            .get("partition")
            .and_then(|t| t.as_i64())
            .ok_or_else(|| anyhow!("Missing partition field"))?;
        let offset = p
            .get("offset")
            .and_then(|t| t.as_i64())
            .ok_or_else(|| anyhow!("Missing offset field"))?;
        if plan.insert((topic.to_string(), partition as i32), offset).is_some() {
            bail!("Offset json file contains duplicate topic partitions: {topic}-{partition}");
        }
    }
    Ok(plan)
}

fn run(client: &mut Client, plan: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    println!("Executing records delete operation");
    let layout = client::layout(client, &consumer::topics_of(plan.keys()))?;
    let mut results: BTreeMap<TopicPartition, Result<i64, KafkaError>> = BTreeMap::new();
    let mut by_leader: BTreeMap<i32, Vec<(&TopicPartition, i64)>> = BTreeMap::new();
    for (tp, offset) in plan {
        match layout.leader(&tp.0, tp.1) {
            Some(l) => by_leader.entry(l).or_default().push((tp, *offset)),
            None => {
                results.insert(
                    tp.clone(),
                    Err(KafkaError::new(errors::UNKNOWN_TOPIC_OR_PARTITION, None)),
                );
            }
        }
    }
    for (leader, parts) in by_leader {
        let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
        for ((t, p), o) in parts {
            topics.entry(t).or_default().push(
                DeleteRecordsPartition::default()
                    .with_partition_index(*p)
                    .with_offset(o),
            );
        }
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(API_TIMEOUT.as_millis() as i32)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        DeleteRecordsTopic::default()
                            .with_name(sb(t).into())
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let response = client.node(leader)?.call(&request)?;
        for t in response.topics {
            for p in t.partitions {
                let r = KafkaError::check(p.error_code, None).map(|()| p.low_watermark);
                results.insert((t.name.0.to_string(), p.partition_index), r);
            }
        }
    }
    println!("Records delete operation completed:");
    for ((t, p), r) in results {
        match r {
            Ok(low) => println!("partition: {t}-{p}\tlow_watermark: {low}"),
            Err(e) => println!("partition: {t}-{p}\terror: {}", e.qualified()),
        }
    }
    Ok(())
}
