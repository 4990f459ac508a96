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

    /// Runs of placements become one multi-row insert; every other event
    /// is one update. Every event is decoded before anything is written, so
    /// a batch refused for an undecodable event has written nothing.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        let decoded = events
            .iter()
            .map(|d| Ok((&d.envelope, d.envelope.decode::<OrderEvent>()?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(poison)?;
        let mut placed = Placements::default();
        for (envelope, event) in &decoded {
            match event {
                OrderEvent::OrderPlaced { .. } => placed.push(envelope, event)?,
                _ => {
                    // An update must find the row its placement inserts.
                    placed.flush(conn).await?;
                    update(conn, envelope, event).await?;
                }
            }
        }
        placed.flush(conn).await
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        delivered: &Delivered,
    ) -> Result<(), HandlerError> {
        self.apply_batch(conn, std::slice::from_ref(delivered))
            .await
    }
}

/// Placements waiting to be inserted together, one column array each.
#[derive(Default)]
struct Placements {
    order_ids: Vec<uuid::Uuid>,
    customer_ids: Vec<uuid::Uuid>,
    lines: Vec<serde_json::Value>,
    totals: Vec<i64>,
    currencies: Vec<String>,
    placed_at: Vec<chrono::DateTime<chrono::Utc>>,
    versions: Vec<i64>,
    positions: Vec<i64>,
    channels: Vec<Option<String>>,
}

impl Placements {
    fn push(&mut self, e: &bus::Envelope, event: &OrderEvent) -> Result<(), HandlerError> {
        let OrderEvent::OrderPlaced {
            order_id,
            customer_id,
            lines,
            total,
            currency,
            channel,
        } = event
        else {
            return Ok(());
        };
        self.order_ids.push(order_id.0);
        self.customer_ids.push(customer_id.0);
        self.lines
            .push(serde_json::to_value(lines).map_err(poison)?);
        self.totals.push(*total);
        self.currencies.push(currency.as_str().to_owned());
        self.placed_at.push(e.occurred_at);
        self.versions.push(e.stream_version);
        self.positions.push(e.global_position);
        self.channels.push(channel.clone());
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if self.order_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO orders (order_id, customer_id, status, lines, total, \
                     currency, placed_at, updated_at, version, position, channel) \
             SELECT o.id, o.customer, 'placed', o.lines, o.total, o.currency, o.at, o.at, \
                    o.version, o.position, o.channel \
             FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::bigint[], $5::text[], \
                         $6::timestamptz[], $7::bigint[], $8::bigint[], $9::text[]) \
                  AS o(id, customer, lines, total, currency, at, version, position, channel) \
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(&self.order_ids)
        .bind(&self.customer_ids)
        .bind(&self.lines)
        .bind(&self.totals)
        .bind(&self.currencies)
        .bind(&self.placed_at)
        .bind(&self.versions)
        .bind(&self.positions)
        .bind(&self.channels)
        .execute(conn)
        .await?;
        *self = Self::default();
        Ok(())
    }
}

/// Moves an order's row on to what `event` says (a newer version only).
async fn update(
    conn: &mut PgConnection,
    e: &bus::Envelope,
    event: &OrderEvent,
) -> Result<(), HandlerError> {
    let (status, rejection) = match event {
        OrderEvent::OrderPlaced { .. } => return Ok(()),
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
            traceparent: None,
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
