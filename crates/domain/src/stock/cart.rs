//! The stock side of cart holds: what each hold keeps of a SKU and whether
//! it lapsed, making room from lapsed holds for a decision that is short,
//! setting what a hold keeps, and handing held units to the order a hold
//! becomes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Reservation, StockEvent, StockItem};

use crate::{DomainError, LocationCode, OrderId, Quantity, Sku};

/// What one cart hold keeps of one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartHold {
    /// Units per location; empty once released here (kept so the store
    /// knows to drop its rows).
    pub at: BTreeMap<LocationCode, Quantity>,
    /// When the hold ends, as recorded with its units.
    pub expires_at: DateTime<Utc>,
    /// Whether the hold was past its end when the state was loaded: its
    /// units are free to whoever is short.
    pub lapsed: bool,
}

impl CartHold {
    /// Units kept at `location`.
    fn units_at(&self, location: &LocationCode) -> i64 {
        self.at.get(location).map_or(0, |q| q.get())
    }
}

impl StockItem {
    /// The same state knowing these cart holds as well (the loader gives
    /// the holds a command is about and the lapsed ones).
    pub fn with_cart_holds(mut self, holds: impl IntoIterator<Item = (Uuid, CartHold)>) -> Self {
        self.cart.extend(holds);
        self
    }

    /// The cart holds this state knows, by hold.
    pub fn cart_holds(&self) -> impl Iterator<Item = (Uuid, &CartHold)> + '_ {
        self.cart.iter().map(|(hold, h)| (*hold, h))
    }

    /// What a decision at `location` can take: what is available plus what
    /// lapsed holds there keep.
    pub fn obtainable(&self, location: &LocationCode) -> i64 {
        self.at(location).available()
            + self
                .lapsed_at(location, None)
                .map(|(_, q)| q.get())
                .sum::<i64>()
    }

    /// Lapsed holds at `location` other than `except`, with their units.
    fn lapsed_at<'a>(
        &'a self,
        location: &'a LocationCode,
        except: Option<Uuid>,
    ) -> impl Iterator<Item = (Uuid, Quantity)> + 'a {
        self.cart
            .iter()
            .filter(move |(hold, h)| h.lapsed && Some(**hold) != except)
            .filter_map(move |(hold, h)| h.at.get(location).map(|q| (*hold, *q)))
    }

    /// Makes `need` units free at `location` where `free` are: nothing to
    /// do, or the release of every lapsed hold there (but `except`), or
    /// the shortfall.
    pub(super) fn make_room(
        &self,
        sku: &Sku,
        location: &LocationCode,
        need: i64,
        free: i64,
        except: Option<Uuid>,
    ) -> Result<Vec<StockEvent>, DomainError> {
        if need <= free {
            return Ok(vec![]);
        }
        let lapsed: Vec<(Uuid, Quantity)> = self.lapsed_at(location, except).collect();
        let obtainable = free + lapsed.iter().map(|(_, q)| q.get()).sum::<i64>();
        if need > obtainable {
            return Err(DomainError::InsufficientStock {
                sku: sku.clone(),
                requested: need,
                available: obtainable,
            });
        }
        Ok(lapsed
            .into_iter()
            .map(|(hold_id, quantity)| StockEvent::StockHoldReleased {
                sku: sku.clone(),
                hold_id,
                quantity,
                location: location.clone(),
                reason: "expired".to_owned(),
            })
            .collect())
    }

    /// Releases every unit `hold_id` keeps here.
    fn release_hold(&self, sku: &Sku, hold_id: Uuid, reason: &str) -> Vec<StockEvent> {
        self.cart
            .get(&hold_id)
            .into_iter()
            .flat_map(|h| h.at.iter())
            .map(|(location, quantity)| StockEvent::StockHoldReleased {
                sku: sku.clone(),
                hold_id,
                quantity: *quantity,
                location: location.clone(),
                reason: reason.to_owned(),
            })
            .collect()
    }

    /// Units `hold_id` keeps at `location` while it has not lapsed (a
    /// lapsed hold's units count as obtainable already).
    pub fn own_units(&self, hold_id: Uuid, location: &LocationCode) -> i64 {
        self.cart
            .get(&hold_id)
            .filter(|h| !h.lapsed)
            .map_or(0, |h| h.units_at(location))
    }

    /// Makes `hold_id` keep exactly `at` here: its old units are released
    /// and the new ones held in one decision, so a change needs room only
    /// for what it adds. All or nothing over the locations.
    pub(super) fn set_hold(
        &self,
        sku: Sku,
        hold_id: Uuid,
        at: Vec<(LocationCode, Quantity)>,
        expires_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<StockEvent>, DomainError> {
        let mut wanted: BTreeMap<LocationCode, i64> = BTreeMap::new();
        for (location, quantity) in at {
            *wanted.entry(location).or_default() += quantity.get();
        }
        let own = self.cart.get(&hold_id);
        let keeps: BTreeMap<LocationCode, i64> = own
            .map(|h| h.at.iter().map(|(l, q)| (l.clone(), q.get())).collect())
            .unwrap_or_default();
        if keeps == wanted {
            return Ok(vec![]);
        }
        let mut events = self.release_hold(&sku, hold_id, reason);
        let mut holds = Vec::with_capacity(wanted.len());
        for (location, units) in wanted {
            let free = self.at(&location).available() + keeps.get(&location).copied().unwrap_or(0);
            events.extend(self.make_room(&sku, &location, units, free, Some(hold_id))?);
            let quantity = Quantity::new(units).map_err(|e| DomainError::from_value("lines", e))?;
            holds.push(StockEvent::StockHeld {
                sku: sku.clone(),
                hold_id,
                quantity,
                location,
                expires_at,
            });
        }
        events.extend(holds);
        Ok(events)
    }

    /// Releases what `hold_id` keeps here and reserves `quantity` of it for
    /// `order_id` where it was kept (locations in code order). Never short:
    /// the units were the hold's.
    pub(super) fn convert_hold(
        &self,
        sku: Sku,
        hold_id: Uuid,
        order_id: OrderId,
        quantity: Quantity,
    ) -> Result<Vec<StockEvent>, DomainError> {
        match self.reservations.get(&order_id) {
            Some(Reservation::Open(_)) => return Ok(vec![]),
            Some(Reservation::Settled) => {
                return Err(DomainError::Forbidden {
                    action: "convert the hold",
                    why: format!(
                        "the reservation of order {order_id} on {sku} was already settled"
                    ),
                })
            }
            None => {}
        }
        let kept: Vec<(LocationCode, Quantity)> = self
            .cart
            .get(&hold_id)
            .map(|h| h.at.iter().map(|(l, q)| (l.clone(), *q)).collect())
            .unwrap_or_default();
        let held: i64 = kept.iter().map(|(_, q)| q.get()).sum();
        if quantity.get() > held {
            return Err(DomainError::Forbidden {
                action: "convert the hold",
                why: format!(
                    "the hold keeps {held} of {sku}, and the order asks for {}",
                    quantity.get()
                ),
            });
        }
        let mut events = self.release_hold(&sku, hold_id, "converted");
        let mut left = quantity.get();
        for (location, units) in kept {
            let take = units.get().min(left);
            let Ok(taken) = Quantity::new(take) else {
                break;
            };
            left -= take;
            events.push(StockEvent::StockReserved {
                sku: sku.clone(),
                order_id,
                quantity: taken,
                location,
            });
        }
        Ok(events)
    }
}
