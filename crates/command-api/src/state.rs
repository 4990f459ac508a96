//! What every handler shares.

use axum::extract::FromRef;
use sqlx::PgPool;
use web::probes::Probes;

/// Shared state of the command API.
#[derive(Clone)]
pub struct AppState {
    /// The event store.
    pub pool: PgPool,
    /// Readiness checks.
    pub probes: Probes,
    /// Attempts for a command that loses a race on its stream.
    pub conflict_attempts: u32,
}

impl FromRef<AppState> for Probes {
    fn from_ref(state: &AppState) -> Probes {
        state.probes.clone()
    }
}
