//! Incremental fetch sessions (KIP-227): the broker remembers which partitions a consumer
//! fetches, so follow-up requests only name what changed and responses only carry partitions
//! whose data or watermarks moved.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use uuid::Uuid;

/// Kafka's `max.incremental.fetch.session.cache.slots`.
const MAX_SESSIONS: usize = 1000;

/// The sessionless full fetch epoch; with a session id it closes that session.
pub const FINAL_EPOCH: i32 = -1;
/// The epoch that opens a new session.
pub const INITIAL_EPOCH: i32 = 0;

/// A partition as a session names it: by topic id from Fetch v13, by name before.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct PartitionKey {
    pub topic_id: Uuid,
    pub topic: String,
    pub partition: i32,
}

/// What the client last asked of a partition, and what it was last told.
#[derive(Clone, Debug)]
pub struct SessionPartition {
    pub key: PartitionKey,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    last_sent: Option<(i64, i64, i64, i16)>,
}

impl SessionPartition {
    pub fn new(key: PartitionKey, fetch_offset: i64, max_bytes: i32, current_leader_epoch: i32) -> Self {
        SessionPartition {
            key,
            fetch_offset,
            max_bytes,
            current_leader_epoch,
            last_sent: None,
        }
    }
}

struct Session {
    next_epoch: i32,
    partitions: Vec<SessionPartition>,
    last_used: Instant,
}

/// What a response told the client of one partition: the partition, whether it carried
/// records, and (high watermark, last stable offset, log start offset, error code).
pub type SentPartition = (PartitionKey, bool, (i64, i64, i64, i16));

/// How one Fetch request relates to the session cache.
///
/// A context holds its session itself, not only its id: a request pipelined behind a
/// long-polling fetch may close or replace the session before that fetch answers, and the
/// answer must still carry only what changed, as Kafka's (which reads one request per
/// connection at a time) would.
#[derive(Clone, Debug)]
pub enum FetchContext {
    /// No session: a full response, session id 0.
    Sessionless,
    /// A new session: a full response carrying its id.
    Full { session_id: i32, session: SessionHandle },
    /// An existing session: only changed partitions are returned.
    Incremental { session_id: i32, session: SessionHandle },
}

impl FetchContext {
    /// The session id the response carries (0 without a session).
    pub fn session_id(&self) -> i32 {
        match self {
            FetchContext::Sessionless => 0,
            FetchContext::Full { session_id, .. } | FetchContext::Incremental { session_id, .. } => *session_id,
        }
    }
}

/// One session, locked on its own so that fetches of different sessions never wait on each
/// other; the cache's map lock is held only to find, add or drop a session.
#[derive(Clone)]
pub struct SessionHandle(Arc<Mutex<Session>>);

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionHandle")
    }
}

/// Errors a session lookup can give, as Kafka codes.
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;

/// How often the cache reports rejections and evictions: a client stuck retrying a rejected
/// session can send thousands of fetches a second, and one line per request would drown the log.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct FetchSessionCache {
    sessions: Mutex<HashMap<i32, SessionHandle>>,
    stats: SessionStats,
}

/// Counters of what the cache refused or dropped, reported at most once per
/// [`REPORT_INTERVAL`] so that a client looping on a rejected session is visible.
#[derive(Default)]
struct SessionStats {
    not_found: AtomicU64,
    invalid_epoch: AtomicU64,
    evicted: AtomicU64,
    last_report: Mutex<Option<Instant>>,
    reported: Mutex<(u64, u64, u64)>,
}

impl SessionStats {
    fn count(&self, code: i16) {
        let counter = if code == FETCH_SESSION_ID_NOT_FOUND {
            &self.not_found
        } else {
            &self.invalid_epoch
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.report();
    }

    fn evict(&self) {
        self.evicted.fetch_add(1, Ordering::Relaxed);
        self.report();
    }

    fn totals(&self) -> (u64, u64, u64) {
        (
            self.not_found.load(Ordering::Relaxed),
            self.invalid_epoch.load(Ordering::Relaxed),
            self.evicted.load(Ordering::Relaxed),
        )
    }

    fn report(&self) {
        let now = Instant::now();
        {
            let mut last = self.last_report.lock();
            if last.is_some_and(|t| now.duration_since(t) < REPORT_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        let totals = self.totals();
        let mut reported = self.reported.lock();
        let (nf, ie, ev) = (totals.0 - reported.0, totals.1 - reported.1, totals.2 - reported.2);
        *reported = totals;
        tracing::warn!(
            fetch_session_id_not_found = nf,
            invalid_fetch_session_epoch = ie,
            sessions_evicted = ev,
            total_rejected = totals.0 + totals.1,
            total_evicted = totals.2,
            "fetch sessions rejected or evicted since the last report (a client retrying a \
             rejected session in a loop shows here)"
        );
    }
}

impl FetchSessionCache {
    /// Resolves a request's session fields into the partitions to read.
    ///
    /// `requested` are the partitions the request names (with their new fetch state);
    /// `forgotten` are those an incremental request drops.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<SessionPartition>,
        forgotten: Vec<PartitionKey>,
    ) -> Result<(FetchContext, Vec<SessionPartition>), i16> {
        let result = self.resolve(session_id, epoch, requested, forgotten);
        if let Err(code) = result {
            self.stats.count(code);
        }
        result
    }

    /// Drops a session, as a throttled full fetch does with the session it made.
    pub fn remove(&self, session_id: i32) {
        self.sessions.lock().remove(&session_id);
    }

    /// Totals since start: (session id not found, invalid epoch, sessions evicted).
    pub fn rejection_totals(&self) -> (u64, u64, u64) {
        self.stats.totals()
    }

    fn resolve(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<SessionPartition>,
        forgotten: Vec<PartitionKey>,
    ) -> Result<(FetchContext, Vec<SessionPartition>), i16> {
        let mut sessions = self.sessions.lock();
        // A full request (epoch 0 or -1) that names a session closes it, as Kafka's fetch
        // manager does: clients reset a session they no longer trust this way (the Java
        // consumer after a session error, franz-go's session reset), and answering them with
        // an error would leave them retrying forever.
        if epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            if epoch == FINAL_EPOCH {
                return Ok((FetchContext::Sessionless, requested));
            }
            if sessions.len() >= MAX_SESSIONS {
                // Evict the least recently used session, as Kafka's cache does.
                if let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.0.lock().last_used)
                    .map(|(id, _)| *id)
                {
                    sessions.remove(&oldest);
                    self.stats.evict();
                }
            }
            let id = loop {
                let candidate = (Uuid::new_v4().as_u128() as i32) & i32::MAX;
                if candidate != 0 && !sessions.contains_key(&candidate) {
                    break candidate;
                }
            };
            let session = SessionHandle(Arc::new(Mutex::new(Session {
                next_epoch: 1,
                partitions: requested.clone(),
                last_used: Instant::now(),
            })));
            sessions.insert(id, session.clone());
            return Ok((
                FetchContext::Full {
                    session_id: id,
                    session,
                },
                requested,
            ));
        }
        // An incremental request: the session must exist (session id 0 never does) and the
        // epoch must be the next one.
        let handle = sessions.get(&session_id).ok_or(FETCH_SESSION_ID_NOT_FOUND)?.clone();
        drop(sessions);
        let mut session = handle.0.lock();
        if epoch != session.next_epoch {
            return Err(INVALID_FETCH_SESSION_EPOCH);
        }
        session.next_epoch = if session.next_epoch == i32::MAX {
            1
        } else {
            session.next_epoch + 1
        };
        session.last_used = Instant::now();
        if !forgotten.is_empty() {
            let forgotten: HashSet<PartitionKey> = forgotten.into_iter().collect();
            session.partitions.retain(|p| !forgotten.contains(&p.key));
        }
        if !requested.is_empty() {
            // By key, not by scanning: a session may hold thousands of partitions.
            let mut at: HashMap<PartitionKey, usize> = session
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| (p.key.clone(), i))
                .collect();
            for update in requested {
                match at.get(&update.key) {
                    Some(&i) => {
                        let existing = &mut session.partitions[i];
                        existing.fetch_offset = update.fetch_offset;
                        existing.max_bytes = update.max_bytes;
                        existing.current_leader_epoch = update.current_leader_epoch;
                    }
                    None => {
                        at.insert(update.key.clone(), session.partitions.len());
                        session.partitions.push(update);
                    }
                }
            }
        }
        let partitions = session.partitions.clone();
        drop(session);
        Ok((
            FetchContext::Incremental {
                session_id,
                session: handle,
            },
            partitions,
        ))
    }

    /// Records what a response told the client, and says which partitions an incremental
    /// response must carry: those with records, an error, or moved watermarks.
    ///
    /// After an incremental response, the partitions that returned records move to the end of
    /// the session's order, as in Kafka's fetch sessions (KIP-227): the next fetch reads the
    /// others first, so when a response fills up it is not always the same partitions that
    /// are left out.
    pub fn finish(&self, context: &FetchContext, results: &[SentPartition]) -> Vec<bool> {
        let (handle, incremental) = match context {
            FetchContext::Sessionless => return vec![true; results.len()],
            FetchContext::Full { session, .. } => (session, false),
            FetchContext::Incremental { session, .. } => (session, true),
        };
        let mut session = handle.0.lock();
        let mut served = vec![false; session.partitions.len()];
        let include = results
            .iter()
            .enumerate()
            .map(|(i, (key, has_records, state))| {
                // Results come in the session's order; a session changed by a request that
                // overtook this one falls back to a search.
                let at = if session.partitions.get(i).is_some_and(|p| &p.key == key) {
                    Some(i)
                } else {
                    session.partitions.iter().position(|p| &p.key == key)
                };
                let Some(at) = at else {
                    return true;
                };
                let p = &mut session.partitions[at];
                let changed = *has_records || state.3 != 0 || p.last_sent != Some(*state);
                p.last_sent = Some(*state);
                served[at] |= *has_records;
                !incremental || changed
            })
            .collect();
        if incremental && served.iter().any(|s| *s) {
            let partitions = std::mem::take(&mut session.partitions);
            let (mut quiet, rest): (Vec<_>, Vec<_>) =
                partitions.into_iter().zip(served).partition(|(_, served)| !*served);
            quiet.extend(rest);
            session.partitions = quiet.into_iter().map(|(p, _)| p).collect();
        }
        include
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartitionKey {
        PartitionKey {
            topic_id: Uuid::nil(),
            topic: "t".into(),
            partition: p,
        }
    }

    #[test]
    fn session_lifecycle() {
        let cache = FetchSessionCache::default();
        let (ctx, parts) = cache
            .begin(
                0,
                INITIAL_EPOCH,
                vec![
                    SessionPartition::new(key(0), 0, 100, -1),
                    SessionPartition::new(key(1), 5, 100, -1),
                ],
                vec![],
            )
            .unwrap();
        let FetchContext::Full { session_id, .. } = ctx else {
            panic!("expected a new session")
        };
        assert_eq!(parts.len(), 2);
        let state = (10, 10, 0, 0);
        assert_eq!(
            cache.finish(&ctx, &[(key(0), true, state), (key(1), false, state)]),
            vec![true, true]
        );
        // Incremental with nothing named: both partitions still fetched, neither changed.
        let (ctx, parts) = cache.begin(session_id, 1, vec![], vec![key(1)]).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(cache.finish(&ctx, &[(key(0), false, state)]), vec![false]);
        assert_eq!(
            cache.begin(session_id, 1, vec![], vec![]).unwrap_err(),
            INVALID_FETCH_SESSION_EPOCH
        );
        assert_eq!(
            cache.begin(42, 1, vec![], vec![]).unwrap_err(),
            FETCH_SESSION_ID_NOT_FOUND
        );
        // Rotation: after an incremental response where partition 0 returned records, the
        // next fetch reads partition 2 before it.
        let (ctx, parts) = cache
            .begin(session_id, 2, vec![SessionPartition::new(key(2), 0, 100, -1)], vec![])
            .unwrap();
        assert_eq!(parts.iter().map(|p| p.key.partition).collect::<Vec<_>>(), vec![0, 2]);
        cache.finish(&ctx, &[(key(0), true, state), (key(2), false, state)]);
        let (ctx, parts) = cache.begin(session_id, 3, vec![], vec![]).unwrap();
        assert_eq!(parts.iter().map(|p| p.key.partition).collect::<Vec<_>>(), vec![2, 0]);
        cache.finish(&ctx, &[(key(2), false, state), (key(0), false, state)]);
        let (_, parts) = cache.begin(session_id, 4, vec![], vec![]).unwrap();
        assert_eq!(
            parts.iter().map(|p| p.key.partition).collect::<Vec<_>>(),
            vec![2, 0],
            "nothing served: the order stays"
        );
        let (ctx, _) = cache.begin(session_id, FINAL_EPOCH, vec![], vec![]).unwrap();
        assert!(matches!(ctx, FetchContext::Sessionless));
        assert_eq!(
            cache.begin(session_id, 3, vec![], vec![]).unwrap_err(),
            FETCH_SESSION_ID_NOT_FOUND
        );
    }
}
