//! The current state of stock streams: one `stock_levels` row per SKU and one
//! `stock_holds` row per order that ever held units of it, written in the
//! transaction of the events. A reservation on a SKU with a million sales
//! reads two rows, as on a fresh one.

use std::collections::HashMap;

use domain::stock::{Hold, StockCommand, StockItem};
use domain::{OrderId, Quantity};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::execute::{fold_stream, Loaded};
use crate::state::CurrentState;
use crate::StoreError;

/// A SKU's state as locked for a decision, and whether its stream's last
/// event was written by a transaction no younger than ours.
pub type Locked = (Loaded<StockItem>, bool);

impl CurrentState for StockItem {
    async fn load_for(
        conn: &mut PgConnection,
        aggregate_id: &str,
        command: &StockCommand,
    ) -> Result<Locked, StoreError> {
        let pair = [(aggregate_id.to_owned(), command.order_id())];
        let mut locked = lock_many(conn, &pair).await?;
        Ok(locked
            .remove(aggregate_id)
            .unwrap_or_else(|| (Loaded::default(), true)))
    }

    async fn record(
        conn: &mut PgConnection,
        aggregate_id: &str,
        after: &Loaded<StockItem>,
    ) -> Result<(), StoreError> {
        record_many(conn, &[(aggregate_id, after)]).await
    }
}

/// Locks the SKUs of `pairs` and loads each with the holds of its orders
/// (an order of `None`: no hold wanted, as for a receipt). A SKU without a
/// row, such as one written before the table existed, is folded from its
/// stream instead; its row is written with its next events.
pub async fn lock_many(
    conn: &mut PgConnection,
    pairs: &[(String, Option<OrderId>)],
) -> Result<HashMap<String, Locked>, StoreError> {
    let skus: Vec<&str> = pairs.iter().map(|(sku, _)| sku.as_str()).collect();
    let orders: Vec<Option<Uuid>> = pairs.iter().map(|(_, o)| o.map(|o| o.0)).collect();
    let rows = sqlx::query(
        "SELECT sku, order_id, version, last_position, in_commit_order, on_hand, reserved, \
                held, hold_quantity \
         FROM lock_stock_levels($1, $2)",
    )
    .bind(&skus)
    .bind(&orders)
    .fetch_all(&mut *conn)
    .await?;
    let mut locked: HashMap<String, Locked> = HashMap::new();
    let mut holds: HashMap<String, Vec<(OrderId, Hold)>> = HashMap::new();
    for row in &rows {
        let sku: String = row.try_get("sku")?;
        if row.try_get::<bool, _>("held")? {
            let order: Uuid = row.try_get("order_id")?;
            let hold = stored_hold(row.try_get("hold_quantity")?)?;
            holds
                .entry(sku.clone())
                .or_default()
                .push((OrderId(order), hold));
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = locked.entry(sku) {
            let loaded = Loaded {
                state: StockItem::from_parts(row.try_get("on_hand")?, row.try_get("reserved")?, []),
                version: row.try_get("version")?,
                last_position: row.try_get("last_position")?,
            };
            entry.insert((loaded, row.try_get("in_commit_order")?));
        }
    }
    for (sku, (loaded, _)) in locked.iter_mut() {
        let state = &loaded.state;
        let known = holds.remove(sku).unwrap_or_default();
        loaded.state = StockItem::from_parts(state.on_hand(), state.reserved(), known);
    }
    for (sku, _) in pairs {
        if !locked.contains_key(sku) {
            let folded = fold_stream::<StockItem>(conn, sku, true).await?;
            locked.insert(sku.clone(), folded);
        }
    }
    Ok(locked)
}

/// Versions between two snapshots of a SKU's units at most (plus what one
/// append adds): what a page of movements folds beyond its own events.
pub const SNAPSHOT_EVERY: i64 = 64;

/// The last snapshot of `sku`'s units at or before `version`, as
/// (version, on hand, reserved); `None` before the first.
pub async fn units_at_or_before(
    conn: &mut PgConnection,
    sku: &str,
    version: i64,
) -> Result<Option<(i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT version, on_hand, reserved FROM stock_unit_snapshots \
         WHERE sku = $1 AND version <= $2 ORDER BY version DESC LIMIT 1",
    )
    .bind(sku)
    .bind(version)
    .fetch_optional(conn)
    .await?)
}

/// Upserts the rows of several SKUs in one statement, with every hold each
/// state knows: the ones its commands were about, or all of them right
/// after a fold.
/// Every [`SNAPSHOT_EVERY`] versions or so it also keeps the SKU's units.
pub async fn record_many(
    conn: &mut PgConnection,
    states: &[(&str, &Loaded<StockItem>)],
) -> Result<(), StoreError> {
    let (mut skus, mut versions, mut positions, mut on_hand, mut reserved) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut hold_skus, mut hold_orders, mut hold_quantities) = (vec![], vec![], vec![]);
    for (sku, after) in states {
        skus.push(*sku);
        versions.push(after.version);
        positions.push(after.last_position);
        on_hand.push(after.state.on_hand());
        reserved.push(after.state.reserved());
        for (order, hold) in after.state.holds() {
            hold_skus.push(*sku);
            hold_orders.push(order.0);
            hold_quantities.push(match hold {
                Hold::Open(quantity) => Some(quantity.get()),
                Hold::Settled => None,
            });
        }
    }
    sqlx::query(
        "WITH s AS ( \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
                  AS s(sku, version, last_position, on_hand, reserved) \
         ), level AS ( \
             INSERT INTO stock_levels \
                 (sku, version, last_position, transaction_id, on_hand, reserved) \
             SELECT s.sku, s.version, s.last_position, pg_current_xact_id(), s.on_hand, s.reserved \
             FROM s \
             ON CONFLICT (sku) DO UPDATE SET \
                 version = excluded.version, last_position = excluded.last_position, \
                 transaction_id = excluded.transaction_id, \
                 on_hand = excluded.on_hand, reserved = excluded.reserved \
         ), snapshot AS ( \
             INSERT INTO stock_unit_snapshots (sku, version, on_hand, reserved) \
             SELECT s.sku, s.version, s.on_hand, s.reserved FROM s \
             WHERE NOT EXISTS (SELECT 1 FROM stock_unit_snapshots p \
                               WHERE p.sku = s.sku AND p.version > s.version - $9) \
             ON CONFLICT DO NOTHING \
         ) \
         INSERT INTO stock_holds (sku, order_id, quantity) \
         SELECT * FROM unnest($6::text[], $7::uuid[], $8::bigint[]) \
         ON CONFLICT (sku, order_id) DO UPDATE SET quantity = excluded.quantity",
    )
    .bind(&skus)
    .bind(&versions)
    .bind(&positions)
    .bind(&on_hand)
    .bind(&reserved)
    .bind(&hold_skus)
    .bind(&hold_orders)
    .bind(&hold_quantities)
    .bind(SNAPSHOT_EVERY)
    .execute(conn)
    .await?;
    Ok(())
}

fn stored_hold(quantity: Option<i64>) -> Result<Hold, StoreError> {
    match quantity {
        None => Ok(Hold::Settled),
        Some(units) => Quantity::new(units)
            .map(Hold::Open)
            .map_err(|e| StoreError::InvalidState(format!("stock hold of {units} units: {e}"))),
    }
}

/// A SKU's row as (version, on hand, reserved, holds by order).
pub type LevelRow = (i64, i64, i64, Vec<(OrderId, Hold)>);

/// The row of a SKU as the full fold of its stream computes it. For checks
/// and tests.
pub async fn folded(conn: &mut PgConnection, sku: &str) -> Result<LevelRow, StoreError> {
    let (loaded, _) = fold_stream::<StockItem>(conn, sku, false).await?;
    let holds = loaded.state.holds().collect();
    Ok((
        loaded.version,
        loaded.state.on_hand(),
        loaded.state.reserved(),
        holds,
    ))
}

/// The row of a SKU as stored, or `None` when the SKU has none.
pub async fn stored(conn: &mut PgConnection, sku: &str) -> Result<Option<LevelRow>, StoreError> {
    let Some(level) =
        sqlx::query("SELECT version, on_hand, reserved FROM stock_levels WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let rows =
        sqlx::query("SELECT order_id, quantity FROM stock_holds WHERE sku = $1 ORDER BY order_id")
            .bind(sku)
            .fetch_all(&mut *conn)
            .await?;
    let mut holds = Vec::with_capacity(rows.len());
    for row in rows {
        let order: Uuid = row.try_get("order_id")?;
        holds.push((OrderId(order), stored_hold(row.try_get("quantity")?)?));
    }
    Ok(Some((
        level.try_get("version")?,
        level.try_get("on_hand")?,
        level.try_get("reserved")?,
        holds,
    )))
}
