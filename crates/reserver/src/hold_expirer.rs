//! Writes the end of cart holds whose `expires_at` passed. Their units are
//! free from `expires_at` on anyway (a decision short of stock releases
//! lapsed holds itself); this records the expiry on the hold and releases
//! what no decision needed yet, on time.

use domain::hold::{Hold, HoldCommand};
use sqlx::PgPool;
use store::hold_stock;
use store::{execute_in, CommandError, EventMetadata, RetryPolicy};
use uuid::Uuid;

use crate::expirer::Round;

/// Most holds expired per round.
pub const ROUND: i64 = 100;

/// The actor of hold expiries.
pub const ACTOR: &str = "system:expirer";

/// Expires one hold in a transaction of its own: its SKUs locked first,
/// then the hold, then its units released. A no-op if it is no longer due.
pub async fn expire(
    pool: &PgPool,
    hold_id: Uuid,
    retry: RetryPolicy,
) -> Result<bool, CommandError> {
    let metadata = EventMetadata {
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: Some(ACTOR.to_owned()),
        trace_parent: Some(store::trace::TraceParent::fresh()),
    };
    let mut attempt = 1;
    loop {
        let mut tx = pool.begin().await?;
        let result = async {
            let lock = hold_stock::lock(&mut tx, hold_id, []).await?;
            let outcome = execute_in::<Hold>(
                &mut tx,
                &hold_id.to_string(),
                None,
                HoldCommand::Expire { now: lock.now },
                &metadata,
            )
            .await?;
            hold_stock::sync(&mut tx, lock, &outcome, "expired", &metadata).await?;
            Ok::<_, CommandError>(!outcome.events.is_empty())
        }
        .await;
        match result {
            Ok(expired) => {
                tx.commit().await?;
                return Ok(expired);
            }
            Err(CommandError::Store(e)) if e.is_conflict() && attempt < retry.attempts => {
                drop(tx);
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Expires what is due, once: how many holds it looked at, and how many of
/// those failed (they stay due for a later round and hold up no other).
#[tracing::instrument(skip(pool, retry))]
pub async fn expire_due(pool: &PgPool, retry: RetryPolicy) -> Result<Round, CommandError> {
    let due = store::holds::due(pool, ROUND).await?;
    let mut failed = 0;
    for hold_id in &due {
        match expire(pool, *hold_id, retry).await {
            Ok(true) => {
                tracing::info!(%hold_id, "hold expired");
                metrics::counter!("stockroom_holds_expired_total").increment(1);
            }
            Ok(false) => {}
            Err(e) => {
                failed += 1;
                tracing::warn!(%hold_id, error = %store::error_chain(&e), "hold could not be expired; it stays due");
            }
        }
    }
    Ok(Round {
        claimed: due.len(),
        failed,
    })
}
