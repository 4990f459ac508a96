//! The sales projection: units confirmed, cancelled and paid, and paid
//! revenue, per day and SKU; refunded revenue per day and currency. A
//! cancellation after a partial shipment counts only the units that never
//! left (`sales_shipped_units` keeps what did).

use std::time::Duration;

use bus::{Delivered, Envelope, HandlerError};
use chrono::{DateTime, Utc};
use domain::order::{OrderEvent, OrderStatus};
use domain::StreamCategory;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::orders::order_id_of;
use crate::projection::{poison, Projection};

/// Keeps `daily_sales` (and `sales_order_lines`, its copy of order lines).
#[derive(Debug, Default, Clone, Copy)]
pub struct SalesProjection;

/// Which counter of `daily_sales` an event moves, as the batch's statement
/// names it.
#[derive(Clone, Copy)]
enum Counter {
    Confirmed,
    /// Counts the units not shipped (all of them but after a partial
    /// shipment).
    Cancelled,
    Paid,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Paid => "paid",
        }
    }
}

impl Projection for SalesProjection {
    const NAME: &'static str = "sales";
    const CATEGORIES: &'static [StreamCategory] = &[StreamCategory::Order];
    const TABLES: &'static [&'static str] = &[
        "sales_order_lines",
        "daily_sales",
        "sales_pending_counters",
        "sales_shipped_units",
        "daily_refunds",
    ];
    /// Analytics: nobody reads a sales report within 100 ms of a sale.
    const READ_LINGER: Duration = Duration::from_millis(100);

    /// Two statements per batch: every placed line, then every counter
    /// the batch moves, summed per day and SKU (counters commute, and each
    /// event is applied once). Every event is decoded before anything is
    /// written.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        let mut batch = SalesBatch::default();
        for delivered in events {
            let e = &delivered.envelope;
            batch.add(e, &e.decode().map_err(poison)?)?;
        }
        batch.write(conn).await
    }
}

/// What a batch writes: the lines of the orders placed, and the counters
/// moved by orders decided, paid or cancelled (a column per field).
#[derive(Default)]
struct SalesBatch {
    line_orders: Vec<Uuid>,
    line_numbers: Vec<i32>,
    line_skus: Vec<String>,
    line_quantities: Vec<i64>,
    line_totals: Vec<i64>,
    line_currencies: Vec<String>,
    shipped_orders: Vec<Uuid>,
    shipped_skus: Vec<String>,
    shipped_quantities: Vec<i64>,
    counter_orders: Vec<Uuid>,
    counters: Vec<&'static str>,
    counted_at: Vec<DateTime<Utc>>,
    refund_amounts: Vec<i64>,
    refund_currencies: Vec<String>,
    refunded_at: Vec<DateTime<Utc>>,
}

impl SalesBatch {
    fn add(&mut self, e: &Envelope, event: &OrderEvent) -> Result<(), HandlerError> {
        let counter = match event {
            OrderEvent::OrderPlaced {
                order_id,
                lines,
                currency,
                ..
            } => {
                for (i, line) in lines.iter().enumerate() {
                    self.line_orders.push(order_id.0);
                    self.line_numbers.push(i as i32);
                    self.line_skus.push(line.sku.to_string());
                    self.line_quantities.push(line.quantity.get());
                    self.line_totals.push(line.line_total);
                    self.line_currencies.push(currency.as_str().to_owned());
                }
                return Ok(());
            }
            // Shipments that name their lines (partial ones); one without
            // lines shipped the whole order, which can no longer be cancelled.
            OrderEvent::OrderShipped {
                order_id, lines, ..
            } => {
                for line in lines {
                    self.shipped_orders.push(order_id.0);
                    self.shipped_skus.push(line.sku.to_string());
                    self.shipped_quantities.push(line.quantity.get());
                }
                return Ok(());
            }
            OrderEvent::OrderConfirmed { .. } => Counter::Confirmed,
            OrderEvent::OrderPaid { .. } => Counter::Paid,
            // Units count as cancelled only if they had been confirmed.
            OrderEvent::OrderCancelled {
                previous_status:
                    OrderStatus::Confirmed | OrderStatus::Paid | OrderStatus::PartiallyShipped,
                ..
            }
            | OrderEvent::OrderExpired { .. } => Counter::Cancelled,
            // Money given back on the whole order: counted per day and
            // currency, needing no lines.
            OrderEvent::OrderRefunded {
                amount, currency, ..
            } => {
                self.refund_amounts.push(*amount);
                self.refund_currencies.push(currency.as_str().to_owned());
                self.refunded_at.push(e.occurred_at);
                return Ok(());
            }
            _ => return Ok(()),
        };
        self.counter_orders.push(order_id_of(e)?);
        self.counters.push(counter.name());
        self.counted_at.push(e.occurred_at);
        Ok(())
    }

    /// The lines and the shipped units first: a counter of the same batch
    /// sums them.
    async fn write(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if !self.refund_amounts.is_empty() {
            sqlx::query(
                "INSERT INTO daily_refunds (day, currency, refunds, revenue_refunded) \
                 SELECT (r.at AT TIME ZONE 'UTC')::date, r.currency, count(*), sum(r.amount) \
                 FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS r(amount, currency, at) \
                 GROUP BY 1, 2 \
                 ON CONFLICT (day, currency) DO UPDATE SET \
                   refunds = daily_refunds.refunds + EXCLUDED.refunds, \
                   revenue_refunded = daily_refunds.revenue_refunded + EXCLUDED.revenue_refunded",
            )
            .bind(&self.refund_amounts)
            .bind(&self.refund_currencies)
            .bind(&self.refunded_at)
            .execute(&mut *conn)
            .await?;
        }
        if !self.line_orders.is_empty() {
            sqlx::query(
                "INSERT INTO sales_order_lines (order_id, line_no, sku, quantity, line_total, currency) \
                 SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::text[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&self.line_orders)
            .bind(&self.line_numbers)
            .bind(&self.line_skus)
            .bind(&self.line_quantities)
            .bind(&self.line_totals)
            .bind(&self.line_currencies)
            .execute(&mut *conn)
            .await?;
        }
        if !self.shipped_orders.is_empty() {
            // Summed first: one statement may not update a row twice (a
            // shipment's SKU from two locations, or two shipments).
            sqlx::query(
                "INSERT INTO sales_shipped_units (order_id, sku, quantity) \
                 SELECT order_id, sku, sum(quantity) \
                 FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS s(order_id, sku, quantity) \
                 GROUP BY 1, 2 \
                 ON CONFLICT (order_id, sku) DO UPDATE \
                 SET quantity = sales_shipped_units.quantity + EXCLUDED.quantity",
            )
            .bind(&self.shipped_orders)
            .bind(&self.shipped_skus)
            .bind(&self.shipped_quantities)
            .execute(&mut *conn)
            .await?;
        }
        if self.counter_orders.is_empty() && self.line_orders.is_empty() {
            return Ok(());
        }
        // A counter of an order whose lines are not here yet (its placement
        // was parked, or came late from Kafka) waits for them; lines placed
        // now release what waited for them. A row keeps the currency it was
        // first written with.
        //
        // Each counted order's lines and shipped units are looked up by its
        // key (the aggregating LATERAL runs once per order): as a join, the
        // planner hashed the whole of `sales_order_lines` for a batch of 85
        // orders once it held 50,000 rows, a cost that grew with the table.
        sqlx::query(
            "WITH c AS ( \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS c(order_id, counter, at) \
             ), waiting AS ( \
                 INSERT INTO sales_pending_counters (order_id, counter, at) \
                 SELECT c.order_id, c.counter, c.at FROM c \
                 WHERE NOT EXISTS (SELECT 1 FROM sales_order_lines l WHERE l.order_id = c.order_id) \
                 ON CONFLICT DO NOTHING \
             ), released AS ( \
                 DELETE FROM sales_pending_counters p WHERE p.order_id = ANY($4) \
                 RETURNING p.order_id, p.counter, p.at \
             ), counted AS ( \
                 SELECT * FROM c UNION ALL SELECT * FROM released \
             ) \
             INSERT INTO daily_sales (day, sku, currency, units_confirmed, units_cancelled, units_paid, revenue_paid) \
             SELECT (c.at AT TIME ZONE 'UTC')::date, l.sku, min(l.currency), \
                    coalesce(sum(l.quantity) FILTER (WHERE c.counter = 'confirmed'), 0), \
                    coalesce(sum(l.quantity - l.shipped) FILTER (WHERE c.counter = 'cancelled'), 0), \
                    coalesce(sum(l.quantity) FILTER (WHERE c.counter = 'paid'), 0), \
                    coalesce(sum(l.line_total) FILTER (WHERE c.counter = 'paid'), 0) \
             FROM counted c \
             CROSS JOIN LATERAL ( \
                 SELECT o.sku, min(o.currency) AS currency, sum(o.quantity) AS quantity, \
                        sum(o.line_total) AS line_total, \
                        coalesce((SELECT s.quantity FROM sales_shipped_units s \
                                  WHERE s.order_id = c.order_id AND s.sku = o.sku), 0) AS shipped \
                 FROM sales_order_lines o WHERE o.order_id = c.order_id \
                 GROUP BY o.sku \
             ) l \
             GROUP BY 1, 2 \
             ON CONFLICT (day, sku) DO UPDATE SET \
               units_confirmed = daily_sales.units_confirmed + EXCLUDED.units_confirmed, \
               units_cancelled = daily_sales.units_cancelled + EXCLUDED.units_cancelled, \
               units_paid = daily_sales.units_paid + EXCLUDED.units_paid, \
               revenue_paid = daily_sales.revenue_paid + EXCLUDED.revenue_paid",
        )
        .bind(&self.counter_orders)
        .bind(&self.counters)
        .bind(&self.counted_at)
        .bind(&self.line_orders)
        .execute(conn)
        .await?;
        Ok(())
    }
}
