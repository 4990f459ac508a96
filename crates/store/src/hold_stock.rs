//! Keeping a hold's units on its SKUs' stock streams in step with the hold,
//! in the hold command's transaction. Every writer of a hold locks the SKUs
//! it names first (in SKU order, as every writer of stock does) and only
//! then decides on the hold, so a stock decision that finds a hold lapsed
//! and the hold's own commands never cross.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::hold::{Hold, HoldStatus};
use domain::stock::{StockCommand, StockItem};
use domain::{Quantity, Sku};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::execute::{execute_in, load, CommandError, Outcome};
use crate::stock_levels::{lock_many_with_holds, Locked};
use crate::{EventMetadata, StoreError};

/// The SKUs a hold command holds locked, and the clock it decides at.
#[derive(Debug)]
pub struct HoldLock {
    /// Every SKU the hold named before the command and `also`, in order.
    pub skus: Vec<Sku>,
    /// The database clock once the locks were held.
    pub now: DateTime<Utc>,
    /// The hold as it stood once its SKUs were locked.
    pub hold: Hold,
    /// Each SKU's state as locked, knowing the hold's units and the lapsed
    /// holds (for allocating before deciding).
    pub stock: HashMap<String, Locked>,
}

/// Locks the SKUs hold `hold_id` names now and the SKUs of `also` (the
/// lines a change brings), and reads the clock.
pub async fn lock(
    conn: &mut PgConnection,
    hold_id: Uuid,
    also: impl IntoIterator<Item = Sku>,
) -> Result<HoldLock, StoreError> {
    let current = load::<Hold>(conn, &hold_id.to_string()).await?;
    let mut skus: Vec<Sku> = current.state.placed().map(|h| h.skus()).unwrap_or_default();
    skus.extend(also);
    skus.sort();
    skus.dedup();
    let pairs: Vec<(String, Option<domain::OrderId>)> =
        skus.iter().map(|s| (s.to_string(), None)).collect();
    let holds: Vec<(String, Uuid)> = skus.iter().map(|s| (s.to_string(), hold_id)).collect();
    let stock = lock_many_with_holds(conn, &pairs, &holds).await?;
    // Read again under the locks: a change that committed before them may
    // have brought SKUs this lock does not cover.
    let current = load::<Hold>(conn, &hold_id.to_string()).await?;
    if let Some(hold) = current.state.placed() {
        if hold.skus().iter().any(|sku| !skus.contains(sku)) {
            return Err(StoreError::Conflict {
                stream_id: domain::StreamCategory::Hold.stream_id(&hold_id.to_string()),
                expected: current.version,
            });
        }
    }
    let now = crate::holds::clock(conn).await?;
    Ok(HoldLock {
        skus,
        now,
        stock,
        hold: current.state,
    })
}

/// Makes every SKU of `lock` keep what the hold keeps after `outcome` (its
/// lines while active, nothing once it ended). `reason` names why units
/// it keeps no more are released. A hold whose lines name a SKU the lock
/// does not cover was changed meanwhile: a conflict, to retry. Returns the
/// position of the last stock event appended.
pub async fn sync(
    conn: &mut PgConnection,
    lock: &HoldLock,
    outcome: &Outcome<Hold>,
    reason: &str,
    metadata: &EventMetadata,
) -> Result<Option<i64>, CommandError> {
    let Some(hold) = outcome.state.placed() else {
        return Ok(None);
    };
    if hold.skus().iter().any(|sku| !lock.skus.contains(sku)) {
        return Err(StoreError::Conflict {
            stream_id: domain::StreamCategory::Hold.stream_id(&hold.hold_id.to_string()),
            expected: outcome.version,
        }
        .into());
    }
    let active = hold.status_at(lock.now) == HoldStatus::Active;
    let mut last = None;
    for sku in &lock.skus {
        let at: Vec<(domain::LocationCode, Quantity)> = hold
            .lines
            .iter()
            .filter(|l| active && l.sku == *sku)
            .map(|l| (l.location.clone(), l.quantity))
            .collect();
        let command = StockCommand::SetHold {
            sku: sku.clone(),
            hold_id: hold.hold_id,
            at,
            expires_at: hold.expires_at,
            reason: reason.to_owned(),
        };
        let stocked = execute_in::<StockItem>(conn, sku.as_str(), None, command, metadata).await?;
        if !stocked.events.is_empty() {
            last = Some(stocked.position);
        }
    }
    Ok(last)
}

/// Why a hold's units were given back, from how it stands after `outcome`.
pub fn release_reason(outcome: &Outcome<Hold>, now: DateTime<Utc>) -> &'static str {
    match outcome.state.placed().map(|h| h.status_at(now)) {
        Some(HoldStatus::Expired) => "expired",
        Some(HoldStatus::Released) => "released",
        Some(HoldStatus::Converted) => "converted",
        _ => "changed",
    }
}
