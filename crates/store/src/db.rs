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
/// `pg_stat_activity`, and no JIT compilation.
///
/// Why no JIT: Postgres compiles a plan whose estimated cost passes
/// `jit_above_cost`; here only misestimates get there, and none runs long
/// enough to win the compile back. The relay's lag count (a hundred rows,
/// estimated at millions) spent 180 ms compiling and 480 ms in all, every
/// five seconds, on a core the order path needed.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    Ok(options
        .application_name("stockroom")
        .options([("jit", "off")]))
}

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

/// Applies every migration in `migrations/`, embedded at build time.
#[tracing::instrument(skip_all)]
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("../../migrations").run(pool).await?;
    Ok(())
}
