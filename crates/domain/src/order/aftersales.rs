//! An order's life after shipment: returns of shipped units, their receipts
//! with a disposition per unit, and refunds of what was paid.
//!
//! Returns and refunds live on the order's own stream (`order-{uuid}`), not
//! on streams of their own: every rule here is a rule about one order (a
//! return may take back only what that order shipped less what its earlier
//! returns asked for; a refund may give back only what that order was paid
//! less its earlier refunds), so one stream decides each of them with the
//! stream's own optimistic concurrency and no cross-stream coordination, and
//! `stockroom.orders` consumers see an order's whole life in order. A
//! return is found by its id through an index on the log (see
//! `store::returns`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{OrderEvent, PlacedOrder};
use crate::{Currency, DomainError, LocationCode, Money, Quantity, Sku};

/// Longest reason, in characters, a return line or refund may give.
pub const MAX_REASON: usize = 500;

/// The reason rule as a JSON Schema pattern: something besides spaces,
/// tabs and line breaks, and no NUL (exactly what [`check_reason`] checks).
pub const REASON_PATTERN: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\r ][^\\u0000]*$";

/// Units of one SKU a customer sends back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReturnLine {
    /// A SKU the order shipped.
    pub sku: Sku,
    /// Units to return.
    pub quantity: Quantity,
    /// Why, for people.
    pub reason: String,
}

/// What becomes of a returned unit when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Back on the shelf: on-hand grows at the receiving location.
    Restock,
    /// Arrived unsellable: recorded, never added to on-hand.
    Damaged,
    /// Expected but not in the parcel: recorded as received missing.
    Missing,
}

impl Disposition {
    /// Every disposition as the API spells it.
    pub const NAMES: [&'static str; 3] = ["restock", "damaged", "missing"];
}

/// Units of one SKU a receipt recorded, with what became of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceivedLine {
    /// A SKU of the return.
    pub sku: Sku,
    /// Units.
    pub quantity: Quantity,
    /// What became of them.
    pub disposition: Disposition,
}

/// Where a return is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// Asked for; nothing received yet.
    Requested,
    /// Some units received, some still expected.
    PartiallyReceived,
    /// Every requested unit received.
    Received,
}

impl ReturnStatus {
    /// The status as the API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::PartiallyReceived => "partially_received",
            Self::Received => "received",
        }
    }
}

/// One return of an order: units requested and received per SKU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnState {
    /// Units requested per SKU.
    pub requested: BTreeMap<Sku, i64>,
    /// Units received per SKU, whatever their disposition.
    pub received: BTreeMap<Sku, i64>,
}

impl ReturnState {
    /// Where the return is.
    pub fn status(&self) -> ReturnStatus {
        let received: i64 = self.received.values().sum();
        let requested: i64 = self.requested.values().sum();
        match received {
            0 => ReturnStatus::Requested,
            r if r < requested => ReturnStatus::PartiallyReceived,
            _ => ReturnStatus::Received,
        }
    }
}

/// An order's payments, refunds and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfterSales {
    /// Minor units paid.
    pub paid: i64,
    /// Minor units refunded so far.
    pub refunded: i64,
    /// Every return, by id.
    pub returns: BTreeMap<Uuid, ReturnState>,
}

impl AfterSales {
    /// Units of `sku` every return so far has requested.
    pub fn requested(&self, sku: &Sku) -> i64 {
        self.returns
            .values()
            .filter_map(|r| r.requested.get(sku))
            .sum()
    }

    /// Folds an after-sales event in; others change nothing here.
    pub(super) fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPaid { amount, .. } => self.paid += amount,
            OrderEvent::OrderRefunded { amount, .. } => self.refunded += amount,
            OrderEvent::ReturnRequested {
                return_id, lines, ..
            } => {
                let state = self.returns.entry(*return_id).or_default();
                for line in lines {
                    *state.requested.entry(line.sku.clone()).or_default() += line.quantity.get();
                }
            }
            OrderEvent::ReturnReceived {
                return_id, lines, ..
            } => {
                let state = self.returns.entry(*return_id).or_default();
                for line in lines {
                    *state.received.entry(line.sku.clone()).or_default() += line.quantity.get();
                }
            }
            _ => {}
        }
    }
}

/// A reason is 1 to [`MAX_REASON`] characters, not only blanks, no NUL.
fn check_reason(field: &str, reason: &str) -> Result<(), DomainError> {
    let blank = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    if reason.chars().count() > MAX_REASON || reason.chars().all(blank) || reason.contains('\0') {
        return Err(DomainError::invalid(
            field,
            format!("must be 1 to {MAX_REASON} characters, not only blanks"),
        ));
    }
    Ok(())
}

/// Units of each SKU in `lines`, summed (a SKU may appear twice).
fn units<'a>(lines: impl Iterator<Item = (&'a Sku, Quantity)>) -> BTreeMap<Sku, i64> {
    let mut sum = BTreeMap::new();
    for (sku, quantity) in lines {
        *sum.entry(sku.clone()).or_default() += quantity.get();
    }
    sum
}

/// Units shipped per SKU, over every location.
fn shipped(order: &PlacedOrder) -> BTreeMap<Sku, i64> {
    let mut sum = BTreeMap::new();
    for ((sku, _), units) in &order.shipped {
        *sum.entry(sku.clone()).or_default() += units;
    }
    sum
}

/// Requests a return of shipped units: per SKU, no more than shipped less
/// what earlier returns requested.
pub(super) fn request_return(
    order: &PlacedOrder,
    return_id: Uuid,
    lines: Vec<ReturnLine>,
) -> Result<Vec<OrderEvent>, DomainError> {
    if lines.is_empty() {
        return Err(DomainError::invalid("lines", "must name at least one line"));
    }
    if order.after_sales.returns.contains_key(&return_id) {
        return Err(DomainError::AlreadyExists {
            what: format!("return {return_id}"),
        });
    }
    for (i, line) in lines.iter().enumerate() {
        check_reason(&format!("lines[{i}].reason"), &line.reason)?;
    }
    let shipped = shipped(order);
    for (sku, wanted) in units(lines.iter().map(|l| (&l.sku, l.quantity))) {
        let left = shipped.get(&sku).copied().unwrap_or(0) - order.after_sales.requested(&sku);
        if wanted > left {
            return Err(DomainError::Forbidden {
                action: "request the return",
                why: format!(
                    "{left} shipped units of {sku} of order {} are not yet in a return, not {wanted}",
                    order.order_id
                ),
            });
        }
    }
    Ok(vec![OrderEvent::ReturnRequested {
        order_id: order.order_id,
        return_id,
        lines,
    }])
}

/// Records units of a return that arrived at `location`: per SKU, no more
/// than the return requested less what earlier receipts recorded.
pub(super) fn receive_return(
    order: &PlacedOrder,
    receipt: Receipt,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Receipt {
        return_id,
        receipt_id,
        location,
        lines,
    } = receipt;
    let Some(state) = order.after_sales.returns.get(&return_id) else {
        return Err(DomainError::NotFound {
            what: format!("return {return_id}"),
        });
    };
    if lines.is_empty() {
        return Err(DomainError::invalid("lines", "must name at least one line"));
    }
    for (sku, arriving) in units(lines.iter().map(|l| (&l.sku, l.quantity))) {
        let Some(requested) = state.requested.get(&sku) else {
            let i = lines.iter().position(|l| l.sku == sku).unwrap_or(0);
            return Err(DomainError::invalid(
                format!("lines[{i}].sku"),
                format!("return {return_id} has no units of {sku}"),
            ));
        };
        let left = requested - state.received.get(&sku).copied().unwrap_or(0);
        if arriving > left {
            return Err(DomainError::Forbidden {
                action: "record the return receipt",
                why: format!(
                    "{left} units of {sku} of return {return_id} are still expected, not {arriving}"
                ),
            });
        }
    }
    Ok(vec![OrderEvent::ReturnReceived {
        order_id: order.order_id,
        return_id,
        receipt_id,
        location,
        lines,
    }])
}

/// A receipt of returned units, as the command carries it.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The return.
    pub return_id: Uuid,
    /// The new receipt's id.
    pub receipt_id: Uuid,
    /// Where the units arrived (restocked units go on hand there).
    pub location: LocationCode,
    /// What arrived.
    pub lines: Vec<ReceivedLine>,
}

/// A refund, as the command carries it.
#[derive(Debug, Clone)]
pub struct Refund {
    /// The new refund's id.
    pub refund_id: Uuid,
    /// How much, in the order's currency.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// The return it pays back, if any (one of this order's).
    pub return_id: Option<Uuid>,
}

/// Refunds up to what was paid less what was refunded, in the order's
/// currency.
pub(super) fn refund(order: &PlacedOrder, refund: Refund) -> Result<Vec<OrderEvent>, DomainError> {
    let currency: Currency = order.total.currency();
    if refund.amount.currency() != currency {
        return Err(DomainError::invalid(
            "currency",
            format!("the order is in {currency}"),
        ));
    }
    if refund.amount.minor() == 0 {
        return Err(DomainError::invalid("amount", "must be at least 1"));
    }
    check_reason("reason", &refund.reason)?;
    if let Some(id) = refund.return_id {
        if !order.after_sales.returns.contains_key(&id) {
            return Err(DomainError::invalid(
                "return_id",
                format!("order {} has no return {id}", order.order_id),
            ));
        }
    }
    let refundable = order.after_sales.paid - order.after_sales.refunded;
    if refund.amount.minor() > refundable {
        return Err(DomainError::Forbidden {
            action: "refund the order",
            why: format!(
                "{refundable} of the {} paid for order {} is left to refund, not {}",
                order.after_sales.paid,
                order.order_id,
                refund.amount.minor()
            ),
        });
    }
    Ok(vec![OrderEvent::OrderRefunded {
        order_id: order.order_id,
        refund_id: refund.refund_id,
        amount: refund.amount.minor(),
        currency,
        reason: refund.reason,
        return_id: refund.return_id,
    }])
}

#[cfg(test)]
mod tests;
