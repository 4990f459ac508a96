//! One customer order and its lifecycle:
//! placed → confirmed | rejected; confirmed → paid → (partially shipped →)
//! shipped; placed | confirmed | paid | partially shipped → cancelled;
//! confirmed → expired.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

pub use self::aftersales::{
    AfterSales, Disposition, Receipt, ReceivedLine, Refund, ReturnLine, ReturnState, ReturnStatus,
    MAX_REASON, REASON_PATTERN,
};
use crate::allocation::{Allocation, Demand};
use crate::{
    Aggregate, Currency, CustomerId, DomainError, LocationCode, Money, OrderId, Quantity, Sku,
    StreamCategory,
};

/// One line of a placed order, priced from the catalogue at placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// The SKU ordered.
    pub sku: Sku,
    /// Units ordered.
    pub quantity: Quantity,
    /// Catalogue price per unit when the order was placed, minor units.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub line_total: i64,
    /// The only location this line may ship from, if the shopper chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationCode>,
}

/// Units of one SKU that left one location in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShippedLine {
    /// The SKU.
    pub sku: Sku,
    /// Where from.
    pub location: LocationCode,
    /// Units.
    pub quantity: Quantity,
}

/// Events of the `order-{uuid}` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "data")]
pub enum OrderEvent {
    /// A customer placed an order; stock is not yet reserved.
    OrderPlaced {
        /// The order.
        order_id: OrderId,
        /// Who placed it.
        customer_id: CustomerId,
        /// What was ordered, at catalogue prices.
        lines: Vec<OrderLine>,
        /// Sum of line totals, minor units.
        total: i64,
        /// Currency of every amount in the order.
        currency: Currency,
        /// The sales channel it was placed through (storefront keys); absent
        /// for orders placed otherwise, and in events from before channels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
        /// Every line from this location, never split (a pickup order).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pickup_location: Option<LocationCode>,
    },
    /// Every line is reserved; the order awaits payment.
    OrderConfirmed {
        /// The order.
        order_id: OrderId,
        /// Where each SKU's units are reserved; absent in events from before
        /// locations (everything at `default`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        allocations: Vec<Allocation>,
    },
    /// A line could not be reserved; nothing stays reserved.
    OrderRejected {
        /// The order.
        order_id: OrderId,
        /// The first SKU that could not be reserved.
        sku: Sku,
        /// Why, for people.
        reason: String,
    },
    /// The customer paid the full total.
    OrderPaid {
        /// The order.
        order_id: OrderId,
        /// Amount paid, minor units; equals the total.
        amount: i64,
        /// Currency paid.
        currency: Currency,
        /// Payment provider's reference.
        reference: Option<String>,
    },
    /// Units left a location (all of them, or some: a partial shipment);
    /// their reserved stock is committed.
    OrderShipped {
        /// The order.
        order_id: OrderId,
        /// Carrier name.
        carrier: Option<String>,
        /// Carrier's tracking number.
        tracking_number: Option<String>,
        /// The shipment; absent in events from before shipments had ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment_id: Option<Uuid>,
        /// Where it left from, when every line left from one place.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<LocationCode>,
        /// What it took; absent in events from before partial shipments
        /// (the whole order).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lines: Vec<ShippedLine>,
        /// Whether nothing is left to ship after it (`shipped`), or some is
        /// (`partially_shipped`); events from before partial shipments
        /// shipped everything.
        #[serde(default = "everything")]
        complete: bool,
    },
    /// The order was cancelled; reserved stock is released.
    OrderCancelled {
        /// The order.
        order_id: OrderId,
        /// Why.
        reason: String,
        /// The status it was cancelled from.
        previous_status: OrderStatus,
    },
    /// Confirmed but unpaid for too long; reserved stock is released.
    OrderExpired {
        /// The order.
        order_id: OrderId,
    },
    /// The customer asked to send shipped units back.
    ReturnRequested {
        /// The order.
        order_id: OrderId,
        /// The new return.
        return_id: Uuid,
        /// What comes back, and why.
        lines: Vec<ReturnLine>,
    },
    /// Units of a return arrived at a location; `restock` units are on hand
    /// there from now on (the same transaction appends a `StockReceived`
    /// with the reference `return:{return_id}` for them).
    ReturnReceived {
        /// The order.
        order_id: OrderId,
        /// The return.
        return_id: Uuid,
        /// This receipt.
        receipt_id: Uuid,
        /// Where they arrived.
        location: LocationCode,
        /// What arrived and what became of it.
        lines: Vec<ReceivedLine>,
    },
    /// Money was given back: never more than paid less refunded.
    OrderRefunded {
        /// The order.
        order_id: OrderId,
        /// This refund.
        refund_id: Uuid,
        /// Minor units refunded.
        amount: i64,
        /// The order's currency.
        currency: Currency,
        /// Why.
        reason: String,
        /// The return it pays back, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        return_id: Option<Uuid>,
    },
}

impl OrderEvent {
    /// The order the event is about.
    pub fn order_id(&self) -> OrderId {
        match self {
            Self::OrderPlaced { order_id, .. }
            | Self::OrderConfirmed { order_id, .. }
            | Self::OrderRejected { order_id, .. }
            | Self::OrderPaid { order_id, .. }
            | Self::OrderShipped { order_id, .. }
            | Self::OrderCancelled { order_id, .. }
            | Self::OrderExpired { order_id }
            | Self::ReturnRequested { order_id, .. }
            | Self::ReturnReceived { order_id, .. }
            | Self::OrderRefunded { order_id, .. } => *order_id,
        }
    }
}

fn everything() -> bool {
    true
}

/// Where an order is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted, waiting for stock reservation.
    Placed,
    /// Stock reserved, waiting for payment.
    Confirmed,
    /// Stock could not be reserved.
    Rejected,
    /// Paid, waiting for shipment.
    Paid,
    /// Some units shipped, some still to ship.
    PartiallyShipped,
    /// Shipped.
    Shipped,
    /// Cancelled by request.
    Cancelled,
    /// Unpaid past the payment deadline.
    Expired,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 8] = [
        Self::Placed,
        Self::Confirmed,
        Self::Rejected,
        Self::Paid,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Cancelled,
        Self::Expired,
    ];

    /// Every status as the API spells it, in lifecycle order.
    pub const NAMES: [&'static str; 8] = {
        let mut names = [""; 8];
        let mut i = 0;
        while i < names.len() {
            names[i] = Self::ALL[i].as_str();
            i += 1;
        }
        names
    };

    /// The status as the API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Paid => "paid",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// Parses the API spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line as the command carries it: SKU, units and the catalogue price now.
#[derive(Debug, Clone)]
pub struct PricedLine {
    /// The SKU.
    pub sku: Sku,
    /// Units.
    pub quantity: Quantity,
    /// Catalogue price per unit at placement.
    pub unit_price: Money,
    /// The only location it may ship from, if any.
    pub location: Option<LocationCode>,
}

/// Commands on an order.
#[derive(Debug, Clone)]
pub enum OrderCommand {
    /// Open a new order.
    Place {
        /// The new order's id.
        order_id: OrderId,
        /// Who orders.
        customer_id: CustomerId,
        /// At least one line.
        lines: Vec<PricedLine>,
        /// The sales channel it is placed through, if any.
        channel: Option<String>,
        /// Every line from here, never split.
        pickup_location: Option<LocationCode>,
    },
    /// Every line is reserved, where allocation decided.
    Confirm {
        /// Where each SKU's units are reserved.
        allocations: Vec<Allocation>,
    },
    /// A line could not be reserved.
    Reject {
        /// The SKU that failed.
        sku: Sku,
        /// Why.
        reason: String,
    },
    /// Record the payment of the total.
    Pay {
        /// What was paid.
        amount: Money,
        /// Payment reference.
        reference: Option<String>,
    },
    /// Record a shipment of some or all of what is not yet shipped.
    Ship {
        /// The new shipment's id.
        shipment_id: Uuid,
        /// Ship only from here; `None`: from wherever the units are.
        location: Option<LocationCode>,
        /// Units per SKU; `None`: everything not yet shipped (there).
        lines: Option<Vec<(Sku, Quantity)>>,
        /// Carrier.
        carrier: Option<String>,
        /// Tracking number.
        tracking_number: Option<String>,
    },
    /// Cancel before shipment.
    Cancel {
        /// Why.
        reason: String,
    },
    /// Expire an unpaid confirmed order.
    Expire,
    /// Ask to return shipped units.
    RequestReturn {
        /// The new return's id.
        return_id: Uuid,
        /// What comes back.
        lines: Vec<ReturnLine>,
    },
    /// Record units of a return that arrived.
    ReceiveReturn(Receipt),
    /// Give money back.
    Refund(Refund),
}

/// An order's state; `None` inside until placed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Order(Option<PlacedOrder>);

/// The state of an order that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// The order.
    pub order_id: OrderId,
    /// Who placed it.
    pub customer_id: CustomerId,
    /// The lines.
    pub lines: Vec<OrderLine>,
    /// The total due.
    pub total: Money,
    /// Where it is now.
    pub status: OrderStatus,
    /// The sales channel it was placed through, if any.
    pub channel: Option<String>,
    /// Every line from here, never split, if a pickup order.
    pub pickup_location: Option<LocationCode>,
    /// Where its units are reserved, once confirmed.
    pub allocations: Vec<Allocation>,
    /// Units shipped so far, per SKU and location.
    pub shipped: BTreeMap<(Sku, LocationCode), i64>,
    /// Payments, refunds and returns.
    pub after_sales: AfterSales,
}

/// An order's units per SKU exceed what one reservation may hold (only
/// possible for orders placed before placement refused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitsOverflow {
    /// The SKU.
    pub sku: Sku,
    /// Units its lines add up to.
    pub units: i64,
}

impl PlacedOrder {
    /// Units per SKU across the lines (an order may name a SKU twice). Every
    /// SKU's units either fit one [`Quantity`] or this fails naming it: an
    /// order can never be reserved short.
    pub fn units_by_sku(&self) -> Result<Vec<(Sku, Quantity)>, UnitsOverflow> {
        sum_by_sku(self.lines.iter().map(|l| (&l.sku, l.quantity)))
            .into_iter()
            .map(|(sku, units)| match Quantity::new(units) {
                Ok(q) => Ok((sku, q)),
                Err(_) => Err(UnitsOverflow { sku, units }),
            })
            .collect()
    }

    /// The lines as allocation reads them.
    pub fn demands(&self) -> Vec<Demand> {
        self.lines
            .iter()
            .map(|l| Demand {
                sku: l.sku.clone(),
                quantity: l.quantity,
                pin: l.location.clone(),
            })
            .collect()
    }

    /// Units reserved per SKU and location: the recorded allocations, or for
    /// an order confirmed before locations every unit at `default`.
    pub fn allocated(&self) -> BTreeMap<(Sku, LocationCode), i64> {
        let mut units = BTreeMap::new();
        if self.allocations.is_empty() {
            for (sku, total) in sum_by_sku(self.lines.iter().map(|l| (&l.sku, l.quantity))) {
                units.insert((sku, LocationCode::default_location()), total);
            }
        } else {
            for a in &self.allocations {
                *units
                    .entry((a.sku.clone(), a.location.clone()))
                    .or_default() += a.quantity.get();
            }
        }
        units
    }

    /// Units reserved and not yet shipped, per SKU and location.
    pub fn unshipped(&self) -> BTreeMap<(Sku, LocationCode), i64> {
        let mut left = self.allocated();
        for (key, shipped) in &self.shipped {
            if let Some(units) = left.get_mut(key) {
                *units -= shipped;
            }
        }
        left.retain(|_, units| *units > 0);
        left
    }

    /// The distinct SKUs of the lines, in SKU order.
    pub fn skus(&self) -> Vec<Sku> {
        sum_by_sku(self.lines.iter().map(|l| (&l.sku, l.quantity)))
            .into_iter()
            .map(|(sku, _)| sku)
            .collect()
    }
}

fn sum_by_sku<'a>(lines: impl Iterator<Item = (&'a Sku, Quantity)>) -> Vec<(Sku, i64)> {
    let mut units: std::collections::BTreeMap<Sku, i64> = Default::default();
    for (sku, quantity) in lines {
        *units.entry(sku.clone()).or_default() += quantity.get();
    }
    units.into_iter().collect()
}

/// Refuses lines whose units of one SKU add up to more than one reservation
/// may hold, naming every line of that SKU.
fn check_units_per_sku(lines: &[PricedLine]) -> Result<(), DomainError> {
    for (sku, units) in sum_by_sku(lines.iter().map(|l| (&l.sku, l.quantity))) {
        if units > i64::from(Quantity::MAX) {
            let named: Vec<String> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.sku == sku)
                .map(|(i, _)| format!("lines[{i}]"))
                .collect();
            return Err(DomainError::invalid(
                named.join(", "),
                format!(
                    "the lines for {sku} add up to {units} units; one SKU may be ordered at most {} units",
                    Quantity::MAX
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a line pinned to a location other than the order's pickup
/// location.
fn check_pins(lines: &[PricedLine], pickup: Option<&LocationCode>) -> Result<(), DomainError> {
    let Some(pickup) = pickup else { return Ok(()) };
    for (i, line) in lines.iter().enumerate() {
        if line.location.as_ref().is_some_and(|l| l != pickup) {
            return Err(DomainError::invalid(
                format!("lines[{i}].location"),
                format!(
                    "a pickup order ships every line from {pickup}; leave it out or name {pickup}"
                ),
            ));
        }
    }
    Ok(())
}

/// Which units a shipment takes: `lines` (or everything unshipped) from the
/// unshipped units, at `location` only if given, nearest location code
/// first.
fn pick_shipment(
    order: &PlacedOrder,
    location: Option<&LocationCode>,
    lines: Option<Vec<(Sku, Quantity)>>,
) -> Result<Vec<ShippedLine>, DomainError> {
    let unshipped: Vec<((Sku, LocationCode), i64)> = order
        .unshipped()
        .into_iter()
        .filter(|((_, at), _)| location.is_none_or(|l| l == at))
        .collect();
    let wanted: Vec<(Sku, i64)> = match lines {
        None => sum_by_sku(
            unshipped
                .iter()
                .filter_map(|((sku, _), units)| Quantity::new(*units).ok().map(|q| (sku, q))),
        ),
        Some(lines) => sum_by_sku(lines.iter().map(|(sku, q)| (sku, *q))),
    };
    let where_ = location.map_or(String::new(), |l| format!(" at {l}"));
    if wanted.is_empty() {
        return Err(DomainError::Forbidden {
            action: "ship the order",
            why: format!(
                "nothing of order {} is left to ship{where_}",
                order.order_id
            ),
        });
    }
    let mut picked = Vec::new();
    for (sku, mut units) in wanted {
        let have: i64 = unshipped
            .iter()
            .filter(|((s, _), _)| *s == sku)
            .map(|(_, u)| u)
            .sum();
        if have < units {
            return Err(DomainError::Forbidden {
                action: "ship the order",
                why: format!("{have} units of {sku} are left to ship{where_}, not {units}"),
            });
        }
        for ((_, at), left) in unshipped.iter().filter(|((s, _), _)| *s == sku) {
            let take = units.min(*left);
            if let Ok(quantity) = Quantity::new(take) {
                picked.push(ShippedLine {
                    sku: sku.clone(),
                    location: at.clone(),
                    quantity,
                });
                units -= take;
            }
        }
    }
    Ok(picked)
}

impl Order {
    /// The order, if it has been placed.
    pub fn placed(&self) -> Option<&PlacedOrder> {
        self.0.as_ref()
    }

    fn require(&self) -> Result<&PlacedOrder, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::NotFound {
            what: "order".to_owned(),
        })
    }

    fn forbidden(action: &'static str, order: &PlacedOrder) -> DomainError {
        DomainError::Forbidden {
            action,
            why: format!("order {} is {}", order.order_id, order.status),
        }
    }
}

/// Totals the lines, refusing mixed currencies.
fn price_lines(lines: &[PricedLine]) -> Result<(Vec<OrderLine>, Money), DomainError> {
    let first = lines
        .first()
        .ok_or_else(|| DomainError::invalid("lines", "must name at least one line"))?;
    let mut total = Money::zero(first.unit_price.currency());
    let mut priced = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let line_total = line
            .unit_price
            .times(line.quantity)
            .and_then(|t| total.plus(t).map(|sum| (t, sum)))
            .map_err(|e| DomainError::from_value(format!("lines[{i}]"), e))?;
        total = line_total.1;
        priced.push(OrderLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price.minor(),
            line_total: line_total.0.minor(),
            location: line.location.clone(),
        });
    }
    Ok((priced, total))
}

/// Refuses allocations that do not add up to the order's units per SKU, so
/// a confirmed order is always reserved whole.
fn check_allocations(order: &PlacedOrder, allocations: &[Allocation]) -> Result<(), DomainError> {
    let wanted = sum_by_sku(order.lines.iter().map(|l| (&l.sku, l.quantity)));
    let given = sum_by_sku(allocations.iter().map(|a| (&a.sku, a.quantity)));
    if !allocations.is_empty() && wanted != given {
        return Err(DomainError::invalid(
            "allocations",
            "must give every SKU of the order exactly its units",
        ));
    }
    Ok(())
}

impl Aggregate for Order {
    type Command = OrderCommand;
    type Event = OrderEvent;
    const CATEGORY: StreamCategory = StreamCategory::Order;

    fn decide(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, DomainError> {
        use OrderStatus::*;
        if let OrderCommand::Place {
            order_id,
            customer_id,
            lines,
            channel,
            pickup_location,
        } = command
        {
            if self.0.is_some() {
                return Err(DomainError::AlreadyExists {
                    what: format!("order {order_id}"),
                });
            }
            check_units_per_sku(&lines)?;
            check_pins(&lines, pickup_location.as_ref())?;
            let (lines, total) = price_lines(&lines)?;
            return Ok(vec![OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
                total: total.minor(),
                currency: total.currency(),
                channel,
                pickup_location,
            }]);
        }
        let order = self.require()?;
        let order_id = order.order_id;
        match (command, order.status) {
            (OrderCommand::Place { .. }, _) => unreachable!("handled above"),
            // Whatever the status: only shipped units and paid money count.
            (OrderCommand::RequestReturn { return_id, lines }, _) => {
                aftersales::request_return(order, return_id, lines)
            }
            (OrderCommand::ReceiveReturn(receipt), _) => aftersales::receive_return(order, receipt),
            (OrderCommand::Refund(refund), _) => aftersales::refund(order, refund),
            (OrderCommand::Confirm { allocations }, Placed) => {
                check_allocations(order, &allocations)?;
                Ok(vec![OrderEvent::OrderConfirmed {
                    order_id,
                    allocations,
                }])
            }
            (OrderCommand::Confirm { .. }, Confirmed) => Ok(vec![]),
            (OrderCommand::Confirm { .. }, _) => Err(Self::forbidden("confirm the order", order)),
            (OrderCommand::Reject { sku, reason }, Placed) => Ok(vec![OrderEvent::OrderRejected {
                order_id,
                sku,
                reason,
            }]),
            (OrderCommand::Reject { .. }, Rejected) => Ok(vec![]),
            (OrderCommand::Reject { .. }, _) => Err(Self::forbidden("reject the order", order)),
            (OrderCommand::Pay { amount, reference }, Confirmed) => {
                if amount.currency() != order.total.currency() {
                    return Err(DomainError::invalid(
                        "currency",
                        format!("the order is in {}", order.total.currency()),
                    ));
                }
                if amount != order.total {
                    return Err(DomainError::invalid(
                        "amount",
                        format!("must equal the order total of {}", order.total.minor()),
                    ));
                }
                Ok(vec![OrderEvent::OrderPaid {
                    order_id,
                    amount: amount.minor(),
                    currency: amount.currency(),
                    reference,
                }])
            }
            (OrderCommand::Pay { .. }, _) => Err(Self::forbidden("pay the order", order)),
            (
                OrderCommand::Ship {
                    shipment_id,
                    location,
                    lines,
                    carrier,
                    tracking_number,
                },
                Paid | PartiallyShipped,
            ) => {
                let lines = pick_shipment(order, location.as_ref(), lines)?;
                let shipping: i64 = lines.iter().map(|l| l.quantity.get()).sum();
                let left: i64 = order.unshipped().values().sum();
                let first = &lines[0].location;
                let location = lines
                    .iter()
                    .all(|l| &l.location == first)
                    .then(|| first.clone());
                Ok(vec![OrderEvent::OrderShipped {
                    order_id,
                    carrier,
                    tracking_number,
                    shipment_id: Some(shipment_id),
                    location,
                    lines,
                    complete: shipping == left,
                }])
            }
            (OrderCommand::Ship { .. }, _) => Err(Self::forbidden("ship the order", order)),
            (
                OrderCommand::Cancel { reason },
                status @ (Placed | Confirmed | Paid | PartiallyShipped),
            ) => {
                if reason.trim().is_empty() || reason.chars().count() > 500 {
                    return Err(DomainError::invalid(
                        "reason",
                        "must be 1 to 500 characters",
                    ));
                }
                Ok(vec![OrderEvent::OrderCancelled {
                    order_id,
                    reason,
                    previous_status: status,
                }])
            }
            (OrderCommand::Cancel { .. }, _) => Err(Self::forbidden("cancel the order", order)),
            (OrderCommand::Expire, Confirmed) => Ok(vec![OrderEvent::OrderExpired { order_id }]),
            // A deadline that fires after payment or cancellation has nothing to do.
            (OrderCommand::Expire, _) => Ok(vec![]),
        }
    }

    fn evolve(self, event: &OrderEvent) -> Self {
        let status = match event {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
                total,
                currency,
                channel,
                pickup_location,
            } => {
                return Self(Some(PlacedOrder {
                    order_id: *order_id,
                    customer_id: customer_id.clone(),
                    lines: lines.clone(),
                    total: Money::new(*total, *currency).unwrap_or(Money::zero(*currency)),
                    status: OrderStatus::Placed,
                    channel: channel.clone(),
                    pickup_location: pickup_location.clone(),
                    allocations: Vec::new(),
                    shipped: BTreeMap::new(),
                    after_sales: AfterSales::default(),
                }))
            }
            OrderEvent::ReturnRequested { .. }
            | OrderEvent::ReturnReceived { .. }
            | OrderEvent::OrderRefunded { .. } => {
                return Self(self.0.map(|mut o| {
                    o.after_sales.apply(event);
                    o
                }))
            }
            OrderEvent::OrderConfirmed { allocations, .. } => {
                return Self(self.0.map(|o| PlacedOrder {
                    status: OrderStatus::Confirmed,
                    allocations: allocations.clone(),
                    ..o
                }))
            }
            OrderEvent::OrderShipped { lines, .. } => {
                return Self(self.0.map(|mut o| {
                    if lines.is_empty() {
                        o.shipped = o.allocated();
                    }
                    for line in lines {
                        *o.shipped
                            .entry((line.sku.clone(), line.location.clone()))
                            .or_default() += line.quantity.get();
                    }
                    o.status = if o.unshipped().is_empty() {
                        OrderStatus::Shipped
                    } else {
                        OrderStatus::PartiallyShipped
                    };
                    o
                }))
            }
            OrderEvent::OrderRejected { .. } => OrderStatus::Rejected,
            OrderEvent::OrderPaid { .. } => {
                return Self(self.0.map(|mut o| {
                    o.after_sales.apply(event);
                    o.status = OrderStatus::Paid;
                    o
                }))
            }
            OrderEvent::OrderCancelled { .. } => OrderStatus::Cancelled,
            OrderEvent::OrderExpired { .. } => OrderStatus::Expired,
        };
        Self(self.0.map(|o| PlacedOrder { status, ..o }))
    }
}

mod aftersales;
#[cfg(test)]
mod tests;
