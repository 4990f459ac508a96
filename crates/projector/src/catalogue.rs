//! The catalogue read model: products and their stock levels.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{Delivered, Envelope, HandlerError};
use chrono::{DateTime, Utc};
use domain::product::ProductEvent;
use domain::stock::StockEvent;
use domain::StreamCategory;
use sqlx::PgConnection;

use crate::projection::{poison, Projection};

/// Keeps `products` and `stock`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CatalogueProjection;

impl Projection for CatalogueProjection {
    const NAME: &'static str = "catalogue";
    const CATEGORIES: &'static [StreamCategory] = &[StreamCategory::Product, StreamCategory::Stock];
    const TABLES: &'static [&'static str] =
        &["products", "stock", "stock_locations", "stock_hold_units"];
    /// Stock levels on product pages may trail a sale by a few tens of
    /// milliseconds.
    const READ_LINGER: Duration = Duration::from_millis(40);

    /// Stock deltas of the whole batch are summed per SKU and written in
    /// one statement; product events are written one by one (they are
    /// rare). Every event is decoded before anything is written.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        let mut stock = StockDeltas::default();
        let mut products = Vec::new();
        for delivered in events {
            let e = &delivered.envelope;
            if e.stream_id.starts_with("stock-") {
                stock.add(e, &e.decode().map_err(poison)?);
            } else {
                products.push((e, e.decode::<ProductEvent>().map_err(poison)?));
            }
        }
        for (e, event) in &products {
            apply_product(conn, e, event).await?;
        }
        stock.flush(conn).await
    }
}

/// A batch's stock changes, summed per SKU. Deltas commute and each event
/// is applied once (deduplicated by event id), so an event applied late
/// (parked, then retried) still counts; the version only ever moves up.
#[derive(Default)]
struct StockDeltas {
    by_sku: BTreeMap<String, Delta>,
    /// The same, per SKU and location.
    by_location: BTreeMap<(String, String), Delta>,
    /// Units each cart hold keeps, per SKU, location and hold.
    by_hold: BTreeMap<(String, String, uuid::Uuid), i64>,
}

/// One SKU's (or one SKU's at one location) summed change.
struct Delta {
    on_hand: i64,
    reserved: i64,
    held: i64,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl Delta {
    fn at(e: &Envelope) -> Self {
        Self {
            on_hand: 0,
            reserved: 0,
            held: 0,
            version: e.stream_version,
            updated_at: e.occurred_at,
        }
    }
}

impl StockDeltas {
    fn add(&mut self, e: &Envelope, event: &StockEvent) {
        let sku = event.sku().as_str().to_owned();
        let (on_hand, reserved) = event.deltas();
        let held = event.held_delta();
        let at = (sku.clone(), event.location().as_str().to_owned());
        if let Some(hold) = event.hold_id() {
            *self
                .by_hold
                .entry((at.0.clone(), at.1.clone(), hold))
                .or_default() += held;
        }
        for delta in [
            self.by_sku.entry(sku).or_insert_with(|| Delta::at(e)),
            self.by_location.entry(at).or_insert_with(|| Delta::at(e)),
        ] {
            delta.on_hand += on_hand;
            delta.reserved += reserved;
            delta.held += held;
            delta.version = delta.version.max(e.stream_version);
            delta.updated_at = delta.updated_at.max(e.occurred_at);
        }
    }

    /// One upsert for every SKU, in SKU order.
    async fn flush(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if self.by_sku.is_empty() {
            return Ok(());
        }
        let mut at = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for ((sku, location), d) in self.by_location {
            at.0.push(sku);
            at.1.push(location);
            at.2.push(d.on_hand);
            at.3.push(d.reserved);
            at.4.push(d.held);
            at.5.push(d.updated_at);
        }
        sqlx::query(
            "INSERT INTO stock_locations (sku, location, on_hand, reserved, held, updated_at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                                  $6::timestamptz[]) \
             ON CONFLICT (sku, location) DO UPDATE SET \
                 on_hand = stock_locations.on_hand + EXCLUDED.on_hand, \
                 reserved = stock_locations.reserved + EXCLUDED.reserved, \
                 held = stock_locations.held + EXCLUDED.held, \
                 updated_at = GREATEST(stock_locations.updated_at, EXCLUDED.updated_at)",
        )
        .bind(&at.0)
        .bind(&at.1)
        .bind(&at.2)
        .bind(&at.3)
        .bind(&at.4)
        .bind(&at.5)
        .execute(&mut *conn)
        .await?;
        if !self.by_hold.is_empty() {
            let mut units = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((sku, location, hold), quantity) in self.by_hold {
                units.0.push(sku);
                units.1.push(location);
                units.2.push(hold);
                units.3.push(quantity);
            }
            // Summed as deltas, so a release applied before its hold (a
            // parked event retried) still nets out; rows at zero go.
            sqlx::query(
                "INSERT INTO stock_hold_units (sku, location, hold_id, quantity) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::bigint[]) \
                 ON CONFLICT (sku, location, hold_id) DO UPDATE SET \
                     quantity = stock_hold_units.quantity + EXCLUDED.quantity",
            )
            .bind(&units.0)
            .bind(&units.1)
            .bind(&units.2)
            .bind(&units.3)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM stock_hold_units u \
                 USING unnest($1::text[], $2::text[], $3::uuid[]) AS k(sku, location, hold_id) \
                 WHERE u.sku = k.sku AND u.location = k.location AND u.hold_id = k.hold_id \
                   AND u.quantity = 0",
            )
            .bind(&units.0)
            .bind(&units.1)
            .bind(&units.2)
            .execute(&mut *conn)
            .await?;
        }
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (sku, d) in self.by_sku {
            columns.0.push(sku);
            columns.1.push(d.on_hand);
            columns.2.push(d.reserved);
            columns.3.push(d.version);
            columns.4.push(d.updated_at);
        }
        sqlx::query(
            "INSERT INTO stock (sku, on_hand, reserved, version, updated_at) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[]) \
             ON CONFLICT (sku) DO UPDATE SET \
                 on_hand = stock.on_hand + EXCLUDED.on_hand, \
                 reserved = stock.reserved + EXCLUDED.reserved, \
                 version = GREATEST(stock.version, EXCLUDED.version), \
                 updated_at = GREATEST(stock.updated_at, EXCLUDED.updated_at)",
        )
        .bind(&columns.0)
        .bind(&columns.1)
        .bind(&columns.2)
        .bind(&columns.3)
        .bind(&columns.4)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Writes one product event.
async fn apply_product(
    conn: &mut PgConnection,
    e: &Envelope,
    event: &ProductEvent,
) -> Result<(), HandlerError> {
    let query = match event {
        ProductEvent::ProductRegistered {
            sku,
            name,
            unit_price,
            currency,
        } => sqlx::query(
            "INSERT INTO products (sku, name, unit_price, currency, status, version, updated_at) \
                     VALUES ($1, $2, $3, $4, 'active', $5, $6) ON CONFLICT (sku) DO NOTHING",
        )
        .bind(sku.as_str())
        .bind(name)
        .bind(unit_price)
        .bind(currency.as_str()),
        ProductEvent::ProductPriceChanged {
            sku, unit_price, ..
        } => sqlx::query(
            "UPDATE products SET unit_price = $2, version = $3, updated_at = $4 \
                     WHERE sku = $1 AND version < $3",
        )
        .bind(sku.as_str())
        .bind(unit_price),
        ProductEvent::ProductDiscontinued { sku } => sqlx::query(
            "UPDATE products SET status = 'discontinued', version = $2, updated_at = $3 \
                     WHERE sku = $1 AND version < $2",
        )
        .bind(sku.as_str()),
    };
    query
        .bind(e.stream_version)
        .bind(e.occurred_at)
        .execute(conn)
        .await?;
    Ok(())
}
