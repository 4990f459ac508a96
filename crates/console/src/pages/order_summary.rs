//! What the orders read model says about one order, as the order page shows
//! it: lines, where their units are allocated, what left in which shipment,
//! and what is still to ship per SKU.

use query_api::reads::OrderView;
use serde_json::Value;

use crate::view::money;

/// A line of the order.
pub struct Line {
    /// The SKU.
    pub(super) sku: String,
    /// Units.
    pub(super) quantity: i64,
    /// Price of one, as placed.
    pub(super) unit_price: String,
}

/// Units of a SKU reserved at a location.
pub struct Allocated {
    /// The SKU.
    pub(super) sku: String,
    /// Where.
    pub(super) location: String,
    /// Units.
    pub(super) quantity: i64,
}

/// A shipment that left.
pub struct Shipment {
    /// The shipment's id.
    pub(super) id: String,
    /// Where.
    pub(super) location: String,
    /// `2 × TEA-1 from berlin-1, …`.
    pub(super) lines: String,
    /// Carrier, or blank.
    pub(super) carrier: String,
    /// Tracking number, or blank.
    pub(super) tracking_number: String,
    /// When it was recorded.
    pub(super) shipped_at: String,
}

/// Units of a SKU not shipped yet.
pub struct Unshipped {
    /// The SKU.
    pub(super) sku: String,
    /// Units still to ship.
    pub(super) left: i64,
}

/// The order as the page shows it.
pub struct Summary {
    /// Where it is in its lifecycle.
    pub(super) status: String,
    /// Who bought.
    pub(super) customer: String,
    /// What it costs.
    pub(super) total: String,
    /// The sales channel, or `none`.
    pub(super) channel: String,
    /// Every line ships from here, if a pickup order.
    pub(super) pickup_location: Option<String>,
    /// When it was placed.
    pub(super) placed_at: String,
    /// What was ordered.
    pub(super) lines: Vec<Line>,
    /// Where its units are reserved.
    pub(super) allocations: Vec<Allocated>,
    /// What left, oldest first.
    pub(super) shipments: Vec<Shipment>,
    /// Per SKU in the order of the lines, those with units left.
    pub(super) unshipped: Vec<Unshipped>,
    /// What was paid, as money.
    pub(super) paid: String,
    /// What was refunded, as money.
    pub(super) refunded: String,
    /// Minor units that may still be refunded.
    pub(super) refundable: i64,
    /// The order's currency.
    pub(super) currency: String,
    /// Its returns, oldest first.
    pub(super) returns: Vec<ReturnRef>,
}

/// One return of an order, as its summary shows it.
pub(super) struct ReturnRef {
    /// The return's id.
    pub(super) id: String,
    /// `requested`, `partially_received` or `received`.
    pub(super) status: String,
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or("").to_owned()
}

/// An RFC 3339 time as the other pages show times; as it is otherwise.
fn when(raw: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| raw.to_owned())
}

fn units(value: &Value) -> i64 {
    value["quantity"].as_i64().unwrap_or(0)
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

impl Summary {
    /// The locations its units are allocated to, each once.
    pub(super) fn allocated_locations(&self) -> Vec<&str> {
        let mut locations: Vec<&str> = self
            .allocations
            .iter()
            .map(|a| a.location.as_str())
            .collect();
        locations.sort_unstable();
        locations.dedup();
        locations
    }
}

impl From<&OrderView> for Summary {
    fn from(o: &OrderView) -> Self {
        let lines: Vec<Line> = items(&o.lines)
            .iter()
            .map(|l| Line {
                sku: text(l, "sku"),
                quantity: units(l),
                unit_price: money(l["unit_price"].as_i64().unwrap_or(0), &o.currency),
            })
            .collect();
        let shipments: Vec<Shipment> = items(&o.shipments)
            .iter()
            .map(|s| Shipment {
                id: text(s, "shipment_id"),
                location: s["location"].as_str().unwrap_or("several").to_owned(),
                lines: items(&s["lines"])
                    .iter()
                    .map(|l| {
                        format!(
                            "{} × {} from {}",
                            units(l),
                            text(l, "sku"),
                            text(l, "location")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                carrier: text(s, "carrier"),
                tracking_number: text(s, "tracking_number"),
                shipped_at: when(&text(s, "shipped_at")),
            })
            .collect();
        let mut unshipped: Vec<Unshipped> = Vec::new();
        for line in &lines {
            match unshipped.iter_mut().find(|u| u.sku == line.sku) {
                Some(u) => u.left += line.quantity,
                None => unshipped.push(Unshipped {
                    sku: line.sku.clone(),
                    left: line.quantity,
                }),
            }
        }
        for shipped in items(&o.shipments).iter().flat_map(|s| items(&s["lines"])) {
            if let Some(u) = unshipped.iter_mut().find(|u| u.sku == text(shipped, "sku")) {
                u.left -= units(shipped);
            }
        }
        unshipped.retain(|u| u.left > 0);
        Self {
            status: o.status.clone(),
            customer: o.customer_id.clone(),
            total: money(o.total, &o.currency),
            channel: o.channel.clone().unwrap_or_else(|| "none".to_owned()),
            pickup_location: o.pickup_location.clone(),
            placed_at: o.placed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            allocations: items(&o.allocations)
                .iter()
                .map(|a| Allocated {
                    sku: text(a, "sku"),
                    location: text(a, "location"),
                    quantity: units(a),
                })
                .collect(),
            lines,
            shipments,
            unshipped,
            paid: money(o.paid, &o.currency),
            refunded: money(o.refunded, &o.currency),
            refundable: o.paid - o.refunded,
            currency: o.currency.clone(),
            returns: items(&o.returns)
                .iter()
                .map(|r| ReturnRef {
                    id: text(r, "return_id"),
                    status: text(r, "status"),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipment_times_read_as_the_other_times_of_the_page() {
        assert_eq!(
            when("2026-12-02T05:46:27.664524+00:00"),
            "2026-12-02 05:46:27 UTC"
        );
        assert_eq!(when("2026-12-02T06:46:27+01:00"), "2026-12-02 05:46:27 UTC");
        assert_eq!(when("yesterday"), "yesterday");
    }

    #[test]
    fn what_is_left_to_ship_is_what_was_ordered_less_every_shipment() {
        let now = chrono::Utc::now();
        let order = OrderView {
            order_id: uuid::Uuid::nil(),
            customer_id: "shop:cust-1".to_owned(),
            status: "partially_shipped".to_owned(),
            lines: serde_json::json!([
                {"sku": "TEA-1", "quantity": 5, "unit_price": 100},
                {"sku": "MUG-1", "quantity": 2, "unit_price": 800},
                {"sku": "TEA-1", "quantity": 3, "unit_price": 100},
            ]),
            total: 2400,
            currency: "EUR".to_owned(),
            placed_at: now,
            updated_at: now,
            version: 5,
            rejection: None,
            channel: None,
            pickup_location: None,
            allocations: serde_json::json!([
                {"sku": "MUG-1", "location": "default", "quantity": 2},
                {"sku": "TEA-1", "location": "shop-1", "quantity": 2},
                {"sku": "TEA-1", "location": "default", "quantity": 6},
            ]),
            shipments: serde_json::json!([
                {"shipment_id": "a", "location": "shop-1", "shipped_at": "2026-12-02T05:00:00Z",
                 "lines": [{"sku": "TEA-1", "location": "shop-1", "quantity": 2}]},
                {"shipment_id": "b", "location": "default", "shipped_at": "2026-12-02T06:00:00Z",
                 "lines": [{"sku": "MUG-1", "location": "default", "quantity": 2},
                           {"sku": "TEA-1", "location": "default", "quantity": 1}]},
            ]),
            paid: 2400,
            refunded: 0,
            returns: serde_json::json!([]),
        };
        let summary = Summary::from(&order);
        let left: Vec<(&str, i64)> = summary
            .unshipped
            .iter()
            .map(|u| (u.sku.as_str(), u.left))
            .collect();
        assert_eq!(
            left,
            [("TEA-1", 5)],
            "8 ordered in two lines, 3 shipped; the mugs all left"
        );
        assert_eq!(summary.allocated_locations(), ["default", "shop-1"]);
        assert_eq!(
            summary.shipments[1].lines,
            "2 × MUG-1 from default, 1 × TEA-1 from default"
        );
    }
}
