//! Connection creation rates, limited as Kafka's `ConnectionQuotas` limits them:
//!
//! - `max.connection.creation.rate` (broker-wide) and
//!   `listener.name.<listener>.max.connection.creation.rate`: over the rate, the listener
//!   waits before it handles the connection it just accepted and accepts the next, so clients
//!   connecting in a storm are slowed down, not refused.
//! - The `connection_creation_rate` quota of a client's IP address (or of the default IP
//!   entity), set with `kafka-configs --entity-type ips` or AlterClientQuotas: a connection
//!   over it is not served, and is closed once its throttle time has passed; it does not
//!   count towards the rates.
//!
//! Rates are measured over the quota window (`quota.window.num` samples of
//! `quota.window.size.seconds`), and a throttle is at most one sample long, as on Kafka.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{QuotaWindow, Rate};
use crate::metadata::client_quotas::{IP, QuotaEntity};

/// The IP quota's key.
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

pub struct ConnectionQuotas {
    window: QuotaWindow,
    broker: Mutex<Rate>,
    listeners: Mutex<HashMap<usize, Rate>>,
    ips: Mutex<HashMap<IpAddr, Rate>>,
}

impl ConnectionQuotas {
    pub fn new(window: QuotaWindow) -> ConnectionQuotas {
        ConnectionQuotas {
            window,
            broker: Mutex::new(Rate::new()),
            listeners: Mutex::new(HashMap::new()),
            ips: Mutex::new(HashMap::new()),
        }
    }

    fn max_throttle(&self) -> Duration {
        self.window.sample
    }

    /// How long `rate`, with one more connection recorded, is over `limit` by Kafka's
    /// formula; zero when within it.
    fn record(&self, rate: &mut Rate, limit: f64, now: Instant) -> Duration {
        rate.record(1.0, now, self.window);
        let (observed, window) = rate.measure(now, self.window);
        if observed <= limit {
            return Duration::ZERO;
        }
        if limit <= 0.0 {
            return self.max_throttle();
        }
        Duration::try_from_secs_f64(window.as_secs_f64() * (observed - limit) / limit)
            .map_or(self.max_throttle(), |t| t.min(self.max_throttle()))
    }

    /// Records a connection accepted on `listener` and returns how long the listener waits
    /// before going on: the longer of the broker-wide and the listener's throttle.
    pub fn record_connection(
        &self,
        listener: usize,
        broker_limit: Option<f64>,
        listener_limit: Option<f64>,
    ) -> Duration {
        let now = Instant::now();
        let broker = broker_limit.map_or(Duration::ZERO, |limit| self.record(&mut self.broker.lock(), limit, now));
        let listener = listener_limit.map_or(Duration::ZERO, |limit| {
            let mut rates = self.listeners.lock();
            self.record(rates.entry(listener).or_insert_with(Rate::new), limit, now)
        });
        broker.max(listener)
    }

    /// Records a connection from `ip` against its quota; a non-zero throttle means the
    /// connection is refused and closed after that long. A refused connection is taken back
    /// out of every rate, as Kafka does.
    pub fn record_ip(&self, ip: IpAddr, quota: Option<f64>, listener: usize) -> Duration {
        let Some(quota) = quota else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let mut ips = self.ips.lock();
        // Addresses idle for a whole window are forgotten, so many clients cost no more
        // memory than those connecting within one window.
        if ips.len() >= 1024 && !ips.contains_key(&ip) {
            let window = self.window;
            ips.retain(|_, r| {
                r.purge(now, window);
                !r.is_empty()
            });
        }
        let rate = ips.entry(ip).or_insert_with(Rate::new);
        let throttle = self.record(rate, quota, now);
        if !throttle.is_zero() {
            rate.record(-1.0, now, self.window);
            self.broker.lock().record(-1.0, now, self.window);
            if let Some(r) = self.listeners.lock().get_mut(&listener) {
                r.record(-1.0, now, self.window);
            }
        }
        throttle
    }
}

/// The `connection_creation_rate` quota for `ip`: its own entity's, else the default IP
/// entity's, as Kafka resolves it.
pub fn ip_quota(quotas: &[(QuotaEntity, BTreeMap<String, f64>)], ip: IpAddr) -> Option<f64> {
    let address = ip.to_string();
    let for_entity = |name: Option<&str>| {
        quotas.iter().find_map(|(entity, values)| {
            (entity.len() == 1 && entity.get(IP).is_some_and(|n| n.as_deref() == name))
                .then(|| values.get(CONNECTION_CREATION_RATE).copied())
                .flatten()
        })
    };
    for_entity(Some(&address)).or_else(|| for_entity(None))
}
