//! The orders read model: one row per order with lines, status and rejection.

use bus::{Delivered, HandlerError};
use domain::order::OrderEvent;
use domain::StreamCategory;
use serde_json::json;
use sqlx::PgConnection;

use crate::projection::{poison, Projection};

/// Keeps `orders`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrdersProjection;

impl Projection for OrdersProjection {
    const NAME: &'static str = "orders";
    const CATEGORIES: &'static [StreamCategory] = &[StreamCategory::Order];
    const TABLES: &'static [&'static str] = &["orders"];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        delivered: &Delivered,
    ) -> Result<(), HandlerError> {
        let e = &delivered.envelope;
        let event: OrderEvent = e.decode().map_err(poison)?;
        let (status, rejection) = match &event {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
                total,
                currency,
                channel,
            } => {
                sqlx::query(
                    "INSERT INTO orders (order_id, customer_id, status, lines, total, \
                             currency, placed_at, updated_at, version, position, channel) \
                         VALUES ($1, $2, 'placed', $3, $4, $5, $6, $6, $7, $8, $9) \
                         ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(order_id.0)
                .bind(customer_id.0)
                .bind(serde_json::to_value(lines).map_err(poison)?)
                .bind(total)
                .bind(currency.as_str())
                .bind(e.occurred_at)
                .bind(e.stream_version)
                .bind(e.global_position)
                .bind(channel)
                .execute(conn)
                .await?;
                return Ok(());
            }
            OrderEvent::OrderConfirmed { .. } => ("confirmed", None),
            OrderEvent::OrderRejected { sku, reason, .. } => {
                ("rejected", Some(json!({ "sku": sku, "reason": reason })))
            }
            OrderEvent::OrderPaid { .. } => ("paid", None),
            OrderEvent::OrderShipped { .. } => ("shipped", None),
            OrderEvent::OrderCancelled { .. } => ("cancelled", None),
            OrderEvent::OrderExpired { .. } => ("expired", None),
        };
        sqlx::query(
            "UPDATE orders SET status = $2, rejection = coalesce($3, rejection), \
                     paid_at = CASE WHEN $2 = 'paid' THEN coalesce(paid_at, $4) ELSE paid_at END, \
                     updated_at = $4, version = $5, position = $6 \
                 WHERE order_id = $1 AND version < $5",
        )
        .bind(order_id_of(e)?)
        .bind(status)
        .bind(rejection)
        .bind(e.occurred_at)
        .bind(e.stream_version)
        .bind(e.global_position)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The order id of an order-stream envelope; a stream id that is not
/// `order-<uuid>` makes the event poison (parked), never the nil UUID.
pub(crate) fn order_id_of(e: &bus::Envelope) -> Result<uuid::Uuid, HandlerError> {
    e.stream_id
        .strip_prefix("order-")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            HandlerError::Poison(format!("stream id {:?} is not order-<uuid>", e.stream_id).into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(stream_id: &str) -> bus::Envelope {
        bus::Envelope {
            event_id: uuid::Uuid::now_v7(),
            event_type: "OrderPaid".into(),
            schema_version: 1,
            stream_id: stream_id.into(),
            stream_version: 2,
            global_position: 7,
            occurred_at: chrono::Utc::now(),
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            actor: Some("system:test".into()),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_malformed_stream_id_is_poison_not_the_nil_uuid() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(order_id_of(&envelope(&format!("order-{id}"))).unwrap(), id);
        for bad in ["order-", "order-nope", "stock-abc", ""] {
            assert!(matches!(
                order_id_of(&envelope(bad)),
                Err(HandlerError::Poison(_))
            ));
        }
    }
}
