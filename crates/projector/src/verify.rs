//! `stockroom projections verify`: recomputes each read model from the log
//! and compares it with the live one.
//!
//! Everything happens in one repeatable-read transaction, so the live tables
//! and the set of events the projection has processed are seen at one
//! instant: the recomputation applies exactly those events (minus parked
//! ones), in commit order, to temporary tables of the same names, which the
//! session's `pg_temp` schema puts ahead of the live ones.

use sqlx::{PgConnection, PgPool, Row};
use store::read::{from_row, EVENT_COLUMNS};
use store::CommitCursor;

use crate::projection::{scope_batch, LIVE_SCHEMA};
use crate::rebuild::RebuildError;
use crate::replay::apply_recorded;
use crate::Projection;

const BATCH: i64 = 2_000;

/// Differences found in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDiff {
    /// The table.
    pub table: &'static str,
    /// Rows only in the live table.
    pub only_live: i64,
    /// Rows only in the recomputed table.
    pub only_recomputed: i64,
}

/// The outcome of verifying one projection.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The projection.
    pub projection: &'static str,
    /// Events recomputed.
    pub events: u64,
    /// Tables that differ (empty: the read model is right).
    pub differences: Vec<TableDiff>,
}

/// Verifies `projection` against the log.
#[tracing::instrument(skip_all, fields(projection = P::NAME))]
pub async fn verify<P: Projection>(
    pool: &PgPool,
    projection: &P,
) -> Result<Verification, RebuildError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    scope_batch(&mut tx, LIVE_SCHEMA).await?;
    for table in P::TABLES {
        sqlx::query(&format!(
            "CREATE TEMP TABLE {table} (LIKE {LIVE_SCHEMA}.{table} INCLUDING ALL) ON COMMIT DROP"
        ))
        .execute(&mut *tx)
        .await?;
    }
    let events = recompute(&mut tx, projection).await?;
    let mut differences = Vec::new();
    for table in P::TABLES {
        let row = sqlx::query(&format!(
            "SELECT (SELECT count(*) FROM (SELECT * FROM {LIVE_SCHEMA}.{table} EXCEPT ALL SELECT * FROM pg_temp.{table}) a) AS only_live, \
                    (SELECT count(*) FROM (SELECT * FROM pg_temp.{table} EXCEPT ALL SELECT * FROM {LIVE_SCHEMA}.{table}) b) AS only_recomputed"
        ))
        .fetch_one(&mut *tx)
        .await?;
        let diff = TableDiff {
            table,
            only_live: row.try_get("only_live")?,
            only_recomputed: row.try_get("only_recomputed")?,
        };
        if diff.only_live > 0 || diff.only_recomputed > 0 {
            differences.push(diff);
        }
    }
    tx.rollback().await?;
    Ok(Verification {
        projection: P::NAME,
        events,
        differences,
    })
}

/// Applies the projection's processed, unparked events in commit order.
async fn recompute<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
) -> Result<u64, RebuildError> {
    let categories = P::category_names();
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.category = ANY($1) AND (e.transaction_id, e.position) > ($2::text::xid8, $3) \
           AND ((e.transaction_id, e.position) <= \
                    (SELECT s.transaction_id, s.position FROM subscriptions s WHERE s.name = $4) \
                OR EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $4 AND p.event_id = e.event_id)) \
           AND NOT EXISTS (SELECT 1 FROM parked_events k \
                           WHERE k.consumer = $4 AND k.event_id = e.event_id AND k.retried_at IS NULL) \
         ORDER BY e.transaction_id, e.position LIMIT $5"
    );
    let mut cursor = CommitCursor::default();
    let mut total = 0;
    loop {
        let rows = sqlx::query(&sql)
            .bind(&categories)
            .bind(cursor.transaction_id.to_string())
            .bind(cursor.position)
            .bind(P::NAME)
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?;
        let events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let Some(last) = events.last() else {
            return Ok(total);
        };
        cursor = CommitCursor::after(last);
        total += events.len() as u64;
        apply_recorded(projection, conn, &events).await?;
    }
}
