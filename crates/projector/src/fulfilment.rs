//! Where a confirmed order's units are reserved and what left in each
//! shipment: rows of the orders projection that are only ever inserted (one
//! per allocation, one per shipment), so a redelivered or late event writes
//! nothing twice and needs no order row first.

use bus::{Envelope, HandlerError};
use domain::order::OrderEvent;
use sqlx::PgConnection;

use crate::orders::order_id_of;
use crate::projection::poison;

/// A batch's allocations and shipments, one column array each.
#[derive(Default)]
pub(crate) struct Fulfilment {
    allocation_orders: Vec<uuid::Uuid>,
    allocation_skus: Vec<String>,
    allocation_locations: Vec<String>,
    allocation_units: Vec<i64>,
    shipment_orders: Vec<uuid::Uuid>,
    shipment_ids: Vec<uuid::Uuid>,
    shipment_locations: Vec<Option<String>>,
    shipment_lines: Vec<serde_json::Value>,
    carriers: Vec<Option<String>>,
    tracking_numbers: Vec<Option<String>>,
    shipped_at: Vec<chrono::DateTime<chrono::Utc>>,
    versions: Vec<i64>,
}

impl Fulfilment {
    pub(crate) fn push(&mut self, e: &Envelope, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderConfirmed { allocations, .. } => {
                let order = order_id_of(e)?;
                for a in allocations {
                    self.allocation_orders.push(order);
                    self.allocation_skus.push(a.sku.to_string());
                    self.allocation_locations.push(a.location.to_string());
                    self.allocation_units.push(a.quantity.get());
                }
            }
            OrderEvent::OrderShipped {
                carrier,
                tracking_number,
                shipment_id,
                location,
                lines,
                ..
            } => {
                self.shipment_orders.push(order_id_of(e)?);
                // A shipment from before shipment ids is named by its event.
                self.shipment_ids.push(shipment_id.unwrap_or(e.event_id));
                self.shipment_locations
                    .push(location.as_ref().map(|l| l.to_string()));
                self.shipment_lines
                    .push(serde_json::to_value(lines).map_err(poison)?);
                self.carriers.push(carrier.clone());
                self.tracking_numbers.push(tracking_number.clone());
                self.shipped_at.push(e.occurred_at);
                self.versions.push(e.stream_version);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) async fn flush(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if !self.allocation_orders.is_empty() {
            sqlx::query(
                "INSERT INTO order_allocations (order_id, sku, location, quantity) \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&self.allocation_orders)
            .bind(&self.allocation_skus)
            .bind(&self.allocation_locations)
            .bind(&self.allocation_units)
            .execute(&mut *conn)
            .await?;
        }
        if !self.shipment_orders.is_empty() {
            sqlx::query(
                "INSERT INTO order_shipments (order_id, shipment_id, location, lines, carrier, \
                     tracking_number, shipped_at, version) \
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[], \
                                      $6::text[], $7::timestamptz[], $8::bigint[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&self.shipment_orders)
            .bind(&self.shipment_ids)
            .bind(&self.shipment_locations)
            .bind(&self.shipment_lines)
            .bind(&self.carriers)
            .bind(&self.tracking_numbers)
            .bind(&self.shipped_at)
            .bind(&self.versions)
            .execute(conn)
            .await?;
        }
        Ok(())
    }
}
