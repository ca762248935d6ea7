//! `kafka-consumer-groups.sh`: list, describe (`describe_group`), reset offsets
//! (`reset_offsets`) and delete consumer groups and their offsets, printed in the Java tool's
//! columns.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, anyhow};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::{DeleteGroupsRequest, ListGroupsRequest, OffsetDeleteRequest};

use super::args::{Opt, Parsed, flag, optional, valued};
use super::client::{self, Client, sb};
use super::consumer::TopicPartition;
use super::describe_group::{describe, width};
use super::errors::KafkaError;

const ABOUT: &str = "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, or reset consumer group offsets.";

const OPTS: &[Opt] = &[
    flag("all-groups", "Apply to all consumer groups."),
    flag(
        "all-topics",
        "Consider all topics assigned to a group in the `reset-offsets` process.",
    ),
    valued(
        "bootstrap-server",
        "String: server to connect to",
        "REQUIRED: The server(s) to connect to.",
    ),
    valued(
        "by-duration",
        "String: duration",
        "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'",
    ),
    valued(
        "command-config",
        "String: command config property file",
        "Property file containing configs to be passed to Admin Client and Consumer.",
    ),
    flag(
        "delete",
        "Pass in groups to delete topic partition offsets and ownership information over the entire consumer group.",
    ),
    flag("delete-offsets", "Delete offsets of consumer group."),
    flag(
        "describe",
        "Describe consumer group and list offset lag (number of messages not yet processed) related to given group.",
    ),
    flag(
        "dry-run",
        "Only show results without executing changes on Consumer Groups.",
    ),
    flag("execute", "Execute operation."),
    flag("export", "Export operation execution to a CSV file."),
    valued(
        "from-file",
        "String: path to CSV file",
        "Reset offsets to values defined in CSV file.",
    ),
    valued(
        "group",
        "String: consumer group",
        "The consumer group we wish to act on.",
    ),
    super::HELP,
    flag("list", "List all consumer groups."),
    flag("members", "Describe members of the group."),
    flag(
        "offsets",
        "Describe the group and list all topic partitions in the group along with their offset information.",
    ),
    flag("reset-offsets", "Reset offsets of consumer group."),
    valued(
        "shift-by",
        "Long: number-of-offsets",
        "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.",
    ),
    optional(
        "state",
        "String",
        "When specified with '--describe', includes the state of the group. When specified with '--list', it displays the state of all groups, or only those in the given states.",
    ),
    valued(
        "timeout",
        "Long: timeout (ms)",
        "The timeout that can be set for some use cases. (default: 5000)",
    ),
    flag("to-current", "Reset offsets to current offset."),
    valued(
        "to-datetime",
        "String: datetime",
        "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'",
    ),
    flag("to-earliest", "Reset offsets to earliest offset."),
    flag("to-latest", "Reset offsets to latest offset."),
    valued("to-offset", "Long: offset", "Reset offsets to a specific offset."),
    valued(
        "topic",
        "String: topic",
        "The topic whose consumer group information should be deleted or topic whose should be included in the reset offset process.",
    ),
    optional(
        "type",
        "String",
        "When specified with '--list', it displays the types of all the groups.",
    ),
    flag(
        "verbose",
        "Provide additional information, if any, when describing the group.",
    ),
    super::VERSION,
];

const ACTIONS: [&str; 5] = ["list", "describe", "delete", "reset-offsets", "delete-offsets"];
const SCENARIOS: [&str; 8] = [
    "to-offset",
    "to-datetime",
    "by-duration",
    "to-earliest",
    "to-latest",
    "shift-by",
    "from-file",
    "to-current",
];

pub fn main(args: &[String]) -> i32 {
    let message =
        "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets";
    let parsed = match super::start_admin(OPTS, ABOUT, args, &ACTIONS, message, check_args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let result = super::admin_client(&parsed).and_then(|mut c| run(&mut c, &parsed));
    // Like the Java tool, a failed command is reported on stdout and exits 0.
    if let Err(e) = result {
        let detail = match e.downcast_ref::<KafkaError>() {
            Some(k) => k.qualified(),
            None => format!("{e:#}"),
        };
        println!("\nError: Executing consumer group command failed due to {detail}");
        eprintln!("{detail}");
    }
    0
}

fn check_args(p: &Parsed) -> Result<(), String> {
    let needs_group = p.has("describe") || p.has("delete") || p.has("reset-offsets") || p.has("delete-offsets");
    if needs_group && !p.has("group") && !p.has("all-groups") {
        return Err("Option [describe|delete|reset-offsets] takes one of these options: [all-groups], [group]".into());
    }
    if p.has("reset-offsets") {
        if p.has("dry-run") && p.has("execute") {
            return Err("Option [reset-offsets] takes at most one of these options: [dry-run], [execute]".into());
        }
        if SCENARIOS.iter().filter(|s| p.has(s)).count() != 1 {
            return Err("Option [reset-offsets] takes exactly one of these options: [to-offset], [to-datetime], [by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current]".into());
        }
        if !p.has("topic") && !p.has("all-topics") {
            return Err("One of the reset scopes should be defined: --all-topics, --topic.".into());
        }
        p.number::<i64>("to-offset")?;
        p.number::<i64>("shift-by")?;
        if !p.has("dry-run") && !p.has("execute") {
            eprintln!(
                "WARN: No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting."
            );
        }
    }
    p.refuse(
        "from-file",
        "give the offsets with --to-offset per --topic TOPIC:PARTITIONS",
    )?;
    p.refuse("export", "the reset plan is printed as a table")?;
    if p.has("delete-offsets") && (!p.has("group") || !p.has("topic") || p.has("all-groups")) {
        return Err("Option [delete-offsets] takes the following options: [group], [topic]".into());
    }
    p.number::<i64>("timeout")?;
    Ok(())
}

fn run(client: &mut Client, p: &Parsed) -> Result<()> {
    if p.has("list") {
        return list(client, p);
    }
    let groups: Vec<String> = if p.has("all-groups") {
        list_groups(client)?.into_iter().map(|(g, _, _)| g).collect()
    } else {
        p.values("group").into_iter().map(str::to_string).collect()
    };
    if p.has("describe") {
        let mut sorted = groups;
        sorted.sort();
        for g in sorted {
            describe(client, p, &g)?;
        }
        Ok(())
    } else if p.has("delete") {
        delete(client, &groups)
    } else if p.has("delete-offsets") {
        delete_offsets(client, &groups[0], &p.values("topic"))
    } else {
        super::reset_offsets::reset_offsets(client, p, &groups)
    }
}

/// A listed group: id, state, type ("Classic", "Consumer", or "Unknown" from a broker
/// without ListGroups v5).
type Listed = (String, String, String);

/// Consumer groups (protocol "consumer", or none for groups that only hold offsets; classic
/// and KIP-848 consumer groups) with their states and types, from every broker.
fn list_groups(client: &mut Client) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let nodes: Vec<i32> = client.nodes.keys().copied().collect();
    for node in nodes {
        let response = client.node(node)?.call(&ListGroupsRequest::default())?;
        KafkaError::check(response.error_code, None)?;
        for g in response.groups {
            let group_type = g.group_type.to_ascii_lowercase();
            let consumer = matches!(g.protocol_type.as_str(), "consumer" | "")
                && matches!(group_type.as_str(), "" | "classic" | "consumer");
            if consumer {
                let shown = match group_type.as_str() {
                    "classic" => "Classic",
                    "consumer" => "Consumer",
                    _ => "Unknown",
                };
                out.push((g.group_id.0.to_string(), g.group_state.to_string(), shown.to_string()));
            }
        }
    }
    Ok(out)
}

/// Comma-separated filter values of `opt`, lower-cased; empty when not given.
fn filter_values(p: &Parsed, opt: &str) -> Vec<String> {
    p.value(opt)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn list(client: &mut Client, p: &Parsed) -> Result<()> {
    let groups = list_groups(client)?;
    let mut out = std::io::stdout().lock();
    let (with_type, with_state) = (p.has("type"), p.has("state"));
    if !with_type && !with_state {
        for (g, _, _) in groups {
            writeln!(out, "{g}")?;
        }
        return Ok(());
    }
    let (states, types) = (filter_values(p, "state"), filter_values(p, "type"));
    let shown: Vec<_> = groups
        .into_iter()
        .filter(|(_, s, _)| states.is_empty() || states.contains(&s.to_ascii_lowercase()))
        .filter(|(_, _, t)| types.is_empty() || types.contains(&t.to_ascii_lowercase()))
        .collect();
    let width = shown.iter().map(|(g, _, _)| g.len().max(15)).max().unwrap_or(15) + 10;
    // The Java tool's columns: GROUP, then TYPE, then STATE, each as asked for.
    let row = |g: &str, s: &str, t: &str| {
        let mut line = format!("{g:<width$}");
        if with_type {
            line.push_str(&format!(" {t:<20}"));
        }
        if with_state {
            line.push_str(&format!(" {s:<20}"));
        }
        line
    };
    writeln!(out, "{}", row("GROUP", "STATE", "TYPE"))?;
    for (g, s, t) in shown {
        writeln!(out, "{}", row(&g, &s, &t))?;
    }
    Ok(())
}

fn delete(client: &mut Client, groups: &[String]) -> Result<()> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for g in groups {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![sb(g).into()]);
        let response = client.group_coordinator(g)?.call(&request)?;
        let code = response.results.first().map_or(0, |r| r.error_code);
        match KafkaError::check(code, None) {
            Ok(()) => ok.push(format!("'{g}'")),
            Err(e) => failed.push((g, e)),
        }
    }
    if failed.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            ok.join(", ")
        );
    } else {
        println!("\nError: Deletion of some consumer groups failed:");
        for (g, e) in failed {
            println!("* Group '{g}' could not be deleted due to: {}", e.qualified());
        }
        if !ok.is_empty() {
            println!("\nThese consumer groups were deleted successfully: {}", ok.join(", "));
        }
    }
    Ok(())
}

/// `--delete-offsets`: OffsetDelete of the named partitions (`topic` for all of them, or
/// `topic:0,1`), with a status per partition.
fn delete_offsets(client: &mut Client, group: &str, topics: &[&str]) -> Result<()> {
    let mut results: BTreeMap<(String, i32), Option<KafkaError>> = BTreeMap::new();
    let mut partitions: Vec<TopicPartition> = Vec::new();
    let whole: Vec<String> = topics
        .iter()
        .filter(|t| !t.contains(':'))
        .map(|t| t.to_string())
        .collect();
    for t in topics.iter().filter(|t| t.contains(':')) {
        let (name, list) = t.split_once(':').expect("has a colon");
        for n in list.split(',') {
            let n = n
                .trim()
                .parse::<i32>()
                .map_err(|_| anyhow!("Invalid partition '{n}' specified in topic arg '{t}''"))?;
            partitions.push((name.to_string(), n));
        }
    }
    if !whole.is_empty() {
        let layout = client::layout(client, &whole)?;
        for t in &whole {
            match layout.errors.get(t) {
                // A topic that cannot be described shows as partition "-".
                Some(e) => {
                    results.insert((t.clone(), -1), Some(e.clone()));
                }
                None => partitions.extend((0..layout.partitions(t) as i32).map(|n| (t.clone(), n))),
            }
        }
    }
    let mut by_topic: BTreeMap<&str, Vec<OffsetDeleteRequestPartition>> = BTreeMap::new();
    for (t, n) in &partitions {
        by_topic
            .entry(t)
            .or_default()
            .push(OffsetDeleteRequestPartition::default().with_partition_index(*n));
    }
    let request = OffsetDeleteRequest::default()
        .with_group_id(sb(group).into())
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(sb(t).into())
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = client.group_coordinator(group)?.call(&request)?;
    // The Java tool words every error with Errors' own message, not the broker's.
    let top = KafkaError::new(response.error_code, None);
    for tp in &partitions {
        results.insert(tp.clone(), (response.error_code != 0).then(|| top.clone()));
    }
    for t in &response.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                results.insert(
                    (t.name.0.to_string(), p.partition_index),
                    Some(KafkaError::new(p.error_code, None)),
                );
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match response.error_code {
        0 => writeln!(out, "Request succeeded for deleting offsets from group {group}.")?,
        24 | 69 | 30 | 68 => writeln!(out, "\nError: {top}")?,
        29 | 86 | 3 => writeln!(
            out,
            "\nError: Encountered some partition-level error, see the follow-up details."
        )?,
        _ => writeln!(out, "\nError: Encountered some unknown error: {}", top.class_name())?,
    }
    let tw = width(&results.keys().collect::<Vec<_>>(), |(t, _)| t.len());
    write!(out, "\n{:<tw$} {:<10} {:<15}", "TOPIC", "PARTITION", "STATUS")?;
    let mut rows: Vec<_> = results.into_iter().collect();
    // As the Java tool orders them: by topic and partition as one string.
    rows.sort_by_key(|((t, n), _)| format!("{t}{n}"));
    for ((t, n), e) in rows {
        let partition = if n >= 0 { n.to_string() } else { "-".to_string() };
        let status = e.map_or("Successful".to_string(), |e| format!("Error: {}", e.qualified()));
        write!(out, "\n{t:<tw$} {partition:<10} {status:<15}")?;
    }
    writeln!(out)?;
    Ok(())
}
