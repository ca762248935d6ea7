//! The share-group side of Kafka's group coordinator: the map of share groups, heartbeats,
//! descriptions, listing, and the ticker that fences members whose session timed out (their
//! share sessions end and their records are released to the others).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::share_group::{Heartbeat, HeartbeatResult, ShareGroup, ShareMember, TopicInfo};
use super::{SharePartitionManager, codes};
use crate::group::{Durable, GroupCoordinator};
use crate::metadata::TopicRegistry;
use crate::timer;

/// How often member sessions are checked.
const TICK: Duration = Duration::from_millis(100);

/// A group as ShareGroupDescribe reports it.
pub struct ShareGroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<ShareMember>,
}

pub struct ShareGroupCoordinator {
    topics: Arc<TopicRegistry>,
    classic: Arc<GroupCoordinator>,
    pub partitions: Arc<SharePartitionManager>,
    groups: RwLock<HashMap<String, Arc<Mutex<ShareGroup>>>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl ShareGroupCoordinator {
    pub fn new(
        topics: Arc<TopicRegistry>,
        classic: Arc<GroupCoordinator>,
        partitions: Arc<SharePartitionManager>,
    ) -> Arc<ShareGroupCoordinator> {
        // Groups with persisted share-partition state exist, empty, until a member joins.
        let groups = partitions
            .group_ids()
            .into_iter()
            .map(|id| (id.clone(), Arc::new(Mutex::new(ShareGroup::new(&id)))))
            .collect();
        Arc::new(ShareGroupCoordinator {
            topics,
            classic,
            partitions,
            groups: RwLock::new(groups),
            stop: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts the session ticker.
    pub fn start(self: &Arc<Self>) {
        let me = self.clone();
        self.tasks
            .lock()
            .push(timer::every(TICK, TICK, self.stop.subscribe(), move || {
                me.tick(Instant::now());
                std::future::ready(())
            }));
    }

    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    /// Fences members whose session expired.
    pub fn tick(&self, now: Instant) {
        let groups: Vec<_> = self.groups.read().values().cloned().collect();
        for group in groups {
            let (group_id, expired) = {
                let mut g = group.lock();
                (g.group_id.clone(), g.expire(now))
            };
            for member in expired {
                tracing::info!(group = %group_id, member = %member, "share group member session timed out");
                self.member_gone(&group_id, &member);
            }
        }
    }

    /// A member left or was fenced: its share session ends and its records are released.
    fn member_gone(&self, group_id: &str, member: &str) {
        let session = self.partitions.sessions.remove(group_id, member);
        self.partitions.release(group_id, member, &session);
        self.partitions.release_everywhere(group_id, member);
    }

    /// A connection closed: the share sessions it carried end and their records are released
    /// at once, as Kafka does, rather than when their locks run out.
    pub fn connection_closed(&self, connection: std::net::SocketAddr) {
        for (group, member, partitions) in self.partitions.sessions.connection_closed(connection) {
            self.partitions.release(&group, &member, &partitions);
        }
    }

    fn resolve_topics(&self, names: &BTreeSet<String>) -> Vec<TopicInfo> {
        names
            .iter()
            .filter_map(|n| self.topics.get(n))
            .map(|t| TopicInfo {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partitions,
            })
            .collect()
    }

    /// A topic name for an id, for answers that carry both.
    pub fn topic_name(&self, id: &uuid::Uuid) -> Option<String> {
        self.topics.get_by_id(id).map(|t| t.name.clone())
    }

    /// One heartbeat; the writes are the share-partitions it initialised, which the answer
    /// waits for.
    pub fn heartbeat(&self, group_id: &str, hb: Heartbeat<'_>) -> Result<(HeartbeatResult, Vec<Durable>), i16> {
        if group_id.is_empty() || hb.member_id.is_empty() {
            return Err(codes::INVALID_REQUEST);
        }
        // A group id belongs to one kind of group.
        if self.classic.group_snapshot(group_id).is_some() {
            return Err(codes::GROUP_ID_NOT_FOUND);
        }
        let group = {
            let existing = self.groups.read().get(group_id).cloned();
            match existing {
                Some(g) => g,
                None if hb.member_epoch != 0 => return Err(codes::UNKNOWN_MEMBER_ID),
                None => self
                    .groups
                    .write()
                    .entry(group_id.to_string())
                    .or_insert_with(|| Arc::new(Mutex::new(ShareGroup::new(group_id))))
                    .clone(),
            }
        };
        let leaving = hb.member_epoch == -1;
        let member = hb.member_id.to_string();
        let config = self.partitions.config();
        let mut g = group.lock();
        let mut durable = Vec::new();
        if !leaving && hb.member_epoch >= 0 {
            // Partitions of subscribed topics are initialised before they are assigned
            // (share.auto.offset.reset decides where from): that moves the group epoch.
            let mut names = g.subscribed_topics();
            names.extend(hb.subscribed_topic_names.iter().flatten().cloned());
            let partitions: Vec<_> = self
                .resolve_topics(&names)
                .into_iter()
                .flat_map(|t| (0..t.partitions).map(move |p| (t.id, p)))
                .collect();
            durable = self.partitions.initialize(group_id, &partitions);
            if !durable.is_empty() && (hb.member_epoch == 0 || g.members.contains_key(hb.member_id)) {
                g.bump_epoch();
            }
        }
        let session_timeout = self
            .partitions
            .group_configs
            .value(group_id, super::group_configs::SESSION_TIMEOUT_MS)
            .0
            .parse::<u64>()
            .map_or(config.session_timeout, Duration::from_millis);
        let result = g.heartbeat(hb, Instant::now(), session_timeout, config.max_size, &|names| {
            self.resolve_topics(names)
        });
        drop(g);
        if leaving && result.is_ok() {
            self.member_gone(group_id, &member);
        }
        result.map(|r| (r, durable))
    }

    /// The heartbeat interval members of `group_id` are told (its group config, if set).
    pub fn heartbeat_interval_ms(&self, group_id: &str) -> i32 {
        let (value, _) = self
            .partitions
            .group_configs
            .value(group_id, super::group_configs::HEARTBEAT_INTERVAL_MS);
        value.parse().unwrap_or(self.partitions.config().heartbeat_interval_ms)
    }

    pub fn describe(&self, group_id: &str) -> Option<ShareGroupDescription> {
        let group = self.groups.read().get(group_id).cloned()?;
        let g = group.lock();
        Some(ShareGroupDescription {
            group_id: g.group_id.clone(),
            state: g.state().name(),
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            members: g.members.values().cloned().collect(),
        })
    }

    /// Every share group with its state name.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        let groups: Vec<_> = self.groups.read().values().cloned().collect();
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                let g = g.lock();
                (g.group_id.clone(), g.state().name())
            })
            .collect();
        out.sort();
        out
    }

    pub fn is_share_group(&self, group_id: &str) -> bool {
        self.groups.read().contains_key(group_id)
    }

    /// DeleteGroups of a share group: refused while it has members; otherwise its state is
    /// tombstoned and the group forgotten.
    pub fn delete_group(&self, group_id: &str) -> Result<Vec<Durable>, i16> {
        if let Some(code) = self.check_group(group_id, true) {
            return Err(code);
        }
        let topics: BTreeSet<uuid::Uuid> = self
            .partitions
            .start_offsets(group_id)
            .into_iter()
            .map(|(topic, _, _)| topic)
            .collect();
        let mut durable = Vec::new();
        for topic in topics {
            durable.extend(self.partitions.delete_topic_state(group_id, topic)?);
        }
        self.groups.write().remove(group_id);
        tracing::info!(group = %group_id, "deleted share group");
        Ok(durable)
    }

    /// Whether `group_id` is a share group (None), or the code the offsets APIs refuse it with:
    /// unknown, or (when `must_be_empty`) with members.
    pub fn check_group(&self, group_id: &str, must_be_empty: bool) -> Option<i16> {
        let group = self.groups.read().get(group_id).cloned();
        match group {
            None => Some(codes::GROUP_ID_NOT_FOUND),
            Some(g) if must_be_empty && !g.lock().members.is_empty() => Some(crate::api::errors::NON_EMPTY_GROUP),
            Some(_) => None,
        }
    }

    /// An empty share group of this id, created if missing (AlterShareGroupOffsets may name
    /// a group before any member joined it); None if the id is a classic group's.
    pub fn get_or_create_empty(&self, group_id: &str) -> Result<(), i16> {
        if self.classic.group_snapshot(group_id).is_some() {
            return Err(codes::GROUP_ID_NOT_FOUND);
        }
        let group = self
            .groups
            .write()
            .entry(group_id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(ShareGroup::new(group_id))))
            .clone();
        if group.lock().members.is_empty() {
            Ok(())
        } else {
            Err(crate::api::errors::NON_EMPTY_GROUP)
        }
    }
}
