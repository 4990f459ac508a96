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
mod tests {
    use super::*;

    fn sku() -> Sku {
        Sku::parse("MUG-1").unwrap()
    }
    fn qty(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }
    fn order(n: u128) -> OrderId {
        OrderId(uuid::Uuid::from_u128(n))
    }
    fn received(n: i64) -> StockEvent {
        StockEvent::StockReceived {
            sku: sku(),
            quantity: qty(n),
            reference: None,
        }
    }
    fn reserved(o: u128, n: i64) -> StockEvent {
        StockEvent::StockReserved {
            sku: sku(),
            order_id: order(o),
            quantity: qty(n),
        }
    }
    fn given(events: &[StockEvent]) -> StockItem {
        StockItem::from_history(events)
    }
    fn reserve(o: u128, n: i64) -> StockCommand {
        StockCommand::Reserve {
            sku: sku(),
            order_id: order(o),
            quantity: qty(n),
        }
    }

    #[test]
    fn given_ten_on_hand_when_reserving_four_then_reserved_and_six_available() {
        let state = given(&[received(10)]);
        let events = state.decide(reserve(1, 4)).unwrap();
        assert_eq!(events, vec![reserved(1, 4)]);
        let after = events.iter().fold(state, |s, e| s.evolve(e));
        assert_eq!(
            (after.on_hand(), after.reserved(), after.available()),
            (10, 4, 6)
        );
    }

    #[test]
    fn given_three_available_when_reserving_four_then_insufficient_stock() {
        let err = given(&[received(5), reserved(1, 2)])
            .decide(reserve(2, 4))
            .unwrap_err();
        assert_eq!(
            err,
            DomainError::InsufficientStock {
                sku: sku(),
                requested: 4,
                available: 3
            }
        );
    }

    #[test]
    fn given_a_reservation_when_the_same_order_reserves_again_then_nothing_happens() {
        let events = given(&[received(5), reserved(1, 2)])
            .decide(reserve(1, 2))
            .unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn given_a_released_reservation_when_the_order_reserves_again_then_forbidden() {
        let released = StockEvent::StockReleased {
            sku: sku(),
            order_id: order(1),
            quantity: qty(2),
            reason: "cancelled".into(),
        };
        let err = given(&[received(5), reserved(1, 2), released])
            .decide(reserve(1, 2))
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden { .. }));
    }

    #[test]
    fn given_a_reservation_when_releasing_then_released_and_units_free_again() {
        let state = given(&[received(5), reserved(1, 2)]);
        let events = state
            .decide(StockCommand::Release {
                sku: sku(),
                order_id: order(1),
                reason: "cancelled".into(),
            })
            .unwrap();
        assert_eq!(events.len(), 1);
        let after = events.iter().fold(state, |s, e| s.evolve(e));
        assert_eq!(after.available(), 5);
    }

    #[test]
    fn given_no_reservation_when_releasing_or_committing_then_nothing_happens() {
        let state = given(&[received(5)]);
        let release = StockCommand::Release {
            sku: sku(),
            order_id: order(9),
            reason: "cancelled".into(),
        };
        let commit = StockCommand::Commit {
            sku: sku(),
            order_id: order(9),
        };
        assert!(state.decide(release).unwrap().is_empty());
        assert!(state.decide(commit).unwrap().is_empty());
    }

    #[test]
    fn given_a_reservation_when_committing_then_on_hand_and_reserved_both_drop() {
        let state = given(&[received(5), reserved(1, 2)]);
        let events = state
            .decide(StockCommand::Commit {
                sku: sku(),
                order_id: order(1),
            })
            .unwrap();
        let after = events.iter().fold(state, |s, e| s.evolve(e));
        assert_eq!(
            (after.on_hand(), after.reserved(), after.available()),
            (3, 0, 3)
        );
    }

    #[test]
    fn given_reserved_units_when_adjusting_below_them_then_insufficient_stock() {
        let err = given(&[received(5), reserved(1, 4)])
            .decide(StockCommand::Adjust {
                sku: sku(),
                delta: -2,
                reason: "broken".into(),
            })
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::InsufficientStock { available: 1, .. }
        ));
    }

    #[test]
    fn given_stock_when_adjusting_by_zero_or_without_reason_then_invalid() {
        let state = given(&[received(5)]);
        let zero = StockCommand::Adjust {
            sku: sku(),
            delta: 0,
            reason: "count".into(),
        };
        let blank = StockCommand::Adjust {
            sku: sku(),
            delta: 1,
            reason: " ".into(),
        };
        assert!(
            matches!(state.decide(zero), Err(DomainError::InvalidField { field, .. }) if field == "delta")
        );
        assert!(
            matches!(state.decide(blank), Err(DomainError::InvalidField { field, .. }) if field == "reason")
        );
    }

    #[test]
    fn given_stock_when_adjusting_up_then_on_hand_grows() {
        let state = given(&[received(5)]);
        let events = state
            .decide(StockCommand::Adjust {
                sku: sku(),
                delta: 3,
                reason: "found in count".into(),
            })
            .unwrap();
        let after = events.iter().fold(state, |s, e| s.evolve(e));
        assert_eq!(after.on_hand(), 8);
    }
}
