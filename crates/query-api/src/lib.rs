//! The query API: serves the read models to shop frontends and analysts,
//! with read-your-writes on request.

pub mod actors;
pub mod csv;
pub mod error;
pub mod freshness;
pub mod live_tail;
pub use bus::horizon;
pub mod params;
pub mod replica;
pub mod routes;
pub mod state;

pub use routes::{reads, router};
pub use state::{AppState, DEFAULT_MAX_WAIT};

/// The longest long poll a request with `request_timeout` can make: a
/// second short of it, and never past the feed's 30 s.
pub fn long_poll_within(request_timeout: std::time::Duration) -> std::time::Duration {
    request_timeout
        .saturating_sub(std::time::Duration::from_secs(1))
        .min(std::time::Duration::from_secs(30))
}
