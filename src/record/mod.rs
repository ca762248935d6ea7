//! The v2 record-batch format (Kafka's `RecordBatch`, magic 2).
//!
//! Batches travel through the broker as opaque byte ranges: a produced batch is checked
//! ([`validate_batches`]), its base offset patched in place ([`set_base_offset`]) and stored
//! as-is, and fetches serve the stored bytes. Records are decoded one at a time by
//! [`RecordStream`] (Kafka's record iterator, through a streaming decompressor): every produced
//! batch by the [`LogValidator`], and where the broker must look inside a batch, such as
//! timestamp lookups, compaction or coordinator state replay. Nothing here knows about sockets or protocol messages.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod records;
pub mod validator;
pub mod varint;

pub use batch::{
    BATCH_HEADER_SIZE, BatchHeader, BatchSummary, LOG_OVERHEAD, MAGIC_V2, RecordError, ValidatedBatches,
    complete_batch_end, set_base_offset, set_log_append_time, set_log_append_time_split, set_partition_leader_epoch,
    validate_batches,
};
pub use builder::{RecordBatchBuilder, StreamingBatchBuilder};
pub use compression::{Compression, compress, decompress, decompress_with_limit};
pub use control::{ControlRecordType, EndTxnMarker, build_marker, read_marker};
pub use records::{Record, RecordStream, RecordView, Records, record_iter, records};
pub use validator::{BatchValidation, LogValidator, RecordProblem, batch_max_timestamp, decompressed_limit};
