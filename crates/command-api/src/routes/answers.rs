//! What a successful command answers: the typed bodies the OpenAPI document
//! describes, with the log position to read one's own write at.

use domain::order::{Order, OrderEvent, OrderStatus, ReturnStatus};
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
    /// `placed`, or `confirmed` for an order converted from a hold.
    pub status: OrderStatus,
    /// Sum of the lines in minor units.
    pub total: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<Currency>,
    /// Log position of the order's last event.
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

/// An order after a refund.
#[derive(Serialize, JsonSchema)]
pub struct RefundAnswer {
    /// The order's id.
    pub order_id: String,
    /// The refund just recorded.
    pub refund_id: Option<Uuid>,
    /// Minor units paid for the order.
    pub paid: i64,
    /// Minor units refunded so far, this refund included.
    pub refunded: i64,
    /// Log position of `OrderRefunded`.
    pub position: i64,
    /// The order stream's version.
    pub version: i64,
}

impl RefundAnswer {
    /// The answer for order `id` after `outcome`.
    pub fn new(id: &str, outcome: &Outcome<Order>) -> Self {
        let after = outcome.state.placed().map(|o| &o.after_sales);
        Self {
            order_id: id.to_owned(),
            refund_id: outcome.events.iter().find_map(|e| match e {
                OrderEvent::OrderRefunded { refund_id, .. } => Some(*refund_id),
                _ => None,
            }),
            paid: after.map_or(0, |a| a.paid),
            refunded: after.map_or(0, |a| a.refunded),
            position: outcome.position,
            version: outcome.version,
        }
    }
}

/// A return after it was requested or units of it arrived.
#[derive(Serialize, JsonSchema)]
pub struct ReturnAnswer {
    /// The return's id.
    pub return_id: Option<Uuid>,
    /// The order it returns units of.
    pub order_id: String,
    /// The receipt just recorded, after a receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<Uuid>,
    /// Where the return is now.
    pub status: Option<ReturnStatus>,
    /// Log position of the command's last event (a receipt's restocked
    /// units included).
    pub position: i64,
    /// The order stream's version.
    pub version: i64,
}

impl ReturnAnswer {
    /// The answer for order `id` after `outcome`.
    pub fn new(id: &str, outcome: &Outcome<Order>) -> Self {
        let (return_id, receipt_id) = outcome
            .events
            .iter()
            .find_map(|e| match e {
                OrderEvent::ReturnRequested { return_id, .. } => Some((*return_id, None)),
                OrderEvent::ReturnReceived {
                    return_id,
                    receipt_id,
                    ..
                } => Some((*return_id, Some(*receipt_id))),
                _ => None,
            })
            .unzip();
        let status = return_id.and_then(|r| {
            let order = outcome.state.placed()?;
            Some(order.after_sales.returns.get(&r)?.status())
        });
        Self {
            return_id,
            order_id: id.to_owned(),
            receipt_id: receipt_id.flatten(),
            status,
            position: outcome.position,
            version: outcome.version,
        }
    }
}
