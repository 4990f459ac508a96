//! Expires confirmed orders whose payment deadline passed, and cart holds
//! past their end (see [`crate::hold_expirer`]).

use std::time::Duration;

use bus::run::pause_unless_stopped;
use domain::order::{Order, OrderCommand};
use sqlx::PgPool;
use store::{execute, CommandError, EventMetadata, Notifier, RetryPolicy};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{deadlines, hold_expirer};

/// Most deadlines claimed per round.
const ROUND: i64 = 100;

/// The actor of expiry events.
pub const ACTOR: &str = "system:expirer";

/// What one round of expiries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Deadlines claimed (or holds looked at).
    pub claimed: usize,
    /// Those that failed to expire; they stay due for a later round.
    pub failed: usize,
}

/// How long a claim keeps other expirers off a deadline: far longer than a
/// round takes, and the wait before the deadline of a dead expirer is taken
/// up again.
const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// Expires what is due, once. Due rows are claimed for [`CLAIM_LEASE`] in a
/// statement of their own (never a transaction held open while the commands
/// run, which would hold back every follower of the log), so concurrent
/// expirers split the work; the order aggregate makes a second expiry of one
/// order a no-op anyway. An order that fails to expire keeps its deadline,
/// released for the next round, and does not hold up the others.
#[tracing::instrument(skip(pool, retry))]
pub async fn expire_due(pool: &PgPool, retry: RetryPolicy) -> Result<Round, CommandError> {
    let due = deadlines::claim_due(&mut *pool.acquire().await?, ROUND, CLAIM_LEASE).await?;
    let mut done = Vec::with_capacity(due.len());
    let mut failed = Vec::new();
    for order_id in &due {
        // An expiry is an action of its own: a new trace, which the
        // release of its stock continues.
        let metadata = EventMetadata {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor: Some(ACTOR.to_owned()),
            trace_parent: Some(store::trace::TraceParent::fresh()),
        };
        match execute::<Order>(
            pool,
            &order_id.to_string(),
            OrderCommand::Expire,
            &metadata,
            retry,
        )
        .await
        {
            Ok(outcome) => {
                if !outcome.events.is_empty() {
                    tracing::info!(%order_id, "order expired unpaid");
                    metrics::counter!("stockroom_orders_expired_total").increment(1);
                }
                done.push(*order_id);
            }
            Err(CommandError::Rejected(why)) => {
                // Paid, cancelled or shipped meanwhile: nothing to expire.
                tracing::debug!(%order_id, reason = %why, "order no longer expirable");
                done.push(*order_id);
            }
            Err(e) => {
                failed.push(*order_id);
                tracing::warn!(%order_id, error = %store::error_chain(&e), "order could not be expired; it stays due");
            }
        }
    }
    let mut conn = pool.acquire().await?;
    deadlines::clear_many(&mut conn, &done).await?;
    deadlines::release_claims(&mut conn, &failed).await?;
    Ok(Round {
        claimed: due.len(),
        failed: failed.len(),
    })
}

/// Checks for due payment deadlines and cart holds every `interval` until
/// `shutdown` turns true. A failing round is logged and tried again; it
/// never ends the loop.
pub async fn run(
    pool: PgPool,
    interval: Duration,
    retry: RetryPolicy,
    notifier: Notifier,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), std::convert::Infallible> {
    metrics::counter!("stockroom_orders_expired_total").increment(0);
    metrics::counter!("stockroom_holds_expired_total").increment(0);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let mut stop = shutdown.clone();
        let (orders, holds) = tokio::select! {
            rounds = async {
                (expire_due(&pool, retry).await, hold_expirer::expire_due(&pool, retry).await)
            } => rounds,
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        };
        let mut more = false;
        for (what, round, full) in [
            ("order", orders, ROUND),
            ("hold", holds, hold_expirer::ROUND),
        ] {
            match round {
                Ok(round) => {
                    if round.claimed > 0 {
                        notifier.events_appended();
                    }
                    // A full round that did something: there may be more.
                    more |= round.claimed as i64 == full && round.failed < round.claimed;
                }
                Err(e) => {
                    tracing::warn!(error = %store::error_chain(&e), "{what} expiry round failed")
                }
            }
        }
        if more {
            continue;
        }
        if !pause_unless_stopped(interval, &mut shutdown).await {
            return Ok(());
        }
    }
}
