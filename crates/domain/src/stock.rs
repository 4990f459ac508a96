//! Units of one SKU: on hand, reserved per order, and the invariant that
//! available = on hand − reserved never drops below zero.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError, OrderId, Quantity, Sku, StreamCategory};

/// Events of the `stock-{sku}` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "data")]
pub enum StockEvent {
    /// Units arrived.
    StockReceived {
        /// The SKU.
        sku: Sku,
        /// Units received.
        quantity: Quantity,
        /// Delivery note or purchase order, if given.
        reference: Option<String>,
    },
    /// A stock count corrected on-hand units.
    StockAdjusted {
        /// The SKU.
        sku: Sku,
        /// Change in on-hand units, positive or negative, never zero.
        delta: i64,
        /// Why (damage, count, theft, …).
        reason: String,
    },
    /// Units were set aside for an order.
    StockReserved {
        /// The SKU.
        sku: Sku,
        /// The order holding the units.
        order_id: OrderId,
        /// Units reserved.
        quantity: Quantity,
    },
    /// An order's reservation was given back.
    StockReleased {
        /// The SKU.
        sku: Sku,
        /// The order that held the units.
        order_id: OrderId,
        /// Units released.
        quantity: Quantity,
        /// Why (cancelled, expired, rejected).
        reason: String,
    },
    /// An order's reserved units left the warehouse.
    StockCommitted {
        /// The SKU.
        sku: Sku,
        /// The shipped order.
        order_id: OrderId,
        /// Units shipped.
        quantity: Quantity,
    },
}

/// Commands on a stock item.
#[derive(Debug, Clone)]
pub enum StockCommand {
    /// Book incoming units.
    Receive {
        /// The SKU.
        sku: Sku,
        /// Units received.
        quantity: Quantity,
        /// Delivery note or purchase order.
        reference: Option<String>,
    },
    /// Correct on-hand units after a count.
    Adjust {
        /// The SKU.
        sku: Sku,
        /// Change in on-hand units.
        delta: i64,
        /// Why.
        reason: String,
    },
    /// Hold units for an order; a no-op if this order already holds them.
    Reserve {
        /// The SKU.
        sku: Sku,
        /// The order.
        order_id: OrderId,
        /// Units wanted.
        quantity: Quantity,
    },
    /// Give an order's units back; a no-op if it holds none.
    Release {
        /// The SKU.
        sku: Sku,
        /// The order.
        order_id: OrderId,
        /// Why.
        reason: String,
    },
    /// Ship an order's reserved units; a no-op if it holds none.
    Commit {
        /// The SKU.
        sku: Sku,
        /// The order.
        order_id: OrderId,
    },
}

/// What one order holds of one SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Units set aside and not yet released or shipped.
    Open(Quantity),
    /// Released or shipped. Reserving for this order again would resurrect
    /// stock its order no longer owns, so the record outlives the units.
    Settled,
}

/// The state of one SKU's stock.
///
/// The totals are kept as running sums rather than recomputed from the holds,
/// so a state that knows only the holds a command is about (see
/// [`StockItem::from_parts`]) decides exactly as the full fold would: the
/// store keeps such a current-state row beside the stream, and a command's
/// cost no longer grows with the SKU's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockItem {
    on_hand: i64,
    reserved: i64,
    holds: BTreeMap<OrderId, Hold>,
}

/// Longest accepted reason or reference text.
const MAX_TEXT_CHARS: usize = 500;

impl StockItem {
    /// Units physically in stock.
    pub fn on_hand(&self) -> i64 {
        self.on_hand
    }

    /// Units held by open orders.
    pub fn reserved(&self) -> i64 {
        self.reserved
    }

    /// Units free to reserve.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// What `order_id` holds here, if anything.
    pub fn reservation(&self, order_id: OrderId) -> Option<Quantity> {
        match self.holds.get(&order_id) {
            Some(Hold::Open(quantity)) => Some(*quantity),
            _ => None,
        }
    }

    /// Whether `order_id` ever held units here, and whether it still does.
    pub fn hold(&self, order_id: OrderId) -> Option<Hold> {
        self.holds.get(&order_id).copied()
    }

    /// The holds this state knows, by order.
    pub fn holds(&self) -> impl Iterator<Item = (OrderId, Hold)> + '_ {
        self.holds.iter().map(|(order, hold)| (*order, *hold))
    }

    /// A state from stored totals and some of the holds: it decides every
    /// command about the orders in `holds` (and every receipt or adjustment)
    /// exactly as the full history would.
    pub fn from_parts(
        on_hand: i64,
        reserved: i64,
        holds: impl IntoIterator<Item = (OrderId, Hold)>,
    ) -> Self {
        Self {
            on_hand,
            reserved,
            holds: holds.into_iter().collect(),
        }
    }

    fn check_text(field: &str, text: &str, required: bool) -> Result<(), DomainError> {
        let chars = text.trim().chars().count();
        if (required && chars == 0) || chars > MAX_TEXT_CHARS {
            let need = if required { "1" } else { "0" };
            return Err(DomainError::invalid(
                field,
                format!("must be {need} to {MAX_TEXT_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

impl Aggregate for StockItem {
    type Command = StockCommand;
    type Event = StockEvent;
    const CATEGORY: StreamCategory = StreamCategory::Stock;

    fn decide(&self, command: StockCommand) -> Result<Vec<StockEvent>, DomainError> {
        match command {
            StockCommand::Receive {
                sku,
                quantity,
                reference,
            } => {
                if let Some(reference) = &reference {
                    Self::check_text("reference", reference, false)?;
                }
                Ok(vec![StockEvent::StockReceived {
                    sku,
                    quantity,
                    reference,
                }])
            }
            StockCommand::Adjust { sku, delta, reason } => {
                if delta == 0 || delta.unsigned_abs() > u64::from(Quantity::MAX) {
                    return Err(DomainError::invalid(
                        "delta",
                        format!("must be non-zero and at most {} either way", Quantity::MAX),
                    ));
                }
                Self::check_text("reason", &reason, true)?;
                if delta < 0 && -delta > self.available() {
                    return Err(DomainError::InsufficientStock {
                        sku,
                        requested: -delta,
                        available: self.available(),
                    });
                }
                Ok(vec![StockEvent::StockAdjusted { sku, delta, reason }])
            }
            StockCommand::Reserve {
                sku,
                order_id,
                quantity,
            } => {
                match self.hold(order_id) {
                    Some(Hold::Open(_)) => return Ok(vec![]),
                    Some(Hold::Settled) => {
                        return Err(DomainError::Forbidden {
                            action: "reserve stock",
                            why: format!(
                                "the reservation of order {order_id} on {sku} was already settled"
                            ),
                        })
                    }
                    None => {}
                }
                if quantity.get() > self.available() {
                    return Err(DomainError::InsufficientStock {
                        sku,
                        requested: quantity.get(),
                        available: self.available(),
                    });
                }
                Ok(vec![StockEvent::StockReserved {
                    sku,
                    order_id,
                    quantity,
                }])
            }
            StockCommand::Release {
                sku,
                order_id,
                reason,
            } => Ok(self
                .reservation(order_id)
                .map(|quantity| StockEvent::StockReleased {
                    sku,
                    order_id,
                    quantity,
                    reason,
                })
                .into_iter()
                .collect()),
            StockCommand::Commit { sku, order_id } => Ok(self
                .reservation(order_id)
                .map(|quantity| StockEvent::StockCommitted {
                    sku,
                    order_id,
                    quantity,
                })
                .into_iter()
                .collect()),
        }
    }

    fn evolve(mut self, event: &StockEvent) -> Self {
        match event {
            StockEvent::StockReceived { quantity, .. } => self.on_hand += quantity.get(),
            StockEvent::StockAdjusted { delta, .. } => self.on_hand += delta,
            StockEvent::StockReserved {
                order_id, quantity, ..
            } => {
                self.reserved += quantity.get();
                self.holds.insert(*order_id, Hold::Open(*quantity));
            }
            StockEvent::StockReleased {
                order_id, quantity, ..
            } => {
                self.reserved -= quantity.get();
                self.holds.insert(*order_id, Hold::Settled);
            }
            StockEvent::StockCommitted {
                order_id, quantity, ..
            } => {
                self.reserved -= quantity.get();
                self.on_hand -= quantity.get();
                self.holds.insert(*order_id, Hold::Settled);
            }
        }
        self
    }
}

impl StockCommand {
    /// The order the command is about, if any.
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::Reserve { order_id, .. }
            | Self::Release { order_id, .. }
            | Self::Commit { order_id, .. } => Some(*order_id),
            Self::Receive { .. } | Self::Adjust { .. } => None,
        }
    }
}

impl StockEvent {
    /// The order the event is about, if any.
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::StockReserved { order_id, .. }
            | Self::StockReleased { order_id, .. }
            | Self::StockCommitted { order_id, .. } => Some(*order_id),
            Self::StockReceived { .. } | Self::StockAdjusted { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
