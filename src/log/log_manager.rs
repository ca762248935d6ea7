//! Kafka's `LogManager`: every partition log in one data directory, clean-shutdown detection,
//! recovery points, topic deletion, and the flusher thread.
//!
//! Startup: a `.kafka_cleanshutdown` marker means the previous run closed every log properly, so
//! files are trusted; without it each partition is recovered from its checkpointed recovery
//! point. The marker is removed as soon as the logs are open, so a crash from then on leaves
//! none behind.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::checkpoint::{OffsetCheckpoint, RecoveryPointCheckpoint};
use super::cleaner::{self, LogCleaner};
use super::flusher::{self, Flusher};
use super::partition_metadata;
use super::retention::{self, DeletionQueue};
use super::{BackgroundConfig, BackgroundControl, LogConfig, LogError, PartitionLog, fsync_dir, now_ms};

pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
const DELETE_DIR_SUFFIX: &str = "-delete";
/// `log.flush.offset.checkpoint.interval.ms`.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// How often idle producers are looked for (`producer.id.expiration.ms`).
const PRODUCER_EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// How often the flusher looks for logs whose `flush.ms` has passed.
const FLUSH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long a durability waiter waits before asking again (covers a failed fsync).
const DURABLE_RETRY: Duration = Duration::from_secs(1);

type LogMap = HashMap<(String, i32), Arc<PartitionLog>>;

/// What the background threads share with the manager.
struct Shared {
    data_dir: PathBuf,
    logs: RwLock<LogMap>,
    checkpoint: Mutex<RecoveryPointCheckpoint>,
    start_checkpoint: Mutex<OffsetCheckpoint>,
    /// `producer.id.expiration.ms`.
    producer_id_expiration_ms: AtomicI64,
    /// `log.flush.visibility.ms`.
    visibility_flush_ms: AtomicU64,
}

impl Shared {
    fn all_logs(&self) -> Vec<Arc<PartitionLog>> {
        self.logs.read().values().cloned().collect()
    }

    fn write_checkpoint(&self) -> Result<(), LogError> {
        let mut entries: Vec<(String, i32, i64)> = self
            .all_logs()
            .iter()
            .map(|l| (l.topic().to_string(), l.partition(), l.recovery_point()))
            .collect();
        entries.sort();
        self.checkpoint.lock().write(&entries)?;
        Ok(())
    }

    /// Kafka's `log-start-offset-checkpoint`: the log start offsets that differ from the first
    /// segment's base offset (moved by DeleteRecords), so they survive a restart.
    fn write_start_checkpoint(&self) -> Result<(), LogError> {
        let mut entries: Vec<(String, i32, i64)> = self
            .all_logs()
            .iter()
            .filter(|l| {
                l.segment_base_offsets()
                    .first()
                    .is_some_and(|&first| l.log_start_offset() > first)
            })
            .map(|l| (l.topic().to_string(), l.partition(), l.log_start_offset()))
            .collect();
        entries.sort();
        self.start_checkpoint.lock().write(&entries)?;
        Ok(())
    }
}

pub struct LogManager {
    shared: Arc<Shared>,
    flusher: Flusher,
    clean_start: bool,
    on_disk: Vec<(String, i32)>,
    /// Serialises creation so two callers cannot open the same directory twice.
    create_lock: Mutex<()>,
    shut_down: AtomicBool,
    /// Settings and stop flag of the retention and cleaner threads.
    control: Arc<BackgroundControl>,
    deletions: Arc<DeletionQueue>,
    cleaner: Arc<LogCleaner>,
    background: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// Splits `<topic>-<partition>` at the last '-' (topic names may contain '-' and '.').
pub fn parse_partition_dir_name(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic.to_string(), partition.parse().ok()?))
}

fn check_names(topic: &str, partition: i32) -> Result<(), LogError> {
    let bad = topic.is_empty() || topic == "." || topic == ".." || topic.contains(['/', '\\', '\0']) || partition < 0;
    if bad {
        return Err(LogError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("invalid topic partition {topic:?}/{partition}"),
        )));
    }
    Ok(())
}

/// Removes directories on a background thread: deleting a large partition can take a while and
/// must hold up neither the caller nor the flusher.
fn delete_in_background(dirs: Vec<PathBuf>) {
    if dirs.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new().name("log-deleter".into()).spawn(move || {
        for dir in dirs {
            match fs::remove_dir_all(&dir) {
                Ok(()) => tracing::info!(dir = %dir.display(), "deleted log directory"),
                Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "could not delete log directory"),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the log deletion thread");
    }
}

impl LogManager {
    /// Opens every partition directory under `data_dir` (creating `data_dir` if needed),
    /// recovering them if the last shutdown was not clean, and starts the flusher.
    pub fn open(data_dir: &Path, config_for: impl Fn(&str) -> LogConfig) -> Result<Arc<LogManager>, LogError> {
        super::create_dir_durably(data_dir)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let clean_start = marker.exists();
        let checkpoint = RecoveryPointCheckpoint::in_dir(data_dir);
        let recovery_points = match checkpoint.read() {
            Ok(points) => points,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable recovery point checkpoint; recovering every log from its start");
                HashMap::new()
            }
        };
        let recover = !clean_start;
        let start_checkpoint = OffsetCheckpoint::log_start_in_dir(data_dir);
        let log_starts = match start_checkpoint.read() {
            Ok(starts) => starts,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable log start offset checkpoint; log start offsets restart at the first segment");
                HashMap::new()
            }
        };

        let mut logs = LogMap::new();
        let mut on_disk = Vec::new();
        let mut to_delete = Vec::new();
        let mut names: Vec<(String, PathBuf)> = Vec::new();
        for entry in fs::read_dir(data_dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            names.push((name, entry.path()));
        }
        names.sort();
        for (name, path) in names {
            if name.ends_with(DELETE_DIR_SUFFIX) {
                to_delete.push(path);
                continue;
            }
            let Some((topic, partition)) = parse_partition_dir_name(&name) else {
                tracing::debug!(dir = %path.display(), "ignoring directory that is not a partition");
                continue;
            };
            let recovery_point = recovery_points.get(&(topic.clone(), partition)).copied().unwrap_or(0);
            let log = PartitionLog::open(&path, &topic, partition, config_for(&topic), recovery_point, recover)?;
            if let Some(&start) = log_starts.get(&(topic.clone(), partition)) {
                log.restore_log_start_offset(start);
            }
            on_disk.push((topic.clone(), partition));
            logs.insert((topic, partition), Arc::new(log));
        }

        if recover && !on_disk.is_empty() {
            tracing::info!(dir = %data_dir.display(), partitions = on_disk.len(), "recovered logs after an unclean shutdown");
        }

        let shared = Arc::new(Shared {
            data_dir: data_dir.to_path_buf(),
            logs: RwLock::new(logs),
            checkpoint: Mutex::new(checkpoint),
            start_checkpoint: Mutex::new(start_checkpoint),
            producer_id_expiration_ms: AtomicI64::new(86_400_000),
            visibility_flush_ms: AtomicU64::new(0),
        });
        if recover {
            // Recovered logs were fsynced up to their end; record that before anything else.
            shared.write_checkpoint()?;
        }
        if clean_start {
            fs::remove_file(&marker)?;
            fsync_dir(data_dir)?;
        }
        delete_in_background(to_delete);

        let thread_shared = shared.clone();
        let mut last_checkpoint = Instant::now();
        let mut last_expiry = Instant::now();
        let flusher = Flusher::start(FLUSH_CHECK_INTERVAL, move || {
            let now = now_ms();
            for log in thread_shared.all_logs() {
                if log.flush_due(now)
                    && let Err(e) = log.flush()
                {
                    tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "scheduled flush failed");
                }
            }
            if last_expiry.elapsed() >= PRODUCER_EXPIRY_INTERVAL {
                last_expiry = Instant::now();
                let expiration = thread_shared.producer_id_expiration_ms.load(Ordering::Relaxed);
                for log in thread_shared.all_logs() {
                    let expired = log.expire_producers(now, expiration);
                    if expired > 0 {
                        tracing::debug!(
                            topic = log.topic(),
                            partition = log.partition(),
                            expired,
                            "expired idle producers"
                        );
                    }
                }
            }
            if last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                last_checkpoint = Instant::now();
                if let Err(e) = thread_shared.write_checkpoint() {
                    tracing::error!(error = %e, "could not write the recovery point checkpoint");
                }
                if let Err(e) = thread_shared.write_start_checkpoint() {
                    tracing::error!(error = %e, "could not write the log start offset checkpoint");
                }
            }
        })?;

        Ok(Arc::new(LogManager {
            shared,
            flusher,
            clean_start,
            on_disk,
            create_lock: Mutex::new(()),
            shut_down: AtomicBool::new(false),
            control: Arc::new(BackgroundControl::new(BackgroundConfig::default())),
            deletions: Arc::new(DeletionQueue::default()),
            cleaner: Arc::new(LogCleaner::open(data_dir)),
            background: Mutex::new(Vec::new()),
        }))
    }

    /// Sets `producer.id.expiration.ms`: how long partitions remember an idle producer.
    pub fn set_producer_id_expiration_ms(&self, ms: i64) {
        self.shared
            .producer_id_expiration_ms
            .store(ms.max(1), Ordering::Relaxed);
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.data_dir
    }

    /// Whether the previous run ended with a clean shutdown.
    pub fn was_clean_start(&self) -> bool {
        self.clean_start
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.shared.logs.read().get(&(topic.to_string(), partition)).cloned()
    }

    /// The partition's log, creating an empty one with `config` if it does not exist.
    pub fn get_or_create(&self, topic: &str, partition: i32, config: LogConfig) -> Result<Arc<PartitionLog>, LogError> {
        if let Some(log) = self.get(topic, partition) {
            return Ok(log);
        }
        if self.shut_down.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        check_names(topic, partition)?;
        let _create = self.create_lock.lock();
        if let Some(log) = self.get(topic, partition) {
            return Ok(log);
        }
        let dir = self.shared.data_dir.join(PartitionLog::dir_name(topic, partition));
        let log = Arc::new(PartitionLog::open(&dir, topic, partition, config, 0, false)?);
        self.shared
            .logs
            .write()
            .insert((topic.to_string(), partition), log.clone());
        Ok(log)
    }

    /// [`Self::get_or_create`] for a partition of the topic with id `topic_id`, which the
    /// directory records in `partition.metadata`. A directory left by an older topic of the same
    /// name (deleted before its directories were moved away, say by a crash) is moved away now,
    /// so the new topic starts empty instead of inheriting its records. A directory without
    /// the file (written before topic ids were kept) is adopted.
    pub fn get_or_create_for(
        &self,
        topic: &str,
        partition: i32,
        topic_id: uuid::Uuid,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>, LogError> {
        if let Some(log) = self.get(topic, partition) {
            match partition_metadata::read_topic_id(log.dir()) {
                Ok(Some(id)) if id == topic_id => return Ok(log),
                Ok(None) => {
                    partition_metadata::write_topic_id(log.dir(), topic_id)?;
                    return Ok(log);
                }
                Ok(Some(other)) => tracing::warn!(
                    topic,
                    partition,
                    stored = %other,
                    expected = %topic_id,
                    "partition directory belongs to an older topic of the same name; deleting it"
                ),
                Err(e) => {
                    tracing::warn!(topic, partition, error = %e, "unreadable partition.metadata; deleting the directory")
                }
            }
            self.delete_partitions_matching(topic, |p| p == partition)?;
        }
        let log = self.get_or_create(topic, partition, config)?;
        partition_metadata::write_topic_id(log.dir(), topic_id)?;
        Ok(log)
    }

    /// The topic id recorded in a partition's directory, if any.
    pub fn stored_topic_id(&self, log: &PartitionLog) -> Option<uuid::Uuid> {
        partition_metadata::read_topic_id(log.dir()).ok().flatten()
    }

    pub fn partitions(&self) -> Vec<Arc<PartitionLog>> {
        self.shared.all_logs()
    }

    /// The partitions found on disk at startup.
    pub fn topics_on_disk(&self) -> Vec<(String, i32)> {
        self.on_disk.clone()
    }

    /// Removes every partition of `topic`: each log is closed and its directory renamed to
    /// `<topic>-<partition>.<random>-delete` at once (so the topic name can be reused
    /// immediately), then deleted on a background thread. Closing fsyncs, so async callers
    /// should run this on a blocking thread.
    pub fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.cleaner.forget(topic);
        let deleted = self.delete_partitions(topic, 0);
        crate::metrics::registry().remove_topic(topic);
        deleted
    }

    /// Removes the partitions of `topic` numbered `first` and above, as [`Self::delete_topic`]
    /// removes them all (a create that failed part-way is undone this way).
    pub fn delete_partitions(&self, topic: &str, first: i32) -> Result<(), LogError> {
        self.delete_partitions_matching(topic, |p| p >= first)
    }

    fn delete_partitions_matching(&self, topic: &str, which: impl Fn(i32) -> bool) -> Result<(), LogError> {
        let removed: Vec<Arc<PartitionLog>> = {
            let mut logs = self.shared.logs.write();
            let keys: Vec<(String, i32)> = logs.keys().filter(|(t, p)| t == topic && which(*p)).cloned().collect();
            keys.iter().filter_map(|k| logs.remove(k)).collect()
        };
        let mut renamed = Vec::with_capacity(removed.len());
        let mut first_error = None;
        for log in removed {
            if let Err(e) = log.close() {
                tracing::warn!(topic, partition = log.partition(), error = %e, "closing deleted log failed");
            }
            let target = self.shared.data_dir.join(format!(
                "{}.{}{DELETE_DIR_SUFFIX}",
                PartitionLog::dir_name(topic, log.partition()),
                uuid::Uuid::new_v4().simple()
            ));
            match fs::rename(log.dir(), &target) {
                Ok(()) => renamed.push(target),
                Err(e) => {
                    tracing::error!(topic, partition = log.partition(), error = %e, "could not rename deleted log directory");
                    first_error.get_or_insert(e);
                }
            }
        }
        if !renamed.is_empty() {
            fsync_dir(&self.shared.data_dir)?;
        }
        delete_in_background(renamed);
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Resolves once every offset below `offset` of `log` is fsynced (`acks=all`). The fsync is
    /// done by the flusher thread, shared with every other waiter of the same round.
    ///
    /// Fails if the log failed (a write or fsync error) before `offset` became durable: the
    /// write must then be answered with an error, never as a success.
    pub async fn wait_durable(&self, log: &Arc<PartitionLog>, offset: i64) -> Result<(), LogError> {
        let mut durable = log.durable_watch();
        loop {
            if *durable.borrow_and_update() >= offset {
                return Ok(());
            }
            if let Some(why) = log.failure() {
                return Err(LogError::Failed(why.to_string()));
            }
            if log.is_closed() {
                return Err(LogError::Closed);
            }
            self.flusher.request(log);
            // A failure wakes the watch too, so the check above sees it.
            let _ = tokio::time::timeout(DURABLE_RETRY, durable.changed()).await;
        }
    }

    /// [`Self::wait_durable`] for several logs at once: every flush is asked for before the
    /// first wait, so they share one flusher round instead of taking one round each.
    pub async fn wait_durable_all(&self, waits: &[(Arc<PartitionLog>, i64)]) -> Result<(), LogError> {
        self.request_flushes(waits.iter().map(|(log, offset)| (log, *offset)));
        for (log, offset) in waits {
            self.wait_durable(log, *offset).await?;
        }
        Ok(())
    }

    /// Asks the flusher, at once, for every log not yet durable up to its offset: what a
    /// request that will wait on several logs does first, so that they share a round.
    pub fn request_flushes<'a>(&self, waits: impl Iterator<Item = (&'a Arc<PartitionLog>, i64)>) {
        for (log, offset) in waits {
            if log.durable_offset() < offset {
                self.flusher.request(log);
            }
        }
    }

    /// Makes `log` durable up to `offset` on the calling thread, which must not be an async
    /// worker: a blocking task that has just appended saves the two thread hand-offs of
    /// asking the flusher and being woken by it. When another thread is fsyncing the log, the
    /// flusher gets the next round instead. A failed fsync fails the log, so a later
    /// [`Self::wait_durable`] reports it.
    pub fn flush_to(&self, log: &Arc<PartitionLog>, offset: i64) {
        let started = Instant::now();
        match log.try_flush_to(offset) {
            Ok(None) => self.flusher.request(log),
            Ok(Some(false)) => {}
            fsynced => flusher::report_flush(log, started, fsynced.map(drop)),
        }
    }

    /// Hands the log to the flusher if `flush.messages`/`flush.ms` say it is due.
    pub fn maybe_schedule_flush(&self, log: &Arc<PartitionLog>) {
        if log.flush_due(now_ms()) {
            self.flusher.request(log);
        }
    }

    /// After an acks=0/1 append: consumers see only fsynced data, so the flusher makes it
    /// durable within `log.flush.visibility.ms` (at once by default, sharing the fsync with
    /// every other write of that round).
    pub fn schedule_visibility_flush(&self, log: &Arc<PartitionLog>) {
        let delay = Duration::from_millis(self.shared.visibility_flush_ms.load(Ordering::Relaxed));
        self.flusher.request_within(log, delay);
    }

    /// Sets `log.flush.visibility.ms`.
    pub fn set_visibility_flush_ms(&self, ms: u64) {
        self.shared.visibility_flush_ms.store(ms, Ordering::Relaxed);
    }

    /// Starts the background threads (retention, the log cleaner) with `config`. Idempotent: a
    /// second call only updates the settings.
    pub fn start_background(&self, config: BackgroundConfig) -> Result<(), LogError> {
        self.set_background_config(config);
        let mut threads = self.background.lock();
        if !threads.is_empty() || self.shut_down.load(Ordering::Acquire) {
            return Ok(());
        }
        let (logs, moved) = (self.shared.clone(), self.shared.clone());
        threads.push(retention::spawn(
            self.control.clone(),
            self.deletions.clone(),
            move || logs.all_logs(),
            move || {
                if let Err(e) = moved.write_start_checkpoint() {
                    tracing::error!(error = %e, "could not write the log start offset checkpoint");
                }
            },
        )?);
        let logs = self.shared.clone();
        threads.push(cleaner::spawn(
            self.control.clone(),
            self.cleaner.clone(),
            self.deletions.clone(),
            move || logs.all_logs(),
        )?);
        Ok(())
    }

    /// Applies changed broker-wide background settings; they take effect at once.
    pub fn set_background_config(&self, config: BackgroundConfig) {
        self.control.set(config);
    }

    /// DeleteRecords: moves the log start offset of `log` up to `offset` (checked against the
    /// high watermark), removes the segments now wholly below it unless the cleaner holds the
    /// log (retention then does it), and checkpoints the new start. Returns the low watermark.
    /// Blocking: renames files and fsyncs the checkpoint.
    pub fn delete_records(&self, log: &Arc<PartitionLog>, offset: i64) -> Result<i64, LogError> {
        let start = log.advance_log_start_offset(offset)?;
        retention::clean_up_log(log, now_ms(), false, &self.deletions);
        self.shared.write_start_checkpoint()?;
        Ok(start)
    }

    /// Writes the recovery point checkpoint now.
    pub fn checkpoint_recovery_points(&self) -> Result<(), LogError> {
        self.shared.write_checkpoint()
    }

    /// Stops the flusher, closes every log, writes the recovery point checkpoint and, if all of
    /// that succeeded, the clean shutdown marker. Idempotent.
    pub fn shutdown(&self) -> Result<(), LogError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.control.stop();
        for handle in self.background.lock().drain(..) {
            if handle.join().is_err() {
                tracing::error!("a log background thread panicked");
            }
        }
        self.flusher.stop();
        let mut first_error = None;
        for log in self.shared.all_logs() {
            if let Err(e) = log.close() {
                tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "closing log failed");
                first_error.get_or_insert(e);
            }
        }
        self.shared.write_checkpoint()?;
        self.shared.write_start_checkpoint()?;
        if let Some(e) = first_error {
            return Err(e);
        }
        let marker = self.shared.data_dir.join(CLEAN_SHUTDOWN_FILE);
        fs::File::create(&marker)?.sync_all()?;
        fsync_dir(&self.shared.data_dir)?;
        tracing::info!(dir = %self.shared.data_dir.display(), "log manager shut down cleanly");
        Ok(())
    }
}

impl Drop for LogManager {
    /// Background threads never outlive their manager, even without a shutdown.
    fn drop(&mut self) {
        self.control.stop();
    }
}

#[cfg(test)]
mod tests;
