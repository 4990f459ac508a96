//! The catalogue read model: products and their stock levels.

use bus::{Delivered, HandlerError};
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
    const TABLES: &'static [&'static str] = &["products", "stock"];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        delivered: &Delivered,
    ) -> Result<(), HandlerError> {
        let e = &delivered.envelope;
        if e.stream_id.starts_with("stock-") {
            let event: StockEvent = e.decode().map_err(poison)?;
            let (sku, on_hand, reserved) = match &event {
                StockEvent::StockReceived { sku, quantity, .. } => (sku, quantity.get(), 0),
                StockEvent::StockAdjusted { sku, delta, .. } => (sku, *delta, 0),
                StockEvent::StockReserved { sku, quantity, .. } => (sku, 0, quantity.get()),
                StockEvent::StockReleased { sku, quantity, .. } => (sku, 0, -quantity.get()),
                StockEvent::StockCommitted { sku, quantity, .. } => {
                    (sku, -quantity.get(), -quantity.get())
                }
            };
            // Deltas commute and each event is applied once (deduplicated by
            // event id), so an event applied late (parked, then retried)
            // still counts; the version only ever moves up.
            sqlx::query(
                "INSERT INTO stock (sku, on_hand, reserved, version, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sku) DO UPDATE SET \
                         on_hand = stock.on_hand + EXCLUDED.on_hand, \
                         reserved = stock.reserved + EXCLUDED.reserved, \
                         version = GREATEST(stock.version, EXCLUDED.version), \
                         updated_at = GREATEST(stock.updated_at, EXCLUDED.updated_at)",
            )
            .bind(sku.as_str())
            .bind(on_hand)
            .bind(reserved)
            .bind(e.stream_version)
            .bind(e.occurred_at)
            .execute(conn)
            .await?;
            return Ok(());
        }
        let event: ProductEvent = e.decode().map_err(poison)?;
        let query = match &event {
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
}
