//! Share groups' membership (KIP-932's ShareGroupHeartbeat): members join with epoch 0 and
//! a member id they chose, leave with epoch -1, and are fenced when they stop heartbeating for
//! `group.share.session.timeout.ms`. Any change of members, subscriptions or subscribed topics'
//! partitions bumps the group epoch; the next heartbeat computes the target assignment with
//! the simple assignor and each member moves to it at once (share groups have no revocation
//! phase: a partition may be shared by several members).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::codes;

/// A subscribed topic as the metadata knows it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
}

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

#[derive(Clone, Debug)]
pub struct ShareMember {
    pub member_id: String,
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: BTreeSet<String>,
    pub assignment: Assignment,
    deadline: Instant,
    /// The assignment last sent to the member, so an unchanged one is not sent again.
    sent: Option<Assignment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareGroupState {
    Empty,
    Stable,
}

impl ShareGroupState {
    pub fn name(&self) -> &'static str {
        match self {
            ShareGroupState::Empty => "Empty",
            ShareGroupState::Stable => "Stable",
        }
    }
}

pub struct ShareGroup {
    pub group_id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ShareMember>,
    /// The subscribed topics when the epoch last moved: a new partition bumps it.
    subscribed_metadata: Vec<TopicInfo>,
}

/// One heartbeat, decoded.
pub struct Heartbeat<'a> {
    pub member_id: &'a str,
    pub member_epoch: i32,
    pub rack_id: Option<&'a str>,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub client_id: &'a str,
    pub client_host: &'a str,
}

/// A heartbeat's answer.
#[derive(Debug, PartialEq)]
pub struct HeartbeatResult {
    pub member_epoch: i32,
    /// The member's assignment, when it is new to the member.
    pub assignment: Option<Assignment>,
}

impl ShareGroup {
    pub fn new(group_id: &str) -> ShareGroup {
        ShareGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            subscribed_metadata: Vec::new(),
        }
    }

    pub fn state(&self) -> ShareGroupState {
        if self.members.is_empty() {
            ShareGroupState::Empty
        } else {
            ShareGroupState::Stable
        }
    }

    /// A change outside the members (share-partitions initialised for the group) that the
    /// next assignment must reflect.
    pub fn bump_epoch(&mut self) {
        self.group_epoch += 1;
    }

    /// Every topic name some member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned())
            .collect()
    }

    /// Applies one heartbeat. `topics` resolves subscribed names to the topics that exist.
    pub fn heartbeat(
        &mut self,
        hb: Heartbeat<'_>,
        now: Instant,
        session_timeout: Duration,
        max_size: usize,
        topics: &dyn Fn(&BTreeSet<String>) -> Vec<TopicInfo>,
    ) -> Result<HeartbeatResult, i16> {
        if hb.member_epoch == -1 {
            if self.members.remove(hb.member_id).is_none() {
                return Err(codes::UNKNOWN_MEMBER_ID);
            }
            self.group_epoch += 1;
            return Ok(HeartbeatResult {
                member_epoch: -1,
                assignment: None,
            });
        }
        let mut changed = false;
        if hb.member_epoch == 0 {
            hb.subscribed_topic_names
                .as_ref()
                .filter(|n| !n.is_empty())
                .ok_or(codes::INVALID_REQUEST)?;
            if !self.members.contains_key(hb.member_id) && self.members.len() >= max_size {
                return Err(codes::GROUP_MAX_SIZE_REACHED);
            }
            let member = self.members.entry(hb.member_id.to_string()).or_insert_with(|| {
                changed = true;
                ShareMember {
                    member_id: hb.member_id.to_string(),
                    member_epoch: 0,
                    rack_id: None,
                    client_id: String::new(),
                    client_host: String::new(),
                    subscribed_topic_names: BTreeSet::new(),
                    assignment: Assignment::new(),
                    deadline: now,
                    sent: None,
                }
            });
            // A rejoin starts over: the member gets its assignment again.
            member.sent = None;
            member.client_id = hb.client_id.to_string();
            member.client_host = hb.client_host.to_string();
        } else {
            let member = self.members.get(hb.member_id).ok_or(codes::UNKNOWN_MEMBER_ID)?;
            if member.member_epoch != hb.member_epoch {
                return Err(codes::FENCED_MEMBER_EPOCH);
            }
        }
        let member = self.members.get_mut(hb.member_id).ok_or(codes::UNKNOWN_MEMBER_ID)?;
        member.deadline = now + session_timeout;
        if let Some(rack) = hb.rack_id {
            member.rack_id = Some(rack.to_string());
        }
        if let Some(names) = &hb.subscribed_topic_names {
            let subscribed: BTreeSet<String> = names.iter().cloned().collect();
            if !subscribed.is_empty() && subscribed != member.subscribed_topic_names {
                member.subscribed_topic_names = subscribed;
                changed = true;
            }
        }
        let metadata = topics(&self.subscribed_topics());
        if metadata != self.subscribed_metadata {
            self.subscribed_metadata = metadata;
            changed = true;
        }
        if changed {
            self.group_epoch += 1;
        }
        if self.assignment_epoch < self.group_epoch {
            self.assign();
        }
        let member = self.members.get_mut(hb.member_id).ok_or(codes::UNKNOWN_MEMBER_ID)?;
        member.member_epoch = self.assignment_epoch;
        let assignment = (member.sent.as_ref() != Some(&member.assignment)).then(|| member.assignment.clone());
        if assignment.is_some() {
            member.sent = Some(member.assignment.clone());
        }
        Ok(HeartbeatResult {
            member_epoch: member.member_epoch,
            assignment,
        })
    }

    /// Removes members whose session expired; returns their ids.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.deadline <= now)
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            self.members.remove(id);
        }
        if !expired.is_empty() {
            self.group_epoch += 1;
        }
        expired
    }

    /// Kafka's simple share assignor: each subscribed partition goes to the members subscribed
    /// to its topic in turn (ordered by member id); when a topic has fewer partitions than
    /// members, its partitions are handed round again so every member gets one, shared.
    fn assign(&mut self) {
        for m in self.members.values_mut() {
            m.assignment.clear();
        }
        for topic in &self.subscribed_metadata {
            let subscribers: Vec<String> = self
                .members
                .values()
                .filter(|m| m.subscribed_topic_names.contains(&topic.name))
                .map(|m| m.member_id.clone())
                .collect();
            if subscribers.is_empty() || topic.partitions <= 0 {
                continue;
            }
            let partitions = topic.partitions as usize;
            let rounds = partitions.max(subscribers.len());
            for i in 0..rounds {
                let member = &subscribers[i % subscribers.len()];
                let partition = (i % partitions) as i32;
                if let Some(m) = self.members.get_mut(member) {
                    m.assignment.entry(topic.id).or_default().insert(partition);
                }
            }
        }
        self.assignment_epoch = self.group_epoch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &BTreeSet<String>) -> Vec<TopicInfo> {
        names
            .iter()
            .map(|n| TopicInfo {
                name: n.clone(),
                id: Uuid::from_u128(n.len() as u128),
                partitions: 2,
            })
            .collect()
    }

    fn hb<'a>(member: &'a str, epoch: i32, subscribe: Option<&[&str]>) -> Heartbeat<'a> {
        Heartbeat {
            member_id: member,
            member_epoch: epoch,
            rack_id: None,
            subscribed_topic_names: subscribe.map(|s| s.iter().map(|n| n.to_string()).collect()),
            client_id: "c",
            client_host: "/127.0.0.1",
        }
    }

    #[test]
    fn join_share_and_leave() {
        let now = Instant::now();
        let t = Duration::from_secs(45);
        let mut g = ShareGroup::new("g");
        let a = g.heartbeat(hb("a", 0, Some(&["t"])), now, t, 10, &topics).unwrap();
        assert_eq!(a.member_epoch, 1);
        let id = Uuid::from_u128(1);
        assert_eq!(a.assignment.unwrap()[&id], BTreeSet::from([0, 1]));
        // Unchanged: no assignment in the answer.
        assert_eq!(
            g.heartbeat(hb("a", 1, None), now, t, 10, &topics).unwrap().assignment,
            None
        );
        for m in ["b", "c"] {
            g.heartbeat(hb(m, 0, Some(&["t"])), now, t, 10, &topics).unwrap();
        }
        // Three members, two partitions: everyone gets one, one partition is shared.
        let r = g.heartbeat(hb("a", 1, None), now, t, 10, &topics).unwrap();
        assert_eq!(r.member_epoch, 3);
        assert_eq!(r.assignment.unwrap()[&id], BTreeSet::from([0]));
        assert_eq!(
            g.heartbeat(hb("a", 1, None), now, t, 10, &topics),
            Err(codes::FENCED_MEMBER_EPOCH)
        );
        assert_eq!(
            g.heartbeat(hb("x", 5, None), now, t, 10, &topics),
            Err(codes::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            g.heartbeat(hb("x", 0, None), now, t, 10, &topics),
            Err(codes::INVALID_REQUEST)
        );
        assert_eq!(
            g.heartbeat(hb("x", 0, Some(&["t"])), now, t, 3, &topics),
            Err(codes::GROUP_MAX_SIZE_REACHED)
        );
        assert_eq!(
            g.heartbeat(hb("b", -1, None), now, t, 10, &topics)
                .unwrap()
                .member_epoch,
            -1
        );
        assert_eq!(g.expire(now + t), vec!["a".to_string(), "c".to_string()]);
        assert_eq!(g.state(), ShareGroupState::Empty);
    }
}
