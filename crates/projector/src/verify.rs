//! `stockroom projections verify`: recomputes each read model from the log
//! and compares it with the live one, without holding the log back.
//!
//! The live tables and the set of events the projection has processed are
//! read at one instant: a READ ONLY, REPEATABLE READ transaction (the
//! *anchor*). A transaction without an id never holds back another one's
//! horizon, so followers of the log are not kept waiting however long the
//! verification takes. The recomputation applies exactly those events (minus
//! parked ones), in commit order, to temporary tables of the same names on a
//! session of its own, which the session's `pg_temp` schema puts ahead of the
//! live ones, one short transaction per batch: once it held one transaction
//! (and its id) open for the whole run, and orders placed meanwhile waited
//! seconds to be decided. The comparison is a multiset of row digests, the
//! live side read by the anchor, the recomputed side by the session.

use std::collections::HashMap;

use sqlx::{Connection, PgConnection, PgPool};
use store::read::{from_row, EVENT_COLUMNS};
use store::CommitCursor;

use crate::pace::Pace;
use crate::projection::LIVE_SCHEMA;
use crate::rebuild::RebuildError;
use crate::replay::apply_recorded;
use crate::Projection;

/// Most events recomputed per transaction (see [`crate::pace`]).
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
    let mut anchor = pool.begin().await?;
    // It waits idle while the session applies a batch: the bound every
    // session gets does not apply to it.
    for statement in [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "SET LOCAL idle_in_transaction_session_timeout = 0",
    ] {
        sqlx::query(statement).execute(&mut *anchor).await?;
    }
    // A session of its own for the temporary tables, closed at the end (so
    // they never go back to the pool).
    let mut session = pool.acquire().await?.detach();
    let outcome = recompute_and_compare(&mut anchor, &mut session, projection).await;
    anchor.rollback().await?;
    let _ = session.close().await;
    outcome
}

async fn recompute_and_compare<P: Projection>(
    anchor: &mut PgConnection,
    session: &mut PgConnection,
    projection: &P,
) -> Result<Verification, RebuildError> {
    let search_path = format!("SET search_path TO {LIVE_SCHEMA}, public");
    sqlx::query(&search_path).execute(&mut *session).await?;
    sqlx::query("SET plan_cache_mode = force_custom_plan")
        .execute(&mut *session)
        .await?;
    for table in P::TABLES {
        sqlx::query(&format!(
            "CREATE TEMP TABLE {table} (LIKE {LIVE_SCHEMA}.{table} INCLUDING ALL)"
        ))
        .execute(&mut *session)
        .await?;
    }
    let events = recompute(anchor, session, projection).await?;
    let mut differences = Vec::new();
    for table in P::TABLES {
        let live = digests(anchor, &format!("{LIVE_SCHEMA}.{table}")).await?;
        let recomputed = digests(session, &format!("pg_temp.{table}")).await?;
        let diff = TableDiff {
            table,
            only_live: surplus(&live, &recomputed),
            only_recomputed: surplus(&recomputed, &live),
        };
        if diff.only_live > 0 || diff.only_recomputed > 0 {
            differences.push(diff);
        }
    }
    Ok(Verification {
        projection: P::NAME,
        events,
        differences,
    })
}

/// How many times each row of `table` occurs, by a digest of its text.
async fn digests(
    conn: &mut PgConnection,
    table: &str,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let sql = format!("SELECT md5(t::text), count(*) FROM {table} AS t GROUP BY 1");
    let rows: Vec<(String, i64)> = sqlx::query_as(&sql).fetch_all(conn).await?;
    Ok(rows.into_iter().collect())
}

/// Rows of `a` that `b` lacks, counted as `EXCEPT ALL` would.
fn surplus(a: &HashMap<String, i64>, b: &HashMap<String, i64>) -> i64 {
    a.iter()
        .map(|(digest, n)| (n - b.get(digest).copied().unwrap_or(0)).max(0))
        .sum()
}

/// Applies the projection's processed, unparked events in commit order: read
/// by the anchor, applied on the session, a batch per transaction.
async fn recompute<P: Projection>(
    anchor: &mut PgConnection,
    session: &mut PgConnection,
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
    let mut pace = Pace::new(BATCH);
    loop {
        let rows = sqlx::query(&sql)
            .bind(&categories)
            .bind(cursor.transaction_id.to_string())
            .bind(cursor.position)
            .bind(P::NAME)
            .bind(pace.size())
            .fetch_all(&mut *anchor)
            .await?;
        let events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let Some(last) = events.last() else {
            return Ok(total);
        };
        cursor = CommitCursor::after(last);
        total += events.len() as u64;
        // Writes to temporary tables take a transaction id too.
        let started = std::time::Instant::now();
        apply_recorded(projection, session, &events).await?;
        pace.record(events.len(), started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surplus_counts_rows_as_except_all_does() {
        let a = HashMap::from([("x".to_owned(), 2), ("y".to_owned(), 1)]);
        let b = HashMap::from([("x".to_owned(), 1), ("z".to_owned(), 4)]);
        assert_eq!(surplus(&a, &b), 2, "one x and the y");
        assert_eq!(surplus(&b, &a), 4, "the four z");
        assert_eq!(surplus(&a, &a), 0);
    }
}
