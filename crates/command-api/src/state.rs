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
    /// How a command that loses a race on its stream is retried.
    pub retry: store::RetryPolicy,
    /// Verifies API keys.
    pub authenticator: web::auth::Authenticator,
    /// Announces committed appends to the log's followers.
    pub notifier: store::Notifier,
    /// Products as last read, so placing an order needs no read.
    pub catalogue: crate::catalogue::Catalogue,
    /// Placements appended together when they arrive together.
    pub appends: store::GroupAppend,
    /// Refuses appends to a restored copy that `migrate` has not rebased.
    pub origin: store::origin::AppendGuard,
    /// What one sales channel may hold unpaid.
    pub channel_limits: crate::channel_limits::ChannelLimits,
    /// Each channel's open unpaid orders, as last counted.
    pub open_orders: crate::channel_limits::OpenOrders,
    /// How long cart holds last and where their units come from.
    pub holds: crate::hold_settings::HoldSettings,
}

impl AppState {
    /// The state over `pool`, with nothing read or appended yet.
    pub fn new(
        pool: PgPool,
        probes: Probes,
        retry: store::RetryPolicy,
        authenticator: web::auth::Authenticator,
        notifier: store::Notifier,
    ) -> Self {
        Self {
            appends: store::GroupAppend::new(pool.clone()),
            catalogue: crate::catalogue::Catalogue::default(),
            origin: store::origin::AppendGuard::default(),
            channel_limits: crate::channel_limits::ChannelLimits::default(),
            open_orders: crate::channel_limits::OpenOrders::default(),
            holds: crate::hold_settings::HoldSettings::default(),
            pool,
            probes,
            retry,
            authenticator,
            notifier,
        }
    }
}

impl AppState {
    /// The same state with other bounds on what a sales channel may hold.
    pub fn with_channel_limits(mut self, limits: crate::channel_limits::ChannelLimits) -> Self {
        self.channel_limits = limits;
        self
    }

    /// The same state with other hold settings.
    pub fn with_hold_settings(mut self, holds: crate::hold_settings::HoldSettings) -> Self {
        self.holds = holds;
        self
    }
}

impl FromRef<AppState> for Probes {
    fn from_ref(state: &AppState) -> Probes {
        state.probes.clone()
    }
}
