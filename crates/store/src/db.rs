//! Connecting to Postgres and running the embedded migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::StoreError;

/// How a process connects to Postgres.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://…` connection string.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a free connection before failing a request.
    pub acquire_timeout: Duration,
}

impl DbConfig {
    /// Pool size per process, unless configured.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

    /// A config with Stockroom's defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The options every Stockroom connection is made with: its name in
/// `pg_stat_activity`, no JIT compilation, READ COMMITTED whatever the
/// cluster's default, and bounds on waiting for locks and on sitting idle in
/// a transaction.
///
/// Why READ COMMITTED: the settling rule and every compare-and-set on a
/// checkpoint assume each statement sees what committed before it; under a
/// cluster default of `repeatable read` a follower's later statements would
/// read the snapshot of its first and pass unapplied positions.
///
/// Why the bounds: a session that forgot its transaction while holding a
/// stock row would stall the reservation process until someone killed it.
/// Now our own sessions are ended after [`IDLE_IN_TRANSACTION`], and a wait
/// for a lock fails after [`LOCK_TIMEOUT`] (and is retried) instead of lasting
/// for ever; the migrations set the first for every session of the database.
///
/// Why no JIT: Postgres compiles a plan whose estimated cost passes
/// `jit_above_cost`; here only misestimates get there, and none runs long
/// enough to win the compile back. The relay's lag count (a hundred rows,
/// estimated at millions) spent 180 ms compiling and 480 ms in all, every
/// five seconds, on a core the order path needed.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    Ok(options.application_name("stockroom").options([
        ("jit", "off"),
        // Startup options split on spaces unless escaped.
        ("default_transaction_isolation", "read\\ committed"),
        ("lock_timeout", LOCK_TIMEOUT),
        ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION),
    ]))
}

/// Longest a statement of ours waits for a lock.
pub const LOCK_TIMEOUT: &str = "10s";

/// Longest one of our sessions may sit in a transaction doing nothing.
pub const IDLE_IN_TRANSACTION: &str = "60s";

/// Opens a pool. Connections are made lazily, so a process starts (and
/// reports not-ready) while Postgres is down, and reconnects when it is back.
pub fn connect(config: &DbConfig) -> Result<PgPool, StoreError> {
    let options = connect_options(&config.url)?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // sqlx already checks every connection when it is released (and
        // closes a broken one); checking again on every acquire cost a round
        // trip on every transaction's path. A connection that dies while
        // idle fails its first statement, which callers retry or answer 503.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Applies every migration in `migrations/`, embedded at build time, then
/// rebases a log restored from another cluster (`rebase_restored_log()` in
/// the migrations says how and why).
#[tracing::instrument(skip_all)]
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    crate::migrations::migrator().await?.run(pool).await?;
    // Ownership and database grants, which a restore with `--no-owner`
    // loses, and the read models' grants to the processes
    // (migrations/20261203000001_least_privilege.sql, …02_process_roles.sql).
    sqlx::query("SELECT grant_runtime_roles(), grant_process_roles()")
        .execute(pool)
        .await?;
    let rebased: i64 = sqlx::query_scalar("SELECT rebase_restored_log()")
        .fetch_one(pool)
        .await?;
    if rebased > 0 {
        tracing::warn!(
            events = rebased,
            "the log came from another cluster; its transaction ids were renumbered for this one"
        );
    }
    Ok(())
}

/// Fails with [`StoreError::SessionNotPinned`] when this connection does not
/// run with the settings [`connect_options`] pins: they were dropped on the
/// way, so correctness can no longer be assumed (READ COMMITTED), nor that a
/// connection is one Postgres session (advisory-lock leases, LISTEN).
pub async fn check_session(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    let (isolation, lock_timeout): (String, String) = sqlx::query_as(
        "SELECT current_setting('default_transaction_isolation'), current_setting('lock_timeout')",
    )
    .fetch_one(conn)
    .await?;
    if isolation == "read committed" && lock_timeout == LOCK_TIMEOUT {
        Ok(())
    } else {
        Err(StoreError::SessionNotPinned {
            isolation,
            lock_timeout,
        })
    }
}

/// Fails with [`StoreError::RestoredCopy`] when the log holds transaction ids
/// this cluster has not handed out yet: a logical copy that `migrate` has
/// not rebased, which no follower could read past. Followers check this
/// whenever they load their checkpoint, so such a copy stops them with a
/// clear error instead of silently never deciding an order.
pub async fn check_cluster_ids(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    let foreign: bool = sqlx::query_scalar("SELECT log_from_another_cluster()")
        .fetch_one(conn)
        .await?;
    if foreign {
        Err(StoreError::RestoredCopy)
    } else {
        Ok(())
    }
}
