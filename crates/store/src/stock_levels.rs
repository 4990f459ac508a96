//! The current state of stock streams: one `stock_levels` row per SKU (its
//! stream version and totals), one `stock_location_levels` row per SKU and
//! location (whose `CHECK` is the invariant), and one `stock_holds` row per
//! order and location that ever held units of it, all written in the
//! transaction of the events. A reservation on a SKU with a million sales
//! reads a row per location and the order's own holds, as on a fresh one.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use domain::stock::{CartHold, Reservation, StockCommand, StockItem, Units};
use domain::{LocationCode, OrderId, Quantity};
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
        let hold: Vec<(String, Uuid)> = command
            .hold_id()
            .map(|hold| (aggregate_id.to_owned(), hold))
            .into_iter()
            .collect();
        let mut locked = lock_many_with_holds(conn, &pair, &hold).await?;
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

/// What one SKU's rows say, gathered from `lock_stock`.
#[derive(Default)]
struct Rows {
    /// Version, last position, commit order, and the SKU's totals.
    level: Option<(i64, i64, bool, (i64, i64))>,
    units: Vec<(LocationCode, Units)>,
    holds: BTreeMap<OrderId, Vec<(LocationCode, Option<i64>)>>,
    cart: BTreeMap<Uuid, CartHold>,
}

/// Locks the SKUs of `pairs` and loads each with every location's units and
/// the reservations of its orders (an order of `None`: none wanted, as for
/// a receipt). A SKU without a row, such as one written before the table
/// existed, is folded from its stream instead; its rows are written with
/// its next events.
pub async fn lock_many(
    conn: &mut PgConnection,
    pairs: &[(String, Option<OrderId>)],
) -> Result<HashMap<String, Locked>, StoreError> {
    lock_many_with_holds(conn, pairs, &[]).await
}

/// [`lock_many`], knowing besides the cart holds of `holds` (SKU, hold)
/// and, per SKU, the holds already past their end (see `lock_stock`).
pub async fn lock_many_with_holds(
    conn: &mut PgConnection,
    pairs: &[(String, Option<OrderId>)],
    holds: &[(String, Uuid)],
) -> Result<HashMap<String, Locked>, StoreError> {
    let skus: Vec<&str> = pairs.iter().map(|(sku, _)| sku.as_str()).collect();
    let orders: Vec<Option<Uuid>> = pairs.iter().map(|(_, o)| o.map(|o| o.0)).collect();
    let hold_skus: Vec<&str> = holds.iter().map(|(sku, _)| sku.as_str()).collect();
    let hold_ids: Vec<Uuid> = holds.iter().map(|(_, hold)| *hold).collect();
    let rows = sqlx::query(
        "SELECT kind, sku, order_id, location, version, last_position, in_commit_order, \
                on_hand, reserved, held, quantity, expires_at, lapsed \
         FROM lock_stock($1, $2, $3, $4)",
    )
    .bind(&skus)
    .bind(&orders)
    .bind(&hold_skus)
    .bind(&hold_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_sku: HashMap<String, Rows> = HashMap::new();
    for row in &rows {
        let sku: String = row.try_get("sku")?;
        let entry = by_sku.entry(sku).or_default();
        match row.try_get::<&str, _>("kind")? {
            "level" => {
                entry.level = Some((
                    row.try_get("version")?,
                    row.try_get("last_position")?,
                    row.try_get("in_commit_order")?,
                    (row.try_get("on_hand")?, row.try_get("reserved")?),
                ))
            }
            "units" => entry.units.push((
                stored_location(row.try_get("location")?)?,
                Units {
                    on_hand: row.try_get("on_hand")?,
                    reserved: row.try_get("reserved")?,
                    held: row.try_get("held")?,
                },
            )),
            "cart" => {
                let location = stored_location(row.try_get("location")?)?;
                let units: i64 = row.try_get("quantity")?;
                let quantity = Quantity::new(units).map_err(|e| {
                    StoreError::InvalidState(format!("cart hold of {units} units: {e}"))
                })?;
                let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
                let lapsed: bool = row.try_get("lapsed")?;
                let hold = entry
                    .cart
                    .entry(row.try_get("order_id")?)
                    .or_insert_with(|| CartHold {
                        at: BTreeMap::new(),
                        expires_at,
                        lapsed,
                    });
                hold.at.insert(location, quantity);
            }
            _ => entry
                .holds
                .entry(OrderId(row.try_get("order_id")?))
                .or_default()
                .push((
                    stored_location(row.try_get("location")?)?,
                    row.try_get("quantity")?,
                )),
        }
    }
    let mut locked: HashMap<String, Locked> = HashMap::new();
    for (sku, rows) in by_sku {
        let Some((version, last_position, in_commit_order, totals)) = rows.level else {
            continue;
        };
        let sums = rows
            .units
            .iter()
            .fold((0, 0), |(h, r), (_, u)| (h + u.on_hand, r + u.reserved));
        if sums != totals {
            // Location rows that do not add up to the SKU's (a row written
            // by a process older than locations): the stream decides.
            tracing::warn!(%sku, ?totals, ?sums, "stock rows disagree; folding the stream");
            continue;
        }
        let reservations = rows
            .holds
            .into_iter()
            .map(|(order, at)| Ok((order, stored_reservation(at)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let loaded = Loaded {
            state: StockItem::from_parts(rows.units, reservations).with_cart_holds(rows.cart),
            version,
            last_position,
        };
        locked.insert(sku, (loaded, in_commit_order));
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

/// Upserts the rows of several SKUs in one statement: the SKU's row, a
/// row per location it keeps, and a row per location of every reservation
/// each state knows (the ones its commands were about, or all of them right
/// after a fold). Every [`SNAPSHOT_EVERY`] versions or so it also keeps the
/// SKU's units. A location row that would break `on hand − reserved − held
/// ≥ 0` fails the statement, and with it the append.
///
/// The holds to settle are found by key, one probe per (SKU, order), and
/// updated by row address: as a join, the planner scanned all of
/// `stock_holds` for every batch while its statistics still described the
/// table as it was a minute before (14,000 rows read for 20 wanted). The
/// addresses are stable: every writer of a SKU's holds holds its SKU row.
pub async fn record_many(
    conn: &mut PgConnection,
    states: &[(&str, &Loaded<StockItem>)],
) -> Result<(), StoreError> {
    let (mut skus, mut versions, mut positions, mut on_hand, mut reserved) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut unit_skus, mut unit_locations, mut unit_on_hand, mut unit_reserved, mut unit_held) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut hold_skus, mut hold_orders, mut hold_locations, mut hold_quantities) =
        (vec![], vec![], vec![], vec![]);
    for (sku, after) in states {
        skus.push(*sku);
        versions.push(after.version);
        positions.push(after.last_position);
        on_hand.push(after.state.on_hand());
        reserved.push(after.state.reserved());
        for (location, units) in after.state.locations() {
            unit_skus.push(*sku);
            unit_locations.push(location.as_str());
            unit_on_hand.push(units.on_hand);
            unit_reserved.push(units.reserved);
            unit_held.push(units.held);
        }
        for (order, reservation) in after.state.reservations() {
            // Open locations are written with their units; every other row
            // of the order is settled (NULL) by the `settled` step, which
            // never touches a row this statement inserts. A settled
            // reservation writes one NULL row, so a SKU folded for the
            // first time records it.
            let open: BTreeMap<&LocationCode, i64> = match reservation {
                Reservation::Open(at) => at.iter().map(|(l, q)| (l, q.get())).collect(),
                Reservation::Settled => BTreeMap::new(),
            };
            let mut places: Vec<&str> = open.keys().map(|l| l.as_str()).collect();
            if places.is_empty() {
                places.push(LocationCode::DEFAULT);
            }
            for place in places {
                hold_skus.push(*sku);
                hold_orders.push(order.0);
                hold_locations.push(place.to_owned());
                hold_quantities.push(
                    open.iter()
                        .find(|(l, _)| l.as_str() == place)
                        .map(|(_, units)| *units),
                );
            }
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
         ), units AS ( \
             INSERT INTO stock_location_levels (sku, location, on_hand, reserved, held) \
             SELECT * FROM unnest($10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[]) \
             ON CONFLICT (sku, location) DO UPDATE SET \
                 on_hand = excluded.on_hand, reserved = excluded.reserved, held = excluded.held \
         ), settled AS ( \
             UPDATE stock_holds h SET quantity = NULL \
             WHERE h.ctid = ANY (ARRAY( \
                 SELECT o.ctid FROM unnest($6::text[], $7::uuid[]) AS t(sku, order_id) \
                 CROSS JOIN LATERAL ( \
                     SELECT o.ctid, o.location FROM stock_holds o \
                     WHERE o.sku = t.sku AND o.order_id = t.order_id AND o.quantity IS NOT NULL \
                     OFFSET 0 \
                 ) o \
                 WHERE NOT EXISTS (SELECT 1 FROM unnest($6::text[], $7::uuid[], $8::text[], $15::bigint[]) \
                                       AS k(sku, order_id, location, quantity) \
                                   WHERE k.sku = t.sku AND k.order_id = t.order_id \
                                     AND k.location = o.location) \
             )) \
         ) \
         INSERT INTO stock_holds (sku, order_id, location, quantity) \
         SELECT * FROM unnest($6::text[], $7::uuid[], $8::text[], $15::bigint[]) \
         ON CONFLICT (sku, order_id, location) DO UPDATE SET quantity = excluded.quantity",
    )
    .bind(&skus)
    .bind(&versions)
    .bind(&positions)
    .bind(&on_hand)
    .bind(&reserved)
    .bind(&hold_skus)
    .bind(&hold_orders)
    .bind(&hold_locations)
    .bind(SNAPSHOT_EVERY)
    .bind(&unit_skus)
    .bind(&unit_locations)
    .bind(&unit_on_hand)
    .bind(&unit_reserved)
    .bind(&unit_held)
    .bind(&hold_quantities)
    .execute(&mut *conn)
    .await?;
    record_cart_holds(conn, states).await
}

/// Writes what each cart hold the states know keeps of their SKUs: a row
/// per location with units, none where it keeps nothing now. A new row
/// takes the hold's end from the state; an existing one keeps its own,
/// which extensions move.
async fn record_cart_holds(
    conn: &mut PgConnection,
    states: &[(&str, &Loaded<StockItem>)],
) -> Result<(), StoreError> {
    let (mut skus, mut holds, mut locations, mut quantities, mut ends) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut known_skus, mut known_holds) = (vec![], vec![]);
    for (sku, after) in states {
        for (hold, cart) in after.state.cart_holds() {
            known_skus.push(*sku);
            known_holds.push(hold);
            for (location, quantity) in &cart.at {
                skus.push(*sku);
                holds.push(hold);
                locations.push(location.as_str());
                quantities.push(quantity.get());
                ends.push(cart.expires_at);
            }
        }
    }
    if known_holds.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH gone AS ( \
             DELETE FROM stock_cart_holds c \
             USING unnest($6::text[], $7::uuid[]) AS k(sku, hold_id) \
             WHERE c.sku = k.sku AND c.hold_id = k.hold_id \
               AND NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::uuid[], $3::text[]) \
                                   AS n(sku, hold_id, location) \
                               WHERE n.sku = c.sku AND n.hold_id = c.hold_id \
                                 AND n.location = c.location) \
         ) \
         INSERT INTO stock_cart_holds (sku, hold_id, location, quantity, expires_at) \
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::timestamptz[]) \
         ON CONFLICT (sku, hold_id, location) DO UPDATE SET quantity = excluded.quantity",
    )
    .bind(&skus)
    .bind(&holds)
    .bind(&locations)
    .bind(&quantities)
    .bind(&ends)
    .bind(&known_skus)
    .bind(&known_holds)
    .execute(conn)
    .await?;
    Ok(())
}

fn stored_location(raw: Option<String>) -> Result<LocationCode, StoreError> {
    let raw = raw.unwrap_or_else(|| LocationCode::DEFAULT.to_owned());
    LocationCode::parse(&raw)
        .map_err(|e| StoreError::InvalidState(format!("stock location {raw:?}: {e}")))
}

/// An order's reservation from its rows: open where a row has units,
/// settled when none has.
fn stored_reservation(rows: Vec<(LocationCode, Option<i64>)>) -> Result<Reservation, StoreError> {
    let mut open = BTreeMap::new();
    for (location, quantity) in rows {
        if let Some(units) = quantity {
            let q = Quantity::new(units).map_err(|e| {
                StoreError::InvalidState(format!("stock hold of {units} units: {e}"))
            })?;
            open.insert(location, q);
        }
    }
    Ok(if open.is_empty() {
        Reservation::Settled
    } else {
        Reservation::Open(open)
    })
}

/// A SKU's rows as (version, units per location, reservations by order).
pub type LevelRow = (
    i64,
    BTreeMap<LocationCode, Units>,
    Vec<(OrderId, Reservation)>,
);

/// The rows of a SKU as the full fold of its stream computes them. For
/// checks and tests.
pub async fn folded(conn: &mut PgConnection, sku: &str) -> Result<LevelRow, StoreError> {
    let (loaded, _) = fold_stream::<StockItem>(conn, sku, false).await?;
    let units = loaded
        .state
        .locations()
        .map(|(l, u)| (l.clone(), *u))
        .collect();
    let holds = loaded
        .state
        .reservations()
        .map(|(o, r)| (o, r.clone()))
        .collect();
    Ok((loaded.version, units, holds))
}

/// The rows of a SKU as stored, or `None` when the SKU has none.
pub async fn stored(conn: &mut PgConnection, sku: &str) -> Result<Option<LevelRow>, StoreError> {
    let Some(version) =
        sqlx::query_scalar::<_, i64>("SELECT version FROM stock_levels WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let mut units = BTreeMap::new();
    for row in sqlx::query(
        "SELECT location, on_hand, reserved, held FROM stock_location_levels WHERE sku = $1",
    )
    .bind(sku)
    .fetch_all(&mut *conn)
    .await?
    {
        units.insert(
            stored_location(row.try_get("location")?)?,
            Units {
                on_hand: row.try_get("on_hand")?,
                reserved: row.try_get("reserved")?,
                held: row.try_get("held")?,
            },
        );
    }
    let mut by_order: BTreeMap<OrderId, Vec<(LocationCode, Option<i64>)>> = BTreeMap::new();
    for row in sqlx::query(
        "SELECT order_id, location, quantity FROM stock_holds WHERE sku = $1 ORDER BY order_id",
    )
    .bind(sku)
    .fetch_all(&mut *conn)
    .await?
    {
        by_order
            .entry(OrderId(row.try_get("order_id")?))
            .or_default()
            .push((
                stored_location(row.try_get("location")?)?,
                row.try_get("quantity")?,
            ));
    }
    let holds = by_order
        .into_iter()
        .map(|(o, rows)| Ok((o, stored_reservation(rows)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some((version, units, holds)))
}
