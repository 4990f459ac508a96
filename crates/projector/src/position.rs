//! A projection's position: the highest global position P such that every
//! event at or below P of the projection's categories is applied, so a reader
//! that waits for P (`X-Min-Position`) sees its write. Only commit-safe
//! positions are published: a position whose transaction may still commit
//! is never stepped over.

use domain::StreamCategory;
use sqlx::PgConnection;

/// The live schema's position table.
const POSITIONS: &str = "read_models.projection_positions";

/// Makes sure the projection has a row (the registry in code is the source
/// of truth for which projections exist).
pub async fn register(
    conn: &mut PgConnection,
    name: &str,
    categories: &[StreamCategory],
) -> Result<(), sqlx::Error> {
    let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    sqlx::query(&format!(
        "INSERT INTO {POSITIONS} (name, categories) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET categories = EXCLUDED.categories"
    ))
    .bind(name)
    .bind(&categories)
    .execute(conn)
    .await?;
    Ok(())
}

/// Publishes `settled` (from the log follower that fed this batch) as the
/// projection's position, never moving it back.
pub async fn publish_settled(
    conn: &mut PgConnection,
    name: &str,
    settled: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {POSITIONS} SET position = $2, updated_at = now() \
         WHERE name = $1 AND position < $2"
    ))
    .bind(name)
    .bind(settled)
    .execute(conn)
    .await?;
    Ok(())
}

/// For a projection fed from Kafka, where partitions arrive in any order:
/// moves the position up to just before the first event of its categories
/// it has not processed, but never past the relay's settled position (every
/// event at or below it is committed and published, so the walk below it
/// sees every event that will ever exist there).
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
             SELECT settled FROM relay_checkpoint \
         ), first_missing AS ( \
             SELECT e.position FROM events e, current c, cap \
             WHERE e.position > c.position AND e.position <= cap.settled \
               AND e.category = ANY($2) \
               AND NOT EXISTS (SELECT 1 FROM processed_events p \
                               WHERE p.consumer = $1 AND p.event_id = e.event_id) \
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
