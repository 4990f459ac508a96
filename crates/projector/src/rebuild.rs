//! `stockroom projections rebuild <name>`: replays the log into a fresh copy
//! of a projection's tables and swaps it in atomically while the live
//! projector keeps running and readers keep reading.
//!
//! 1. Replay, in gap-safe commit order, into tables of a private schema
//!    (indexed from the start), in batches paced to a few milliseconds each
//!    ([`crate::pace`]): no transaction of a rebuild holds back the log
//!    horizon for longer than that, so orders are decided meanwhile as fast
//!    as ever. (Building the indexes after the replay was cheaper, but each
//!    `CREATE INDEX` held a transaction id for its whole build.)
//! 2. Swap, in one transaction that first takes the projection's advisory
//!    lock exclusively (live batches take it shared, so none is half-way):
//!    catch up to the current horizon, which covers everything the live
//!    projector has applied (the relay only publishes below it); move the
//!    new tables in, and the live subscription's checkpoint to exactly the
//!    replayed events (its ids recorded by a Kafka phase are dropped: the
//!    checkpoint covers them), so the live projector, from either source,
//!    neither misses nor double-counts anything it receives later.

use std::time::Instant;

use sqlx::{Connection, PgConnection, PgPool};
use store::{read_committed_after, CommitCursor};
use thiserror::Error;

use crate::pace::Pace;
use crate::projection::{scope_batch, swap_lock_sql, LIVE_SCHEMA};
use crate::replay::apply_recorded;
use crate::Projection;

/// Most events replayed per transaction.
const BATCH: i64 = 5_000;

/// A catch-up batch this small or smaller leaves the swap little to do.
const NEARLY_CAUGHT_UP: u64 = 100;

/// Why a rebuild failed; the live read model is untouched in every case.
#[derive(Debug, Error)]
pub enum RebuildError {
    /// Another rebuild of the same projection is running.
    #[error("a rebuild of {0} is already running")]
    Busy(&'static str),
    /// Postgres failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The log could not be read.
    #[error("event store error")]
    Store(#[from] store::StoreError),
    /// The projection failed on an event.
    #[error("projection failed")]
    Handler(#[from] bus::HandlerError),
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    /// Events replayed.
    pub events: u64,
    /// Events skipped as undecodable.
    pub skipped: u64,
    /// Events replayed inside the swap transaction.
    pub caught_up_during_swap: u64,
    /// How long the swap held the projection's lock, in milliseconds.
    pub swap_millis: u128,
}

/// Progress callbacks: the total once, then events done so far.
pub trait Progress: Sync {
    /// The number of events to replay (an estimate: more may arrive).
    fn start(&self, total: u64);
    /// Events replayed so far.
    fn advance(&self, done: u64);
}

/// Rebuilds `projection` from the log.
#[tracing::instrument(skip_all, fields(projection = P::NAME))]
pub async fn rebuild<P: Projection>(
    pool: &PgPool,
    projection: &P,
    progress: &dyn Progress,
) -> Result<RebuildReport, RebuildError> {
    // The guard lock lives on a connection of its own that is closed at the
    // end, so no pooled connection can ever be handed out still holding it.
    let mut guard = PgConnection::connect_with(pool.connect_options().as_ref()).await?;
    let locked: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_lock(hashtextextended('stockroom-rebuild:' || $1, 0))",
    )
    .bind(P::NAME)
    .fetch_one(&mut guard)
    .await?;
    if !locked {
        let _ = guard.close().await;
        return Err(RebuildError::Busy(P::NAME));
    }
    let result = run(pool, projection, progress).await;
    let cleared = sqlx::query(
        "UPDATE read_models.projection_positions SET rebuilding = false WHERE name = $1",
    )
    .bind(P::NAME)
    .execute(&mut guard)
    .await;
    // Closing the session releases the guard lock whatever happened above.
    let _ = guard.close().await;
    match (result, cleared) {
        (Err(e), Err(cleanup)) => {
            tracing::error!(error = %store::error_chain(&cleanup), "could not clear the rebuilding flag after a failed rebuild");
            Err(e)
        }
        (Err(e), Ok(_)) => Err(e),
        (Ok(_), Err(cleanup)) => Err(cleanup.into()),
        (Ok(report), Ok(_)) => Ok(report),
    }
}

async fn run<P: Projection>(
    pool: &PgPool,
    projection: &P,
    progress: &dyn Progress,
) -> Result<RebuildReport, RebuildError> {
    let schema = format!("rebuild_{}", P::NAME);
    let categories = P::category_names();
    let mut conn = pool.acquire().await?;
    prepare_schema::<P>(&mut conn, &schema).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE category = ANY($1)")
        .bind(&categories)
        .fetch_one(&mut *conn)
        .await?;
    progress.start(total as u64);

    let mut report = RebuildReport {
        events: 0,
        skipped: 0,
        caught_up_during_swap: 0,
        swap_millis: 0,
    };
    // The next batch is read on a second connection while this one is
    // applied, so reading and writing overlap.
    let mut reader = pool.acquire().await?;
    let mut pace = Pace::new(BATCH);
    let mut cursor = CommitCursor::default();
    let mut events = read_committed_after(&mut reader, cursor, pace.size(), &categories).await?;
    while let Some(last) = events.last() {
        cursor = CommitCursor::after(last);
        let apply = async {
            let started = Instant::now();
            let mut tx = conn.begin().await?;
            scope_batch(&mut tx, &schema).await?;
            // Replayed batches can be replayed again: a crash loses nothing
            // that must survive it, so no batch waits for its WAL flush.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
            let skipped = apply_recorded(projection, &mut tx, &events).await?;
            tx.commit().await?;
            Ok::<_, RebuildError>((skipped, started.elapsed()))
        };
        let read_next = read_committed_after(&mut reader, cursor, pace.size(), &categories);
        let (applied, next) = tokio::join!(apply, read_next);
        let (skipped, took) = applied?;
        pace.record(events.len(), took);
        report.events += events.len() as u64;
        report.skipped += skipped;
        progress.advance(report.events);
        events = next?;
    }
    drop(reader);
    // What arrived meanwhile, in short transactions too, so the swap (which
    // holds the projection's lock) has only the last few events to replay.
    loop {
        let started = Instant::now();
        let limit = pace.size();
        let mut tx = conn.begin().await?;
        scope_batch(&mut tx, &schema).await?;
        let (n, skipped) =
            replay_batch(&mut tx, projection, &mut cursor, &categories, limit).await?;
        tx.commit().await?;
        pace.record(n as usize, started.elapsed());
        report.events += n;
        report.skipped += skipped;
        // A batch that came back short read everything below the horizon.
        if (n as i64) < limit && n <= NEARLY_CAUGHT_UP {
            break;
        }
    }

    let started = Instant::now();
    let mut tx = conn.begin().await?;
    sqlx::query(&swap_lock_sql(""))
        .bind(P::NAME)
        .execute(&mut *tx)
        .await?;
    scope_batch(&mut tx, &schema).await?;
    loop {
        let (n, skipped) =
            replay_batch(&mut tx, projection, &mut cursor, &categories, BATCH).await?;
        if n == 0 {
            break;
        }
        report.caught_up_during_swap += n;
        report.events += n;
        report.skipped += skipped;
    }
    sqlx::query("DELETE FROM processed_events WHERE consumer = $1")
        .bind(P::NAME)
        .execute(&mut *tx)
        .await?;
    for table in P::TABLES {
        let access = owner_and_grants(&mut tx, table).await?;
        sqlx::query(&format!("DROP TABLE {LIVE_SCHEMA}.{table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "ALTER TABLE {schema}.{table} SET SCHEMA {LIVE_SCHEMA}"
        ))
        .execute(&mut *tx)
        .await?;
        for statement in access {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        sqlx::query(&format!(
            "GRANT SELECT ON {LIVE_SCHEMA}.{table} TO stockroom_analyst"
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(&format!("DROP SCHEMA {schema}"))
        .execute(&mut *tx)
        .await?;
    // The live subscription continues after what the new tables hold; its
    // next write sees the moved checkpoint and reloads it. Its published
    // position stays valid: the new tables hold everything the old ones did.
    store::subscription::fast_forward(&mut tx, P::NAME, cursor).await?;
    tx.commit().await?;
    report.swap_millis = started.elapsed().as_millis();
    progress.advance(report.events);
    tracing::info!(?report, "rebuild swapped in");
    Ok(report)
}

/// The statements that give a table `table`'s owner and grants, read from
/// the live table before the swap drops it, so that whoever runs a rebuild
/// (an operator as the owner, the console as a runtime role) leaves the read
/// model to the same roles as before: the next rebuild, by either, can swap
/// it again, and the query API and analysts still read it.
async fn owner_and_grants(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let live = format!("{LIVE_SCHEMA}.{table}");
    let owner: String = sqlx::query_scalar(
        "SELECT quote_ident(pg_get_userbyid(relowner)) FROM pg_class WHERE oid = $1::regclass",
    )
    .bind(&live)
    .fetch_one(&mut *conn)
    .await?;
    let grants: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.privilege_type, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END \
         FROM pg_class c, aclexplode(c.relacl) a \
         WHERE c.oid = $1::regclass AND a.grantee <> c.relowner",
    )
    .bind(&live)
    .fetch_all(&mut *conn)
    .await?;
    // The owner first: it is the new owner that grants.
    Ok(
        std::iter::once(format!("ALTER TABLE {live} OWNER TO {owner}"))
            .chain(
                grants.into_iter().map(|(privilege, grantee)| {
                    format!("GRANT {privilege} ON {live} TO {grantee}")
                }),
            )
            .collect(),
    )
}

/// Creates empty copies of the projection's tables in `schema`.
async fn prepare_schema<P: Projection>(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("UPDATE read_models.projection_positions SET rebuilding = true WHERE name = $1")
        .bind(P::NAME)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut *tx)
        .await?;
    for table in P::TABLES {
        copy_table(&mut tx, schema, table).await?;
        copy_indexes(&mut tx, schema, table).await?;
    }
    tx.commit().await
}

/// Creates `schema.table` like the live table, with its constraints under
/// the live names (`LIKE … INCLUDING ALL` would invent new names, and a
/// later migration naming one would fail after a swap); [`copy_indexes`]
/// adds the other indexes.
pub(crate) async fn copy_table(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<(), sqlx::Error> {
    let live = format!("{LIVE_SCHEMA}.{table}");
    sqlx::query(&format!(
        "CREATE TABLE {schema}.{table} (LIKE {live} INCLUDING ALL EXCLUDING INDEXES EXCLUDING CONSTRAINTS)"
    ))
    .execute(&mut *conn)
    .await?;
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x', 'c') ORDER BY conname",
    )
    .bind(&live)
    .fetch_all(&mut *conn)
    .await?;
    for (name, definition) in constraints {
        sqlx::query(&format!(
            "ALTER TABLE {schema}.{table} ADD CONSTRAINT \"{name}\" {definition}"
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates the live table's indexes that back no constraint on
/// `schema.table`, under the live names.
pub(crate) async fn copy_indexes(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<(), sqlx::Error> {
    let live = format!("{LIVE_SCHEMA}.{table}");
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indrelid = $1::regclass \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
         ORDER BY i.indexrelid",
    )
    .bind(&live)
    .fetch_all(&mut *conn)
    .await?;
    for definition in indexes {
        let definition =
            definition.replace(&format!(" ON {live} "), &format!(" ON {schema}.{table} "));
        sqlx::query(&definition).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Replays the next batch of at most `limit` events after `cursor`;
/// returns (events read, skipped).
async fn replay_batch<P: Projection>(
    conn: &mut PgConnection,
    projection: &P,
    cursor: &mut CommitCursor,
    categories: &[&str],
    limit: i64,
) -> Result<(u64, u64), RebuildError> {
    let events = read_committed_after(conn, *cursor, limit, categories).await?;
    let Some(last) = events.last() else {
        return Ok((0, 0));
    };
    *cursor = CommitCursor::after(last);
    let skipped = apply_recorded(projection, conn, &events).await?;
    Ok((events.len() as u64, skipped))
}
