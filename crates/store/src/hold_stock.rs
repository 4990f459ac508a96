//! Keeping a hold's units on its SKUs' stock streams in step with the hold,
//! in the hold command's transaction. Every writer of a hold locks the SKUs
//! it names first (in SKU order, as every writer of stock does) and only
//! then decides on the hold, so a stock decision that finds a hold lapsed
//! and the hold's own commands never cross.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::hold::{Hold, HoldStatus, PlacedHold};
use domain::stock::{StockCommand, StockEvent, StockItem};
use domain::{Aggregate, Sku};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::execute::{load, CommandError, Loaded, Outcome};
use crate::log::{append_streams, StreamAppend};
use crate::stock_levels::{lock_many_with_holds, record_many, Locked};
use crate::{encode, EventMetadata, StoreError};

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
    // have brought SKUs this lock does not cover. A hold that did not exist
    // is a new one, whose id nobody else knows yet.
    let current = if current.version > 0 {
        load::<Hold>(conn, &hold_id.to_string()).await?
    } else {
        current
    };
    if let Some(hold) = current.state.placed() {
        covered(&skus, hold, current.version)?;
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
    lock: HoldLock,
    outcome: &Outcome<Hold>,
    reason: &str,
    metadata: &EventMetadata,
) -> Result<Option<i64>, CommandError> {
    let Some(hold) = outcome.state.placed() else {
        return Ok(None);
    };
    covered(&lock.skus, hold, outcome.version)?;
    let active = hold.status_at(lock.now) == HoldStatus::Active;
    let commands = lock
        .skus
        .iter()
        .map(|sku| StockCommand::SetHold {
            sku: sku.clone(),
            hold_id: hold.hold_id,
            at: hold
                .lines
                .iter()
                .filter(|l| active && l.sku == *sku)
                .map(|l| (l.location.clone(), l.quantity))
                .collect(),
            expires_at: hold.expires_at,
            reason: reason.to_owned(),
        })
        .collect();
    Ok(apply(conn, lock, commands, metadata).await?.1)
}

/// Decides `commands` (one per SKU of `lock`) on the states `lock` read
/// under its locks, appends every SKU's events in one statement and writes
/// their rows: the events by SKU, and the position of the last one.
pub async fn apply(
    conn: &mut PgConnection,
    mut lock: HoldLock,
    commands: Vec<StockCommand>,
    metadata: &EventMetadata,
) -> Result<(Vec<(Sku, Vec<StockEvent>)>, Option<i64>), CommandError> {
    let mut decided = Vec::with_capacity(commands.len());
    for command in commands {
        let sku = command.sku().clone();
        let (loaded, in_commit_order) = lock
            .stock
            .remove(sku.as_str())
            .unwrap_or_else(|| (Loaded::default(), true));
        let events = loaded.state.decide(command)?;
        if events.is_empty() {
            continue;
        }
        if !in_commit_order {
            return Err(StoreError::Conflict {
                stream_id: domain::StreamCategory::Stock.stream_id(sku.as_str()),
                expected: loaded.version,
            }
            .into());
        }
        decided.push((sku, loaded, events));
    }
    if decided.is_empty() {
        return Ok((Vec::new(), None));
    }
    let appends = decided
        .iter()
        .map(|(sku, loaded, events)| {
            Ok(StreamAppend {
                category: domain::StreamCategory::Stock,
                aggregate_id: sku.to_string(),
                expected_version: loaded.version,
                events: events
                    .iter()
                    .map(|e| Ok((encode(e)?, metadata.clone())))
                    .collect::<Result<Vec<_>, StoreError>>()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let results = append_streams(conn, &appends).await?;
    let mut after = Vec::with_capacity(decided.len());
    let mut by_sku = Vec::with_capacity(decided.len());
    let mut last = None;
    for ((sku, loaded, events), result) in decided.into_iter().zip(&results) {
        let state = events.iter().fold(loaded.state, |s, e| s.evolve(e));
        after.push((
            sku.to_string(),
            Loaded {
                state,
                version: result.version,
                last_position: result.last_position,
            },
        ));
        last = last.max(Some(result.last_position));
        by_sku.push((sku, events));
    }
    let rows: Vec<(&str, &Loaded<StockItem>)> =
        after.iter().map(|(sku, l)| (sku.as_str(), l)).collect();
    record_many(conn, &rows).await?;
    Ok((by_sku, last))
}

/// Refuses, as a conflict to retry, a hold naming a SKU `skus` does not
/// cover: it was changed since its SKUs were chosen for locking.
fn covered(skus: &[Sku], hold: &PlacedHold, version: i64) -> Result<(), StoreError> {
    if hold.skus().iter().any(|sku| !skus.contains(sku)) {
        return Err(StoreError::Conflict {
            stream_id: domain::StreamCategory::Hold.stream_id(&hold.hold_id.to_string()),
            expected: version,
        });
    }
    Ok(())
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
