//! What a worker does with events, whichever source delivers them: the
//! handler trait and how its failures are classified.

use std::future::Future;

use sqlx::PgConnection;
use thiserror::Error;

use crate::source::Progress;
use crate::Envelope;

/// One event as a worker receives it, with where it was read.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Topic it came from (`log:{category}` when read from the log).
    pub topic: String,
    /// Partition (0 for the log).
    pub partition: i32,
    /// Offset (the global position for the log).
    pub offset: i64,
    /// The envelope.
    pub envelope: Envelope,
}

impl Delivered {
    /// An event read from the log of record rather than a topic.
    pub fn from_log(event: &store::RecordedEvent) -> Self {
        Self {
            topic: format!("log:{}", event.category),
            partition: 0,
            offset: event.position,
            envelope: Envelope::from(event),
        }
    }
}

/// A message whose value is not an envelope; parked, never retried.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The raw value, lossily as text.
    pub raw: String,
    /// Why it could not be decoded.
    pub error: String,
}

/// A handler failure, classified for the retry loop.
#[derive(Debug, Error)]
pub enum HandlerError {
    /// Infrastructure trouble (connection lost, deadlock): retried without limit.
    #[error("transient failure")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The batch lost a race on a stream (another writer appended first):
    /// retried at once with fresh state, not paused like a failure.
    #[error("lost a race on a stream")]
    Raced(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The event itself cannot be handled: retried a few times, then parked.
    #[error("event cannot be handled")]
    Poison(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Another instance (or a rebuild) moved this worker's checkpoint: the
    /// batch is dropped and the worker reloads where to continue from.
    #[error("checkpoint moved by another writer")]
    Fenced(#[source] store::StoreError),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            Self::Transient(Box::new(e))
        } else {
            Self::Poison(Box::new(e))
        }
    }
}

impl From<store::StoreError> for HandlerError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Database(db) => db.into(),
            moved @ store::StoreError::CheckpointMoved { .. } => Self::Fenced(moved),
            other => Self::Poison(Box::new(other)),
        }
    }
}

/// Whether a database error is worth retrying as is.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection, 40: serialization/deadlock, 53: resources,
            // 57: operator intervention (shutdown, restart), 55P03: a lock
            // not granted within `lock_timeout`.
            ["08", "40", "53", "57", "55P03"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        _ => false,
    }
}

/// Work applied to a batch of fresh (not yet processed) events.
pub trait BatchHandler: Send + Sync {
    /// The name under which processed events and parked ones are recorded.
    fn consumer_name(&self) -> &str;

    /// Statements without parameters that open each batch's transaction
    /// (locks, the search path), sent with its `BEGIN` in one round trip.
    fn preamble(&self) -> Option<&str> {
        None
    }

    /// Applies the events in order inside `conn`'s transaction.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [Delivered],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Runs after a transaction of this handler committed, with the batch's
    /// progress when that transaction recorded it: announces what changed
    /// (appended events, a published position) to whoever waits for it.
    fn committed(&self, progress: Option<&Progress>) {
        let _ = progress;
    }

    /// Runs last in the transaction that records the batch's progress (a
    /// projection publishes the position readers may wait for).
    fn after_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        progress: &'a Progress,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        let _ = (conn, progress);
        async { Ok(()) }
    }
}
