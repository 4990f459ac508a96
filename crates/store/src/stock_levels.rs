//! The current state of stock streams: one `stock_levels` row per SKU and one
//! `stock_holds` row per order that ever held units of it, written in the
//! transaction of the events. A reservation on a SKU with a million sales
//! reads two rows, as on a fresh one.

use domain::stock::{Hold, StockItem};
use domain::{OrderId, Quantity};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::execute::{fold_stream, Loaded};
use crate::state::CurrentState;
use crate::StoreError;

impl CurrentState for StockItem {
    /// Locks the SKU's row, then reads the hold of the command's order under
    /// that lock (in one call to `lock_stock_level`, whose second statement
    /// sees what the previous lock holder committed). A stream that has no
    /// row yet, such as one written before the table existed, is folded; its
    /// row is written with the command's events.
    async fn load_for(
        conn: &mut PgConnection,
        aggregate_id: &str,
        command: &domain::stock::StockCommand,
    ) -> Result<(Loaded<Self>, bool), StoreError> {
        let order_id = command.order_id();
        let row = sqlx::query(
            "SELECT version, last_position, in_commit_order, on_hand, reserved, \
                    held, hold_quantity \
             FROM lock_stock_level($1, $2)",
        )
        .bind(aggregate_id)
        .bind(order_id.map(|o| o.0))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return fold_stream::<Self>(conn, aggregate_id, true).await;
        };
        let hold = match (order_id, row.try_get::<bool, _>("held")?) {
            (Some(order), true) => {
                let quantity: Option<i64> = row.try_get("hold_quantity")?;
                Some((order, stored_hold(quantity)?))
            }
            _ => None,
        };
        let loaded = Loaded {
            state: StockItem::from_parts(row.try_get("on_hand")?, row.try_get("reserved")?, hold),
            version: row.try_get("version")?,
            last_position: row.try_get("last_position")?,
        };
        Ok((loaded, row.try_get("in_commit_order")?))
    }

    /// Upserts the SKU's row and every hold the state knows: the command's
    /// one, or all of them right after a fold.
    async fn record(
        conn: &mut PgConnection,
        aggregate_id: &str,
        after: &Loaded<Self>,
    ) -> Result<(), StoreError> {
        let (orders, quantities): (Vec<Uuid>, Vec<Option<i64>>) = after
            .state
            .holds()
            .map(|(order, hold)| match hold {
                Hold::Open(quantity) => (order.0, Some(quantity.get())),
                Hold::Settled => (order.0, None),
            })
            .unzip();
        sqlx::query(
            "WITH level AS ( \
                 INSERT INTO stock_levels \
                     (sku, version, last_position, transaction_id, on_hand, reserved) \
                 VALUES ($1, $2, $3, pg_current_xact_id(), $4, $5) \
                 ON CONFLICT (sku) DO UPDATE SET \
                     version = excluded.version, last_position = excluded.last_position, \
                     transaction_id = excluded.transaction_id, \
                     on_hand = excluded.on_hand, reserved = excluded.reserved) \
             INSERT INTO stock_holds (sku, order_id, quantity) \
             SELECT $1, h.order_id, h.quantity \
             FROM unnest($6::uuid[], $7::bigint[]) AS h(order_id, quantity) \
             ON CONFLICT (sku, order_id) DO UPDATE SET quantity = excluded.quantity",
        )
        .bind(aggregate_id)
        .bind(after.version)
        .bind(after.last_position)
        .bind(after.state.on_hand())
        .bind(after.state.reserved())
        .bind(&orders)
        .bind(&quantities)
        .execute(conn)
        .await?;
        Ok(())
    }
}

fn stored_hold(quantity: Option<i64>) -> Result<Hold, StoreError> {
    match quantity {
        None => Ok(Hold::Settled),
        Some(units) => Quantity::new(units)
            .map(Hold::Open)
            .map_err(|e| StoreError::InvalidState(format!("stock hold of {units} units: {e}"))),
    }
}

/// The current-state row of a SKU as the full fold of its stream computes
/// it: (version, on hand, reserved, holds). For checks and tests.
pub async fn folded(
    conn: &mut PgConnection,
    sku: &str,
) -> Result<(i64, i64, i64, Vec<(OrderId, Hold)>), StoreError> {
    let (loaded, _) = fold_stream::<StockItem>(conn, sku, false).await?;
    let holds = loaded.state.holds().collect();
    Ok((
        loaded.version,
        loaded.state.on_hand(),
        loaded.state.reserved(),
        holds,
    ))
}

/// The current-state row of a SKU as stored: (version, on hand, reserved,
/// holds), or `None` when the SKU has no row.
pub async fn stored(
    conn: &mut PgConnection,
    sku: &str,
) -> Result<Option<(i64, i64, i64, Vec<(OrderId, Hold)>)>, StoreError> {
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
