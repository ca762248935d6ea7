//! Kafka's `MemberMetadata`: one member of a classic group, its protocols, its assignment,
//! the JoinGroup or SyncGroup reply it waits for, and its heartbeat deadline.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{JoinCallback, SyncCallback};

/// One member of a group.
#[derive(Debug)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub awaiting_join: Option<JoinCallback>,
    pub awaiting_sync: Option<SyncCallback>,
    /// Joined but not yet through a completed join: its deadline is the new-member timeout.
    pub is_new: bool,
    /// The member is removed when this passes without a heartbeat (see
    /// [`MemberMetadata::has_satisfied_heartbeat`]).
    pub heartbeat_deadline: Instant,
}

impl MemberMetadata {
    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join.is_some()
    }

    pub fn is_awaiting_sync(&self) -> bool {
        self.awaiting_sync.is_some()
    }

    pub fn is_static(&self) -> bool {
        self.group_instance_id.is_some()
    }

    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols.iter().find(|(name, _)| name == protocol).map(|(_, m)| m)
    }

    /// Same protocols with the same metadata, in the same order.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among `candidates`.
    pub(super) fn vote<'a>(&'a self, candidates: &HashSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| candidates.contains(n))
    }

    /// Kafka's `hasSatisfiedHeartbeat` at a passed deadline: members waiting in a rebalance
    /// stay alive (except new ones, bounded by the new-member timeout).
    pub fn keeps_alive_past_deadline(&self) -> bool {
        !self.is_new && (self.is_awaiting_join() || self.is_awaiting_sync())
    }

    pub fn refresh_heartbeat(&mut self, now: Instant) {
        self.heartbeat_deadline = now + Duration::from_millis(self.session_timeout_ms.max(0) as u64);
    }
}
