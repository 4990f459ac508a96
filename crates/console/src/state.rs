//! What every page shares.

use std::sync::Arc;
use std::time::Duration;

use query_api::freshness::Freshness;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::gate::HashGate;
use crate::jobs::Jobs;
use crate::settings::ConsoleSettings;
use crate::throttle::SignInThrottle;

/// The console's shared state.
#[derive(Clone)]
pub struct Console {
    /// The event store: accounts, sessions, parked events.
    pub(crate) pool: PgPool,
    /// Where the read models are read: the primary or a replica of it.
    pub(crate) reads: PgPool,
    /// The replica `reads` points at, if it is one (its lag is shown).
    pub(crate) replica: Option<PgPool>,
    /// The command API's state: commands run through its code.
    pub(crate) commands: command_api::AppState,
    /// Waiting for the read models to show a change just made.
    pub(crate) freshness: Freshness,
    /// Settings.
    pub(crate) settings: Arc<ConsoleSettings>,
    /// Failed sign-ins per account and client.
    pub(crate) throttle: Arc<SignInThrottle>,
    /// The cap on concurrent password hashing.
    pub(crate) hashes: HashGate,
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
        Self::reading(commands, None, settings, stop)
    }

    /// The console over `commands`, reading the read models on `replica`
    /// when there is one, until `stop`.
    pub fn reading(
        commands: command_api::AppState,
        replica: Option<PgPool>,
        settings: ConsoleSettings,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let pool = commands.pool.clone();
        let freshness = match &replica {
            Some(replica) => Freshness::on_replica(
                replica.clone(),
                pool.clone(),
                settings.max_wait,
                stop.clone(),
            ),
            None => Freshness::start(pool.clone(), settings.max_wait, stop.clone()),
        };
        let console = Self {
            freshness,
            reads: replica.clone().unwrap_or_else(|| pool.clone()),
            replica,
            pool,
            commands,
            throttle: Arc::new(SignInThrottle::new(settings.sign_in_free_failures)),
            hashes: HashGate::new(settings.max_concurrent_hashes, settings.hash_wait),
            settings: Arc::new(settings),
            jobs: Jobs::default(),
        };
        tokio::spawn(housekeeping(console.clone(), stop));
        console
    }
}

/// How often ended sessions are deleted and old sign-in failures dropped
/// (sessions are refused from the moment they end; this only keeps the
/// table and the throttle small).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);

/// Every [`HOUSEKEEPING_INTERVAL`] until `stop`: deletes ended sessions, and
/// forgets sign-in failures old enough to start over (a stream of made-up
/// addresses would otherwise grow the throttle up to its bound).
async fn housekeeping(console: Console, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_INTERVAL) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        console.throttle.sweep();
        let lifetime = console.settings.session_lifetime();
        match store::console_users::purge_ended(&console.pool, lifetime).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "ended console sessions deleted"),
            Err(e) => {
                tracing::warn!(error = %store::error_chain(&e), "cannot delete ended console sessions; will try again")
            }
        }
    }
}
