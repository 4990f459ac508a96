//! Failures of the pipeline: the broker, the log, the workers' loop.

use thiserror::Error;

/// What can go wrong talking to Kafka or to the relay's tables.
#[derive(Debug, Error)]
pub enum BusError {
    /// The broker or the client library failed.
    #[error("kafka error")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Postgres failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The event store failed.
    #[error("event store error")]
    Store(#[from] store::StoreError),
    /// The log holds a category no topic is configured for.
    #[error("event at position {position} has unknown category {category:?}")]
    UnknownCategory {
        /// The category.
        category: String,
        /// Where the event is.
        position: i64,
    },
    /// `republish` was asked while followers of the log run.
    #[error("stop the relay and every worker before republishing: sessions {pids:?} hold leases of this database (a relay running beside the rewind would publish past it, and a Kafka consumer would store offsets of the lost broker)")]
    FollowersRunning {
        /// The backends holding advisory locks.
        pids: Vec<i32>,
    },
    /// A worker's handler failed in a way no retry can fix.
    #[error("handler failed")]
    Handler(#[source] crate::handler::HandlerError),
    /// A message is not a Stockroom envelope.
    #[error("message at {topic}/{partition}@{offset} is not a valid envelope")]
    BadEnvelope {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}
