//! Deduplication by event id, and the parking lot for events a consumer
//! cannot handle.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::handler::{Delivered, Malformed};

/// What already counts as processed when events are claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// Recorded here by id, or at or before the consumer's checkpoint in the
    /// log (`subscriptions`): a log follower records only its checkpoint, so
    /// a consumer switched to Kafka after it skips what the log delivered.
    ByIdOrCheckpoint,
    /// Recorded here by id only: for events taken out of the parking lot,
    /// which lie at or before the checkpoint yet were never applied.
    ById,
}

/// Marks the events as processed by `consumer` and returns those that were
/// not already (as `processed` counts them), in their original order, each
/// once.
pub async fn claim(
    conn: &mut PgConnection,
    consumer: &str,
    events: &[Delivered],
    processed: Processed,
) -> Result<Vec<Delivered>, sqlx::Error> {
    if events.is_empty() {
        return Ok(vec![]);
    }
    let behind_checkpoint = match processed {
        Processed::ByIdOrCheckpoint => {
            "WHERE NOT EXISTS ( \
                 SELECT 1 FROM subscriptions s JOIN events e ON e.position = x.pos \
                 WHERE s.name = $1 AND (e.transaction_id, e.position) <= (s.transaction_id, s.position))"
        }
        Processed::ById => "",
    };
    let sql = format!(
        "INSERT INTO processed_events (consumer, event_id, position) \
         SELECT $1, x.id, x.pos FROM unnest($2::uuid[], $3::bigint[]) AS x(id, pos) \
         {behind_checkpoint} \
         ON CONFLICT DO NOTHING RETURNING event_id"
    );
    let ids: Vec<Uuid> = events.iter().map(|e| e.envelope.event_id).collect();
    let positions: Vec<i64> = events.iter().map(|e| e.envelope.global_position).collect();
    let fresh: HashSet<Uuid> = sqlx::query_scalar(&sql)
        .bind(consumer)
        .bind(&ids)
        .bind(&positions)
        .fetch_all(conn)
        .await?
        .into_iter()
        .collect();
    let mut seen = HashSet::with_capacity(fresh.len());
    Ok(events
        .iter()
        .filter(|e| fresh.contains(&e.envelope.event_id) && seen.insert(e.envelope.event_id))
        .cloned()
        .collect())
}

/// Parks an event with the error it keeps failing on. It counts as
/// processed, so the partition moves on and a redelivery is skipped.
pub async fn park(
    conn: &mut PgConnection,
    consumer: &str,
    event: &Delivered,
    error: &str,
    attempts: i32,
) -> Result<(), sqlx::Error> {
    let envelope = serde_json::to_value(&event.envelope).unwrap_or(Value::Null);
    sqlx::query(
        "INSERT INTO parked_events (consumer, event_id, position, topic, partition, \"offset\", envelope, error, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (consumer, event_id) DO UPDATE \
           SET error = EXCLUDED.error, attempts = parked_events.attempts + EXCLUDED.attempts, parked_at = now()",
    )
    .bind(consumer)
    .bind(event.envelope.event_id)
    .bind(event.envelope.global_position)
    .bind(&event.topic)
    .bind(event.partition)
    .bind(event.offset)
    .bind(envelope)
    .bind(error)
    .bind(attempts)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, position) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event.envelope.event_id)
    .bind(event.envelope.global_position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Parks a message that is not an envelope at all.
pub async fn park_malformed(
    conn: &mut PgConnection,
    consumer: &str,
    bad: &Malformed,
) -> Result<(), sqlx::Error> {
    tracing::error!(topic = %bad.topic, partition = bad.partition, offset = bad.offset, error = %bad.error, "parking malformed message");
    sqlx::query(
        "INSERT INTO parked_events (consumer, event_id, position, topic, partition, \"offset\", envelope, error, attempts) \
         VALUES ($1, $2, -1, $3, $4, $5, to_jsonb($6::text), $7, 1)",
    )
    .bind(consumer)
    .bind(Uuid::new_v4())
    .bind(&bad.topic)
    .bind(bad.partition)
    .bind(bad.offset)
    .bind(&bad.raw)
    .bind(&bad.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// One parked event.
#[derive(Debug, Clone)]
pub struct Parked {
    /// Id for `stockroom parked retry`.
    pub id: i64,
    /// The consumer that parked it.
    pub consumer: String,
    /// The event.
    pub event_id: Uuid,
    /// Its global position (-1 for malformed messages).
    pub position: i64,
    /// Where it was read.
    pub topic: String,
    /// The last error.
    pub error: String,
    /// Failed attempts.
    pub attempts: i32,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
    /// The envelope as received.
    pub envelope: Value,
}

/// Parked events, oldest first, optionally of one consumer.
pub async fn list(pool: &PgPool, consumer: Option<&str>) -> Result<Vec<Parked>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, consumer, event_id, position, topic, error, attempts, parked_at, envelope \
         FROM parked_events WHERE retried_at IS NULL AND ($1::text IS NULL OR consumer = $1) ORDER BY id",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Parked {
                id: r.try_get("id")?,
                consumer: r.try_get("consumer")?,
                event_id: r.try_get("event_id")?,
                position: r.try_get("position")?,
                topic: r.try_get("topic")?,
                error: r.try_get("error")?,
                attempts: r.try_get("attempts")?,
                parked_at: r.try_get("parked_at")?,
                envelope: r.try_get("envelope")?,
            })
        })
        .collect()
}

/// Takes a parked event back out for a retry: unmarks it as processed and
/// stamps it retried, in the caller's transaction. Returns it as delivered.
pub async fn unpark(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<(String, Delivered)>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE parked_events SET retried_at = now() WHERE id = $1 AND retried_at IS NULL \
         RETURNING consumer, topic, partition, \"offset\", envelope",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let consumer: String = row.try_get("consumer")?;
    let Ok(envelope) = serde_json::from_value::<crate::Envelope>(row.try_get("envelope")?) else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM processed_events WHERE consumer = $1 AND event_id = $2")
        .bind(&consumer)
        .bind(envelope.event_id)
        .execute(&mut *conn)
        .await?;
    let delivered = Delivered {
        topic: row.try_get("topic")?,
        partition: row.try_get("partition")?,
        offset: row.try_get("offset")?,
        envelope,
    };
    Ok(Some((consumer, delivered)))
}
