//! Stalls explain themselves: when a follower of the log waits on one open
//! transaction for long, the log and the metrics name that transaction's
//! backend (pid, age, state, the start of its statement).

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use store::health::oldest_transaction;

/// How long positions may wait on one transaction before it is reported.
pub const REPORT_AFTER: Duration = Duration::from_secs(5);

/// How often a continuing stall is reported again.
const REPEAT_EVERY: Duration = Duration::from_secs(30);

/// Reports the stalls of one follower of the log.
pub struct StallReporter {
    name: String,
    reported: Option<Instant>,
    /// Set every round: registered once, not looked up on each.
    held_back: metrics::Gauge,
}

impl StallReporter {
    /// A reporter for the follower `name` (relay, reserver, a projection).
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            held_back: metrics::gauge!("stockroom_log_held_back_seconds", "subscription" => name.clone()),
            name,
            reported: None,
        }
    }

    /// Looks at one round's wait (`LogRead::held_back_for`). Failing to name
    /// the blocker is logged and otherwise ignored: it must never stop the
    /// follower it describes.
    pub async fn observe(&mut self, conn: &mut PgConnection, held_back_for: Option<Duration>) {
        let held = held_back_for.unwrap_or_default();
        self.held_back.set(held.as_secs_f64());
        if held < REPORT_AFTER {
            if self.reported.take().is_some() {
                tracing::info!(subscription = %self.name, "the log is moving again");
            }
            return;
        }
        if self.reported.is_some_and(|at| at.elapsed() < REPEAT_EVERY) {
            return;
        }
        self.reported = Some(Instant::now());
        match oldest_transaction(conn, REPORT_AFTER.as_secs_f64()).await {
            Ok(Some(blocker)) => {
                tracing::warn!(
                    subscription = %self.name,
                    held_seconds = held.as_secs(),
                    blocker_pid = blocker.pid,
                    blocker_age_seconds = blocker.age_seconds.round(),
                    blocker_state = %blocker.state,
                    blocker_application = %blocker.application,
                    blocker_query = %blocker.query,
                    "the log is held back by an open transaction; events committed after it began wait until it ends (pg_terminate_backend(pid) ends it)"
                );
                metrics::gauge!(
                    "stockroom_log_blocker_age_seconds",
                    "subscription" => self.name.clone(),
                    "pid" => blocker.pid.to_string(),
                    "state" => blocker.state.clone(),
                    "query" => blocker.query.clone(),
                )
                .set(blocker.age_seconds);
            }
            Ok(None) => tracing::warn!(
                subscription = %self.name,
                held_seconds = held.as_secs(),
                "the log is held back, but no open transaction is old enough to name (a prepared transaction?)"
            ),
            Err(e) => tracing::warn!(
                subscription = %self.name,
                error = %store::error_chain(&e),
                "the log is held back; naming the blocker failed"
            ),
        }
    }
}
