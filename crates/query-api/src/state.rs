//! What every handler shares.

use std::time::Duration;

use bus::admin::BrokerProbe;
use sqlx::PgPool;

/// Shared state of the query API.
#[derive(Clone)]
pub struct AppState {
    /// Read models (and the log, to judge freshness).
    pub pool: PgPool,
    /// Answers "is the broker reachable?" for `/readyz`.
    pub broker: BrokerProbe,
    /// Longest a read waits for `X-Min-Position`.
    pub max_wait: Duration,
    /// Timeout of each readiness check.
    pub probe_timeout: Duration,
}
