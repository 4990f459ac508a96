//! The hot path's cached plans stay on the indexes: a plan made while its
//! tables were a few rows long (and analyzed so) reads no table whole once
//! they have grown, for the reservation's locked read and for the
//! projectors' batch statements.

use bus::Delivered;
use projector::orders::OrdersProjection;
use projector::projection::{scope_batch, LIVE_SCHEMA};
use projector::sales::SalesProjection;
use projector::Projection;
use sqlx::{Connection, PgConnection};

use crate::late_events::shipped_order;
use crate::support::db::table_scans as scans;
use crate::support::TestDb;

/// Freezes the statistics of `tables` at what they hold now: analyzed, and
/// never again by autovacuum while the test grows them.
async fn freeze_statistics(db: &TestDb, schema: &str, tables: &[&str]) {
    for table in tables {
        sqlx::raw_sql(&format!(
            "ALTER TABLE {schema}.{table} SET (autovacuum_enabled = off); \
             ANALYZE {schema}.{table}"
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
}

const STOCK_TABLES: &[&str] = &[
    "stock_levels",
    "stock_location_levels",
    "stock_holds",
    "stock_cart_holds",
];

/// SKUs `PLAN-{from..=to}`, each with a level, units at `default`, two
/// orders' holds and two cart holds, one of them lapsed.
async fn seed_stock(db: &TestDb, from: i64, to: i64) {
    sqlx::raw_sql(&format!(
        "INSERT INTO stock_levels (sku, version, last_position, transaction_id, on_hand, reserved) \
         SELECT 'PLAN-' || g, 1, g, pg_current_xact_id(), 10, 2 FROM generate_series({from}, {to}) g; \
         INSERT INTO stock_location_levels (sku, location, on_hand, reserved, held) \
         SELECT 'PLAN-' || g, 'default', 10, 2, 2 FROM generate_series({from}, {to}) g; \
         INSERT INTO stock_holds (sku, order_id, location, quantity) \
         SELECT 'PLAN-' || g, gen_random_uuid(), 'default', 1 \
         FROM generate_series({from}, {to}) g, generate_series(1, 2); \
         INSERT INTO stock_cart_holds (sku, hold_id, location, quantity, expires_at) \
         SELECT 'PLAN-' || g, gen_random_uuid(), 'default', 1, now() + (n - 1.5) * interval '1 hour' \
         FROM generate_series({from}, {to}) g, generate_series(1, 2) n"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
}

/// The locked read of one SKU, as a stock command makes it (an order's
/// hold and a cart hold asked for by id), in a transaction of its own.
async fn lock_one(conn: &mut PgConnection, sku: &str) -> (i64, (i64, i64)) {
    let mut tx = conn.begin().await.unwrap();
    let before = scans(&mut tx, "public", STOCK_TABLES).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_stock($1, $2, $3, $4)")
        .bind(vec![sku])
        .bind(vec![uuid::Uuid::new_v4()])
        .bind(vec![sku])
        .bind(vec![uuid::Uuid::new_v4()])
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let after = scans(&mut tx, "public", STOCK_TABLES).await;
    tx.rollback().await.unwrap();
    (rows, (after.0 - before.0, after.1 - before.1))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_locked_stock_read_keeps_to_the_indexes_as_its_tables_grow() {
    let db = TestDb::create().await;
    seed_stock(&db, 1, 3).await;
    freeze_statistics(&db, "public", STOCK_TABLES).await;
    // One session, as a pooled connection of the reservation process: its
    // plans are made now, against tables of three SKUs.
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    for _ in 0..6 {
        let (rows, _) = lock_one(&mut conn, "PLAN-2").await;
        assert_eq!(rows, 3, "the level, its units, its lapsed cart hold");
    }

    seed_stock(&db, 4, 20_000).await;
    let (rows, (seq, idx)) = lock_one(&mut conn, "PLAN-19999").await;
    assert_eq!(rows, 3);
    assert_eq!(seq, 0, "a stock table was read whole");
    assert!(
        idx >= 4,
        "each statement went by an index ({idx} index scans)"
    );
}

const ORDER_MODELS: &[&str] = &[
    "orders",
    "orders_pending_moves",
    "sales_order_lines",
    "sales_pending_counters",
    "sales_shipped_units",
    "daily_sales",
];

/// Applies `events` as one batch of both order projections; returns the
/// scans the batch made of their tables.
async fn apply_batch(conn: &mut PgConnection, events: &[Delivered]) -> (i64, i64) {
    let mut tx = conn.begin().await.unwrap();
    scope_batch(&mut tx, LIVE_SCHEMA).await.unwrap();
    let before = scans(&mut tx, LIVE_SCHEMA, ORDER_MODELS).await;
    OrdersProjection.apply_batch(&mut tx, events).await.unwrap();
    SalesProjection.apply_batch(&mut tx, events).await.unwrap();
    let after = scans(&mut tx, LIVE_SCHEMA, ORDER_MODELS).await;
    tx.commit().await.unwrap();
    (after.0 - before.0, after.1 - before.1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_order_projections_keep_to_the_indexes_as_their_tables_grow() {
    let db = TestDb::create().await;
    freeze_statistics(&db, LIVE_SCHEMA, ORDER_MODELS).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    // The projector's session makes its plans on the first few orders.
    for n in 0..6 {
        let events = shipped_order(&db, &format!("PLAN-{n}")).await;
        apply_batch(&mut conn, &events).await;
    }

    // 20,000 copies of each order row and line, under keys of their own.
    for table in ["orders", "sales_order_lines", "sales_shipped_units"] {
        sqlx::query(&format!(
            "INSERT INTO {LIVE_SCHEMA}.{table} \
             SELECT (jsonb_populate_record(t, jsonb_build_object('order_id', gen_random_uuid()))).* \
             FROM {LIVE_SCHEMA}.{table} t, generate_series(1, 3334)"
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.orders")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(orders > 20_000, "{orders} orders");

    let events = shipped_order(&db, "PLAN-LAST").await;
    let (seq, idx) = apply_batch(&mut conn, &events).await;
    assert_eq!(seq, 0, "a read model was read whole ({idx} index scans)");
    assert!(idx > 0);
    let status: String = sqlx::query_scalar(
        "SELECT status FROM read_models.orders o JOIN read_models.sales_order_lines l \
         USING (order_id) WHERE l.sku = 'PLAN-LAST'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(status, "shipped");
}
