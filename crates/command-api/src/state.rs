//! What every handler shares.

use std::time::Duration;

use bus::admin::BrokerProbe;
use sqlx::PgPool;

/// Shared state of the command API.
#[derive(Clone)]
pub struct AppState {
    /// The event store.
    pub pool: PgPool,
    /// Answers "is the broker reachable?" for `/readyz`.
    pub broker: BrokerProbe,
    /// Attempts for a command that loses a race on its stream.
    pub conflict_attempts: u32,
    /// Timeout of each readiness check.
    pub probe_timeout: Duration,
}
