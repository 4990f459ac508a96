//! A projection's position: the highest global position P such that every
//! committed event at or below P of the projection's categories is applied.

use domain::StreamCategory;
use sqlx::PgConnection;

/// Moves the position up to just before the first committed event of the
/// projection's categories it has not processed (or, with none missing, to the
/// end of the log). The walk starts at the current position, so it costs what
/// it advances.
pub async fn advance(
    conn: &mut PgConnection,
    name: &str,
    categories: &[StreamCategory],
) -> Result<i64, sqlx::Error> {
    let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    sqlx::query_scalar(
        "WITH current AS ( \
             SELECT position FROM read_models.projection_positions WHERE name = $1 \
         ), first_missing AS ( \
             SELECT e.position FROM events e, current c \
             WHERE e.position > c.position AND e.category = ANY($2) \
               AND NOT EXISTS (SELECT 1 FROM processed_events p \
                               WHERE p.consumer = $1 AND p.event_id = e.event_id) \
             ORDER BY e.position LIMIT 1 \
         ) \
         UPDATE read_models.projection_positions SET \
             position = GREATEST(position, coalesce( \
                 (SELECT position - 1 FROM first_missing), \
                 (SELECT max(position) FROM events), 0)), \
             updated_at = now() \
         WHERE name = $1 RETURNING position",
    )
    .bind(name)
    .bind(&categories)
    .fetch_one(conn)
    .await
}
