//! One share-partition: the delivery state of the records of one topic partition for one share
//! group (KIP-932's `SharePartition`).
//!
//! Records below the share-partition start offset (SPSO) are done with. From the SPSO up to
//! `end_offset` (exclusive; Kafka's SPEO + 1) every offset the log holds a batch for has an
//! in-flight state: AVAILABLE (to be delivered again), ACQUIRED by one member under a
//! time-limited lock, ACKNOWLEDGED or ARCHIVED; offsets between batches (compacted away) have
//! none and count as done. Offsets at and past `end_offset` have never been delivered. At most
//! `group.share.partition.max.record.locks` offsets are in flight, so the state held here never
//! grows with what a client asks for or with gaps in the log.
//!
//! This type reads nothing and writes nothing: the manager feeds it the batches it read from
//! the log and persists [`SharePartition::snapshot`] after every change that must survive a
//! restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::codes;
use super::state_log::{SnapshotValue, StateBatch};

/// Delivery states as Kafka numbers them (ShareSnapshotValue's DeliveryState).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordState {
    Available,
    Acquired,
    Acknowledged,
    Archived,
}

impl RecordState {
    pub fn persisted_code(self) -> i8 {
        match self {
            // A lock does not survive a restart: an acquired record comes back available.
            RecordState::Available | RecordState::Acquired => 0,
            RecordState::Acknowledged => 2,
            RecordState::Archived => 4,
        }
    }

    fn from_persisted(code: i8) -> RecordState {
        match code {
            2 => RecordState::Acknowledged,
            4 => RecordState::Archived,
            _ => RecordState::Available,
        }
    }

    fn is_terminal(self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }
}

/// ShareAcknowledge / ShareFetch acknowledgement types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckType {
    /// An offset the client found no record at (compacted away, a control record).
    Gap,
    Accept,
    Release,
    Reject,
    /// Keep the lock: the member needs more time (KIP-1222).
    Renew,
}

impl AckType {
    pub fn from_code(code: i8) -> Option<AckType> {
        Some(match code {
            0 => AckType::Gap,
            1 => AckType::Accept,
            2 => AckType::Release,
            3 => AckType::Reject,
            4 => AckType::Renew,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
    /// The member holding the lock, while ACQUIRED.
    member: Option<String>,
    lock_deadline: Option<Instant>,
}

/// Acquired offsets of one delivery, as ShareFetch reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquiredRange {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: i16,
}

/// The offsets of one batch read from the log.
#[derive(Clone, Copy, Debug)]
pub struct BatchSpan {
    pub first: i64,
    pub last: i64,
    /// A control batch (transaction marker): nothing to deliver.
    pub control: bool,
}

/// What the partition's settings are when it is acted on.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub delivery_count_limit: i16,
    pub max_record_locks: i64,
    pub lock_duration: Duration,
}

#[derive(Clone)]
pub struct SharePartition {
    start_offset: i64,
    end_offset: i64,
    in_flight: BTreeMap<i64, InFlight>,
    state_epoch: i32,
    snapshot_epoch: i32,
}

impl SharePartition {
    /// A partition first read by its group, starting at `start_offset` (from
    /// `share.auto.offset.reset`).
    pub fn new(start_offset: i64) -> SharePartition {
        SharePartition {
            start_offset,
            end_offset: start_offset,
            in_flight: BTreeMap::new(),
            state_epoch: 0,
            snapshot_epoch: 0,
        }
    }

    /// The state a ShareSnapshot record held.
    pub fn from_snapshot(value: &SnapshotValue) -> SharePartition {
        let mut p = SharePartition::new(value.start_offset);
        p.state_epoch = value.state_epoch;
        p.snapshot_epoch = value.snapshot_epoch;
        for b in &value.state_batches {
            // Offsets below the start are done with; the batches of a snapshot cover no more
            // offsets than the window that wrote it, but a corrupt record must not make us
            // allocate what it claims.
            let first = b.first_offset.max(value.start_offset);
            if b.last_offset < first || (p.in_flight.len() as i64).saturating_add(b.last_offset - first) >= MAX_RESTORED
            {
                continue;
            }
            for offset in first..=b.last_offset {
                p.in_flight.insert(
                    offset,
                    InFlight {
                        state: RecordState::from_persisted(b.delivery_state),
                        delivery_count: b.delivery_count.max(0),
                        member: None,
                        lock_deadline: None,
                    },
                );
            }
            p.end_offset = p.end_offset.max(b.last_offset + 1);
        }
        p.advance_start();
        p
    }

    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// The state to persist: the start offset and every in-flight offset, consecutive offsets
    /// of the same state and count merged into one batch.
    pub fn snapshot(&mut self, now_ms: i64) -> SnapshotValue {
        self.snapshot_epoch = self.snapshot_epoch.wrapping_add(1);
        let mut batches: Vec<StateBatch> = Vec::new();
        for (&offset, r) in &self.in_flight {
            let code = r.state.persisted_code();
            match batches.last_mut() {
                Some(b)
                    if b.last_offset + 1 == offset
                        && b.delivery_state == code
                        && b.delivery_count == r.delivery_count =>
                {
                    b.last_offset = offset;
                }
                _ => batches.push(StateBatch {
                    first_offset: offset,
                    last_offset: offset,
                    delivery_state: code,
                    delivery_count: r.delivery_count,
                }),
            }
        }
        SnapshotValue {
            snapshot_epoch: self.snapshot_epoch,
            state_epoch: self.state_epoch,
            leader_epoch: 0,
            start_offset: self.start_offset,
            create_timestamp: now_ms,
            write_timestamp: now_ms,
            state_batches: batches,
        }
    }

    /// Releases every lock past its deadline: the record becomes available again, or archived
    /// once it has been delivered `delivery_count_limit` times. Returns whether anything changed.
    pub fn expire_locks(&mut self, now: Instant, limits: &Limits) -> bool {
        let mut changed = false;
        for r in self.in_flight.values_mut() {
            if r.state == RecordState::Acquired && r.lock_deadline.is_some_and(|d| d <= now) {
                release(r, limits);
                changed = true;
            }
        }
        if changed {
            self.advance_start();
        }
        changed
    }

    /// Releases every record `member` holds because its share session ended (closed, its
    /// connection gone, or the member left). As on Kafka 4.1 that delivery does not count: the
    /// member never got to acknowledge, so the record comes back with its count as before.
    pub fn release_member(&mut self, member: &str) -> bool {
        let mut changed = false;
        for r in self.in_flight.values_mut() {
            if r.state == RecordState::Acquired && r.member.as_deref() == Some(member) {
                r.delivery_count = r.delivery_count.saturating_sub(1).max(0);
                settle(r, RecordState::Available);
                changed = true;
            }
        }
        if changed {
            self.advance_start();
        }
        changed
    }

    /// The first offset a fetch for `member` should read from: the first available in-flight
    /// offset, else the end of the window. None when nothing can be acquired (every in-flight
    /// offset is taken and the window is full).
    pub fn next_fetch_offset(&self, limits: &Limits) -> Option<i64> {
        if let Some((&offset, _)) = self.in_flight.iter().find(|(_, r)| r.state == RecordState::Available) {
            return Some(offset);
        }
        ((self.in_flight.len() as i64) < limits.max_record_locks).then_some(self.end_offset)
    }

    /// Moves the window to `offset` when the log no longer holds what is below it (retention,
    /// DeleteRecords): those records can never be delivered.
    pub fn skip_to(&mut self, offset: i64) {
        if offset <= self.start_offset {
            return;
        }
        self.in_flight = self.in_flight.split_off(&offset);
        self.start_offset = offset;
        self.end_offset = self.end_offset.max(offset);
    }

    /// Acquires for `member` the deliverable offsets of one batch read from the log (control
    /// batches are archived at once: there is nothing to deliver), up to
    /// `*budget` records; returns the acquired ranges.
    pub fn acquire_batch(
        &mut self,
        member: &str,
        batch: BatchSpan,
        budget: &mut i64,
        now: Instant,
        limits: &Limits,
    ) -> Vec<AcquiredRange> {
        let BatchSpan { first, last, control } = batch;
        let mut acquired: Vec<AcquiredRange> = Vec::new();
        let deadline = now + limits.lock_duration;
        let mut offset = first.max(self.start_offset);
        while offset <= last {
            if offset >= self.end_offset {
                if self.in_flight.len() as i64 >= limits.max_record_locks {
                    break;
                }
                // The log has no batch between the window's end and this one (the batches of
                // a read are contiguous): those offsets hold no records.
                self.end_offset = offset;
                if control {
                    self.in_flight.insert(
                        offset,
                        InFlight {
                            state: RecordState::Archived,
                            delivery_count: 0,
                            member: None,
                            lock_deadline: None,
                        },
                    );
                    self.end_offset += 1;
                    offset += 1;
                    continue;
                }
                if *budget <= 0 {
                    break;
                }
                self.in_flight.insert(
                    offset,
                    InFlight {
                        state: RecordState::Available,
                        delivery_count: 0,
                        member: None,
                        lock_deadline: None,
                    },
                );
                self.end_offset += 1;
            }
            if *budget <= 0 {
                break;
            }
            if let Some(r) = self.in_flight.get_mut(&offset)
                && r.state == RecordState::Available
            {
                if control {
                    r.state = RecordState::Archived;
                } else {
                    r.state = RecordState::Acquired;
                    r.delivery_count = r.delivery_count.saturating_add(1);
                    r.member = Some(member.to_string());
                    r.lock_deadline = Some(deadline);
                    *budget -= 1;
                    match acquired.last_mut() {
                        Some(a) if a.last_offset + 1 == offset && a.delivery_count == r.delivery_count => {
                            a.last_offset = offset;
                        }
                        _ => acquired.push(AcquiredRange {
                            first_offset: offset,
                            last_offset: offset,
                            delivery_count: r.delivery_count,
                        }),
                    }
                }
            }
            offset += 1;
        }
        self.advance_start();
        acquired
    }

    /// Applies one acknowledgement batch from `member`: `types` holds either one type for the
    /// whole range or one per offset. Every offset must be ACQUIRED by `member`, or nothing is
    /// changed and INVALID_RECORD_STATE is the answer (INVALID_REQUEST for a malformed batch).
    pub fn acknowledge(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        types: &[i8],
        now: Instant,
        limits: &Limits,
    ) -> Result<(), i16> {
        if last < first {
            return Err(codes::INVALID_REQUEST);
        }
        // Offsets come from the client: a range wider than i64 is malformed, not an overflow.
        let Some(span) = last.checked_sub(first).and_then(|d| d.checked_add(1)) else {
            return Err(codes::INVALID_REQUEST);
        };
        if types.is_empty() || (types.len() != 1 && types.len() as i64 != span) {
            return Err(codes::INVALID_REQUEST);
        }
        let mut parsed = Vec::with_capacity(types.len());
        for t in types {
            parsed.push(AckType::from_code(*t).ok_or(codes::INVALID_REQUEST)?);
        }
        if first < self.start_offset || last >= self.end_offset {
            return Err(codes::INVALID_RECORD_STATE);
        }
        let type_of = |offset: i64| {
            if parsed.len() == 1 {
                parsed[0]
            } else {
                parsed[(offset - first) as usize]
            }
        };
        for (offset, r) in self.in_flight.range(first..=last) {
            let gap_ok = type_of(*offset) == AckType::Gap && r.state == RecordState::Archived;
            let held = r.state == RecordState::Acquired && r.member.as_deref() == Some(member);
            if !held && !gap_ok {
                return Err(codes::INVALID_RECORD_STATE);
            }
        }
        for (offset, r) in self.in_flight.range_mut(first..=last) {
            if r.state != RecordState::Acquired {
                continue;
            }
            match type_of(*offset) {
                AckType::Accept => settle(r, RecordState::Acknowledged),
                AckType::Gap | AckType::Reject => settle(r, RecordState::Archived),
                AckType::Release => release(r, limits),
                AckType::Renew => r.lock_deadline = Some(now + limits.lock_duration),
            }
        }
        self.advance_start();
        Ok(())
    }

    /// Counts for DescribeShareGroupOffsets-style reporting: offsets not yet finished.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Moves the SPSO over every finished offset at the start of the window, and over offsets
    /// without records, to the first offset still to be settled (or the end of the window).
    fn advance_start(&mut self) {
        loop {
            match self.in_flight.first_entry() {
                Some(entry) if entry.get().state.is_terminal() => {
                    entry.remove();
                }
                Some(entry) => {
                    self.start_offset = self.start_offset.max(*entry.key());
                    break;
                }
                None => {
                    self.start_offset = self.start_offset.max(self.end_offset);
                    self.end_offset = self.start_offset;
                    break;
                }
            }
        }
    }
}

/// In-flight offsets replay restores at most (Kafka's largest
/// `group.share.partition.max.record.locks` is 10000; this leaves room without trusting a
/// corrupt record).
const MAX_RESTORED: i64 = 1_000_000;

fn settle(r: &mut InFlight, state: RecordState) {
    r.state = state;
    r.member = None;
    r.lock_deadline = None;
}

fn release(r: &mut InFlight, limits: &Limits) {
    let next = if r.delivery_count >= limits.delivery_count_limit {
        RecordState::Archived
    } else {
        RecordState::Available
    };
    settle(r, next);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            delivery_count_limit: 3,
            max_record_locks: 100,
            lock_duration: Duration::from_secs(30),
        }
    }

    fn acquire(
        p: &mut SharePartition,
        member: &str,
        first: i64,
        last: i64,
        n: i64,
        now: Instant,
    ) -> Vec<AcquiredRange> {
        let mut budget = n;
        p.acquire_batch(member, span(first, last, false), &mut budget, now, &limits())
    }

    fn span(first: i64, last: i64, control: bool) -> BatchSpan {
        BatchSpan { first, last, control }
    }

    fn range(first: i64, last: i64, count: i16) -> AcquiredRange {
        AcquiredRange {
            first_offset: first,
            last_offset: last,
            delivery_count: count,
        }
    }

    #[test]
    fn accept_moves_the_start_and_release_redelivers() {
        let now = Instant::now();
        let mut p = SharePartition::new(0);
        assert_eq!(acquire(&mut p, "a", 0, 9, 100, now), vec![range(0, 9, 1)]);
        assert_eq!(p.next_fetch_offset(&limits()), Some(10));
        p.acknowledge("a", 0, 4, &[1], now, &limits()).unwrap();
        assert_eq!(p.start_offset(), 5);
        p.acknowledge("a", 5, 6, &[2], now, &limits()).unwrap();
        assert_eq!(p.next_fetch_offset(&limits()), Some(5));
        // Another member gets the released offsets, delivered a second time.
        assert_eq!(acquire(&mut p, "b", 5, 9, 100, now), vec![range(5, 6, 2)]);
        // Offsets held by another member cannot be acknowledged.
        assert_eq!(
            p.acknowledge("a", 5, 5, &[1], now, &limits()),
            Err(codes::INVALID_RECORD_STATE)
        );
        assert_eq!(p.acknowledge("b", 5, 6, &[1, 3], now, &limits()), Ok(()));
        p.acknowledge("a", 7, 9, &[1], now, &limits()).unwrap();
        assert_eq!((p.start_offset(), p.end_offset(), p.in_flight_len()), (10, 10, 0));
    }

    #[test]
    fn lock_timeout_and_delivery_limit_archive() {
        let limits = limits();
        let t0 = Instant::now();
        let mut p = SharePartition::new(0);
        for delivery in 1..=3 {
            let now = t0 + Duration::from_secs(31 * delivery as u64);
            assert!(!p.expire_locks(now - Duration::from_secs(1), &limits) || delivery > 1);
            p.expire_locks(now, &limits);
            assert_eq!(acquire(&mut p, "a", 0, 0, 1, now), vec![range(0, 0, delivery)]);
        }
        // The third lock expires: delivered three times, the record is archived.
        assert!(p.expire_locks(t0 + Duration::from_secs(200), &limits));
        assert_eq!(p.start_offset(), 1);
        assert!(acquire(&mut p, "a", 0, 0, 1, t0 + Duration::from_secs(201)).is_empty());
    }

    #[test]
    fn window_is_bounded_and_bad_batches_are_refused() {
        let mut l = limits();
        l.max_record_locks = 5;
        let now = Instant::now();
        let mut p = SharePartition::new(0);
        let mut budget = 100;
        let got = p.acquire_batch("a", span(0, 99, false), &mut budget, now, &l);
        assert_eq!(got, vec![range(0, 4, 1)]);
        assert_eq!(p.next_fetch_offset(&l), None);
        assert_eq!(p.acknowledge("a", 3, 2, &[1], now, &l), Err(codes::INVALID_REQUEST));
        assert_eq!(p.acknowledge("a", 0, 2, &[1, 1], now, &l), Err(codes::INVALID_REQUEST));
        assert_eq!(p.acknowledge("a", 0, 0, &[9], now, &l), Err(codes::INVALID_REQUEST));
        assert_eq!(
            p.acknowledge("a", 0, 7, &[1], now, &l),
            Err(codes::INVALID_RECORD_STATE)
        );
        p.release_member("a");
        assert_eq!(p.next_fetch_offset(&l), Some(0));
        // The released delivery is not counted: the next one is the first again.
        assert_eq!(acquire(&mut p, "b", 0, 0, 1, now), vec![range(0, 0, 1)]);
    }

    #[test]
    fn snapshot_round_trip_keeps_acks_and_counts() {
        let now = Instant::now();
        let mut p = SharePartition::new(10);
        acquire(&mut p, "a", 10, 19, 100, now);
        p.acknowledge("a", 12, 13, &[1], now, &limits()).unwrap();
        p.acknowledge("a", 14, 14, &[3], now, &limits()).unwrap();
        let snap = p.snapshot(0);
        assert_eq!(snap.start_offset, 10);
        let mut q = SharePartition::from_snapshot(&snap);
        assert_eq!((q.start_offset(), q.end_offset()), (10, 20));
        // Everything not acknowledged comes back, delivered once before.
        let got = acquire(&mut q, "b", 10, 19, 100, now);
        assert_eq!(got, vec![range(10, 11, 2), range(15, 19, 2)]);
    }

    #[test]
    fn gaps_between_batches_hold_nothing() {
        let mut l = limits();
        l.max_record_locks = 5;
        let now = Instant::now();
        let mut p = SharePartition::new(0);
        assert_eq!(acquire(&mut p, "a", 0, 1, 10, now), vec![range(0, 1, 1)]);
        // Compaction left nothing between 2 and 999 999.
        let mut budget = 10;
        let got = p.acquire_batch("a", span(1_000_000, 1_000_009, false), &mut budget, now, &l);
        assert_eq!(got, vec![range(1_000_000, 1_000_002, 1)]);
        p.acknowledge("a", 0, 1, &[1], now, &l).unwrap();
        assert_eq!(p.start_offset(), 1_000_000);
        p.acknowledge("a", 1_000_000, 1_000_002, &[1], now, &l).unwrap();
        assert_eq!(
            p.acknowledge("a", i64::MIN, i64::MAX, &[1], now, &l),
            Err(codes::INVALID_REQUEST),
            "a range wider than i64 is refused, not overflowed"
        );
        assert_eq!(
            (p.start_offset(), p.end_offset(), p.in_flight_len()),
            (1_000_003, 1_000_003, 0)
        );
        let snap = p.snapshot(0);
        assert_eq!(SharePartition::from_snapshot(&snap).start_offset(), 1_000_003);
    }

    #[test]
    fn control_batches_are_skipped() {
        let now = Instant::now();
        let mut p = SharePartition::new(0);
        let mut budget = 10;
        assert!(
            p.acquire_batch("a", span(0, 0, true), &mut budget, now, &limits())
                .is_empty()
        );
        assert_eq!(p.start_offset(), 1);
        assert_eq!(acquire(&mut p, "a", 1, 2, 10, now), vec![range(1, 2, 1)]);
    }
}
