//! Client quotas, enforced as Kafka's `ClientQuotaManager` and `ClientRequestQuotaManager`
//! enforce them.
//!
//! A produce request's record bytes, a fetch response's bytes and the time the broker spends
//! handling each request are recorded against the quota entity the client falls under (user
//! and client id, with Kafka's precedence of specific over default entities). When the rate
//! over the quota window exceeds the quota, the answer carries a throttle time,
//! `(rate - quota) / quota * window`, and the connection stops reading for that long
//! (KIP-219), so a fast client slows down instead of taking memory and time from the others.

pub mod connection_quotas;
pub mod controller_mutation_quota;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::metadata::client_quotas::{CLIENT_ID, QuotaEntity, USER};

/// A connection's mute (KIP-219): a throttled client's connection stops reading requests
/// until the throttle time has passed.
#[derive(Debug, Default)]
pub struct ChannelMute(Mutex<Option<Instant>>);

impl ChannelMute {
    /// Mutes the connection for `throttle` from now (or longer, if already muted longer).
    pub fn mute_for(&self, throttle: Duration) {
        if throttle.is_zero() {
            return;
        }
        let until = Instant::now() + throttle;
        let mut muted = self.0.lock();
        if muted.is_none_or(|m| m < until) {
            *muted = Some(until);
        }
    }

    /// Until when the connection is muted, clearing the mute.
    pub fn take(&self) -> Option<Instant> {
        self.0.lock().take()
    }
}

/// What a quota limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaType {
    /// `producer_byte_rate`: record bytes produced per second.
    Produce,
    /// `consumer_byte_rate`: bytes fetched per second.
    Fetch,
    /// `request_percentage`: the broker's time spent on the client's requests, as a
    /// percentage of one thread (200 is two threads' worth).
    Request,
    /// `controller_mutation_rate`: partitions created or deleted per second (KIP-599).
    ControllerMutation,
}

impl QuotaType {
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => "producer_byte_rate",
            QuotaType::Fetch => "consumer_byte_rate",
            QuotaType::Request => "request_percentage",
            QuotaType::ControllerMutation => "controller_mutation_rate",
        }
    }

    /// A time spent handling requests, in the unit `request_percentage` rates are kept in:
    /// percent of a thread-second.
    pub fn request_time_percentage(spent: Duration) -> f64 {
        spent.as_secs_f64() * 100.0
    }
}

/// The entity whose rate a client's bytes count against: the (user, client id) pair as far as
/// the matching quota names them (`Some("")` never occurs; `None` is "all of them").
type MetricKey = (QuotaType, Option<String>, Option<String>);

/// Kafka's quota window: `quota.window.num` samples of `quota.window.size.seconds`.
#[derive(Clone, Copy, Debug)]
pub struct QuotaWindow {
    pub samples: u32,
    pub sample: Duration,
}

impl QuotaWindow {
    /// `quota.window.num` and `quota.window.size.seconds`.
    pub fn from_config(config: &crate::config::BrokerConfig) -> QuotaWindow {
        let d = QuotaWindow::default();
        let int = |key: &str| {
            config
                .get(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v >= 1)
        };
        QuotaWindow {
            samples: int("quota.window.num").map_or(d.samples, |v| v.min(u64::from(u32::MAX)) as u32),
            sample: int("quota.window.size.seconds").map_or(d.sample, Duration::from_secs),
        }
    }
}

impl Default for QuotaWindow {
    fn default() -> Self {
        QuotaWindow {
            samples: 11,
            sample: Duration::from_secs(1),
        }
    }
}

/// Kafka's sampled `Rate`: values summed in fixed-length samples; the rate divides the sum
/// of the live samples by the time they span, never less than all but one sample, so a new
/// client is not judged on its first instant.
struct Rate {
    samples: VecDeque<(Instant, f64)>,
}

impl Rate {
    fn new() -> Rate {
        Rate {
            samples: VecDeque::new(),
        }
    }

    fn record(&mut self, value: f64, now: Instant, window: QuotaWindow) {
        self.purge(now, window);
        match self.samples.back_mut() {
            Some((start, sum)) if now.duration_since(*start) < window.sample => *sum += value,
            _ => self.samples.push_back((now, value)),
        }
    }

    fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    fn purge(&mut self, now: Instant, window: QuotaWindow) {
        let span = window.sample * window.samples;
        while self
            .samples
            .front()
            .is_some_and(|(start, _)| now.duration_since(*start) >= span)
        {
            self.samples.pop_front();
        }
    }

    /// (rate per second, the window it was measured over).
    fn measure(&mut self, now: Instant, window: QuotaWindow) -> (f64, Duration) {
        self.purge(now, window);
        let total: f64 = self.samples.iter().map(|(_, v)| v).sum();
        let oldest = self.samples.front().map_or(now, |(s, _)| *s);
        let mut elapsed = now.duration_since(oldest);
        // Kafka's `Rate.windowSize`: fewer than all-but-one whole samples are padded with the
        // missing whole samples (the part-sample stays).
        let full = (elapsed.as_nanos() / window.sample.as_nanos().max(1)) as u32;
        let minimum = window.samples.saturating_sub(1).max(1);
        if full < minimum {
            elapsed += window.sample * (minimum - full);
        }
        (total / elapsed.as_secs_f64(), elapsed)
    }
}

/// The quotas in force, from the metadata log's client quotas, and the rates recorded.
pub struct ClientQuotaManager {
    window: QuotaWindow,
    rates: Mutex<HashMap<MetricKey, Rate>>,
    /// When rates idle for a whole window are next dropped: a default quota keeps a rate
    /// for every client id that comes by, and those must not pile up.
    next_expiry: Mutex<Instant>,
}

impl ClientQuotaManager {
    pub fn new(window: QuotaWindow) -> ClientQuotaManager {
        ClientQuotaManager {
            window,
            rates: Mutex::new(HashMap::new()),
            next_expiry: Mutex::new(Instant::now()),
        }
    }

    /// The longest throttle Kafka applies: one full quota window for byte rates, one sample
    /// for request time (`ClientRequestQuotaManager` bounds it by `quota.window.size.seconds`).
    pub fn max_throttle(&self, kind: QuotaType) -> Duration {
        match kind {
            QuotaType::Request => self.window.sample,
            QuotaType::Produce | QuotaType::Fetch | QuotaType::ControllerMutation => {
                self.window.sample * self.window.samples
            }
        }
    }

    /// Records `value` (bytes, or a request time percentage) for a client and returns how
    /// long it must be throttled (zero when within its quota, or without one). `quotas` are
    /// the configured client quotas.
    pub fn record(
        &self,
        quotas: &[(QuotaEntity, BTreeMap<String, f64>)],
        kind: QuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now: Instant,
    ) -> Duration {
        let Some((metric_user, metric_client, quota)) = resolve(quotas, kind, user, client_id) else {
            return Duration::ZERO;
        };
        if quota <= 0.0 {
            return self.max_throttle(kind);
        }
        self.expire_now_and_then(now);
        let mut rates = self.rates.lock();
        // A client that changed entities (a quota added or removed) starts a new rate.
        let rate = rates
            .entry((kind, metric_user, metric_client))
            .or_insert_with(Rate::new);
        rate.record(value, now, self.window);
        let (observed, window) = rate.measure(now, self.window);
        if observed <= quota {
            return Duration::ZERO;
        }
        // A ratio too large for a Duration is simply the longest throttle.
        let max = self.max_throttle(kind);
        Duration::try_from_secs_f64(window.as_secs_f64() * (observed - quota) / quota).map_or(max, |t| t.min(max))
    }

    /// The most a client may take within a quota window, `quota * (samples - 1) * sample`
    /// (Kafka's `getMaxValueInQuotaWindow`): a fetch response is never larger, so one
    /// response alone cannot put a client over its byte rate. `None` without a quota.
    pub fn max_value_in_window(
        &self,
        quotas: &[(QuotaEntity, BTreeMap<String, f64>)],
        kind: QuotaType,
        user: &str,
        client_id: &str,
    ) -> Option<f64> {
        let (_, _, quota) = resolve(quotas, kind, user, client_id)?;
        Some(quota * f64::from(self.window.samples.saturating_sub(1)) * self.window.sample.as_secs_f64())
    }

    /// Expires idle rates at most once a window.
    fn expire_now_and_then(&self, now: Instant) {
        let mut next = self.next_expiry.lock();
        if now >= *next {
            *next = now + self.window.sample * self.window.samples;
            drop(next);
            self.expire(now);
        }
    }

    /// Forgets rates not recorded for a whole window, so idle clients cost nothing.
    pub fn expire(&self, now: Instant) {
        let window = self.window;
        self.rates.lock().retain(|_, r| {
            r.purge(now, window);
            !r.samples.is_empty()
        });
    }
}

/// A quota entity's part for one entity type: absent (`None`), the default (`Some(None)`), or
/// a name.
type Want<'a> = Option<Option<&'a str>>;

/// Kafka's default quota callback: the most specific configured entity for (user, client id)
/// that sets this quota, in the order
/// user+client, user+default client, user, default user+client, default user+default client,
/// default user, client, default client. Returns the metric's (user, client id) and the quota.
pub(crate) fn resolve(
    quotas: &[(QuotaEntity, BTreeMap<String, f64>)],
    kind: QuotaType,
    user: &str,
    client_id: &str,
) -> Option<(Option<String>, Option<String>, f64)> {
    let lookup = |u: Want<'_>, c: Want<'_>| -> Option<f64> {
        quotas.iter().find_map(|(entity, values)| {
            let matches = |kind: &str, want: Want<'_>| match (entity.get(kind), want) {
                (None, None) => true,
                (Some(name), Some(want)) => name.as_deref() == want,
                _ => false,
            };
            (entity.len() == usize::from(u.is_some()) + usize::from(c.is_some())
                && matches(USER, u)
                && matches(CLIENT_ID, c))
            .then(|| values.get(kind.key()).copied())
            .flatten()
        })
    };
    let (u, c) = (Some(user), Some(client_id));
    // Each entity shape: its user part and client part (`Some(None)` a default entity).
    let candidates: [(Want<'_>, Want<'_>); 8] = [
        (Some(u), Some(c)),
        (Some(u), Some(None)),
        (Some(u), None),
        (Some(None), Some(c)),
        (Some(None), Some(None)),
        (Some(None), None),
        (None, Some(c)),
        (None, Some(None)),
    ];
    // The rate is shared by every client the entity covers: per user and/or client id as
    // far as the entity names them.
    candidates.into_iter().find_map(|(qu, qc)| {
        lookup(qu, qc).map(|q| (qu.map(|_| user.to_string()), qc.map(|_| client_id.to_string()), q))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        parts
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    fn quota(parts: &[(&str, Option<&str>)], key: &str, value: f64) -> (QuotaEntity, BTreeMap<String, f64>) {
        (entity(parts), BTreeMap::from([(key.to_string(), value)]))
    }

    #[test]
    fn the_most_specific_entity_wins() {
        let quotas = vec![
            quota(&[(CLIENT_ID, None)], "producer_byte_rate", 1.0),
            quota(&[(CLIENT_ID, Some("fast"))], "producer_byte_rate", 2.0),
            quota(&[(USER, Some("alice"))], "producer_byte_rate", 3.0),
            quota(
                &[(USER, Some("alice")), (CLIENT_ID, Some("fast"))],
                "producer_byte_rate",
                4.0,
            ),
            quota(&[(USER, None)], "consumer_byte_rate", 5.0),
        ];
        let r = |user: &str, client: &str, kind| resolve(&quotas, kind, user, client).map(|x| x.2);
        assert_eq!(r("alice", "fast", QuotaType::Produce), Some(4.0));
        assert_eq!(r("alice", "slow", QuotaType::Produce), Some(3.0));
        assert_eq!(r("bob", "fast", QuotaType::Produce), Some(2.0));
        assert_eq!(r("bob", "slow", QuotaType::Produce), Some(1.0));
        assert_eq!(r("bob", "slow", QuotaType::Fetch), Some(5.0));
        // A user-level quota is shared by all that user's clients.
        let shared = resolve(&quotas, QuotaType::Produce, "alice", "slow").unwrap();
        assert_eq!((shared.0.as_deref(), shared.1.as_deref()), (Some("alice"), None));
        assert_eq!(resolve(&[], QuotaType::Produce, "a", "b"), None);
    }

    #[test]
    fn throttle_grows_with_the_excess_and_is_capped() {
        let m = ClientQuotaManager::new(QuotaWindow::default());
        let quotas = vec![quota(&[(CLIENT_ID, Some("c"))], "producer_byte_rate", 1000.0)];
        let start = Instant::now();
        // 10 s of window at 1000 B/s: the first 10,000 bytes are within the quota.
        assert_eq!(
            m.record(&quotas, QuotaType::Produce, "u", "c", 10_000.0, start),
            Duration::ZERO
        );
        // 20,000 bytes over a 10 s window is 2000 B/s: twice the quota, so one window more.
        let t = m.record(&quotas, QuotaType::Produce, "u", "c", 10_000.0, start);
        assert_eq!(t, Duration::from_secs(10));
        let t = m.record(&quotas, QuotaType::Produce, "u", "c", 1_000_000.0, start);
        assert_eq!(t, m.max_throttle(QuotaType::Produce));
        // Other clients are not affected.
        assert_eq!(
            m.record(&quotas, QuotaType::Produce, "u", "d", 1_000_000.0, start),
            Duration::ZERO
        );
        // A window later, the rate is back under the quota.
        let later = start + Duration::from_secs(12);
        assert_eq!(
            m.record(&quotas, QuotaType::Produce, "u", "c", 100.0, later),
            Duration::ZERO
        );
        m.expire(later + Duration::from_secs(12));
        assert!(m.rates.lock().is_empty());
    }
}
