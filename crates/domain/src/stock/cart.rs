//! The stock side of cart holds: setting what a hold keeps of a SKU, and
//! handing held units to the order a hold becomes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Reservation, StockEvent, StockItem};
use crate::{DomainError, LocationCode, OrderId, Quantity, Sku};

impl StockItem {
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
