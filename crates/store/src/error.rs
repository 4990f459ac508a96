//! Failures of the event store itself, never a domain rejection.

use thiserror::Error;

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another writer appended to the stream first; reload and decide again.
    #[error("stream {stream_id} changed concurrently (expected version {expected})")]
    Conflict {
        /// The contended stream.
        stream_id: String,
        /// The version the writer based its decision on.
        expected: i64,
    },
    /// A stored event could not be decoded into its type.
    #[error("event {position} of stream {stream_id} cannot be decoded")]
    Corrupt {
        /// Where it is.
        position: i64,
        /// Its stream.
        stream_id: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A current-state row holds what no event could have produced.
    #[error("stored state is invalid: {0}")]
    InvalidState(String),
    /// A domain event could not be encoded.
    #[error("event cannot be encoded")]
    Encode(#[source] serde_json::Error),
    /// Postgres failed or is unreachable.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A subscription's checkpoint was moved by someone else (a standby that
    /// took over, a rebuild); the writer must reload it.
    #[error("the checkpoint of {subscription} was moved by another writer")]
    CheckpointMoved {
        /// The subscription.
        subscription: String,
    },
    /// The system's random source failed (minting a key).
    #[error("no randomness available: {0}")]
    Randomness(String),
    /// A statement shared by several callers failed (see
    /// [`crate::GroupAppend`]); each of them gets this.
    #[error("a shared append failed")]
    Shared(#[source] std::sync::Arc<StoreError>),
    /// The database holds transaction ids of another cluster (it was
    /// restored from a logical dump) and has not been rebased yet.
    #[error("this database was copied from another Postgres cluster and its log is not rebased yet: run `stockroom migrate` before starting Stockroom")]
    RestoredCopy,
    /// The session runs without the settings Stockroom pins on connect.
    #[error("this session runs with default_transaction_isolation = {isolation:?} and lock_timeout = {lock_timeout:?}, not the READ COMMITTED and bounds Stockroom asks for on connect: something between it and Postgres (a pooler that ignores startup parameters, such as PgBouncer with ignore_startup_parameters = options) drops them, and with them the direct sessions that leases and LISTEN need; connect Stockroom to Postgres directly, or through a pooler in session mode that passes startup parameters")]
    SessionNotPinned {
        /// The isolation level the session runs with.
        isolation: String,
        /// Its lock timeout.
        lock_timeout: String,
    },
    /// Migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether a retry with fresh state may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self.cause(), Self::Conflict { .. })
    }

    /// The failure itself, seen through [`StoreError::Shared`].
    pub fn cause(&self) -> &StoreError {
        match self {
            Self::Shared(shared) => shared.cause(),
            other => other,
        }
    }
}

/// The SQLSTATE of a unique violation.
pub(crate) const UNIQUE_VIOLATION: &str = "23505";

/// The name of the violated constraint, if `error` is a unique violation.
pub(crate) fn unique_violation(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

/// Formats an error with its whole `source()` chain, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
