//! An order's refunds, returns and return receipts: rows of the orders
//! projection that are only ever inserted (one per event), so a redelivered
//! or late event writes nothing twice and needs no order row first. A
//! return's status is read from them (received units against requested).

use bus::{Envelope, HandlerError};
use domain::order::OrderEvent;
use sqlx::PgConnection;

use crate::orders::order_id_of;
use crate::projection::poison;

/// A batch's refunds, returns and receipts, one column array each.
#[derive(Default)]
pub(crate) struct AfterSalesRows {
    refunds: Refunds,
    returns: Returns,
    receipts: Receipts,
}

#[derive(Default)]
struct Refunds {
    orders: Vec<uuid::Uuid>,
    ids: Vec<uuid::Uuid>,
    amounts: Vec<i64>,
    currencies: Vec<String>,
    reasons: Vec<String>,
    returns: Vec<Option<uuid::Uuid>>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
}

#[derive(Default)]
struct Returns {
    ids: Vec<uuid::Uuid>,
    orders: Vec<uuid::Uuid>,
    lines: Vec<serde_json::Value>,
    units: Vec<i64>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
}

#[derive(Default)]
struct Receipts {
    returns: Vec<uuid::Uuid>,
    ids: Vec<uuid::Uuid>,
    orders: Vec<uuid::Uuid>,
    locations: Vec<String>,
    lines: Vec<serde_json::Value>,
    units: Vec<i64>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl AfterSalesRows {
    pub(crate) fn push(&mut self, e: &Envelope, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderRefunded {
                refund_id,
                amount,
                currency,
                reason,
                return_id,
                ..
            } => {
                let r = &mut self.refunds;
                r.orders.push(order_id_of(e)?);
                r.ids.push(*refund_id);
                r.amounts.push(*amount);
                r.currencies.push(currency.as_str().to_owned());
                r.reasons.push(reason.clone());
                r.returns.push(*return_id);
                r.at.push(e.occurred_at);
            }
            OrderEvent::ReturnRequested {
                return_id, lines, ..
            } => {
                let r = &mut self.returns;
                r.ids.push(*return_id);
                r.orders.push(order_id_of(e)?);
                r.lines.push(serde_json::to_value(lines).map_err(poison)?);
                r.units.push(lines.iter().map(|l| l.quantity.get()).sum());
                r.at.push(e.occurred_at);
            }
            OrderEvent::ReturnReceived {
                return_id,
                receipt_id,
                location,
                lines,
                ..
            } => {
                let r = &mut self.receipts;
                r.returns.push(*return_id);
                r.ids.push(*receipt_id);
                r.orders.push(order_id_of(e)?);
                r.locations.push(location.to_string());
                r.lines.push(serde_json::to_value(lines).map_err(poison)?);
                r.units.push(lines.iter().map(|l| l.quantity.get()).sum());
                r.at.push(e.occurred_at);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) async fn flush(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        let Self {
            refunds,
            returns,
            receipts,
        } = self;
        if !refunds.ids.is_empty() {
            sqlx::query(
                "INSERT INTO order_refunds (order_id, refund_id, amount, currency, reason, \
                     return_id, refunded_at) \
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], \
                                      $5::text[], $6::uuid[], $7::timestamptz[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&refunds.orders)
            .bind(&refunds.ids)
            .bind(&refunds.amounts)
            .bind(&refunds.currencies)
            .bind(&refunds.reasons)
            .bind(&refunds.returns)
            .bind(&refunds.at)
            .execute(&mut *conn)
            .await?;
        }
        if !returns.ids.is_empty() {
            sqlx::query(
                "INSERT INTO order_returns (return_id, order_id, lines, units, requested_at) \
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::bigint[], \
                                      $5::timestamptz[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&returns.ids)
            .bind(&returns.orders)
            .bind(&returns.lines)
            .bind(&returns.units)
            .bind(&returns.at)
            .execute(&mut *conn)
            .await?;
        }
        if !receipts.ids.is_empty() {
            sqlx::query(
                "INSERT INTO return_receipts (return_id, receipt_id, order_id, location, lines, \
                     units, received_at) \
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], \
                                      $5::jsonb[], $6::bigint[], $7::timestamptz[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&receipts.returns)
            .bind(&receipts.ids)
            .bind(&receipts.orders)
            .bind(&receipts.locations)
            .bind(&receipts.lines)
            .bind(&receipts.units)
            .bind(&receipts.at)
            .execute(conn)
            .await?;
        }
        Ok(())
    }
}
