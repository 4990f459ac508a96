//! What every handler shares.

use std::time::Duration;

use axum::extract::FromRef;
use sqlx::PgPool;
use web::probes::Probes;

/// How long a read waits for `X-Min-Position`, unless configured.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);

/// Shared state of the query API.
#[derive(Clone)]
pub struct AppState {
    /// Read models (and the log, to judge freshness).
    pub pool: PgPool,
    /// Readiness checks.
    pub probes: Probes,
    /// Waiting for `X-Min-Position` (and its bound).
    pub freshness: crate::freshness::Freshness,
    /// Verifies API keys.
    pub authenticator: web::auth::Authenticator,
    /// The log's settled position, for the event feed.
    pub horizon: crate::horizon::LogHorizon,
    /// Open event streams and the log's tail they share.
    pub event_streams: crate::routes::EventStreams,
    /// Longest a feed request long-polls: `wait` up to 30 s, within the
    /// request timeout.
    pub max_long_poll: std::time::Duration,
}

impl FromRef<AppState> for Probes {
    fn from_ref(state: &AppState) -> Probes {
        state.probes.clone()
    }
}
