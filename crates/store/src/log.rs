//! Appending to a stream with optimistic concurrency.

use domain::StreamCategory;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::unique_violation;
use crate::{EventMetadata, NewEvent, StoreError};

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Global position of the last event appended.
    pub last_position: i64,
    /// The stream's version after the append.
    pub version: i64,
}

/// Appends `events` to a stream that must be at `expected_version` (0 for a
/// new stream). A writer that raced us to that version makes this fail with
/// [`StoreError::Conflict`]; the unique (stream_id, stream_version) constraint
/// decides, so two writers can never both succeed.
#[tracing::instrument(skip(conn, events, metadata), fields(stream_id, count = events.len()))]
pub async fn append(
    conn: &mut PgConnection,
    category: StreamCategory,
    aggregate_id: &str,
    expected_version: i64,
    events: &[NewEvent],
    metadata: &EventMetadata,
) -> Result<AppendResult, StoreError> {
    let stream_id = category.stream_id(aggregate_id);
    tracing::Span::current().record("stream_id", stream_id.as_str());
    let versions: Vec<i64> = (1..=events.len() as i64)
        .map(|i| expected_version + i)
        .collect();
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version).collect();
    let data: Vec<serde_json::Value> = events.iter().map(|e| e.data.clone()).collect();

    let inserted = sqlx::query(
        "INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, \
                             event_type, schema_version, data, correlation_id, causation_id, actor) \
         SELECT e.id, $2, $3, $4, e.version, e.type, e.schema_version, e.data, $8, $9, $10 \
         FROM unnest($1::uuid[], $5::bigint[], $6::text[], $7::int[], $11::jsonb[]) \
              AS e(id, version, type, schema_version, data) \
         RETURNING position, stream_version",
    )
    .bind(&ids)
    .bind(&stream_id)
    .bind(category.as_str())
    .bind(aggregate_id)
    .bind(&versions)
    .bind(&types)
    .bind(&schema_versions)
    .bind(metadata.correlation_id)
    .bind(metadata.causation_id)
    .bind(metadata.actor.as_deref())
    .bind(&data)
    .fetch_all(&mut *conn)
    .await;

    let rows = match inserted {
        Ok(rows) => rows,
        Err(e) if unique_violation(&e).as_deref() == Some("events_stream_version_key") => {
            return Err(StoreError::Conflict {
                stream_id,
                expected: expected_version,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let mut last = AppendResult {
        last_position: 0,
        version: expected_version,
    };
    for row in rows {
        let position: i64 = row.try_get("position")?;
        if position > last.last_position {
            last = AppendResult {
                last_position: position,
                version: row.try_get("stream_version")?,
            };
        }
    }
    Ok(last)
}
