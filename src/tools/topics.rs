//! `kafka-topics.sh`: create, list, describe, alter (partitions) and delete topics.

use std::io::Write;

use anyhow::Result;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest};

use super::admin::{self, ConfigEntry, PartitionInfo, TopicInfo};
use super::args::{self, Opt, Parsed, flag, valued};
use super::client::{API_TIMEOUT, Client, sb};
use super::errors::{self, KafkaError};

const ABOUT: &str = "This tool helps to create, delete, describe, or change a topic.";

const OPTS: &[Opt] = &[
    flag(
        "alter",
        "Alter the number of partitions of a topic. (To alter topic configurations, the kafka-configs tool can be used.)",
    ),
    flag(
        "at-min-isr-partitions",
        "If set when describing topics, only show partitions whose isr count is equal to the configured minimum.",
    ),
    valued(
        "bootstrap-server",
        "server to connect to",
        "REQUIRED: The Kafka server to connect to.",
    ),
    valued(
        "command-config",
        "command config property file",
        "Property file containing configs to be passed to Admin Client.",
    ),
    valued(
        "config",
        "name=value",
        "A topic configuration override for the topic being created.",
    ),
    flag("create", "Create a new topic."),
    flag("delete", "Delete a topic."),
    valued(
        "delete-config",
        "name",
        "This option is no longer supported and has been deprecated since 4.0",
    ),
    flag("describe", "List details for the given topics."),
    flag(
        "exclude-internal",
        "Exclude internal topics when listing or describing topics. By default, the internal topics are included.",
    ),
    super::HELP,
    flag(
        "if-exists",
        "If set when altering or deleting or describing topics, the action will only execute if the topic exists.",
    ),
    flag(
        "if-not-exists",
        "If set when creating topics, the create request will not fail if the topic already exists, but the request will still be sent.",
    ),
    flag("list", "List all available topics."),
    valued(
        "partition-size-limit-per-response",
        "maximum number of partitions per response",
        "The maximum partition size to be included in one DescribeTopicPartitions response.",
    ),
    valued(
        "partitions",
        "# of partitions",
        "The number of partitions for the topic being created or altered. If not supplied with --create, the topic uses the cluster default.",
    ),
    valued(
        "replica-assignment",
        "broker_id_for_part1_replica1 : ...",
        "A list of manual partition-to-broker assignments for the topic being created or altered.",
    ),
    valued(
        "replication-factor",
        "replication factor",
        "The replication factor for each partition in the topic being created. If not supplied, the topic uses the cluster default.",
    ),
    valued(
        "topic",
        "topic",
        "The topic to create, alter, describe or delete. It also accepts a regular expression, except for --create option.",
    ),
    valued("topic-id", "topic-id", "The topic-id to describe."),
    flag(
        "topics-with-overrides",
        "If set when describing topics, only show topics that have overridden configs.",
    ),
    flag(
        "unavailable-partitions",
        "If set when describing topics, only show partitions whose leader is not available.",
    ),
    flag(
        "under-min-isr-partitions",
        "If set when describing topics, only show partitions whose isr count is less than the configured minimum.",
    ),
    flag(
        "under-replicated-partitions",
        "If set when describing topics, only show under-replicated partitions.",
    ),
    super::VERSION,
];

const ACTIONS: [&str; 5] = ["list", "describe", "create", "alter", "delete"];

pub fn main(args: &[String]) -> i32 {
    let actions = "Command must include exactly one action: --list, --describe, --create, --alter or --delete";
    let parsed = match super::start_admin(OPTS, ABOUT, args, &ACTIONS, actions, check_args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let result = super::admin_client(&parsed).and_then(|mut client| run(&mut client, &parsed));
    match result {
        Ok(()) => 0,
        Err(e) => {
            println!("Error while executing topic command : {}", message(&e));
            eprintln!("ERROR {}", qualified(&e));
            1
        }
    }
}

/// What the Java tool prints of an exception: its message.
fn message(e: &anyhow::Error) -> String {
    match e.downcast_ref::<KafkaError>() {
        Some(k) => k.to_string(),
        None => format!("{e:#}"),
    }
}

fn qualified(e: &anyhow::Error) -> String {
    match e.downcast_ref::<KafkaError>() {
        Some(k) => k.qualified(),
        None => format!("{e:#}"),
    }
}

/// The combinations the Java tool refuses before connecting.
fn check_args(p: &Parsed) -> Result<(), String> {
    let needs_topic = p.has("create") || p.has("alter") || p.has("delete");
    if needs_topic && !p.has("topic") {
        return Err("Missing required argument \"[topic]\"".into());
    }
    if p.has("alter") && !p.has("partitions") && !p.has("replica-assignment") {
        return Err("Missing required argument \"[partitions]\"".into());
    }
    let only_with = |opt: &str, actions: &[&str]| -> Result<(), String> {
        if p.has(opt) && !actions.iter().any(|a| p.has(a)) {
            let first = ACTIONS.iter().find(|a| p.has(a)).unwrap_or(&"list");
            return Err(format!("Option \"[{opt}]\" can't be used with option \"[{first}]\""));
        }
        Ok(())
    };
    only_with("partitions", &["create", "alter"])?;
    only_with("replication-factor", &["create"])?;
    only_with("config", &["create"])?;
    only_with("if-not-exists", &["create"])?;
    only_with("if-exists", &["alter", "delete", "describe"])?;
    for report in [
        "topics-with-overrides",
        "under-replicated-partitions",
        "unavailable-partitions",
    ] {
        only_with(report, &["describe"])?;
    }
    only_with("under-min-isr-partitions", &["describe"])?;
    only_with("at-min-isr-partitions", &["describe"])?;
    p.refuse(
        "delete-config",
        "removed from Kafka's kafka-topics in 4.0; use kafka-configs --alter --delete-config",
    )?;
    p.refuse(
        "replica-assignment",
        "a single-node cluster places every replica; use --partitions",
    )?;
    p.refuse("topic-id", "name the topic with --topic")?;
    for n in ["partitions", "replication-factor", "partition-size-limit-per-response"] {
        p.number::<i32>(n)?;
    }
    Ok(())
}

fn run(client: &mut Client, p: &Parsed) -> Result<()> {
    if p.has("create") {
        create(client, p)
    } else if p.has("list") {
        let names = topics(client, p)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", names.join("\n"))?;
        Ok(())
    } else if p.has("describe") {
        describe(client, p)
    } else if p.has("alter") {
        alter(client, p)
    } else {
        delete(client, p)
    }
}

/// The topics `--topic` (a regex list) selects, sorted; all without it.
fn topics(client: &mut Client, p: &Parsed) -> Result<Vec<String>> {
    let exclude_internal = p.has("exclude-internal");
    let filter = p
        .value("topic")
        .map(super::include_list)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    Ok(admin::list_topics(client)?
        .into_iter()
        .filter(|t| !(exclude_internal && admin::is_internal(t)))
        .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t)))
        .collect())
}

/// The Java tool's check that a named topic matched something (unless --if-exists).
fn ensure_exists(found: &[String], p: &Parsed) -> Result<()> {
    match p.value("topic") {
        Some(t) if !t.is_empty() && found.is_empty() && !p.has("if-exists") => {
            anyhow::bail!("Topic '{t}' does not exist as expected")
        }
        _ => Ok(()),
    }
}

fn create(client: &mut Client, p: &Parsed) -> Result<()> {
    let name = p.value("topic").unwrap_or_default();
    if name.contains('.') || name.contains('_') {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        );
    }
    let replication: Option<i32> = p.number("replication-factor").map_err(anyhow::Error::msg)?;
    if replication.is_some_and(|r| !(1..=i32::from(i16::MAX)).contains(&r)) {
        anyhow::bail!("The replication factor must be between 1 and 32767 inclusive");
    }
    let partitions: Option<i32> = p.number("partitions").map_err(anyhow::Error::msg)?;
    if partitions.is_some_and(|n| n < 1) {
        anyhow::bail!("The partitions must be greater than 0");
    }
    let configs = args::key_values("config", p.values("config")).map_err(anyhow::Error::msg)?;
    let topic = CreatableTopic::default()
        .with_name(sb(name).into())
        .with_num_partitions(partitions.unwrap_or(-1))
        .with_replication_factor(replication.map_or(-1, |r| r as i16))
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig::default().with_name(sb(k)).with_value(Some(sb(v))))
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(API_TIMEOUT.as_millis() as i32);
    let response = client.any().call(&request)?;
    for t in response.topics {
        if t.error_code == errors::TOPIC_ALREADY_EXISTS && p.has("if-not-exists") {
            return Ok(());
        }
        KafkaError::check(t.error_code, t.error_message.as_deref())?;
    }
    println!("Created topic {name}.");
    Ok(())
}

fn alter(client: &mut Client, p: &Parsed) -> Result<()> {
    let names = topics(client, p)?;
    ensure_exists(&names, p)?;
    if names.is_empty() {
        return Ok(());
    }
    let count: i32 = p.number("partitions").map_err(anyhow::Error::msg)?.unwrap_or(0);
    let request = CreatePartitionsRequest::default()
        .with_topics(
            names
                .iter()
                .map(|n| {
                    CreatePartitionsTopic::default()
                        .with_name(sb(n).into())
                        .with_count(count)
                        .with_assignments(None)
                })
                .collect(),
        )
        .with_timeout_ms(API_TIMEOUT.as_millis() as i32);
    let response = client.any().call(&request)?;
    for r in response.results {
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
    }
    Ok(())
}

fn delete(client: &mut Client, p: &Parsed) -> Result<()> {
    let names = topics(client, p)?;
    ensure_exists(&names, p)?;
    if names.is_empty() {
        return Ok(());
    }
    let request = DeleteTopicsRequest::default()
        .with_topics(
            names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(sb(n).into())))
                .collect(),
        )
        .with_topic_names(names.iter().map(|n| sb(n).into()).collect())
        .with_timeout_ms(API_TIMEOUT.as_millis() as i32);
    let response = client.any().call(&request)?;
    for r in response.responses {
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
    }
    Ok(())
}

fn describe(client: &mut Client, p: &Parsed) -> Result<()> {
    let names = topics(client, p)?;
    ensure_exists(&names, p)?;
    if names.is_empty() {
        return Ok(());
    }
    let live: Vec<i32> = client.nodes.keys().copied().collect();
    let report_overrides = p.has("topics-with-overrides");
    let partition_reports = [
        "under-replicated-partitions",
        "unavailable-partitions",
        "under-min-isr-partitions",
        "at-min-isr-partitions",
    ];
    let describe_configs = !partition_reports.iter().any(|r| p.has(r));
    let mut out = std::io::stdout().lock();
    for described in admin::describe_topics(client, &names)? {
        let info = match described {
            Ok(info) => info,
            // Deleted between the listing and the description.
            Err((_, e)) if e.code == errors::UNKNOWN_TOPIC_OR_PARTITION => continue,
            Err((_, e)) => return Err(e.into()),
        };
        let configs = admin::describe_configs(client, admin::RESOURCE_TOPIC, &info.name, false)?;
        if describe_configs {
            let overridden: Vec<&ConfigEntry> = java_hash_map_order(&configs, |c| c.name.as_str())
                .into_iter()
                .filter(|c| c.source != admin::SOURCE_DEFAULT)
                .collect();
            if !report_overrides || !overridden.is_empty() {
                writeln!(out, "{}", topic_line(&info, &overridden))?;
            }
        }
        if report_overrides {
            continue;
        }
        let min_isr = configs
            .iter()
            .find(|c| c.name == "min.insync.replicas")
            .and_then(|c| c.value.as_deref()?.parse::<usize>().ok())
            .unwrap_or(1);
        for part in &info.partitions {
            let has_leader = part.leader >= 0;
            let show = describe_configs
                || (p.has("under-replicated-partitions") && part.replicas.len() > part.isr.len())
                || (p.has("unavailable-partitions") && (!has_leader || !live.contains(&part.leader)))
                || (p.has("under-min-isr-partitions") && (!has_leader || part.isr.len() < min_isr))
                || (p.has("at-min-isr-partitions") && part.isr.len() == min_isr);
            if show {
                writeln!(out, "{}", partition_line(&info.name, part))?;
            }
        }
    }
    Ok(())
}

/// `items` in the order a Java `HashMap<String, _>` filled with them in this order iterates
/// them: the admin client's `Config` keeps a resource's entries in one, and kafka-topics prints
/// the overridden ones as it iterates. Buckets in index order (the spread `String.hashCode`
/// masked by the table size, which doubles past three quarters full from 16), each in insertion
/// order.
fn java_hash_map_order<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut capacity = 16usize;
    while items.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let bucket = |name: &str| {
        let h = java_string_hash(name);
        let spread = (h ^ ((h as u32) >> 16) as i32) as u32;
        spread as usize & (capacity - 1)
    };
    let mut ordered: Vec<&T> = items.iter().collect();
    ordered.sort_by_key(|item| bucket(key(item)));
    ordered
}

/// Java's `String.hashCode`: over UTF-16 code units, wrapping.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

fn topic_line(info: &TopicInfo, overridden: &[&ConfigEntry]) -> String {
    let configs: Vec<String> = overridden
        .iter()
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("null")))
        .collect();
    let mut line = format!("Topic: {}", info.name);
    if !info.id.is_nil() {
        line.push_str(&format!("\tTopicId: {}", admin::uuid_string(&info.id)));
    }
    let replication = info.partitions.first().map_or(0, |p| p.replicas.len());
    line.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
        info.partitions.len(),
        configs.join(",")
    ));
    line
}

fn joined(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn partition_line(topic: &str, p: &PartitionInfo) -> String {
    let leader = if p.leader >= 0 {
        p.leader.to_string()
    } else {
        "none".to_string()
    };
    let elr = p.elr.as_deref().map_or_else(|| "N/A".to_string(), joined);
    let last_known = p.last_known_elr.as_deref().map_or_else(|| "N/A".to_string(), joined);
    format!(
        "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: {elr}\tLastKnownElr: {last_known}",
        p.partition,
        joined(&p.replicas),
        joined(&p.isr)
    )
}

#[cfg(test)]
mod java_order_tests {
    use super::*;

    #[test]
    fn string_hash_as_java_computes_it() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // Overflows wrap as Java's int arithmetic does.
        assert_eq!(
            java_string_hash("retention.ms"),
            "retention.ms"
                .encode_utf16()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
        );
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn hash_map_order_groups_by_bucket_keeping_insertion_order() {
        // "Aa" and "BB" collide in Java (both 2112): the first put comes first.
        // "a" (97) lands in bucket 1 of 16, after both.
        let keys = ["BB", "a", "Aa"];
        let ordered: Vec<&str> = java_hash_map_order(&keys, |k| k).into_iter().copied().collect();
        assert_eq!(ordered, ["BB", "Aa", "a"]);
    }
}
