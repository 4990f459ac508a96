//! The catalogue's version and the order placement that relies on it: one
//! conditional append per order, priced from products each command API
//! process keeps (database-level and router tests over a real Postgres).

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use domain::product::ProductCommand;
use domain::{Currency, Money, Sku};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use store::{CatalogueVersion, EventMetadata, RetryPolicy, StreamAppend};
use tower::ServiceExt;
use uuid::Uuid;

use crate::router::command_app;
use crate::support::db::table_scans;
use crate::support::TestDb;

async fn version(db: &TestDb) -> i64 {
    store::catalogue_version(&mut db.pool.acquire().await.unwrap())
        .await
        .unwrap()
        .0
}

pub(crate) async fn register(db: &TestDb, sku: &str, minor: i64) {
    let sku = Sku::parse(sku).unwrap();
    let command = ProductCommand::Register {
        sku: sku.clone(),
        name: "Tea".into(),
        price: Money::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
    };
    store::execute::<domain::product::Product>(
        &db.pool,
        sku.as_str(),
        command,
        &EventMetadata::new_correlation(None),
        RetryPolicy::default(),
    )
    .await
    .unwrap();
}

/// A new order stream of one event (its payload does not matter here).
pub(crate) fn order_stream() -> StreamAppend {
    let event = store::encode(&domain::order::OrderEvent::OrderCancelled {
        order_id: domain::OrderId(Uuid::new_v4()),
        reason: "test".into(),
        previous_status: domain::order::OrderStatus::Placed,
    })
    .unwrap();
    StreamAppend {
        category: domain::StreamCategory::Order,
        aggregate_id: Uuid::new_v4().to_string(),
        expected_version: 0,
        events: vec![(event, EventMetadata::new_correlation(None))],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_product_event_bumps_the_catalogue_version_in_its_own_transaction() {
    let db = TestDb::create().await;
    assert_eq!(version(&db).await, 0);
    register(&db, "TEA-1", 100).await;
    register(&db, "TEA-2", 100).await;
    assert_eq!(version(&db).await, 2);

    // An order's events leave it alone.
    let mut conn = db.pool.acquire().await.unwrap();
    store::append_streams(&mut conn, &[order_stream()])
        .await
        .unwrap();
    assert_eq!(version(&db).await, 2);

    // A product event that rolls back takes its bump with it.
    let mut tx = conn.begin().await.unwrap();
    let changed = store::encode(&domain::product::ProductEvent::ProductDiscontinued {
        sku: Sku::parse("TEA-1").unwrap(),
    })
    .unwrap();
    store::append(
        &mut tx,
        domain::StreamCategory::Product,
        "TEA-1",
        1,
        &[changed],
        &EventMetadata::new_correlation(None),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(version(&db).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_priced_at_an_old_catalogue_version_inserts_nothing() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let read_at = store::catalogue_version(&mut conn).await.unwrap();

    let landed = store::append_streams_priced_at(&mut conn, &[order_stream()], read_at)
        .await
        .unwrap();
    assert_eq!(landed.map(|r| r.len()), Some(1));

    register(&db, "TEA-2", 100).await;
    let before = db.event_count().await;
    let stale = store::append_streams_priced_at(&mut conn, &[order_stream()], read_at)
        .await
        .unwrap();
    assert_eq!(stale, None);
    assert_eq!(db.event_count().await, before);
    assert_eq!(
        store::catalogue_version(&mut conn).await.unwrap(),
        CatalogueVersion(read_at.0 + 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_reads_keep_to_the_index_after_the_log_grows_under_a_connection() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let orders = |from: i64, to: i64| {
        sqlx::query(
            "INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, \
                                 event_type, schema_version, data, correlation_id) \
             SELECT gen_random_uuid(), 'order-' || g, 'order', g::text, 1, 'OrderCancelled', 1, \
                    '{}'::jsonb, gen_random_uuid() FROM generate_series($1::bigint, $2) g",
        )
        .bind(from)
        .bind(to)
        .execute(&db.pool)
    };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    // Postgres picks a generic plan for a statement by itself after five
    // runs when it costs no more than the custom ones; on a log this young
    // the generic plan is a sequential scan. Force that choice here.
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .await
        .unwrap();
    store::load_many::<domain::product::Product>(&mut conn, &["TEA-1"])
        .await
        .unwrap();
    orders(1, 50_000).await.unwrap();

    // The counters of this backend not yet reported, before and after.
    let mut tx = conn.begin().await.unwrap();
    let (seq_before, idx_before) = table_scans(&mut tx, "public", &["events"]).await;
    let read = store::load_many::<domain::product::Product>(&mut tx, &["TEA-1"])
        .await
        .unwrap();
    assert!(read["TEA-1"].state.registered().is_some());
    let (seq_after, idx_after) = table_scans(&mut tx, "public", &["events"]).await;
    assert_eq!(seq_after - seq_before, 0, "the read scanned the whole log");
    assert!(idx_after > idx_before);
}

async fn send(
    app: &Router,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn place(app: &Router, token: &str, sku: &str) -> (StatusCode, Value) {
    let order = json!({"customer_id": Uuid::new_v4(), "lines": [{"sku": sku, "quantity": 2}]});
    send(app, token, "POST", "/v1/orders", order).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_priced_from_the_catalogue_as_changed_by_another_process() {
    let db = TestDb::create().await;
    let token = db.create_key("admin", None).await;
    // Two command API processes over one database, each with its own copy.
    let (staff, shop) = (command_app(db.pool.clone()), command_app(db.pool.clone()));
    let product = json!({"sku": "TEA-1", "name": "Tea", "unit_price": 100, "currency": "EUR"});
    assert_eq!(
        send(&staff, &token, "POST", "/v1/products", product)
            .await
            .0,
        StatusCode::CREATED
    );

    let (status, first) = place(&shop, &token, "TEA-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["total"], 200);

    let price = json!({"unit_price": 250, "currency": "EUR"});
    let (status, _) = send(&staff, &token, "PUT", "/v1/products/TEA-1/price", price).await;
    assert_eq!(status, StatusCode::OK);
    let (status, second) = place(&shop, &token, "TEA-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    assert_eq!(second["total"], 500, "priced from the changed catalogue");

    let (status, _) = send(
        &staff,
        &token,
        "POST",
        "/v1/products/TEA-1/discontinue",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let before = db.event_count().await;
    let (status, refused) = place(&shop, &token, "TEA-1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        db.event_count().await,
        before,
        "a refused order appends nothing"
    );
}
