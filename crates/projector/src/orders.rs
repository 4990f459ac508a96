//! The orders read model: one row per order with lines, status and
//! rejection, with its allocations, shipments, returns and refunds beside
//! it.

use std::collections::btree_map::{BTreeMap, Entry};
use std::time::Duration;

use bus::{Delivered, HandlerError};
use chrono::{DateTime, Utc};
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
    const TABLES: &'static [&'static str] = &[
        "orders",
        "orders_pending_moves",
        "order_allocations",
        "order_shipments",
        "order_refunds",
        "order_returns",
        "return_receipts",
    ];
    /// A frontend reads its order right after placing it
    /// (`X-Min-Position`), so orders follow the log as eagerly as the
    /// reservation process and the relay do by default.
    const READ_LINGER: Duration = bus::wake::READ_LINGER;

    /// Two statements per batch: the placements in one multi-row insert,
    /// then every other event folded per order into one multi-row update
    /// (an update must find the row its placement inserts). Every event is
    /// decoded before anything is written, so a batch refused for an
    /// undecodable event has written nothing.
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
        let mut moved = Moves::default();
        let mut fulfilment = crate::fulfilment::Fulfilment::default();
        let mut after_sales = crate::aftersales::AfterSalesRows::default();
        for (envelope, event) in &decoded {
            match event {
                OrderEvent::OrderPlaced { .. } => placed.push(envelope, event)?,
                _ => moved.push(envelope, event)?,
            }
            fulfilment.push(envelope, event)?;
            after_sales.push(envelope, event)?;
        }
        placed.flush(conn).await?;
        moved.flush(conn).await?;
        fulfilment.flush(conn).await?;
        after_sales.flush(conn).await
    }
}

/// Placements waiting to be inserted together, one column array each.
#[derive(Default)]
struct Placements {
    order_ids: Vec<uuid::Uuid>,
    customer_ids: Vec<String>,
    lines: Vec<serde_json::Value>,
    totals: Vec<i64>,
    currencies: Vec<String>,
    placed_at: Vec<chrono::DateTime<chrono::Utc>>,
    versions: Vec<i64>,
    positions: Vec<i64>,
    channels: Vec<Option<String>>,
    pickups: Vec<Option<String>>,
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
            pickup_location,
        } = event
        else {
            return Ok(());
        };
        self.order_ids.push(order_id.0);
        self.customer_ids.push(customer_id.as_str().to_owned());
        self.lines
            .push(serde_json::to_value(lines).map_err(poison)?);
        self.totals.push(*total);
        self.currencies.push(currency.as_str().to_owned());
        self.placed_at.push(e.occurred_at);
        self.versions.push(e.stream_version);
        self.positions.push(e.global_position);
        self.channels.push(channel.clone());
        self.pickups
            .push(pickup_location.as_ref().map(|l| l.as_str().to_owned()));
        Ok(())
    }

    async fn flush(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if self.order_ids.is_empty() {
            return Ok(());
        }
        // Moves of these orders that came before their placement (it was
        // parked and retried) are folded into the row as it is inserted.
        sqlx::query(
            "WITH pending AS ( \
                 DELETE FROM orders_pending_moves p WHERE p.order_id = ANY($1) RETURNING p.* \
             ) \
             INSERT INTO orders (order_id, customer_id, status, lines, total, currency, \
                     placed_at, updated_at, version, position, channel, rejection, paid_at, \
                     pickup_location) \
             SELECT o.id, o.customer, \
                    CASE WHEN p.version > o.version THEN coalesce(p.status, 'placed') \
                         ELSE 'placed' END, \
                    o.lines, o.total, o.currency, o.at, \
                    CASE WHEN p.version > o.version THEN p.updated_at ELSE o.at END, \
                    GREATEST(o.version, p.version), \
                    CASE WHEN p.version > o.version THEN p.position ELSE o.position END, \
                    o.channel, p.rejection, p.paid_at, o.pickup \
             FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::bigint[], $5::text[], \
                         $6::timestamptz[], $7::bigint[], $8::bigint[], $9::text[], $10::text[]) \
                  AS o(id, customer, lines, total, currency, at, version, position, channel, pickup) \
             LEFT JOIN pending p ON p.order_id = o.id \
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
        .bind(&self.pickups)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The rows a batch moves on, each folded from its events in log order:
/// the last event's status, version and time, the latest rejection, and
/// the time of the first payment.
#[derive(Default)]
struct Moves {
    by_order: BTreeMap<uuid::Uuid, Move>,
}

struct Move {
    /// `None`: the event leaves the status as it is (returns, refunds).
    status: Option<&'static str>,
    rejection: Option<serde_json::Value>,
    paid_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    version: i64,
    position: i64,
}

impl Moves {
    fn push(&mut self, e: &bus::Envelope, event: &OrderEvent) -> Result<(), HandlerError> {
        let (status, rejection) = match event {
            OrderEvent::OrderPlaced { .. } => return Ok(()),
            OrderEvent::OrderConfirmed { .. } => (Some("confirmed"), None),
            OrderEvent::OrderRejected { sku, reason, .. } => (
                Some("rejected"),
                Some(json!({ "sku": sku, "reason": reason })),
            ),
            OrderEvent::OrderPaid { .. } => (Some("paid"), None),
            OrderEvent::OrderShipped { complete: true, .. } => (Some("shipped"), None),
            OrderEvent::OrderShipped { .. } => (Some("partially_shipped"), None),
            OrderEvent::OrderCancelled { .. } => (Some("cancelled"), None),
            OrderEvent::OrderExpired { .. } => (Some("expired"), None),
            // After-sales events move the version only; their rows are
            // crate::aftersales's.
            OrderEvent::ReturnRequested { .. }
            | OrderEvent::ReturnReceived { .. }
            | OrderEvent::OrderRefunded { .. } => (None, None),
        };
        let paid_at = (status == Some("paid")).then_some(e.occurred_at);
        let next = Move {
            status,
            rejection,
            paid_at,
            updated_at: e.occurred_at,
            version: e.stream_version,
            position: e.global_position,
        };
        match self.by_order.entry(order_id_of(e)?) {
            Entry::Vacant(slot) => {
                slot.insert(next);
            }
            Entry::Occupied(mut slot) => {
                let before = slot.get_mut();
                // A late payment (parked, then retried) still dates it.
                before.paid_at = before.paid_at.or(next.paid_at);
                // Otherwise an older event changes nothing, as in the table.
                if next.version > before.version {
                    before.rejection = next.rejection.or(before.rejection.take());
                    before.status = next.status.or(before.status);
                    before.updated_at = next.updated_at;
                    before.version = next.version;
                    before.position = next.position;
                }
            }
        }
        Ok(())
    }

    /// Moves every row on, in one statement (a newer version only).
    async fn flush(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if self.by_order.is_empty() {
            return Ok(());
        }
        let mut columns = MoveColumns::default();
        for (order_id, m) in self.by_order {
            columns.order_ids.push(order_id);
            columns.statuses.push(m.status);
            columns.rejections.push(m.rejection);
            columns.paid_at.push(m.paid_at);
            columns.updated_at.push(m.updated_at);
            columns.versions.push(m.version);
            columns.positions.push(m.position);
        }
        // A newer version moves the row; an older one can only date a
        // payment (a parked OrderPaid retried after the order shipped). A
        // move with no row yet waits for its placement.
        sqlx::query(
            "WITH m AS ( \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[], \
                                      $5::timestamptz[], $6::bigint[], $7::bigint[]) \
                     AS m(id, status, rejection, paid_at, at, version, position) \
             ), moved AS ( \
                 UPDATE orders o SET \
                     status = CASE WHEN o.version < m.version \
                                   THEN coalesce(m.status, o.status) ELSE o.status END, \
                     rejection = CASE WHEN o.version < m.version \
                                      THEN coalesce(m.rejection, o.rejection) ELSE o.rejection END, \
                     paid_at = coalesce(o.paid_at, m.paid_at), \
                     updated_at = CASE WHEN o.version < m.version THEN m.at ELSE o.updated_at END, \
                     position = CASE WHEN o.version < m.version THEN m.position ELSE o.position END, \
                     version = GREATEST(o.version, m.version) \
                 FROM m \
                 WHERE o.order_id = m.id \
                   AND (o.version < m.version OR (o.paid_at IS NULL AND m.paid_at IS NOT NULL)) \
             ) \
             INSERT INTO orders_pending_moves AS p \
                 (order_id, status, rejection, paid_at, updated_at, version, position) \
             SELECT m.id, m.status, m.rejection, m.paid_at, m.at, m.version, m.position FROM m \
             WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = m.id) \
             ON CONFLICT (order_id) DO UPDATE SET \
                 status = CASE WHEN EXCLUDED.version > p.version \
                               THEN coalesce(EXCLUDED.status, p.status) ELSE p.status END, \
                 rejection = coalesce(CASE WHEN EXCLUDED.version > p.version THEN EXCLUDED.rejection END, \
                                      p.rejection, EXCLUDED.rejection), \
                 paid_at = coalesce(p.paid_at, EXCLUDED.paid_at), \
                 updated_at = CASE WHEN EXCLUDED.version > p.version \
                                   THEN EXCLUDED.updated_at ELSE p.updated_at END, \
                 position = CASE WHEN EXCLUDED.version > p.version \
                                 THEN EXCLUDED.position ELSE p.position END, \
                 version = GREATEST(p.version, EXCLUDED.version)",
        )
        .bind(&columns.order_ids)
        .bind(&columns.statuses)
        .bind(&columns.rejections)
        .bind(&columns.paid_at)
        .bind(&columns.updated_at)
        .bind(&columns.versions)
        .bind(&columns.positions)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// [`Moves`] as one array per column.
#[derive(Default)]
struct MoveColumns {
    order_ids: Vec<uuid::Uuid>,
    statuses: Vec<Option<&'static str>>,
    rejections: Vec<Option<serde_json::Value>>,
    paid_at: Vec<Option<DateTime<Utc>>>,
    updated_at: Vec<DateTime<Utc>>,
    versions: Vec<i64>,
    positions: Vec<i64>,
}

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

    /// Given an order's events in log order (one redelivered), when they
    /// are folded for one update, then the row ends as event by event.
    #[test]
    fn a_batch_folds_each_orders_events_into_the_row_they_leave() {
        let id = uuid::Uuid::now_v7();
        let order_id = domain::OrderId(id);
        let at = |v: i64| {
            let mut e = envelope(&format!("order-{id}"));
            e.stream_version = v;
            e.global_position = 10 + v;
            e.occurred_at = chrono::DateTime::from_timestamp(1_700_000_000 + v, 0).unwrap();
            e
        };
        let paid = OrderEvent::OrderPaid {
            order_id,
            amount: 200,
            currency: domain::Currency::parse("EUR").unwrap(),
            reference: None,
        };
        let shipped = OrderEvent::OrderShipped {
            order_id,
            carrier: None,
            tracking_number: None,
            shipment_id: None,
            location: None,
            lines: vec![],
            complete: true,
        };
        let mut moves = Moves::default();
        moves
            .push(
                &at(2),
                &OrderEvent::OrderConfirmed {
                    order_id,
                    allocations: vec![],
                },
            )
            .unwrap();
        moves.push(&at(3), &paid).unwrap();
        moves.push(&at(4), &shipped).unwrap();
        moves.push(&at(3), &paid).unwrap();

        let row = &moves.by_order[&id];
        assert_eq!(row.status, Some("shipped"));
        assert_eq!((row.version, row.position), (4, 14));
        assert_eq!(row.updated_at, at(4).occurred_at);
        assert_eq!(
            row.paid_at,
            Some(at(3).occurred_at),
            "paid when paid, not when shipped"
        );
        assert_eq!(row.rejection, None);
    }

    /// Given a shipment, when the payment before it arrives later in the
    /// same batch (retried from the parking lot), then it dates the payment
    /// and moves nothing else.
    #[test]
    fn a_late_payment_in_a_batch_dates_the_order_and_changes_nothing_else() {
        let id = uuid::Uuid::now_v7();
        let order_id = domain::OrderId(id);
        let mut shipped_at = envelope(&format!("order-{id}"));
        shipped_at.stream_version = 4;
        let mut paid_at = envelope(&format!("order-{id}"));
        paid_at.stream_version = 3;
        let mut moves = Moves::default();
        let shipped = OrderEvent::OrderShipped {
            order_id,
            carrier: None,
            tracking_number: None,
            shipment_id: None,
            location: None,
            lines: vec![],
            complete: true,
        };
        let paid = OrderEvent::OrderPaid {
            order_id,
            amount: 200,
            currency: domain::Currency::parse("EUR").unwrap(),
            reference: None,
        };
        moves.push(&shipped_at, &shipped).unwrap();
        moves.push(&paid_at, &paid).unwrap();
        let row = &moves.by_order[&id];
        assert_eq!((row.status, row.version), (Some("shipped"), 4));
        assert_eq!(row.paid_at, Some(paid_at.occurred_at));
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
