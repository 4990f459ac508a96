//! The sales projection: units confirmed, cancelled and paid, and paid
//! revenue, per day and SKU.

use bus::{Delivered, HandlerError};
use domain::order::{OrderEvent, OrderStatus};
use domain::StreamCategory;
use sqlx::PgConnection;

use crate::orders::order_id_of;
use crate::projection::{poison, Projection};

/// Keeps `daily_sales` (and `sales_order_lines`, its copy of order lines).
#[derive(Debug, Default, Clone, Copy)]
pub struct SalesProjection;

/// Which counter of `daily_sales` an event moves.
enum Counter {
    Confirmed,
    Cancelled,
    Paid,
}

impl Projection for SalesProjection {
    const NAME: &'static str = "sales";
    const CATEGORIES: &'static [StreamCategory] = &[StreamCategory::Order];
    const TABLES: &'static [&'static str] = &["sales_order_lines", "daily_sales"];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        delivered: &Delivered,
    ) -> Result<(), HandlerError> {
        let e = &delivered.envelope;
        let event: OrderEvent = e.decode().map_err(poison)?;
        let counter = match &event {
            OrderEvent::OrderPlaced {
                order_id,
                lines,
                currency,
                ..
            } => {
                for (i, line) in lines.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO sales_order_lines (order_id, line_no, sku, quantity, line_total, currency) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(order_id.0)
                    .bind(i as i32)
                    .bind(line.sku.as_str())
                    .bind(line.quantity.get())
                    .bind(line.line_total)
                    .bind(currency.as_str())
                    .execute(&mut *conn)
                    .await?;
                }
                return Ok(());
            }
            OrderEvent::OrderConfirmed { .. } => Counter::Confirmed,
            OrderEvent::OrderPaid { .. } => Counter::Paid,
            // Units count as cancelled only if they had been confirmed.
            OrderEvent::OrderCancelled {
                previous_status: OrderStatus::Confirmed | OrderStatus::Paid,
                ..
            }
            | OrderEvent::OrderExpired { .. } => Counter::Cancelled,
            _ => return Ok(()),
        };
        let set = match counter {
            Counter::Confirmed => {
                "units_confirmed = daily_sales.units_confirmed + EXCLUDED.units_confirmed"
            }
            Counter::Cancelled => {
                "units_cancelled = daily_sales.units_cancelled + EXCLUDED.units_cancelled"
            }
            Counter::Paid => {
                "units_paid = daily_sales.units_paid + EXCLUDED.units_paid, \
                 revenue_paid = daily_sales.revenue_paid + EXCLUDED.revenue_paid"
            }
        };
        let (confirmed, cancelled, paid) = match counter {
            Counter::Confirmed => ("sum(quantity)", "0", "0"),
            Counter::Cancelled => ("0", "sum(quantity)", "0"),
            Counter::Paid => ("0", "0", "sum(quantity)"),
        };
        let revenue = if matches!(counter, Counter::Paid) {
            "sum(line_total)"
        } else {
            "0"
        };
        sqlx::query(&format!(
            "INSERT INTO daily_sales (day, sku, currency, units_confirmed, units_cancelled, units_paid, revenue_paid) \
             SELECT ($2 AT TIME ZONE 'UTC')::date, sku, currency, {confirmed}, {cancelled}, {paid}, {revenue} \
             FROM sales_order_lines WHERE order_id = $1 GROUP BY sku, currency \
             ON CONFLICT (day, sku) DO UPDATE SET {set}"
        ))
        .bind(order_id_of(e)?)
        .bind(e.occurred_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
