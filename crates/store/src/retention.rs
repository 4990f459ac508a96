//! Keeping the bookkeeping tables bounded: processed event ids, idempotency
//! keys and resolved parked events are deleted once older than their
//! retention, in small batches so no delete holds locks for long.

use std::time::Duration;

use sqlx::PgPool;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Event ids a worker processed (deduplication of redeliveries). A log
    /// subscription never needs one below its checkpoint; a Kafka consumer
    /// needs them for as long as the broker may redeliver.
    pub processed_events: Duration,
    /// Stored responses of `Idempotency-Key` requests; a retry after this
    /// runs as a new request.
    pub idempotency_keys: Duration,
    /// Parked events that were retried. Parked events nobody retried yet are
    /// kept: they wait for a person.
    pub parked_events: Duration,
    /// Rows deleted per statement.
    pub batch: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            processed_events: Duration::from_secs(7 * 24 * 3600),
            idempotency_keys: Duration::from_secs(24 * 3600),
            parked_events: Duration::from_secs(30 * 24 * 3600),
            batch: 1000,
        }
    }
}

/// Rows deleted by one [`purge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Processed event ids.
    pub processed_events: u64,
    /// Idempotency keys.
    pub idempotency_keys: u64,
    /// Resolved parked events.
    pub parked_events: u64,
}

/// The tables and the age column each is purged by.
const TABLES: [(&str, &str, &str); 3] = [
    ("processed_events", "processed_at", "true"),
    ("idempotency_keys", "created_at", "true"),
    ("parked_events", "retried_at", "retried_at IS NOT NULL"),
];

/// Deletes every row past its retention, one batch per statement.
#[tracing::instrument(skip(pool))]
pub async fn purge(pool: &PgPool, retention: &Retention) -> Result<Purged, sqlx::Error> {
    let ages = [
        retention.processed_events,
        retention.idempotency_keys,
        retention.parked_events,
    ];
    let mut counts = [0u64; 3];
    for (((table, column, filter), age), count) in TABLES.iter().zip(ages).zip(&mut counts) {
        let sql = format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY( \
                 SELECT ctid FROM {table} \
                 WHERE {filter} AND {column} < now() - make_interval(secs => $1) \
                 LIMIT $2))"
        );
        loop {
            let deleted = sqlx::query(&sql)
                .bind(age.as_secs_f64())
                .bind(retention.batch)
                .execute(pool)
                .await?
                .rows_affected();
            *count += deleted;
            if deleted < retention.batch as u64 {
                break;
            }
        }
    }
    Ok(Purged {
        processed_events: counts[0],
        idempotency_keys: counts[1],
        parked_events: counts[2],
    })
}
