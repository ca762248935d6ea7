//! Loading groups at start: every `__consumer_offsets` partition is replayed, groups,
//! consumer-group records and offsets applied in log order, and transactional offset commits
//! held until their marker decides them.

use super::*;

impl GroupCoordinator {
    /// Rebuilds every group from `__consumer_offsets`.
    pub(super) fn load(&self) -> Result<(), String> {
        let started = Instant::now();
        let mut loading: HashMap<String, Loading> = HashMap::new();
        let mut records = 0usize;
        for p in 0..self.partitions {
            let Some(log) = self.topics.partition_log(OFFSETS_TOPIC, p) else {
                return Err(format!("{OFFSETS_TOPIC}-{p} has no log"));
            };
            records +=
                replay_partition(&log, &mut loading).map_err(|e| format!("cannot replay {OFFSETS_TOPIC}-{p}: {e}"))?;
        }
        let now = Instant::now();
        let now_ms = now_ms();
        let mut map = self.groups.write();
        for (group_id, state) in loading {
            if state.metadata.is_none()
                && state.offsets.is_empty()
                && state.txn_offsets.is_empty()
                && state.consumer.is_none()
            {
                continue;
            }
            let mut group = match state.metadata {
                Some(value) => GroupMetadata::load(group_id.clone(), value, now, now_ms),
                None => GroupMetadata::new(group_id.clone(), now_ms),
            };
            group.offsets = state.offsets;
            group.pending_txn_offsets = state.txn_offsets;
            if let Some(mut cg) = state.consumer {
                // Members get a full session to heartbeat to the restarted coordinator.
                let deadline = now + Duration::from_millis(self.config.consumer_session_timeout_ms as u64);
                for m in cg.members.values_mut() {
                    m.session_deadline = deadline;
                }
                group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_string());
                group.consumer = Some(Box::new(cg));
            }
            map.insert(group_id, Arc::new(Mutex::new(group)));
        }
        if records > 0 {
            tracing::info!(groups = map.len(), records, elapsed = ?started.elapsed(), "loaded consumer groups from {OFFSETS_TOPIC}");
        }
        Ok(())
    }
}

/// Applies every record of one `__consumer_offsets` partition; returns how many it read.
fn replay_partition(log: &PartitionLog, loading: &mut HashMap<String, Loading>) -> Result<usize, LogError> {
    // Offsets of transactions whose marker has not been read yet, by producer id.
    let mut open_txns: HashMap<i64, Vec<GroupOffset>> = HashMap::new();
    let mut count = 0usize;
    log.for_each_batch(REPLAY_READ_BYTES, |header, batch| {
        if header.is_control() {
            match record::read_marker(batch) {
                Ok(Some(marker)) => {
                    let commit = marker.kind == ControlRecordType::Commit;
                    for (group, tp, value) in open_txns.remove(&header.producer_id).unwrap_or_default() {
                        if commit {
                            loading.entry(group).or_default().offsets.insert(tp, value);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(partition = log.partition(), offset = header.base_offset, error = %e, "skipping an unreadable transaction marker");
                }
            }
            return;
        }
        let records = match record::records(batch) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(partition = log.partition(), offset = header.base_offset, error = %e, "skipping an unreadable __consumer_offsets batch");
                return;
            }
        };
        for r in records {
            count += 1;
            let applied = if header.is_transactional() {
                txn_offset_record(r.key.as_deref(), r.value.as_deref())
                    .map(|o| open_txns.entry(header.producer_id).or_default().extend(o))
            } else {
                apply_record(r.key.as_deref(), r.value.as_deref(), loading)
            };
            if let Err(e) = applied {
                tracing::warn!(partition = log.partition(), offset = r.offset, error = %e, "skipping a malformed __consumer_offsets record");
            }
        }
    })?;
    // Transactions still open at the end of the log wait for their marker.
    for (producer_id, offsets) in open_txns {
        for (group, tp, value) in offsets {
            loading
                .entry(group)
                .or_default()
                .txn_offsets
                .entry(producer_id)
                .or_default()
                .insert(tp, value);
        }
    }
    Ok(count)
}

/// A group, one of its partitions and an offset committed for it.
type GroupOffset = (String, (String, i32), OffsetAndMetadata);

/// A transactional offset commit record as (group, partition, offset); other keys are none.
fn txn_offset_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Option<GroupOffset>, offsets_log::SchemaError> {
    let (Some(key), Some(value)) = (key, value) else {
        return Ok(None);
    };
    match offsets_log::decode_key(key)? {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => Ok(Some((
            group,
            (topic, partition),
            offsets_log::decode_offset_value(value)?.into(),
        ))),
        _ => Ok(None),
    }
}

fn apply_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    loading: &mut HashMap<String, Loading>,
) -> Result<(), offsets_log::SchemaError> {
    let Some(key) = key else { return Ok(()) };
    match offsets_log::decode_key(key)? {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => {
            let entry = loading.entry(group).or_default();
            match value {
                Some(v) => {
                    entry
                        .offsets
                        .insert((topic, partition), offsets_log::decode_offset_value(v)?.into());
                }
                None => {
                    entry.offsets.remove(&(topic, partition));
                }
            }
        }
        RecordKey::Group { group } => {
            let entry = loading.entry(group).or_default();
            entry.metadata = match value {
                Some(v) => Some(offsets_log::decode_group_value(v)?),
                None => None,
            };
        }
        RecordKey::Other(kind) => {
            if let Some(key) = ConsumerGroupKey::decode(kind, key)? {
                let entry = loading.entry(key.group().to_string()).or_default();
                consumer_group_state::replay_record(&mut entry.consumer, key, value)?;
            }
        }
    }
    Ok(())
}
