//! Appending to streams with optimistic concurrency.

use std::collections::HashMap;

use domain::StreamCategory;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::catalogue::CatalogueVersion;
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

/// New events for one stream, each with its own metadata (several commands
/// of one batch may have caused them).
#[derive(Debug, Clone)]
pub struct StreamAppend {
    /// The stream's category.
    pub category: StreamCategory,
    /// The aggregate's id within it.
    pub aggregate_id: String,
    /// The version the stream must be at (0 for a new stream).
    pub expected_version: i64,
    /// The events, in order.
    pub events: Vec<(NewEvent, EventMetadata)>,
}

/// Appends `events` to a stream that must be at `expected_version` (0 for a
/// new stream). A writer that raced us to that version makes this fail with
/// [`StoreError::Conflict`]; the unique (stream_id, stream_version) constraint
/// decides, so two writers can never both succeed.
#[tracing::instrument(skip(conn, events, metadata), fields(count = events.len()))]
pub async fn append(
    conn: &mut PgConnection,
    category: StreamCategory,
    aggregate_id: &str,
    expected_version: i64,
    events: &[NewEvent],
    metadata: &EventMetadata,
) -> Result<AppendResult, StoreError> {
    let stream = StreamAppend {
        category,
        aggregate_id: aggregate_id.to_owned(),
        expected_version,
        events: events
            .iter()
            .map(|e| (e.clone(), metadata.clone()))
            .collect(),
    };
    let results = append_streams(conn, std::slice::from_ref(&stream)).await?;
    Ok(results[0])
}

/// Appends to several streams in one statement, all or none; the results
/// come in the order of `streams`. A stream that is not at its expected
/// version fails the whole append with [`StoreError::Conflict`].
pub async fn append_streams(
    conn: &mut PgConnection,
    streams: &[StreamAppend],
) -> Result<Vec<AppendResult>, StoreError> {
    landed(insert_events(conn, streams, None).await?)
}

/// [`append_streams`] for a decision made on products read earlier without
/// a lock: lands only if the catalogue is still at `catalogue`, checked by
/// the same statement; `Ok(None)` when it has moved on (read the products
/// again and decide again). One statement, so outside a transaction it is
/// one round trip: no `BEGIN`, read or `COMMIT` around it.
pub async fn append_streams_priced_at(
    conn: &mut PgConnection,
    streams: &[StreamAppend],
    catalogue: CatalogueVersion,
) -> Result<Option<Vec<AppendResult>>, StoreError> {
    insert_events(conn, streams, Some(catalogue)).await
}

#[tracing::instrument(skip_all, fields(streams = streams.len()))]
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    streams: &[StreamAppend],
    catalogue: Option<CatalogueVersion>,
) -> Result<Option<Vec<AppendResult>>, StoreError> {
    let count: usize = streams.iter().map(|s| s.events.len()).sum();
    let mut columns = Columns::with_capacity(count);
    for stream in streams {
        let stream_id = stream.category.stream_id(&stream.aggregate_id);
        for (i, (event, metadata)) in stream.events.iter().enumerate() {
            columns.push(
                stream,
                &stream_id,
                stream.expected_version + 1 + i as i64,
                event,
                metadata,
            );
        }
    }
    let sql = match catalogue {
        None => APPEND,
        Some(_) => APPEND_PRICED_AT,
    };
    let query = sqlx::query(sql)
        .bind(&columns.ids)
        .bind(&columns.stream_ids)
        .bind(&columns.categories)
        .bind(&columns.aggregate_ids)
        .bind(&columns.versions)
        .bind(&columns.types)
        .bind(&columns.schema_versions)
        .bind(&columns.data)
        .bind(&columns.correlations)
        .bind(&columns.causations)
        .bind(&columns.actors)
        .bind(&columns.trace_parents);
    let query = match catalogue {
        None => query,
        Some(CatalogueVersion(version)) => query.bind(version),
    };
    let inserted = query.fetch_all(&mut *conn).await;
    let rows = match inserted {
        Ok(rows) if rows.is_empty() && count > 0 => return Ok(None),
        Ok(rows) => rows,
        Err(e) if unique_violation(&e).as_deref() == Some("events_stream_version_key") => {
            let (stream_id, expected) = match streams {
                [one] => (
                    one.category.stream_id(&one.aggregate_id),
                    one.expected_version,
                ),
                _ => (format!("one of {} streams", streams.len()), -1),
            };
            return Err(StoreError::Conflict {
                stream_id,
                expected,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut last: HashMap<String, AppendResult> = HashMap::with_capacity(streams.len());
    for row in rows {
        let position: i64 = row.try_get("position")?;
        let result = AppendResult {
            last_position: position,
            version: row.try_get("stream_version")?,
        };
        let entry = last.entry(row.try_get("stream_id")?).or_insert(result);
        if position > entry.last_position {
            *entry = result;
        }
    }
    Ok(Some(
        streams
            .iter()
            .map(|s| {
                let none = AppendResult {
                    last_position: 0,
                    version: s.expected_version,
                };
                last.get(&s.category.stream_id(&s.aggregate_id))
                    .copied()
                    .unwrap_or(none)
            })
            .collect(),
    ))
}

/// The insert of the rows of [`Columns`], each as the next position, with
/// `$condition` (a `WHERE` clause, or nothing) deciding whether it lands.
macro_rules! insert_sql {
    ($condition:literal) => {
        concat!(
            "INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, \
                event_type, schema_version, data, correlation_id, causation_id, actor, \
                trace_parent) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                $6::text[], $7::int[], $8::jsonb[], $9::uuid[], $10::uuid[], $11::text[], \
                $12::text[]) ",
            $condition,
            " RETURNING position, stream_id, stream_version"
        )
    };
}

/// Appends unconditionally.
const APPEND: &str = insert_sql!("");

/// Appends if the catalogue is at version `$13`.
const APPEND_PRICED_AT: &str = insert_sql!("WHERE (SELECT version FROM catalogue_version) = $13");

/// The answer of an append without a condition, which lands or fails.
pub(crate) fn landed<T>(appended: Option<T>) -> Result<T, StoreError> {
    appended
        .ok_or_else(|| StoreError::InvalidState("an unconditional append inserted nothing".into()))
}

/// The insert's columns, one array each.
struct Columns {
    ids: Vec<Uuid>,
    stream_ids: Vec<String>,
    categories: Vec<&'static str>,
    aggregate_ids: Vec<String>,
    versions: Vec<i64>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    data: Vec<serde_json::Value>,
    correlations: Vec<Uuid>,
    causations: Vec<Option<Uuid>>,
    actors: Vec<Option<String>>,
    trace_parents: Vec<Option<String>>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            stream_ids: Vec::with_capacity(n),
            categories: Vec::with_capacity(n),
            aggregate_ids: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            types: Vec::with_capacity(n),
            schema_versions: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            correlations: Vec::with_capacity(n),
            causations: Vec::with_capacity(n),
            actors: Vec::with_capacity(n),
            trace_parents: Vec::with_capacity(n),
        }
    }

    fn push(
        &mut self,
        stream: &StreamAppend,
        stream_id: &str,
        version: i64,
        event: &NewEvent,
        metadata: &EventMetadata,
    ) {
        self.ids.push(event.event_id);
        self.stream_ids.push(stream_id.to_owned());
        self.categories.push(stream.category.as_str());
        self.aggregate_ids.push(stream.aggregate_id.clone());
        self.versions.push(version);
        self.types.push(event.event_type.clone());
        self.schema_versions.push(event.schema_version);
        self.data.push(event.data.clone());
        self.correlations.push(metadata.correlation_id);
        self.causations.push(metadata.causation_id);
        self.actors.push(metadata.actor.clone());
        self.trace_parents
            .push(metadata.trace_parent.as_ref().map(ToString::to_string));
    }
}
