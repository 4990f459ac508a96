//! Finding the order a return belongs to. Returns live on their order's
//! stream (see `domain::order::aftersales` for why), so a receipt that names
//! only the return finds its order through the `ReturnRequested` event,
//! by a partial index on the log that holds those events only
//! (`events_return_id_idx`).

use domain::OrderId;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::StoreError;

/// The order whose stream requested `return_id`, if any did.
#[tracing::instrument(skip(conn))]
pub async fn order_of(
    conn: &mut PgConnection,
    return_id: Uuid,
) -> Result<Option<OrderId>, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events \
         WHERE event_type = 'ReturnRequested' AND data->>'return_id' = $1",
    )
    .bind(return_id.to_string())
    .fetch_optional(conn)
    .await?;
    Ok(found.and_then(|id| Uuid::parse_str(&id).ok()).map(OrderId))
}
