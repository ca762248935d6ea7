//! The server-side assignors of KIP-848 consumer groups, under Kafka's names: `uniform` (the
//! default) spreads partitions evenly and keeps each member's partitions where it can;
//! `range` gives each member contiguous ranges of every topic it subscribes to, so members
//! get the same partition numbers of co-partitioned topics.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::consumer_group_records::TopicPartitions;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
pub const ASSIGNORS: &[&str] = &[UNIFORM, RANGE];

/// The assignor names of a `group.consumer.assignors` value, which may name Kafka's classes
/// (`org.apache.kafka.coordinator.group.assignor.UniformAssignor`) or their short names;
/// names of other assignors are left out.
pub fn names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter_map(|n| match n {
            "uniform" | "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => Some(UNIFORM),
            "range" | "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => Some(RANGE),
            _ => None,
        })
        .map(str::to_string)
        .collect()
}

/// One member as an assignor sees it.
pub struct MemberSpec<'a> {
    pub member_id: &'a str,
    /// Subscribed topics that exist.
    pub topics: BTreeSet<Uuid>,
    /// The member's previous target, which `uniform` keeps where it can.
    pub previous: Option<&'a TopicPartitions>,
}

/// Computes every member's target partitions. `partitions` is each subscribed topic's
/// partition count. Every partition of a subscribed topic goes to exactly one subscriber.
pub fn assign(
    assignor: &str,
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, TopicPartitions> {
    if assignor == RANGE {
        range(members, partitions)
    } else {
        uniform(members, partitions)
    }
}

fn uniform(members: &[MemberSpec<'_>], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, TopicPartitions> {
    let mut owned: BTreeMap<&str, BTreeSet<(Uuid, i32)>> = BTreeMap::new();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // Keep what each member had, where it still subscribes and the partition still exists.
    for m in members {
        let mut keep = BTreeSet::new();
        for (topic, parts) in m.previous.into_iter().flatten() {
            let Some(&count) = partitions.get(topic) else { continue };
            if !m.topics.contains(topic) {
                continue;
            }
            for &p in parts {
                if p < count && taken.insert((*topic, p)) {
                    keep.insert((*topic, p));
                }
            }
        }
        owned.insert(m.member_id, keep);
    }
    let eligible = |topic: &Uuid| -> Vec<&str> {
        members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id)
            .collect()
    };
    // Give every free partition to its least loaded subscriber.
    for (topic, &count) in partitions {
        let subscribers = eligible(topic);
        for p in 0..count {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            if let Some(to) = subscribers.iter().min_by_key(|id| (owned[**id].len(), **id)) {
                owned.get_mut(*to).map(|s| s.insert((*topic, p)));
                taken.insert((*topic, p));
            }
        }
    }
    // Then move partitions from the most to the least loaded subscriber until no move makes
    // the counts more even. Each move lowers the sum of squared counts, so this ends.
    loop {
        let mut best: Option<(&str, &str, (Uuid, i32))> = None;
        let mut order: Vec<&str> = owned.keys().copied().collect();
        order.sort_by_key(|id| std::cmp::Reverse(owned[*id].len()));
        'search: for from in &order {
            let from_count = owned[*from].len();
            for (topic, p) in owned[*from].iter().rev() {
                let to = members
                    .iter()
                    .filter(|m| m.topics.contains(topic) && owned[m.member_id].len() + 1 < from_count)
                    .min_by_key(|m| (owned[m.member_id].len(), m.member_id));
                if let Some(to) = to {
                    best = Some((from, to.member_id, (*topic, *p)));
                    break 'search;
                }
            }
        }
        let Some((from, to, tp)) = best else { break };
        owned.get_mut(from).map(|s| s.remove(&tp));
        owned.get_mut(to).map(|s| s.insert(tp));
    }
    owned
        .into_iter()
        .map(|(id, set)| (id.to_string(), to_topic_partitions(set)))
        .collect()
}

fn range(members: &[MemberSpec<'_>], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, TopicPartitions> {
    let mut out: BTreeMap<String, TopicPartitions> = members
        .iter()
        .map(|m| (m.member_id.to_string(), TopicPartitions::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        subscribers.sort();
        let n = subscribers.len() as i32;
        let (each, extra) = (count / n, count % n);
        let mut start = 0;
        for (i, id) in subscribers.iter().enumerate() {
            let len = each + i32::from((i as i32) < extra);
            if len > 0 {
                out.get_mut(*id)
                    .map(|a| a.insert(*topic, (start..start + len).collect()));
            }
            start += len;
        }
    }
    out
}

fn to_topic_partitions(set: BTreeSet<(Uuid, i32)>) -> TopicPartitions {
    let mut out = TopicPartitions::new();
    for (topic, p) in set {
        out.entry(topic).or_default().insert(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(a: &BTreeMap<String, TopicPartitions>, id: &str) -> usize {
        a[id].values().map(|s| s.len()).sum()
    }

    fn spec<'a>(id: &'a str, topics: &[Uuid], previous: Option<&'a TopicPartitions>) -> MemberSpec<'a> {
        MemberSpec {
            member_id: id,
            topics: topics.iter().copied().collect(),
            previous,
        }
    }

    fn assert_exactly_once(a: &BTreeMap<String, TopicPartitions>, partitions: &BTreeMap<Uuid, i32>) {
        let mut seen = BTreeSet::new();
        for parts in a.values() {
            for (t, ps) in parts {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "{t}-{p} assigned twice");
                }
            }
        }
        let all: usize = partitions.values().map(|c| *c as usize).sum();
        assert_eq!(seen.len(), all);
    }

    #[test]
    fn uniform_balances_and_is_sticky() {
        let t = Uuid::from_u128(1);
        let partitions = BTreeMap::from([(t, 6)]);
        let first = assign(UNIFORM, &[spec("a", &[t], None), spec("b", &[t], None)], &partitions);
        assert_eq!((count(&first, "a"), count(&first, "b")), (3, 3));
        assert_exactly_once(&first, &partitions);
        // A third member takes two partitions; a and b keep four of theirs.
        let second = assign(
            UNIFORM,
            &[
                spec("a", &[t], first.get("a")),
                spec("b", &[t], first.get("b")),
                spec("c", &[t], None),
            ],
            &partitions,
        );
        assert_exactly_once(&second, &partitions);
        for id in ["a", "b", "c"] {
            assert_eq!(count(&second, id), 2, "{id}");
        }
        let kept = |id: &str| second[id][&t].intersection(&first[id][&t]).count();
        assert_eq!(kept("a") + kept("b"), 4);
    }

    #[test]
    fn uniform_respects_heterogeneous_subscriptions() {
        let (t1, t2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let partitions = BTreeMap::from([(t1, 4), (t2, 2)]);
        let a = assign(
            UNIFORM,
            &[spec("a", &[t1], None), spec("b", &[t1, t2], None)],
            &partitions,
        );
        assert_exactly_once(&a, &partitions);
        assert!(!a["a"].contains_key(&t2));
        assert_eq!((count(&a, "a"), count(&a, "b")), (3, 3));
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let (t1, t2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let partitions = BTreeMap::from([(t1, 5), (t2, 5)]);
        let a = assign(
            RANGE,
            &[spec("b", &[t1, t2], None), spec("a", &[t1, t2], None)],
            &partitions,
        );
        assert_exactly_once(&a, &partitions);
        assert_eq!(a["a"][&t1], (0..3).collect());
        assert_eq!(a["b"][&t1], (3..5).collect());
        assert_eq!(a["a"][&t2], a["a"][&t1]);
    }
}
