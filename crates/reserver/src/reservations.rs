//! Reserving, releasing and committing an order's lines on the stock
//! streams: every line of an order and the order's own decision in one
//! transaction, so an order costs one commit and is never half reserved.

use domain::order::{Order, OrderCommand, OrderStatus, PlacedOrder};
use domain::stock::{StockCommand, StockItem};
use domain::{DomainError, OrderId, Sku};
use sqlx::{PgConnection, PgPool};
use store::{
    execute, execute_in, in_transaction, CommandError, EventMetadata, Finish, RetryPolicy,
};

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

/// Why a reservation attempt was rolled back, or that it went through.
enum Attempt {
    Done(Reservation),
    /// A line was refused: nothing of the order stays reserved, and the
    /// order is to be rejected naming the line.
    Refused {
        sku: Sku,
        why: String,
    },
}

/// Reserves every line of `order_id` and confirms it, or reserves nothing and
/// rejects it naming the SKU that was short. Lines are locked in SKU order
/// (the order `units_by_sku` yields), so two orders never wait on each other
/// in a cycle.
#[tracing::instrument(skip(pool, metadata), fields(order_id = %order_id))]
pub async fn reserve_order(
    pool: &PgPool,
    order_id: OrderId,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<Reservation, CommandError> {
    let attempt = in_transaction(pool, policy, |conn| {
        let metadata = metadata.clone();
        Box::pin(async move { reserve_lines(conn, order_id, &metadata).await })
    })
    .await?;
    match attempt {
        Attempt::Done(reservation) => Ok(reservation),
        Attempt::Refused { sku, why } => {
            tracing::info!(%sku, reason = %why, "line cannot be reserved; rejecting order");
            let reject = OrderCommand::Reject { sku, reason: why };
            execute::<Order>(pool, &order_id.to_string(), reject, metadata, policy).await?;
            Ok(Reservation::Rejected)
        }
    }
}

async fn reserve_lines(
    conn: &mut PgConnection,
    order_id: OrderId,
    metadata: &EventMetadata,
) -> Result<Finish<Attempt>, CommandError> {
    let id = order_id.to_string();
    let order = placed_in(conn, order_id)
        .await?
        .ok_or_else(|| DomainError::NotFound {
            what: format!("order {id}"),
        })?;
    if order.status != OrderStatus::Placed {
        return Ok(Finish::Rollback(Attempt::Done(Reservation::Skipped(
            order.status,
        ))));
    }
    let units = match order.units_by_sku() {
        Ok(units) => units,
        Err(overflow) => {
            // Placed before placement refused it: reject, never confirm short.
            let why = format!(
                "the order's lines add up to {} units of {}, more than one reservation may hold",
                overflow.units, overflow.sku
            );
            return Ok(Finish::Rollback(Attempt::Refused {
                sku: overflow.sku,
                why,
            }));
        }
    };
    for (sku, quantity) in units {
        let command = StockCommand::Reserve {
            sku: sku.clone(),
            order_id,
            quantity,
        };
        match execute_in::<StockItem>(conn, sku.as_str(), None, command, metadata).await {
            Ok(_) => {}
            Err(CommandError::Rejected(why)) => {
                let why = why.to_string();
                return Ok(Finish::Rollback(Attempt::Refused { sku, why }));
            }
            Err(e) => return Err(e),
        }
    }
    match execute_in::<Order>(conn, &id, None, OrderCommand::Confirm, metadata).await {
        Ok(_) => Ok(Finish::Commit(Attempt::Done(Reservation::Confirmed))),
        // Cancelled since we read it: reserve nothing.
        Err(CommandError::Rejected(DomainError::Forbidden { .. })) => {
            let status = placed_in(conn, order_id)
                .await?
                .map_or(OrderStatus::Placed, |o| o.status);
            Ok(Finish::Rollback(Attempt::Done(Reservation::Skipped(
                status,
            ))))
        }
        Err(e) => Err(e),
    }
}

/// Releases every line of an order, in one transaction (no-ops where it
/// holds nothing).
#[tracing::instrument(skip(pool, metadata), fields(order_id = %order_id))]
pub async fn release_order(
    pool: &PgPool,
    order_id: OrderId,
    reason: &str,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<(), CommandError> {
    let reason = reason.to_owned();
    on_every_line(pool, order_id, metadata, policy, move |sku| {
        StockCommand::Release {
            sku,
            order_id,
            reason: reason.clone(),
        }
    })
    .await
}

/// Commits every line of a shipped order, in one transaction.
#[tracing::instrument(skip(pool, metadata), fields(order_id = %order_id))]
pub async fn commit_order(
    pool: &PgPool,
    order_id: OrderId,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<(), CommandError> {
    on_every_line(pool, order_id, metadata, policy, move |sku| {
        StockCommand::Commit { sku, order_id }
    })
    .await
}

/// Runs a stock command on each SKU of the order (none if it does not
/// exist), all in one transaction, SKUs in order.
async fn on_every_line(
    pool: &PgPool,
    order_id: OrderId,
    metadata: &EventMetadata,
    policy: RetryPolicy,
    command: impl Fn(Sku) -> StockCommand + Clone + Send + Sync + 'static,
) -> Result<(), CommandError> {
    in_transaction(pool, policy, |conn| {
        let (metadata, command) = (metadata.clone(), command.clone());
        Box::pin(async move {
            let Some(order) = placed_in(conn, order_id).await? else {
                return Ok(Finish::Commit(()));
            };
            for sku in order.skus() {
                let id = sku.to_string();
                execute_in::<StockItem>(conn, &id, None, command(sku), &metadata).await?;
            }
            Ok(Finish::Commit(()))
        })
    })
    .await
}

/// The order as placed, if it exists.
async fn placed_in(
    conn: &mut PgConnection,
    order_id: OrderId,
) -> Result<Option<PlacedOrder>, CommandError> {
    let loaded = store::load::<Order>(conn, &order_id.to_string()).await?;
    Ok(loaded.state.placed().cloned())
}
