//! Expires confirmed orders whose payment deadline passed.

use std::time::Duration;

use domain::order::{Order, OrderCommand};
use sqlx::PgPool;
use store::{execute, CommandError, EventMetadata, RetryPolicy};
use tokio::sync::watch;
use uuid::Uuid;

use crate::deadlines;

/// Most deadlines claimed per round.
const ROUND: i64 = 100;

/// Expires what is due, once. Due rows are claimed with `FOR UPDATE SKIP
/// LOCKED`, so concurrent expirers split the work; the order aggregate makes
/// a second expiry of one order a no-op anyway.
#[tracing::instrument(skip(pool))]
pub async fn expire_due(pool: &PgPool) -> Result<usize, CommandError> {
    let mut claim = pool.begin().await?;
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM payment_deadlines WHERE due_at <= now() \
         ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(ROUND)
    .fetch_all(&mut *claim)
    .await?;
    for order_id in &due {
        let metadata = EventMetadata {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor: Some("expirer".to_owned()),
        };
        let outcome = execute::<Order>(
            pool,
            &order_id.to_string(),
            OrderCommand::Expire,
            &metadata,
            RetryPolicy::default(),
        )
        .await?;
        if !outcome.events.is_empty() {
            tracing::info!(%order_id, "order expired unpaid");
        }
        deadlines::clear(&mut claim, *order_id).await?;
    }
    claim.commit().await?;
    Ok(due.len())
}

/// Checks for due deadlines every `interval` until `shutdown` turns true.
pub async fn run(pool: PgPool, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        match expire_due(&pool).await {
            Ok(n) if n as i64 == ROUND => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %store::error_chain(&e), "expiry round failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
