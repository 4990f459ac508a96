//! Reading the log: one stream, or everything committed after a cursor in a
//! gap-safe commit order.

use std::sync::LazyLock;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};

use crate::{RecordedEvent, StoreError};

/// Columns of [`RecordedEvent`], for `SELECT`s that [`from_row`] reads.
pub const EVENT_COLUMNS: &str = "position, transaction_id::text::bigint AS transaction_id, \
     event_id, stream_id, category, aggregate_id, stream_version, event_type, schema_version, \
     data, correlation_id, causation_id, actor, trace_parent, occurred_at";

/// Reads a [`RecordedEvent`] selected with [`EVENT_COLUMNS`].
pub fn from_row(row: &PgRow) -> Result<RecordedEvent, sqlx::Error> {
    Ok(RecordedEvent {
        position: row.try_get("position")?,
        transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
        event_id: row.try_get("event_id")?,
        stream_id: row.try_get("stream_id")?,
        category: row.try_get("category")?,
        aggregate_id: row.try_get("aggregate_id")?,
        stream_version: row.try_get("stream_version")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        data: row.try_get("data")?,
        correlation_id: row.try_get("correlation_id")?,
        causation_id: row.try_get("causation_id")?,
        actor: row.try_get("actor")?,
        trace_parent: row.try_get("trace_parent")?,
        occurred_at: row.try_get("occurred_at")?,
    })
}

/// The events at `positions` that the log holds (committed ones), in
/// position order; positions it does not hold are left out.
pub async fn events_at(
    conn: &mut PgConnection,
    positions: &[i64],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE position = ANY($1) ORDER BY position");
    let rows = sqlx::query(&sql).bind(positions).fetch_all(conn).await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The events of one stream after version `after` and up to `up_to`,
/// oldest first.
pub async fn read_stream_between(
    conn: &mut PgConnection,
    stream_id: &str,
    after: i64,
    up_to: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM stream_events(ARRAY[$1]) \
         WHERE stream_version > $2 AND stream_version <= $3 \
         ORDER BY stream_version"
    );
    let rows = sqlx::query(&sql)
        .bind(stream_id)
        .bind(after)
        .bind(up_to)
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The events of one stream up to version `up_to` (all with `None`),
/// oldest first.
#[tracing::instrument(skip(conn))]
pub async fn read_stream(
    conn: &mut PgConnection,
    stream_id: &str,
    up_to: Option<i64>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    read_stream_between(conn, stream_id, 0, up_to.unwrap_or(i64::MAX)).await
}

/// A place in commit order: everything at or before it has been read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitCursor {
    /// Transaction id of the last event read (or of a horizon, see
    /// [`CommitCursor::before_transaction`]).
    pub transaction_id: u64,
    /// Position of the last event read (0 at a horizon).
    pub position: i64,
}

impl CommitCursor {
    /// The cursor just past `event`.
    pub fn after(event: &RecordedEvent) -> Self {
        Self {
            transaction_id: event.transaction_id,
            position: event.position,
        }
    }

    /// The cursor past every event of transactions below `transaction_id`
    /// and before all of its own (positions start at 1).
    pub fn before_transaction(transaction_id: u64) -> Self {
        Self {
            transaction_id,
            position: 0,
        }
    }
}

/// The statement [`read_committed_after`] sends. The predicate and the order
/// live in `events_in_commit_order()` (migrations), which `log_round()`
/// shares; the outer `ORDER BY` names the table's columns, never
/// [`EVENT_COLUMNS`]' cast of the same name, so the index's order serves it.
pub static COMMITTED_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} \
         FROM events_in_commit_order($1::text::xid8, $2, \
                                     pg_snapshot_xmin(pg_current_snapshot()), $4, $3) AS e \
         ORDER BY e.transaction_id, e.position"
    )
});

/// Up to `limit` events of `categories` (all when empty) committed after
/// `cursor`, in commit order.
///
/// Only transactions older than the snapshot's xmin are read: each of them
/// has finished, and any transaction still running has an id at or above
/// xmin, so its events will sort after everything returned here. No event can
/// appear behind the cursor later, and no timer ever skips a gap.
#[tracing::instrument(skip(conn, categories), fields(after_position = cursor.position))]
pub async fn read_committed_after(
    conn: &mut PgConnection,
    cursor: CommitCursor,
    limit: i64,
    categories: &[&str],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = after_cursor(&COMMITTED_AFTER, cursor, limit, categories)
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// `sql` bound with a commit-order read's parameters: the cursor as `$1`
/// (transaction id, as text) and `$2`, the limit as `$3`, the categories as
/// `$4`.
pub(crate) fn after_cursor<'q>(
    sql: &'q str,
    cursor: CommitCursor,
    limit: i64,
    categories: &'q [&str],
) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.position)
        .bind(limit)
        .bind(categories)
}
