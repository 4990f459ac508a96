//! Units of one SKU at every location that keeps it: on hand, reserved per
//! order and location, held per cart hold and location, and the invariant
//! that at each location available = on hand − reserved − held never drops
//! below zero.
//!
//! A cart hold past its `expires_at` holds nothing from the shopper's side,
//! though its units stay in `held` until they are released: a decision
//! short at a location first releases the lapsed holds there (the state
//! knows which are lapsed from its loader's clock).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Aggregate, DomainError, LocationCode, OrderId, Quantity, Sku, StreamCategory};

/// Why on-hand units were corrected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// A mistake put right (the default of an adjustment without a code).
    #[default]
    Correction,
    /// A count of the shelf.
    CycleCount,
    /// Broken, spoilt, unsellable.
    Damaged,
    /// Lost or stolen.
    Shrinkage,
    /// Units turned up.
    Found,
    /// Anything else; the free-text reason says what.
    Other,
}

impl ReasonCode {
    /// Every code, as the API spells it.
    pub const NAMES: [&'static str; 6] = [
        "correction",
        "cycle_count",
        "damaged",
        "shrinkage",
        "found",
        "other",
    ];

    /// Parses the API spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "correction" => Self::Correction,
            "cycle_count" => Self::CycleCount,
            "damaged" => Self::Damaged,
            "shrinkage" => Self::Shrinkage,
            "found" => Self::Found,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Correction => "correction",
            Self::CycleCount => "cycle_count",
            Self::Damaged => "damaged",
            Self::Shrinkage => "shrinkage",
            Self::Found => "found",
            Self::Other => "other",
        }
    }
}

/// Events of the `stock-{sku}` stream. An event without `location` (from
/// before locations) is about the location `default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "data")]
pub enum StockEvent {
    /// Units arrived at a location.
    StockReceived {
        /// The SKU.
        sku: Sku,
        /// Units received.
        quantity: Quantity,
        /// Delivery note or purchase order, if given.
        reference: Option<String>,
        /// Where they arrived.
        #[serde(default = "LocationCode::default_location")]
        location: LocationCode,
    },
    /// A correction of on-hand units at a location.
    StockAdjusted {
        /// The SKU.
        sku: Sku,
        /// Change in on-hand units, positive or negative, never zero.
        delta: i64,
        /// Why, in words.
        reason: String,
        /// Why, as a code; absent in events from before codes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason_code: Option<ReasonCode>,
        /// Where.
        #[serde(default = "LocationCode::default_location")]
        location: LocationCode,
    },
    /// Units at a location were set aside for an order.
    StockReserved {
        /// The SKU.
        sku: Sku,
        /// The order holding the units.
        order_id: OrderId,
        /// Units reserved.
        quantity: Quantity,
        /// Where.
        #[serde(default = "LocationCode::default_location")]
        location: LocationCode,
    },
    /// An order's reservation at a location was given back.
    StockReleased {
        /// The SKU.
        sku: Sku,
        /// The order that held the units.
        order_id: OrderId,
        /// Units released.
        quantity: Quantity,
        /// Why (cancelled, expired, rejected).
        reason: String,
        /// Where.
        #[serde(default = "LocationCode::default_location")]
        location: LocationCode,
    },
    /// Reserved units of an order left a location.
    StockCommitted {
        /// The SKU.
        sku: Sku,
        /// The shipped order.
        order_id: OrderId,
        /// Units shipped.
        quantity: Quantity,
        /// Where from.
        #[serde(default = "LocationCode::default_location")]
        location: LocationCode,
        /// The shipment that took them; absent in events from before
        /// shipments had ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment_id: Option<Uuid>,
    },
    /// Units at a location were set aside for a cart hold.
    StockHeld {
        /// The SKU.
        sku: Sku,
        /// The hold.
        hold_id: Uuid,
        /// Units held.
        quantity: Quantity,
        /// Where.
        location: LocationCode,
        /// When the hold ends unless extended (its own stream has the
        /// last word).
        expires_at: DateTime<Utc>,
    },
    /// A cart hold's units at a location were given back.
    StockHoldReleased {
        /// The SKU.
        sku: Sku,
        /// The hold.
        hold_id: Uuid,
        /// Units released.
        quantity: Quantity,
        /// Where.
        location: LocationCode,
        /// Why: `changed`, `released`, `expired` or `converted`.
        reason: String,
    },
}

/// Commands on a stock item.
#[derive(Debug, Clone)]
pub enum StockCommand {
    /// Book incoming units at a location.
    Receive {
        /// The SKU.
        sku: Sku,
        /// Units received.
        quantity: Quantity,
        /// Delivery note or purchase order.
        reference: Option<String>,
        /// Where.
        location: LocationCode,
    },
    /// Correct on-hand units at a location.
    Adjust {
        /// The SKU.
        sku: Sku,
        /// Change in on-hand units.
        delta: i64,
        /// Why, in words.
        reason: String,
        /// Why, as a code.
        reason_code: ReasonCode,
        /// Where.
        location: LocationCode,
        /// Refuse unless on hand there is this now (compare and set).
        expected_on_hand: Option<i64>,
    },
    /// Set on-hand units at a location to what a count found.
    Count {
        /// The SKU.
        sku: Sku,
        /// Where.
        location: LocationCode,
        /// Units counted.
        counted: i64,
        /// The count sheet, for the record.
        reference: Option<String>,
    },
    /// Hold units for an order where allocation decided; a no-op if this
    /// order already holds them.
    Reserve {
        /// The SKU.
        sku: Sku,
        /// The order.
        order_id: OrderId,
        /// Units per location, at least one.
        at: Vec<(LocationCode, Quantity)>,
    },
    /// Give an order's units back at every location; a no-op if it holds none.
    Release {
        /// The SKU.
        sku: Sku,
        /// The order.
        order_id: OrderId,
        /// Why.
        reason: String,
    },
    /// Ship an order's reserved units; a no-op if it holds none there.
    Commit {
        /// The SKU.
        sku: Sku,
        /// The order.
        order_id: OrderId,
        /// Units at one location, or `None`: everything the order holds.
        units: Option<(LocationCode, Quantity)>,
        /// The shipment taking them.
        shipment_id: Option<Uuid>,
    },
    /// Make a cart hold keep exactly `at` of this SKU (nothing: release it
    /// here); a no-op if it already does.
    SetHold {
        /// The SKU.
        sku: Sku,
        /// The hold.
        hold_id: Uuid,
        /// Units per location; empty to release.
        at: Vec<(LocationCode, Quantity)>,
        /// The hold's end, recorded with the units.
        expires_at: DateTime<Utc>,
        /// Why units it keeps no more are released.
        reason: String,
    },
    /// Hand `quantity` of a hold's units to an order where the hold keeps
    /// them, and release the rest of the hold here.
    ConvertHold {
        /// The SKU.
        sku: Sku,
        /// The hold.
        hold_id: Uuid,
        /// The order taking the units.
        order_id: OrderId,
        /// Units the order takes, at most what the hold keeps.
        quantity: Quantity,
    },
}

/// Units of one SKU at one location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Units {
    /// Physically there.
    pub on_hand: i64,
    /// Set aside for orders.
    pub reserved: i64,
    /// Set aside for cart holds.
    pub held: i64,
}

impl Units {
    /// Free to reserve or hold.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved - self.held
    }
}

/// What one order holds of one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Units set aside per location and not yet released or shipped.
    Open(BTreeMap<LocationCode, Quantity>),
    /// Released or shipped. Reserving for this order again would resurrect
    /// stock its order no longer owns, so the record outlives the units.
    Settled,
}

impl Reservation {
    /// Units still set aside, over every location.
    pub fn units(&self) -> i64 {
        match self {
            Self::Open(at) => at.values().map(|q| q.get()).sum(),
            Self::Settled => 0,
        }
    }
}

/// The state of one SKU's stock.
///
/// A state built by [`StockItem::from_parts`] from every location's units
/// and the reservations of the orders a command is about decides exactly as
/// the full fold would: the store keeps such current-state rows beside the
/// stream, so a command's cost does not grow with the SKU's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockItem {
    locations: BTreeMap<LocationCode, Units>,
    reservations: BTreeMap<OrderId, Reservation>,
    cart: BTreeMap<Uuid, CartHold>,
}

/// Longest accepted reason or reference text.
const MAX_TEXT_CHARS: usize = 500;

impl StockItem {
    /// Units physically in stock, over every location.
    pub fn on_hand(&self) -> i64 {
        self.locations.values().map(|u| u.on_hand).sum()
    }

    /// Units held by open orders, over every location.
    pub fn reserved(&self) -> i64 {
        self.locations.values().map(|u| u.reserved).sum()
    }

    /// Units held by cart holds, over every location.
    pub fn held(&self) -> i64 {
        self.locations.values().map(|u| u.held).sum()
    }

    /// Units free to reserve, over every location.
    pub fn available(&self) -> i64 {
        self.locations.values().map(Units::available).sum()
    }

    /// The units at `location` (zero where it keeps none).
    pub fn at(&self, location: &LocationCode) -> Units {
        self.locations.get(location).copied().unwrap_or_default()
    }

    /// Every location that ever kept this SKU, with its units.
    pub fn locations(&self) -> impl Iterator<Item = (&LocationCode, &Units)> + '_ {
        self.locations.iter()
    }

    /// Units `order_id` holds here over every location, if any.
    pub fn reservation(&self, order_id: OrderId) -> Option<Quantity> {
        match self.reservations.get(&order_id) {
            Some(r @ Reservation::Open(_)) => Quantity::new(r.units()).ok(),
            _ => None,
        }
    }

    /// Whether `order_id` ever held units here, and what it still holds.
    pub fn reservation_of(&self, order_id: OrderId) -> Option<&Reservation> {
        self.reservations.get(&order_id)
    }

    /// The reservations this state knows, by order.
    pub fn reservations(&self) -> impl Iterator<Item = (OrderId, &Reservation)> + '_ {
        self.reservations.iter().map(|(order, r)| (*order, r))
    }

    /// A state from every location's stored units and some of the
    /// reservations: it decides every command about the orders in
    /// `reservations` (and every receipt, adjustment or count) exactly as
    /// the full history would.
    pub fn from_parts(
        locations: impl IntoIterator<Item = (LocationCode, Units)>,
        reservations: impl IntoIterator<Item = (OrderId, Reservation)>,
    ) -> Self {
        Self {
            locations: locations.into_iter().collect(),
            reservations: reservations.into_iter().collect(),
            cart: BTreeMap::new(),
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

    fn adjust(
        &self,
        sku: Sku,
        delta: i64,
        reason: String,
        reason_code: ReasonCode,
        location: LocationCode,
    ) -> Result<Vec<StockEvent>, DomainError> {
        let free = self.at(&location).available();
        let mut events = if delta < 0 {
            self.make_room(&sku, &location, -delta, free, None)?
        } else {
            vec![]
        };
        events.push(StockEvent::StockAdjusted {
            sku,
            delta,
            reason,
            reason_code: Some(reason_code),
            location,
        });
        Ok(events)
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
                location,
            } => {
                if let Some(reference) = &reference {
                    Self::check_text("reference", reference, false)?;
                }
                Ok(vec![StockEvent::StockReceived {
                    sku,
                    quantity,
                    reference,
                    location,
                }])
            }
            StockCommand::Adjust {
                sku,
                delta,
                reason,
                reason_code,
                location,
                expected_on_hand,
            } => {
                if delta == 0 || delta.unsigned_abs() > u64::from(Quantity::MAX) {
                    return Err(DomainError::invalid(
                        "delta",
                        format!("must be non-zero and at most {} either way", Quantity::MAX),
                    ));
                }
                Self::check_text("reason", &reason, true)?;
                let on_hand = self.at(&location).on_hand;
                if let Some(expected) = expected_on_hand.filter(|e| *e != on_hand) {
                    return Err(DomainError::StaleQuantity {
                        location,
                        expected,
                        actual: on_hand,
                    });
                }
                self.adjust(sku, delta, reason, reason_code, location)
            }
            StockCommand::Count {
                sku,
                location,
                counted,
                reference,
            } => {
                if !(0..=i64::from(Quantity::MAX)).contains(&counted) {
                    return Err(DomainError::invalid(
                        "counted",
                        format!("must be a whole number from 0 to {}", Quantity::MAX),
                    ));
                }
                if let Some(reference) = &reference {
                    Self::check_text("reference", reference, false)?;
                }
                let delta = counted - self.at(&location).on_hand;
                if delta == 0 {
                    return Ok(vec![]);
                }
                let reason = match reference {
                    Some(r) if !r.trim().is_empty() => format!("counted {counted} ({})", r.trim()),
                    _ => format!("counted {counted}"),
                };
                // The reference may fill the limit; the reason keeps to it.
                let reason: String = reason.chars().take(MAX_TEXT_CHARS).collect();
                self.adjust(sku, delta, reason, ReasonCode::CycleCount, location)
            }
            StockCommand::Reserve { sku, order_id, at } => {
                match self.reservations.get(&order_id) {
                    Some(Reservation::Open(_)) => return Ok(vec![]),
                    Some(Reservation::Settled) => {
                        return Err(DomainError::Forbidden {
                            action: "reserve stock",
                            why: format!(
                                "the reservation of order {order_id} on {sku} was already settled"
                            ),
                        })
                    }
                    None => {}
                }
                if at.is_empty() {
                    return Err(DomainError::invalid(
                        "at",
                        "must name at least one location",
                    ));
                }
                let mut wanted: BTreeMap<&LocationCode, i64> = BTreeMap::new();
                for (location, quantity) in &at {
                    *wanted.entry(location).or_default() += quantity.get();
                }
                let mut events = Vec::new();
                for (location, units) in &wanted {
                    let free = self.at(location).available();
                    events.extend(self.make_room(&sku, location, *units, free, None)?);
                }
                events.extend(wanted.into_iter().filter_map(|(location, units)| {
                    Quantity::new(units)
                        .ok()
                        .map(|quantity| StockEvent::StockReserved {
                            sku: sku.clone(),
                            order_id,
                            quantity,
                            location: location.clone(),
                        })
                }));
                Ok(events)
            }
            StockCommand::SetHold {
                sku,
                hold_id,
                at,
                expires_at,
                reason,
            } => self.set_hold(sku, hold_id, at, expires_at, &reason),
            StockCommand::ConvertHold {
                sku,
                hold_id,
                order_id,
                quantity,
            } => self.convert_hold(sku, hold_id, order_id, quantity),
            StockCommand::Release {
                sku,
                order_id,
                reason,
            } => Ok(self
                .open_at(order_id)
                .map(|(location, quantity)| StockEvent::StockReleased {
                    sku: sku.clone(),
                    order_id,
                    quantity,
                    reason: reason.clone(),
                    location,
                })
                .collect()),
            StockCommand::Commit {
                sku,
                order_id,
                units,
                shipment_id,
            } => {
                let committed = |(location, quantity)| StockEvent::StockCommitted {
                    sku: sku.clone(),
                    order_id,
                    quantity,
                    location,
                    shipment_id,
                };
                Ok(match units {
                    None => self.open_at(order_id).map(committed).collect(),
                    Some((location, wanted)) => self
                        .open_at(order_id)
                        .find(|(at, _)| *at == location)
                        .and_then(|(at, open)| {
                            Quantity::new(open.get().min(wanted.get()))
                                .ok()
                                .map(|q| (at, q))
                        })
                        .map(committed)
                        .into_iter()
                        .collect(),
                })
            }
        }
    }

    fn evolve(mut self, event: &StockEvent) -> Self {
        match event {
            StockEvent::StockReceived {
                quantity, location, ..
            } => self.units_mut(location).on_hand += quantity.get(),
            StockEvent::StockAdjusted {
                delta, location, ..
            } => self.units_mut(location).on_hand += delta,
            StockEvent::StockReserved {
                order_id,
                quantity,
                location,
                ..
            } => {
                self.units_mut(location).reserved += quantity.get();
                let reservation = self
                    .reservations
                    .entry(*order_id)
                    .or_insert_with(|| Reservation::Open(BTreeMap::new()));
                if let Reservation::Settled = reservation {
                    *reservation = Reservation::Open(BTreeMap::new());
                }
                if let Reservation::Open(at) = reservation {
                    shift(at, location, quantity.get());
                }
            }
            StockEvent::StockReleased {
                order_id,
                quantity,
                location,
                ..
            } => {
                self.units_mut(location).reserved -= quantity.get();
                self.take_from(*order_id, location, quantity.get());
            }
            StockEvent::StockCommitted {
                order_id,
                quantity,
                location,
                ..
            } => {
                let units = self.units_mut(location);
                units.reserved -= quantity.get();
                units.on_hand -= quantity.get();
                self.take_from(*order_id, location, quantity.get());
            }
            StockEvent::StockHeld {
                hold_id,
                quantity,
                location,
                expires_at,
                ..
            } => {
                self.units_mut(location).held += quantity.get();
                let hold = self.cart.entry(*hold_id).or_insert_with(|| CartHold {
                    at: BTreeMap::new(),
                    expires_at: *expires_at,
                    lapsed: false,
                });
                hold.expires_at = *expires_at;
                shift(&mut hold.at, location, quantity.get());
            }
            StockEvent::StockHoldReleased {
                hold_id,
                quantity,
                location,
                ..
            } => {
                self.units_mut(location).held -= quantity.get();
                if let Some(hold) = self.cart.get_mut(hold_id) {
                    shift(&mut hold.at, location, -quantity.get());
                }
            }
        }
        self
    }
}

impl StockItem {
    fn units_mut(&mut self, location: &LocationCode) -> &mut Units {
        self.locations.entry(location.clone()).or_default()
    }

    /// Where `order_id` still holds units, and how many.
    fn open_at(&self, order_id: OrderId) -> impl Iterator<Item = (LocationCode, Quantity)> + '_ {
        let open = match self.reservations.get(&order_id) {
            Some(Reservation::Open(at)) => Some(at),
            _ => None,
        };
        open.into_iter()
            .flat_map(|at| at.iter().map(|(l, q)| (l.clone(), *q)))
    }

    /// Takes units out of an order's reservation at a location; the
    /// reservation is settled once it holds nothing anywhere.
    fn take_from(&mut self, order_id: OrderId, location: &LocationCode, units: i64) {
        let entry = self
            .reservations
            .entry(order_id)
            .or_insert(Reservation::Settled);
        if let Reservation::Open(at) = entry {
            shift(at, location, -units);
            if at.is_empty() {
                *entry = Reservation::Settled;
            }
        }
    }
}

/// Moves the units kept at `location` by `delta`; a location left with
/// none is dropped.
fn shift(at: &mut BTreeMap<LocationCode, Quantity>, location: &LocationCode, delta: i64) {
    let units = at.get(location).map_or(0, |q| q.get()) + delta;
    match Quantity::new(units) {
        Ok(q) => {
            at.insert(location.clone(), q);
        }
        Err(_) => {
            at.remove(location);
        }
    }
}

impl StockCommand {
    /// The SKU the command is about.
    pub fn sku(&self) -> &Sku {
        match self {
            Self::Receive { sku, .. }
            | Self::Adjust { sku, .. }
            | Self::Count { sku, .. }
            | Self::Reserve { sku, .. }
            | Self::Release { sku, .. }
            | Self::Commit { sku, .. }
            | Self::SetHold { sku, .. }
            | Self::ConvertHold { sku, .. } => sku,
        }
    }

    /// The location a receipt, adjustment or count names; `None` for the
    /// order commands, whose locations come from their reservation.
    pub fn location(&self) -> Option<&LocationCode> {
        match self {
            Self::Receive { location, .. }
            | Self::Adjust { location, .. }
            | Self::Count { location, .. } => Some(location),
            Self::Reserve { .. }
            | Self::Release { .. }
            | Self::Commit { .. }
            | Self::SetHold { .. }
            | Self::ConvertHold { .. } => None,
        }
    }

    /// The cart hold the command is about, if any.
    pub fn hold_id(&self) -> Option<Uuid> {
        match self {
            Self::SetHold { hold_id, .. } | Self::ConvertHold { hold_id, .. } => Some(*hold_id),
            _ => None,
        }
    }

    /// The order the command is about, if any.
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::Reserve { order_id, .. }
            | Self::Release { order_id, .. }
            | Self::Commit { order_id, .. }
            | Self::ConvertHold { order_id, .. } => Some(*order_id),
            Self::Receive { .. }
            | Self::Adjust { .. }
            | Self::Count { .. }
            | Self::SetHold { .. } => None,
        }
    }
}

impl StockEvent {
    /// The SKU the event is about.
    pub fn sku(&self) -> &Sku {
        match self {
            Self::StockReceived { sku, .. }
            | Self::StockAdjusted { sku, .. }
            | Self::StockReserved { sku, .. }
            | Self::StockReleased { sku, .. }
            | Self::StockCommitted { sku, .. }
            | Self::StockHeld { sku, .. }
            | Self::StockHoldReleased { sku, .. } => sku,
        }
    }

    /// The order the event is about, if any.
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::StockReserved { order_id, .. }
            | Self::StockReleased { order_id, .. }
            | Self::StockCommitted { order_id, .. } => Some(*order_id),
            Self::StockReceived { .. }
            | Self::StockAdjusted { .. }
            | Self::StockHeld { .. }
            | Self::StockHoldReleased { .. } => None,
        }
    }

    /// The location the event is about.
    pub fn location(&self) -> &LocationCode {
        match self {
            Self::StockReceived { location, .. }
            | Self::StockAdjusted { location, .. }
            | Self::StockReserved { location, .. }
            | Self::StockReleased { location, .. }
            | Self::StockCommitted { location, .. }
            | Self::StockHeld { location, .. }
            | Self::StockHoldReleased { location, .. } => location,
        }
    }

    /// What the event does to its location's units, as (on hand, reserved);
    /// holds move `held` only (see [`StockEvent::held_delta`]).
    pub fn deltas(&self) -> (i64, i64) {
        match self {
            Self::StockHeld { .. } | Self::StockHoldReleased { .. } => (0, 0),
            Self::StockReceived { quantity, .. } => (quantity.get(), 0),
            Self::StockAdjusted { delta, .. } => (*delta, 0),
            Self::StockReserved { quantity, .. } => (0, quantity.get()),
            Self::StockReleased { quantity, .. } => (0, -quantity.get()),
            Self::StockCommitted { quantity, .. } => (-quantity.get(), -quantity.get()),
        }
    }

    /// What the event does to its location's held units.
    pub fn held_delta(&self) -> i64 {
        match self {
            Self::StockHeld { quantity, .. } => quantity.get(),
            Self::StockHoldReleased { quantity, .. } => -quantity.get(),
            _ => 0,
        }
    }

    /// The cart hold the event is about, if any.
    pub fn hold_id(&self) -> Option<Uuid> {
        match self {
            Self::StockHeld { hold_id, .. } | Self::StockHoldReleased { hold_id, .. } => {
                Some(*hold_id)
            }
            _ => None,
        }
    }
}

mod cart;
pub use self::cart::CartHold;
#[cfg(test)]
mod cart_tests;
#[cfg(test)]
mod tests;
