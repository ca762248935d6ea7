//! Controller mutation quotas (KIP-599), as Kafka's `ControllerMutationQuotaManager` applies
//! them: the partitions a client's CreateTopics, CreatePartitions and DeleteTopics requests
//! create or delete are taken from a token bucket per quota entity, which refills at
//! `controller_mutation_rate` partitions a second and holds at most a whole quota window's
//! worth (`quota.window.num * quota.window.size.seconds * rate`), so a burst of topic changes
//! is allowed and a steady storm of them is not.
//!
//! The request versions that know THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+,
//! CreatePartitions v3+, DeleteTopics v5+) get a strict quota: once the bucket is empty, each
//! further topic is refused with that error until it refills. Older versions get a permissive
//! one: the change is made and the client is throttled instead.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{QuotaType, QuotaWindow, resolve};
use crate::metadata::client_quotas::QuotaEntity;

/// Kafka's `TokenBucket`: starts full, refills with time, and may go below zero when a
/// mutation takes more than is left.
struct TokenBucket {
    tokens: f64,
    updated: Instant,
    /// The rate it refills at and the most it holds, as last set by its quota.
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = self.burst.min(self.tokens + self.rate * elapsed);
        self.updated = now;
    }
}

/// The (user, client id) a bucket belongs to, as far as the matching quota names them.
type Entity = (Option<String>, Option<String>);

pub struct ControllerMutationQuotaManager {
    window: QuotaWindow,
    buckets: Mutex<HashMap<Entity, TokenBucket>>,
}

impl ControllerMutationQuotaManager {
    pub fn new(window: QuotaWindow) -> ControllerMutationQuotaManager {
        ControllerMutationQuotaManager {
            window,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The quota of one request from `user` and `client_id`; `strict` for the request
    /// versions that can be refused with THROTTLING_QUOTA_EXCEEDED.
    pub fn quota_for(
        &self,
        quotas: &[(QuotaEntity, BTreeMap<String, f64>)],
        user: &str,
        client_id: &str,
        strict: bool,
    ) -> ControllerMutationQuota<'_> {
        let bound = resolve(quotas, QuotaType::ControllerMutation, user, client_id)
            .map(|(user, client, rate)| ((user, client), rate));
        ControllerMutationQuota {
            manager: self,
            bound,
            strict,
            throttle: None,
        }
    }

    fn burst(&self, rate: f64) -> f64 {
        rate * (self.window.sample * self.window.samples).as_secs_f64()
    }

    /// The bucket's tokens after refilling, with `take` taken when `admit` allows it given
    /// the tokens before.
    fn take(
        &self,
        entity: &Entity,
        rate: f64,
        take: f64,
        admit: impl FnOnce(f64) -> bool,
        now: Instant,
    ) -> (bool, f64) {
        let burst = self.burst(rate);
        let mut buckets = self.buckets.lock();
        // A full bucket is the same as none: dropping them keeps idle clients free.
        buckets.retain(|_, b| {
            b.refill(now);
            b.tokens < b.burst
        });
        let bucket = buckets.entry(entity.clone()).or_insert(TokenBucket {
            tokens: burst,
            updated: now,
            rate,
            burst,
        });
        // A changed quota applies from now on.
        bucket.rate = rate;
        bucket.burst = burst;
        bucket.tokens = bucket.tokens.min(burst);
        let admitted = admit(bucket.tokens);
        if admitted {
            bucket.tokens = burst.min(bucket.tokens - take);
        }
        let tokens = bucket.tokens;
        if tokens >= burst {
            buckets.remove(entity);
        }
        (admitted, tokens)
    }
}

/// One request's controller mutation quota.
pub struct ControllerMutationQuota<'a> {
    manager: &'a ControllerMutationQuotaManager,
    /// The bucket's entity and the rate, when a quota applies.
    bound: Option<(Entity, f64)>,
    strict: bool,
    /// The last throttle and when it was computed.
    throttle: Option<(Duration, Instant)>,
}

/// A strict quota's refusal: the client is over its controller mutation quota.
#[derive(Debug)]
pub struct QuotaExceeded;

impl ControllerMutationQuota<'_> {
    /// Takes `partitions` mutations from the client's bucket. A strict quota refuses them
    /// when the bucket is already below zero; otherwise they are taken even past it, and a
    /// permissive quota then throttles the client for the time the bucket needs to refill.
    pub fn record(&mut self, partitions: u32) -> Result<(), QuotaExceeded> {
        let Some((entity, rate)) = &self.bound else {
            return Ok(());
        };
        let now = Instant::now();
        let strict = self.strict;
        let (admitted, tokens) = self.manager.take(
            entity,
            *rate,
            f64::from(partitions),
            |tokens| !strict || tokens >= 0.0,
            now,
        );
        if tokens < 0.0 && (!admitted || !strict) {
            // Kafka's throttle for a token bucket: the time to refill to zero.
            let throttle = Duration::try_from_secs_f64(-tokens / rate).unwrap_or(Duration::MAX);
            self.throttle = Some((throttle, now));
        }
        if admitted { Ok(()) } else { Err(QuotaExceeded) }
    }

    /// What is left of the last throttle, to send with the response.
    pub fn throttle(&self) -> Duration {
        self.throttle
            .map_or(Duration::ZERO, |(t, at)| t.saturating_sub(at.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::client_quotas::CLIENT_ID;

    fn quotas(rate: f64) -> Vec<(QuotaEntity, BTreeMap<String, f64>)> {
        vec![(
            [(CLIENT_ID.to_string(), Some("c".to_string()))].into_iter().collect(),
            BTreeMap::from([("controller_mutation_rate".to_string(), rate)]),
        )]
    }

    #[test]
    fn a_strict_quota_allows_one_burst_past_the_bucket_then_refuses() {
        let manager = ControllerMutationQuotaManager::new(QuotaWindow {
            samples: 2,
            sample: Duration::from_secs(1),
        });
        let quotas = quotas(5.0);
        // A bucket of 10 partitions: 8 fit, 8 more are taken (it is not empty yet), then
        // nothing more until it refills.
        let mut q = manager.quota_for(&quotas, "u", "c", true);
        assert!(q.record(8).is_ok());
        assert!(q.record(8).is_ok());
        assert_eq!(q.throttle(), Duration::ZERO);
        assert!(q.record(1).is_err());
        let throttle = q.throttle();
        assert!(
            throttle > Duration::from_millis(1000) && throttle <= Duration::from_millis(1200),
            "{throttle:?} to refill 6 partitions at 5 a second"
        );
        // Other clients have their own bucket; without a quota there is none.
        assert!(manager.quota_for(&quotas, "u", "d", true).record(1000).is_ok());
        let mut other = manager.quota_for(&quotas, "v", "c", true);
        assert!(
            other.record(1).is_err(),
            "the bucket is the client id's, whoever the user"
        );
    }

    #[test]
    fn a_permissive_quota_makes_the_change_and_throttles() {
        let manager = ControllerMutationQuotaManager::new(QuotaWindow {
            samples: 2,
            sample: Duration::from_secs(1),
        });
        let quotas = quotas(10.0);
        let mut q = manager.quota_for(&quotas, "u", "c", false);
        assert!(q.record(30).is_ok());
        let throttle = q.throttle();
        assert!(throttle > Duration::from_millis(900) && throttle <= Duration::from_millis(1000));
        assert!(q.record(10).is_ok(), "permissive quotas never refuse");
        assert!(q.throttle() > Duration::from_millis(1900));
    }
}
