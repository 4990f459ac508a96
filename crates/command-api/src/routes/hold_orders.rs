//! An order converted from a cart hold: placed and confirmed in one
//! transaction from the held units, which become the order's reservation
//! where the hold kept them, while the hold ends. The reservation process
//! finds the order already decided and leaves it alone.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use domain::allocation::Allocation;
use domain::hold::{Hold, HoldCommand};
use domain::order::{Order, OrderCommand, OrderStatus};
use domain::product::Product;
use domain::stock::{StockCommand, StockEvent};
use domain::{DomainError, Quantity, Sku};
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::hold_stock::{self, HoldLock};
use store::{execute_in, EventMetadata, Outcome};
use uuid::Uuid;

use super::answers::PlacedAnswer;
use super::orders::Place;
use crate::error::ApiError;
use crate::extract::CommandHeaders;
use crate::runner::HttpCommand;

/// Places `place` from hold `hold_id`.
pub(super) struct FromHold {
    place: Place,
    hold_id: Uuid,
    metadata: EventMetadata,
    lock: Mutex<Option<HoldLock>>,
    /// The order's version once confirmed.
    confirmed_version: Mutex<Option<i64>>,
}

impl FromHold {
    pub(super) fn new(place: Place, hold_id: Uuid, headers: &CommandHeaders) -> Self {
        Self {
            place,
            hold_id,
            metadata: headers.metadata.clone(),
            lock: Mutex::new(None),
            confirmed_version: Mutex::new(None),
        }
    }

    /// Units the order asks of each SKU.
    fn wanted(&self) -> BTreeMap<Sku, i64> {
        let mut wanted = BTreeMap::new();
        for (sku, quantity, _) in &self.place.lines {
            *wanted.entry(sku.clone()).or_default() += quantity.get();
        }
        wanted
    }

    /// Refuses pins and a pickup location that disagree with where the hold
    /// keeps the units (the hold decided that). Everything else about the
    /// conversion (the hold's channel and status, the units it keeps) the
    /// hold and stock aggregates decide in `follow_up`.
    fn check(&self, lock: &HoldLock) -> Result<(), ApiError> {
        // Another channel's hold is the domain's to refuse as missing.
        let mine = |h: &&domain::hold::PlacedHold| {
            self.place.channel.is_none() || h.channel == self.place.channel
        };
        let Some(hold) = lock.hold.placed().filter(mine) else {
            return Ok(());
        };
        for (sku, _, pin) in &self.place.lines {
            let at = pin.as_ref().or(self.place.pickup_location.as_ref());
            if let Some(at) = at {
                let elsewhere = hold
                    .lines
                    .iter()
                    .any(|l| l.sku == *sku && l.location != *at);
                if elsewhere {
                    return Err(ApiError::Rejected(DomainError::Forbidden {
                        action: "convert the hold",
                        why: format!("the hold keeps {sku} elsewhere than {at}"),
                    }));
                }
            }
        }
        Ok(())
    }
}

impl HttpCommand for FromHold {
    type Aggregate = Order;

    fn aggregate_id(&self) -> String {
        self.place.order_id.to_string()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<OrderCommand, ApiError> {
        let skus = self.wanted().into_keys();
        let lock = hold_stock::lock(conn, self.hold_id, skus).await?;
        self.check(&lock)?;
        let catalogue = store::load_many::<Product>(conn, &self.place.skus()).await?;
        let command = self.place.priced(&catalogue)?;
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        Ok(command)
    }

    fn creates_stream(&self) -> bool {
        true
    }

    async fn follow_up(
        &self,
        conn: &mut PgConnection,
        outcome: &Outcome<Order>,
    ) -> Result<Option<i64>, ApiError> {
        let lock = self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(lock) = lock else {
            return Ok(None);
        };
        let order_id = self.place.order_id;
        let converted = execute_in::<Hold>(
            conn,
            &self.hold_id.to_string(),
            None,
            HoldCommand::Convert {
                order_id,
                now: lock.now,
                channel: self.place.channel.clone(),
            },
            &self.metadata,
        )
        .await?;
        let wanted = self.wanted();
        let now = lock.now;
        let commands = lock
            .skus
            .iter()
            .map(
                |sku| match wanted.get(sku).and_then(|u| Quantity::new(*u).ok()) {
                    Some(quantity) => StockCommand::ConvertHold {
                        sku: sku.clone(),
                        hold_id: self.hold_id,
                        order_id,
                        quantity,
                    },
                    None => StockCommand::SetHold {
                        sku: sku.clone(),
                        hold_id: self.hold_id,
                        at: vec![],
                        expires_at: now,
                        reason: "converted".to_owned(),
                    },
                },
            )
            .collect();
        let (stocked, _) = hold_stock::apply(conn, lock, commands, &self.metadata).await?;
        let mut allocations: Vec<Allocation> = stocked
            .iter()
            .flat_map(|(_, events)| events)
            .filter_map(|event| match event {
                StockEvent::StockReserved {
                    sku,
                    quantity,
                    location,
                    ..
                } => Some(Allocation {
                    sku: sku.clone(),
                    location: location.clone(),
                    quantity: *quantity,
                }),
                _ => None,
            })
            .collect();
        allocations.sort();
        let confirmed = execute_in::<Order>(
            conn,
            &order_id.to_string(),
            None,
            OrderCommand::Confirm { allocations },
            &self.metadata,
        )
        .await?;
        *self
            .confirmed_version
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(confirmed.version);
        Ok(Some(
            confirmed
                .position
                .max(converted.position)
                .max(outcome.position),
        ))
    }

    fn respond(&self, outcome: &Outcome<Order>) -> (StatusCode, Value) {
        let placed = outcome.state.placed();
        let version = self
            .confirmed_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(outcome.version);
        (
            StatusCode::CREATED,
            json!(PlacedAnswer {
                order_id: self.place.order_id.0,
                status: OrderStatus::Confirmed,
                total: placed.map(|o| o.total.minor()),
                currency: placed.map(|o| o.total.currency()),
                position: outcome.position,
                version,
            }),
        )
    }
}
