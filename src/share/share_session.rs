//! Share sessions (KIP-932's ShareSessionCache): per group member, the share-partitions it
//! fetches, so that incremental ShareFetch requests name only changes. A request with
//! ShareSessionEpoch 0 opens a session (replacing the member's old one), -1 closes it, and any
//! other epoch must be the session's next one; each request that uses a session moves it on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use uuid::Uuid;

use super::codes;

/// A partition a session fetches: topic id and partition index.
pub type TopicIdPartition = (Uuid, i32);

struct ShareSession {
    epoch: i32,
    partitions: Vec<TopicIdPartition>,
    last_used: Instant,
    /// The connection that last used the session: when it closes, the session ends.
    connection: SocketAddr,
}

/// What a request does to its member's session.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionUse {
    /// The session is open (new or continued): fetch these partitions.
    Fetch(Vec<TopicIdPartition>),
    /// The session closed; these were its partitions (their records are released).
    Closed(Vec<TopicIdPartition>),
}

pub struct ShareSessionCache {
    sessions: Mutex<HashMap<(String, String), ShareSession>>,
    max_sessions: usize,
    /// A full cache makes room by dropping sessions unused this long (the member session
    /// timeout: their members are gone), so sessions nobody uses cannot lock out new ones.
    idle_timeout: Duration,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

impl ShareSessionCache {
    pub fn new(max_sessions: usize, idle_timeout: Duration) -> ShareSessionCache {
        ShareSessionCache {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
            idle_timeout,
        }
    }

    /// A ShareFetch: opens, continues or closes the member's session, adding `added` and
    /// removing `forgotten`. The error is the request's top-level code.
    pub fn fetch(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
        added: &[TopicIdPartition],
        forgotten: &[TopicIdPartition],
        connection: SocketAddr,
    ) -> Result<SessionUse, i16> {
        let mut sessions = self.sessions.lock();
        let key = (group.to_string(), member.to_string());
        let now = Instant::now();
        match epoch {
            0 => {
                if !sessions.contains_key(&key) && sessions.len() >= self.max_sessions {
                    sessions.retain(|_, s| now.duration_since(s.last_used) < self.idle_timeout);
                    if sessions.len() >= self.max_sessions {
                        return Err(codes::SHARE_SESSION_LIMIT_REACHED);
                    }
                }
                let mut partitions = Vec::new();
                for p in added {
                    if !partitions.contains(p) {
                        partitions.push(*p);
                    }
                }
                sessions.insert(
                    key,
                    ShareSession {
                        epoch: 1,
                        partitions: partitions.clone(),
                        last_used: now,
                        connection,
                    },
                );
                Ok(SessionUse::Fetch(partitions))
            }
            -1 => sessions
                .remove(&key)
                .map(|s| SessionUse::Closed(s.partitions))
                .ok_or(codes::SHARE_SESSION_NOT_FOUND),
            e if e < 0 => Err(codes::INVALID_SHARE_SESSION_EPOCH),
            e => {
                let session = sessions.get_mut(&key).ok_or(codes::SHARE_SESSION_NOT_FOUND)?;
                if session.epoch != e {
                    return Err(codes::INVALID_SHARE_SESSION_EPOCH);
                }
                session.partitions.retain(|p| !forgotten.contains(p));
                for p in added {
                    if !session.partitions.contains(p) {
                        session.partitions.push(*p);
                    }
                }
                session.epoch = next_epoch(e);
                session.last_used = now;
                session.connection = connection;
                Ok(SessionUse::Fetch(session.partitions.clone()))
            }
        }
    }

    /// A ShareAcknowledge: it may continue (epoch > 0) or close (-1) a session, never open one.
    pub fn acknowledge(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
        connection: SocketAddr,
    ) -> Result<SessionUse, i16> {
        if epoch == 0 {
            return Err(codes::INVALID_SHARE_SESSION_EPOCH);
        }
        self.fetch(group, member, epoch, &[], &[], connection)
    }

    /// Ends the sessions last used through `connection`, which closed; returns each one's
    /// group, member and partitions.
    pub fn connection_closed(&self, connection: SocketAddr) -> Vec<(String, String, Vec<TopicIdPartition>)> {
        let mut sessions = self.sessions.lock();
        let keys: Vec<(String, String)> = sessions
            .iter()
            .filter(|(_, s)| s.connection == connection)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| sessions.remove(&k).map(|s| (k.0, k.1, s.partitions)))
            .collect()
    }

    /// Drops the session of a member that left its group; returns its partitions.
    pub fn remove(&self, group: &str, member: &str) -> Vec<TopicIdPartition> {
        self.sessions
            .lock()
            .remove(&(group.to_string(), member.to_string()))
            .map(|s| s.partitions)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);

    #[test]
    fn epochs_open_continue_and_close() {
        let c = ShareSessionCache::new(1, Duration::from_secs(60));
        let t = Uuid::from_u128(1);
        assert_eq!(
            c.fetch("g", "m", 1, &[], &[], CONN),
            Err(codes::SHARE_SESSION_NOT_FOUND)
        );
        assert_eq!(
            c.fetch("g", "m", 0, &[(t, 0)], &[], CONN),
            Ok(SessionUse::Fetch(vec![(t, 0)]))
        );
        assert_eq!(
            c.fetch("g", "other", 0, &[], &[], CONN),
            Err(codes::SHARE_SESSION_LIMIT_REACHED)
        );
        assert_eq!(
            c.fetch("g", "m", 2, &[], &[], CONN),
            Err(codes::INVALID_SHARE_SESSION_EPOCH)
        );
        assert_eq!(
            c.fetch("g", "m", 1, &[(t, 1)], &[(t, 0)], CONN),
            Ok(SessionUse::Fetch(vec![(t, 1)]))
        );
        assert_eq!(
            c.acknowledge("g", "m", 0, CONN),
            Err(codes::INVALID_SHARE_SESSION_EPOCH)
        );
        assert_eq!(c.acknowledge("g", "m", 2, CONN), Ok(SessionUse::Fetch(vec![(t, 1)])));
        assert_eq!(
            c.fetch("g", "m", -1, &[], &[], CONN),
            Ok(SessionUse::Closed(vec![(t, 1)]))
        );
        assert_eq!(c.acknowledge("g", "m", -1, CONN), Err(codes::SHARE_SESSION_NOT_FOUND));
    }

    #[test]
    fn idle_sessions_make_room() {
        let c = ShareSessionCache::new(1, Duration::ZERO);
        let t = Uuid::from_u128(1);
        assert!(c.fetch("g", "a", 0, &[(t, 0)], &[], CONN).is_ok());
        // Unused for the idle timeout: dropped for a new member's session.
        assert!(c.fetch("g", "b", 0, &[(t, 0)], &[], CONN).is_ok());
        assert_eq!(
            c.fetch("g", "a", 1, &[], &[], CONN),
            Err(codes::SHARE_SESSION_NOT_FOUND)
        );
        assert_eq!(
            c.connection_closed(CONN),
            vec![("g".to_string(), "b".to_string(), vec![(t, 0)])]
        );
        assert_eq!(
            c.fetch("g", "b", 1, &[], &[], CONN),
            Err(codes::SHARE_SESSION_NOT_FOUND)
        );
    }
}
