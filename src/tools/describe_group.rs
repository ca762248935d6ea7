//! `kafka-consumer-groups.sh --describe`: a group's state, members or offsets and lag, in
//! the Java tool's columns, for classic groups and KIP-848 consumer groups alike.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, anyhow};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerProtocolAssignment, DescribeGroupsRequest, consumer_group_describe_response,
};

use super::args::Parsed;
use super::client::{self, Client, sb};
use super::consumer::{self, TopicPartition};
use super::errors::{self, KafkaError};
use super::group;

/// One member of a described group.
pub(super) struct MemberView {
    pub id: String,
    pub host: String,
    pub client_id: String,
    pub partitions: Vec<TopicPartition>,
    /// A consumer group member's epoch and target assignment (KIP-848).
    pub epoch: Option<i32>,
    pub target: Option<Vec<TopicPartition>>,
}

/// A described group, of either protocol.
pub(super) struct GroupView {
    pub state: String,
    /// The classic group's assignor (its protocol), or the consumer group's server assignor.
    pub strategy: String,
    /// A consumer group's epoch and target assignment epoch.
    pub epochs: Option<(i32, i32)>,
    pub members: Vec<MemberView>,
}

/// Describes one group as the Java admin client does: ConsumerGroupDescribe first where the
/// broker serves it, then DescribeGroups for a group that is not a consumer group (KIP-848).
/// An unknown group is GroupIdNotFoundException.
pub(super) fn describe_group(client: &mut Client, group: &str) -> Result<GroupView> {
    let conn = client.group_coordinator(group)?;
    if conn.supports::<ConsumerGroupDescribeRequest>() {
        let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![sb(group).into()]);
        let described = conn
            .call(&request)?
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("ConsumerGroupDescribe answered no group"))?;
        match described.error_code {
            0 => return Ok(consumer_group_view(client, described)),
            errors::GROUP_ID_NOT_FOUND => {}
            code => return Err(KafkaError::new(code, described.error_message.as_deref()).into()),
        }
    }
    let request = DescribeGroupsRequest::default().with_groups(vec![sb(group).into()]);
    let response = client.group_coordinator(group)?.call(&request)?;
    let described = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("DescribeGroups answered no group"))?;
    let not_found = || KafkaError::new(errors::GROUP_ID_NOT_FOUND, Some(&format!("Group {group} not found.")));
    match described.error_code {
        0 if described.group_state.as_str() == "Dead" => Err(not_found().into()),
        0 => Ok(GroupView {
            state: described.group_state.to_string(),
            strategy: described.protocol_data.to_string(),
            epochs: None,
            members: described
                .members
                .iter()
                .map(|m| MemberView {
                    id: m.member_id.to_string(),
                    host: m.client_host.to_string(),
                    client_id: m.client_id.to_string(),
                    partitions: member_partitions(&m.member_assignment),
                    epoch: None,
                    target: None,
                })
                .collect(),
        }),
        errors::GROUP_ID_NOT_FOUND => Err(KafkaError::new(
            errors::GROUP_ID_NOT_FOUND,
            described.error_message.as_deref().or(Some(&not_found().to_string())),
        )
        .into()),
        code => Err(KafkaError::new(code, described.error_message.as_deref()).into()),
    }
}

fn consumer_group_view(client: &mut Client, g: consumer_group_describe_response::DescribedGroup) -> GroupView {
    // Assignments name topics by id; the names come with them, else from Metadata.
    let mut names: BTreeMap<uuid::Uuid, String> = BTreeMap::new();
    let parts = |a: &consumer_group_describe_response::Assignment, names: &BTreeMap<uuid::Uuid, String>| {
        let mut out: Vec<TopicPartition> = a
            .topic_partitions
            .iter()
            .flat_map(|t| {
                let name = if t.topic_name.is_empty() {
                    names
                        .get(&t.topic_id)
                        .cloned()
                        .unwrap_or_else(|| t.topic_id.to_string())
                } else {
                    t.topic_name.to_string()
                };
                t.partitions.iter().map(move |p| (name.clone(), *p))
            })
            .collect();
        out.sort();
        out
    };
    let unnamed = g.members.iter().any(|m| {
        m.assignment
            .topic_partitions
            .iter()
            .chain(&m.target_assignment.topic_partitions)
            .any(|t| t.topic_name.is_empty())
    });
    if unnamed && let Ok(md) = client.metadata(None) {
        for t in md.topics {
            if let Some(name) = t.name {
                names.insert(t.topic_id, name.to_string());
            }
        }
    }
    GroupView {
        state: g.group_state.to_string(),
        strategy: g.assignor_name.to_string(),
        epochs: Some((g.group_epoch, g.assignment_epoch)),
        members: g
            .members
            .iter()
            .map(|m| MemberView {
                id: m.member_id.to_string(),
                host: m.client_host.to_string(),
                client_id: m.client_id.to_string(),
                partitions: parts(&m.assignment, &names),
                epoch: Some(m.member_epoch),
                target: Some(parts(&m.target_assignment, &names)),
            })
            .collect(),
    }
}

/// A member's partitions, from its assignment in the consumer protocol.
fn member_partitions(assignment: &bytes::Bytes) -> Vec<TopicPartition> {
    if assignment.is_empty() {
        return Vec::new();
    }
    let Ok(a) = group::decode_versioned::<ConsumerProtocolAssignment>(assignment.clone()) else {
        return Vec::new();
    };
    let mut out: Vec<TopicPartition> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    out.sort();
    out
}

/// The stderr note the Java tool gives for a group in `state`; whether rows follow.
fn note_state(group: &str, state: &str, rows: usize) -> bool {
    match state {
        "Dead" => println!("\nError: Consumer group '{group}' does not exist."),
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    state != "Dead" && rows > 0
}

/// The widest of `items` by `f`, at least 15 (the Java tool's minimum column width).
pub(super) fn width<T>(items: &[T], f: impl Fn(&T) -> usize) -> usize {
    items.iter().map(f).fold(15, usize::max)
}

fn opt(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

pub(super) fn describe(client: &mut Client, p: &Parsed, group: &str) -> Result<()> {
    let described = describe_group(client, group)?;
    let state = described.state.clone();
    let mut out = std::io::stdout().lock();
    if p.has("members") && !p.has("offsets") {
        let members: Vec<_> = described
            .members
            .iter()
            .map(|m| (m.id.clone(), m.host.clone(), m.client_id.clone(), m.partitions.clone()))
            .collect();
        let show = note_state(group, &state, members.len());
        // As in the Java tool, the group column widens only for rows that name it.
        let (gw, cw, hw, clw) = (
            width(&members, |_| group.len()),
            width(&members, |m| m.0.len()),
            width(&members, |m| m.1.len()),
            width(&members, |m| m.2.len()),
        );
        let assignments: Vec<String> = members.iter().map(|m| assignment_string(&m.3)).collect();
        // A consumer group member's target assignment (KIP-848); "-" for a classic member.
        let targets: Vec<String> = described
            .members
            .iter()
            .map(|v| v.target.as_ref().map_or("-".to_string(), |t| assignment_string(t)))
            .collect();
        let aw = assignments.iter().map(String::len).fold(20, usize::max);
        let tw = targets.iter().map(String::len).fold(20, usize::max);
        write!(
            out,
            "\n{:<gw$} {:<cw$} {:<hw$} {:<clw$} {:<15} ",
            "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )?;
        if p.has("verbose") {
            write!(
                out,
                "{:<15} {:<aw$} {:<15} {:<tw$}",
                "CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"
            )?;
        }
        writeln!(out)?;
        if show {
            for ((m, a), target) in members.iter().zip(&assignments).zip(&targets) {
                write!(
                    out,
                    "{group:<gw$} {:<cw$} {:<hw$} {:<clw$} {:<15} ",
                    m.0,
                    m.1,
                    m.2,
                    m.3.len()
                )?;
                if p.has("verbose") {
                    let view = described.members.iter().find(|v| v.id == m.0);
                    let epoch = view.and_then(|v| v.epoch).map_or("-".to_string(), |e| e.to_string());
                    let target_epoch = described.epochs.map_or("-".to_string(), |(_, t)| t.to_string());
                    write!(out, "{epoch:<15} {a:<aw$} {target_epoch:<15} {target:<tw$}")?;
                }
                writeln!(out)?;
            }
        }
        return Ok(());
    }
    if p.has("state") && !p.has("offsets") {
        note_state(group, &state, 1);
        if state == "Dead" {
            return Ok(());
        }
        let coordinator_id = client.coordinator(group, client::COORDINATOR_GROUP)?;
        let node = client
            .nodes
            .get(&coordinator_id)
            .cloned()
            .ok_or_else(|| anyhow!("coordinator {coordinator_id} unknown"))?;
        let coordinator = format!("{}:{}  ({})", node.host, node.port, node.id);
        let cw = coordinator.len().max(25);
        let gw = group.len().max(15);
        let strategy = if described.strategy.is_empty() {
            "-".to_string()
        } else {
            described.strategy.clone()
        };
        let (group_epoch, target_epoch) = described.epochs.map_or(("-".to_string(), "-".to_string()), |(g, t)| {
            (g.to_string(), t.to_string())
        });
        if p.has("verbose") {
            write!(
                out,
                "\n{:<gw$} {:<cw$} {:<20} {:<20} {:<15} {:<25} #MEMBERS",
                "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH"
            )?;
            write!(
                out,
                "\n{group:<gw$} {coordinator:<cw$} {strategy:<20} {state:<20} {group_epoch:<15} {target_epoch:<25} {}",
                described.members.len()
            )?;
        } else {
            write!(
                out,
                "\n{:<gw$} {:<cw$} {:<20} {:<20} #MEMBERS",
                "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE"
            )?;
            write!(
                out,
                "\n{group:<gw$} {coordinator:<cw$} {strategy:<20} {state:<20} {}",
                described.members.len()
            )?;
        }
        writeln!(out)?;
        return Ok(());
    }
    // Offsets: members with partitions first (most partitions first), then committed
    // offsets of partitions no member holds.
    let committed = consumer::committed(client, group, None)?;
    let mut members: Vec<_> = described
        .members
        .iter()
        .map(|m| (m.partitions.clone(), m))
        .filter(|(parts, _)| !parts.is_empty())
        .collect();
    members.sort_by_key(|(parts, _)| std::cmp::Reverse(parts.len()));
    let mut rows: Vec<(TopicPartition, [String; 3])> = Vec::new();
    for (parts, m) in &members {
        for tp in parts {
            rows.push((tp.clone(), [m.id.clone(), m.host.clone(), m.client_id.clone()]));
        }
    }
    let mut unassigned: Vec<TopicPartition> = committed
        .keys()
        .filter(|tp| !rows.iter().any(|r| &r.0 == *tp))
        .cloned()
        .collect();
    unassigned.sort();
    rows.extend(
        unassigned
            .into_iter()
            .map(|tp| (tp, ["-".to_string(), "-".to_string(), "-".to_string()])),
    );
    let ends = consumer::log_end_offsets(client, rows.iter().map(|r| r.0.clone()).collect())?;
    let show = note_state(group, &state, rows.len());
    if !show {
        return Ok(());
    }
    let gw = group.len().max(15);
    let tw = width(&rows, |r| r.0.0.len());
    let cw = width(&rows, |r| r.1[0].len());
    let hw = width(&rows, |r| r.1[1].len());
    let verbose = p.has("verbose");
    if verbose {
        write!(
            out,
            "\n{:<gw$} {:<tw$} {:<10} {:<15} {:<15} {:<15} {:<15} {:<cw$} {:<hw$} CLIENT-ID",
            "GROUP",
            "TOPIC",
            "PARTITION",
            "LEADER-EPOCH",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST"
        )?;
    } else {
        write!(
            out,
            "\n{:<gw$} {:<tw$} {:<10} {:<15} {:<15} {:<15} {:<cw$} {:<hw$} CLIENT-ID",
            "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST"
        )?;
    }
    for (tp, [consumer_id, host, client_id]) in &rows {
        let offset = committed.get(tp).map(|c| c.0);
        let epoch = committed.get(tp).map(|c| i64::from(c.1)).filter(|e| *e >= 0);
        let end = ends.get(tp).copied();
        let lag = offset.filter(|o| *o != -1).and_then(|o| end.map(|e| e - o));
        let (topic, partition) = (&tp.0, tp.1);
        if verbose {
            write!(
                out,
                "\n{group:<gw$} {topic:<tw$} {partition:<10} {:<15} {:<15} {:<15} {:<15} {consumer_id:<cw$} {host:<hw$} {client_id}",
                opt(epoch),
                opt(offset),
                opt(end),
                opt(lag)
            )?;
        } else {
            write!(
                out,
                "\n{group:<gw$} {topic:<tw$} {partition:<10} {:<15} {:<15} {:<15} {consumer_id:<cw$} {host:<hw$} {client_id}",
                opt(offset),
                opt(end),
                opt(lag)
            )?;
        }
    }
    writeln!(out)?;
    Ok(())
}

/// `topic:0,1;other:2`, topics sorted, as the Java tool prints assignments.
fn assignment_string(parts: &[TopicPartition]) -> String {
    if parts.is_empty() {
        return "-".to_string();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort();
            format!("{t}:{}", ps.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}
