//! Where a worker's events come from: the log of record (the default) or a
//! Kafka consumer group. Both hand over batches and record progress in the
//! transaction of the batch's effects.

use std::future::Future;

use sqlx::PgConnection;
use store::subscription::Checkpoint;
use store::CommitCursor;
use tokio::sync::watch;

use crate::handler::{Delivered, HandlerError, Malformed};
use crate::offsets::OffsetMap;
use crate::BusError;

/// How far a batch takes its source.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Kafka: the next offset of every partition the batch touched.
    Offsets(OffsetMap),
    /// The log: the checkpoint before and after the batch.
    Log {
        /// The checkpoint the batch was read from.
        from: CommitCursor,
        /// The checkpoint after it.
        to: Checkpoint,
    },
}

/// One batch, in the order its source guarantees (commit order for the log,
/// partition order for Kafka).
#[derive(Debug)]
pub struct Batch {
    /// Decoded events.
    pub messages: Vec<Delivered>,
    /// Undecodable messages (Kafka only).
    pub malformed: Vec<Malformed>,
    /// Where the source is after this batch.
    pub progress: Progress,
}

/// A source of event batches for [`crate::run::run`].
pub trait EventSource: Send {
    /// Waits for the next batch; `None` once `shutdown` turned true. May
    /// return a batch with no events that only moves progress.
    fn next_batch(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = Result<Option<Batch>, BusError>> + Send;

    /// Takes hold of the batch's progress in the caller's transaction, so
    /// no other instance can apply or record anything of this subscription
    /// until it ends, and fails with [`HandlerError::Fenced`] if the progress
    /// moved since the batch was read. Then says whether no event of `batch`
    /// can have been handled before, so the loop need not deduplicate it by
    /// event id (`processed_events`). The default holds nothing and always
    /// deduplicates.
    fn hold<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        consumer: &'a str,
        batch: &'a Batch,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send + 'a {
        let _ = (conn, consumer, batch);
        async { Ok(false) }
    }

    /// Records the batch's progress (and parks its malformed messages) in
    /// the caller's transaction, under the consumer name `consumer`.
    fn record<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        consumer: &'a str,
        batch: &'a Batch,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Called once the transaction holding `batch`'s progress committed.
    fn committed(&mut self, batch: &Batch);

    /// Called when the batch's progress could not be recorded because the
    /// checkpoint moved: start again from wherever it is now.
    fn fenced(&mut self);

    /// Leaves cleanly (a consumer group hands its partitions over at once).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// Which source Stockroom's own workers read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceKind {
    /// The log of record in Postgres: commit order, no broker on the path.
    #[default]
    Log,
    /// The public Kafka topics, through a consumer group.
    Kafka,
}

impl std::str::FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "log" => Ok(Self::Log),
            "kafka" => Ok(Self::Kafka),
            other => Err(format!("unknown source {other:?}: expected log or kafka")),
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Log => "log",
            Self::Kafka => "kafka",
        })
    }
}
