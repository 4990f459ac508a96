//! What a successful command answers: the typed bodies the OpenAPI document
//! describes, with the log position to read one's own write at.

use domain::order::{Order, OrderStatus};
use domain::product::{Product, ProductStatus};
use domain::stock::StockItem;
use domain::Currency;
use schemars::JsonSchema;
use serde::Serialize;
use store::Outcome;
use uuid::Uuid;

/// A product after a catalogue command.
#[derive(Serialize, JsonSchema)]
pub struct ProductAnswer {
    /// The SKU.
    pub sku: String,
    /// The product's name.
    pub name: Option<String>,
    /// Price per unit in minor units (cents).
    pub unit_price: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<Currency>,
    /// Whether it can be ordered.
    pub status: Option<ProductStatus>,
    /// Log position of the command's last event (for `X-Min-Position`).
    pub position: i64,
    /// The stream's version (for `If-Match`).
    pub version: i64,
}

impl ProductAnswer {
    /// The answer for `sku` after `outcome`.
    pub fn new(sku: &str, outcome: &Outcome<Product>) -> Self {
        let product = outcome.state.registered();
        Self {
            sku: sku.to_owned(),
            name: product.map(|p| p.name.clone()),
            unit_price: product.map(|p| p.price.minor()),
            currency: product.map(|p| p.price.currency()),
            status: product.map(|p| p.status),
            position: outcome.position,
            version: outcome.version,
        }
    }
}

/// A SKU's stock after a receipt or adjustment.
#[derive(Serialize, JsonSchema)]
pub struct StockAnswer {
    /// The SKU.
    pub sku: String,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held for orders.
    pub reserved: i64,
    /// Units that can still be reserved.
    pub available: i64,
    /// Units held by carts.
    pub held: i64,
    /// The same per location that keeps the SKU.
    pub locations: Vec<LocationStock>,
    /// Log position of the command's last event.
    pub position: i64,
    /// The stream's version.
    pub version: i64,
}

/// A SKU's units at one location.
#[derive(Serialize, JsonSchema)]
pub struct LocationStock {
    /// The location's code.
    pub location: String,
    /// Units there.
    pub on_hand: i64,
    /// Units there held for orders.
    pub reserved: i64,
    /// Units there held by carts.
    pub held: i64,
    /// `on_hand − reserved − held`, never below zero.
    pub available: i64,
}

impl StockAnswer {
    /// The answer for `sku` after `outcome`.
    pub fn new(sku: &str, outcome: &Outcome<StockItem>) -> Self {
        let stock = &outcome.state;
        Self {
            sku: sku.to_owned(),
            on_hand: stock.on_hand(),
            reserved: stock.reserved(),
            available: stock.available(),
            held: stock.held(),
            locations: stock
                .locations()
                .map(|(location, units)| LocationStock {
                    location: location.to_string(),
                    on_hand: units.on_hand,
                    reserved: units.reserved,
                    held: units.held,
                    available: units.available(),
                })
                .collect(),
            position: outcome.position,
            version: outcome.version,
        }
    }
}

/// An order just placed: stock is reserved asynchronously.
#[derive(Serialize, JsonSchema)]
pub struct PlacedAnswer {
    /// The new order's id.
    pub order_id: Uuid,
    /// Always `placed`.
    pub status: OrderStatus,
    /// Sum of the lines in minor units.
    pub total: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<Currency>,
    /// Log position of `OrderPlaced`.
    pub position: i64,
    /// The stream's version.
    pub version: i64,
}

/// An order after a payment, shipment or cancellation.
#[derive(Serialize, JsonSchema)]
pub struct OrderAnswer {
    /// The order's id.
    pub order_id: String,
    /// Where the order is now.
    pub status: Option<OrderStatus>,
    /// The shipment just recorded, after a shipment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<Uuid>,
    /// Log position of the command's last event.
    pub position: i64,
    /// The stream's version.
    pub version: i64,
}

impl OrderAnswer {
    /// The answer for order `id` after `outcome`.
    pub fn new(id: &str, outcome: &Outcome<Order>) -> Self {
        Self {
            order_id: id.to_owned(),
            status: outcome.state.placed().map(|o| o.status),
            shipment_id: None,
            position: outcome.position,
            version: outcome.version,
        }
    }
}
