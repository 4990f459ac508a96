//! A projection's position: the highest global position P such that every
//! event at or below P of the projection's categories is applied, so a reader
//! that waits for P (`X-Min-Position`) sees its write. Only commit-safe
//! positions are published: a position whose transaction may still commit
//! is never stepped over.

use domain::StreamCategory;
use sqlx::PgConnection;

/// The live schema's position table.
const POSITIONS: &str = "read_models.projection_positions";

/// Publishes `settled` (from the log follower that fed this batch) as the
/// projection's position, never moving it back. The row is created on first
/// use: the registry in code, not a migration, says which projections exist.
pub async fn publish_settled(
    conn: &mut PgConnection,
    name: &str,
    categories: &[StreamCategory],
    settled: i64,
) -> Result<(), sqlx::Error> {
    let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    sqlx::query(&format!(
        "INSERT INTO {POSITIONS} AS p (name, categories, position) VALUES ($1, $3, $2) \
         ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now() \
         WHERE p.position < EXCLUDED.position"
    ))
    .bind(name)
    .bind(settled)
    .bind(&categories)
    .execute(conn)
    .await?;
    Ok(())
}

/// For a projection fed from Kafka, where partitions arrive in any order:
/// moves the position up to just before the first event of its categories
/// it has not processed (as [`bus::parking::Processed::ByIdOrCheckpoint`]
/// counts them), but never past the relay's settled position (every event at
/// or below it is committed and published, so the walk below it sees every
/// event that will ever exist there).
pub async fn advance_from_kafka(
    conn: &mut PgConnection,
    name: &str,
    categories: &[StreamCategory],
) -> Result<i64, sqlx::Error> {
    let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    sqlx::query_scalar(&format!(
        "WITH current AS ( \
             SELECT position FROM {POSITIONS} WHERE name = $1 \
         ), cap AS ( \
             SELECT settled FROM subscriptions WHERE name = 'relay' \
         ), first_missing AS ( \
             SELECT e.position FROM events e, current c, cap \
             WHERE e.position > c.position AND e.position <= cap.settled \
               AND e.category = ANY($2) \
               AND NOT EXISTS (SELECT 1 FROM processed_events p \
                               WHERE p.consumer = $1 AND p.event_id = e.event_id) \
               AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.name = $1 \
                               AND (e.transaction_id, e.position) <= (s.transaction_id, s.position)) \
             ORDER BY e.position LIMIT 1 \
         ) \
         UPDATE {POSITIONS} SET \
             position = GREATEST(position, coalesce( \
                 (SELECT position - 1 FROM first_missing), \
                 (SELECT settled FROM cap), 0)), \
             updated_at = now() \
         WHERE name = $1 RETURNING position"
    ))
    .bind(name)
    .bind(&categories)
    .fetch_one(conn)
    .await
}
