//! How long cart holds last, and how their units are spread over locations.

use std::time::Duration;

use domain::allocation::Strategy;

/// The settings of `POST /v1/holds` and its kin.
#[derive(Debug, Clone, Copy)]
pub struct HoldSettings {
    /// A hold's life when the request names none (`STOCKROOM_HOLD_TTL`).
    pub ttl: Duration,
    /// The longest any hold may last from placement, extensions included
    /// (`STOCKROOM_HOLD_MAX_LIFETIME`).
    pub max_lifetime: Duration,
    /// Where held units come from (`STOCKROOM_ALLOCATION`, as for orders).
    pub allocation: Strategy,
}

impl Default for HoldSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15 * 60),
            max_lifetime: Duration::from_secs(24 * 3600),
            allocation: Strategy::default(),
        }
    }
}

impl HoldSettings {
    /// `ttl` as the domain counts time.
    pub fn chrono(duration: Duration) -> chrono::Duration {
        chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
    }
}
