//! What every page shares.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use query_api::freshness::Freshness;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::jobs::Jobs;
use crate::settings::ConsoleSettings;

/// The console's shared state.
#[derive(Clone)]
pub struct Console {
    /// The event store and read models.
    pub(crate) pool: PgPool,
    /// The command API's state: commands run through its code.
    pub(crate) commands: command_api::AppState,
    /// Waiting for the read models to show a change just made.
    pub(crate) freshness: Freshness,
    /// Settings.
    pub(crate) settings: Arc<ConsoleSettings>,
    /// Sign-in attempts per e-mail address.
    pub(crate) attempts_by_email: Arc<DefaultKeyedRateLimiter<String>>,
    /// Sign-in attempts per client address.
    pub(crate) attempts_by_client: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Rebuilds and verifications started here.
    pub(crate) jobs: Jobs,
}

impl Console {
    /// The console over `commands` (whose pool it also reads), until `stop`.
    pub fn new(
        commands: command_api::AppState,
        settings: ConsoleSettings,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let per_minute = NonZeroU32::new(settings.sign_in_per_minute).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute);
        let pool = commands.pool.clone();
        let console = Self {
            freshness: Freshness::start(pool.clone(), settings.max_wait, stop.clone()),
            pool,
            commands,
            settings: Arc::new(settings),
            attempts_by_email: Arc::new(RateLimiter::keyed(quota)),
            attempts_by_client: Arc::new(RateLimiter::keyed(quota)),
            jobs: Jobs::default(),
        };
        tokio::spawn(housekeeping(console.clone(), stop));
        console
    }
}

/// How often ended sessions are deleted and spent sign-in limits dropped
/// (sessions are refused from the moment they go idle; this only keeps the
/// table and the limiters small).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);

/// Every [`HOUSEKEEPING_INTERVAL`] until `stop`: deletes idle sessions, and
/// forgets the sign-in attempts of addresses and clients whose limit has
/// refilled (a stream of made-up addresses would otherwise grow them).
async fn housekeeping(console: Console, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_INTERVAL) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        console.attempts_by_email.retain_recent();
        console.attempts_by_email.shrink_to_fit();
        console.attempts_by_client.retain_recent();
        console.attempts_by_client.shrink_to_fit();
        let idle = console.settings.idle_timeout;
        match store::console_users::purge_idle(&console.pool, idle).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "idle console sessions deleted"),
            Err(e) => {
                tracing::warn!(error = %store::error_chain(&e), "cannot delete idle console sessions; will try again")
            }
        }
    }
}
