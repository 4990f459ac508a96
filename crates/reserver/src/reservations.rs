//! Reserving, releasing and committing an order's lines on the stock streams.

use domain::order::{Order, OrderCommand, OrderStatus, PlacedOrder};
use domain::stock::{StockCommand, StockItem};
use domain::{DomainError, OrderId};
use sqlx::PgPool;
use store::{execute, CommandError, EventMetadata, RetryPolicy};

/// What happened to a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every line is reserved and the order confirmed.
    Confirmed,
    /// A line could not be reserved; the order is rejected.
    Rejected,
    /// The order had already moved on (redelivery, or cancelled first).
    Skipped(OrderStatus),
}

/// Reserves every line of `order_id`, or none: when a line fails, the lines
/// already reserved are released and the order is rejected naming the SKU.
#[tracing::instrument(skip(pool, metadata), fields(order_id = %order_id))]
pub async fn reserve_order(
    pool: &PgPool,
    order_id: OrderId,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<Reservation, CommandError> {
    let id = order_id.to_string();
    let mut conn = pool.acquire().await?;
    let loaded = store::load::<Order>(&mut conn, &id).await?;
    drop(conn);
    let Some(order) = loaded.state.placed().cloned() else {
        return Err(DomainError::NotFound {
            what: format!("order {id}"),
        }
        .into());
    };
    if order.status != OrderStatus::Placed {
        return Ok(Reservation::Skipped(order.status));
    }
    let units = match order.units_by_sku() {
        Ok(units) => units,
        Err(overflow) => {
            // Placed before placement refused it: reject, never confirm short.
            let reject = OrderCommand::Reject {
                reason: format!(
                    "the order's lines add up to {} units of {}, more than one reservation may hold",
                    overflow.units, overflow.sku
                ),
                sku: overflow.sku,
            };
            execute::<Order>(pool, &id, reject, metadata, policy).await?;
            return Ok(Reservation::Rejected);
        }
    };
    let mut reserved = Vec::new();
    for (sku, quantity) in units {
        let command = StockCommand::Reserve {
            sku: sku.clone(),
            order_id,
            quantity,
        };
        match execute::<StockItem>(pool, sku.as_str(), command, metadata, policy).await {
            Ok(_) => reserved.push(sku),
            Err(CommandError::Rejected(why)) => {
                tracing::info!(%sku, reason = %why, "line cannot be reserved; rejecting order");
                release_lines(pool, &order, &reserved, "order rejected", metadata, policy).await?;
                let reject = OrderCommand::Reject {
                    sku,
                    reason: why.to_string(),
                };
                execute::<Order>(pool, &id, reject, metadata, policy).await?;
                return Ok(Reservation::Rejected);
            }
            Err(e) => return Err(e),
        }
    }
    match execute::<Order>(pool, &id, OrderCommand::Confirm, metadata, policy).await {
        Ok(_) => Ok(Reservation::Confirmed),
        // Cancelled while we reserved: give the stock back.
        Err(CommandError::Rejected(DomainError::Forbidden { .. })) => {
            release_lines(
                pool,
                &order,
                &order.skus(),
                "order cancelled",
                metadata,
                policy,
            )
            .await?;
            let status = current_status(pool, &id).await?;
            Ok(Reservation::Skipped(status))
        }
        Err(e) => Err(e),
    }
}

async fn current_status(pool: &PgPool, id: &str) -> Result<OrderStatus, CommandError> {
    let mut conn = pool.acquire().await?;
    let loaded = store::load::<Order>(&mut conn, id).await?;
    Ok(loaded
        .state
        .placed()
        .map(|o| o.status)
        .unwrap_or(OrderStatus::Placed))
}

/// Releases what `order` holds on each of `skus` (no-ops where it holds nothing).
pub async fn release_lines(
    pool: &PgPool,
    order: &PlacedOrder,
    skus: &[domain::Sku],
    reason: &str,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<(), CommandError> {
    for sku in skus {
        let command = StockCommand::Release {
            sku: sku.clone(),
            order_id: order.order_id,
            reason: reason.to_owned(),
        };
        execute::<StockItem>(pool, sku.as_str(), command, metadata, policy).await?;
    }
    Ok(())
}

/// Releases every line of an order.
#[tracing::instrument(skip(pool, metadata), fields(order_id = %order_id))]
pub async fn release_order(
    pool: &PgPool,
    order_id: OrderId,
    reason: &str,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<(), CommandError> {
    on_every_line(pool, order_id, metadata, policy, |sku| {
        StockCommand::Release {
            sku,
            order_id,
            reason: reason.to_owned(),
        }
    })
    .await
}

/// Commits every line of a shipped order.
#[tracing::instrument(skip(pool, metadata), fields(order_id = %order_id))]
pub async fn commit_order(
    pool: &PgPool,
    order_id: OrderId,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<(), CommandError> {
    on_every_line(pool, order_id, metadata, policy, |sku| {
        StockCommand::Commit { sku, order_id }
    })
    .await
}

/// Runs a stock command on each SKU of the order (none if it does not exist).
async fn on_every_line(
    pool: &PgPool,
    order_id: OrderId,
    metadata: &EventMetadata,
    policy: RetryPolicy,
    command: impl Fn(domain::Sku) -> StockCommand,
) -> Result<(), CommandError> {
    let Some(order) = placed(pool, order_id).await? else {
        return Ok(());
    };
    for sku in order.skus() {
        let id = sku.to_string();
        execute::<StockItem>(pool, &id, command(sku), metadata, policy).await?;
    }
    Ok(())
}

async fn placed(pool: &PgPool, order_id: OrderId) -> Result<Option<PlacedOrder>, CommandError> {
    let mut conn = pool.acquire().await?;
    let loaded = store::load::<Order>(&mut conn, &order_id.to_string()).await?;
    Ok(loaded.state.placed().cloned())
}
