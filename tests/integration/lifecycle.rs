//! Pay, ship, cancel and expire: what each state allows.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::shop::wait_status;
use crate::support::{eventually, System};

async fn place(sys: &System, sku: &str, quantity: i64) -> String {
    let r: Value = sys
        .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": sku, "quantity": quantity}]}))
        .await
        .json()
        .await
        .unwrap();
    r["order_id"].as_str().unwrap().to_owned()
}

async fn stock(sys: &System, sku: &str) -> (i64, i64) {
    let p: Value = sys
        .get(&format!("/v1/products/{sku}"))
        .await
        .json()
        .await
        .unwrap();
    (
        p["on_hand"].as_i64().unwrap(),
        p["reserved"].as_i64().unwrap(),
    )
}

async fn wait_stock(sys: &System, sku: &str, wanted: (i64, i64)) {
    eventually(
        &format!("{sku} stock to be {wanted:?}"),
        Duration::from_secs(30),
        || async { (stock(sys, sku).await == wanted).then_some(()) },
    )
    .await;
}

/// Posts a command that the order's state forbids: 409, and nothing is
/// appended to the order (other streams may move meanwhile: the reservation
/// process commits stock after a shipment).
async fn forbidden(sys: &System, path: &str, body: Value) {
    let order = path.split('/').nth(3).expect("an order path");
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE stream_id = 'order-' || $1")
            .bind(order)
            .fetch_one(&sys.db.pool)
            .await
            .unwrap()
    };
    let before = count().await;
    let r = sys.post(path, body).await;
    assert_eq!(r.status(), 409, "{path}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(count().await, before, "{path} appended nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn pay_ship_and_cancel_follow_the_lifecycle() {
    let sys = System::start().await;
    sys.stock_product("LIFE-1", 700, 10).await;
    let order = place(&sys, "LIFE-1", 2).await;
    wait_status(&sys, &order, "confirmed", Duration::from_secs(30)).await;
    wait_stock(&sys, "LIFE-1", (10, 2)).await;

    // Shipping an unpaid order, or paying the wrong amount, is refused.
    forbidden(&sys, &format!("/v1/orders/{order}/shipments"), json!({})).await;
    let wrong = sys
        .post(
            &format!("/v1/orders/{order}/payments"),
            json!({"amount": 1, "currency": "EUR"}),
        )
        .await;
    assert_eq!(wrong.status(), 422);

    let paid = sys
        .post(
            &format!("/v1/orders/{order}/payments"),
            json!({"amount": 1400, "currency": "EUR", "reference": "psp-9"}),
        )
        .await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    forbidden(
        &sys,
        &format!("/v1/orders/{order}/payments"),
        json!({"amount": 1400, "currency": "EUR"}),
    )
    .await;

    let shipped = sys
        .post(
            &format!("/v1/orders/{order}/shipments"),
            json!({"carrier": "DHL", "tracking_number": "JD01"}),
        )
        .await;
    assert_eq!(shipped.status(), 200);
    forbidden(
        &sys,
        &format!("/v1/orders/{order}/cancellations"),
        json!({"reason": "too late"}),
    )
    .await;
    // Shipping commits the reserved units: they leave on-hand and reserved.
    wait_stock(&sys, "LIFE-1", (8, 0)).await;

    // A cancelled order releases its stock and cannot be paid.
    let second = place(&sys, "LIFE-1", 3).await;
    wait_status(&sys, &second, "confirmed", Duration::from_secs(30)).await;
    wait_stock(&sys, "LIFE-1", (8, 3)).await;
    let cancelled = sys
        .post(
            &format!("/v1/orders/{second}/cancellations"),
            json!({"reason": "changed mind"}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    wait_stock(&sys, "LIFE-1", (8, 0)).await;
    forbidden(
        &sys,
        &format!("/v1/orders/{second}/payments"),
        json!({"amount": 2100, "currency": "EUR"}),
    )
    .await;

    // Unknown orders are 404.
    let missing = sys
        .post(
            &format!("/v1/orders/{}/cancellations", uuid::Uuid::new_v4()),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_order_left_unpaid_expires_and_releases_its_stock() {
    let sys = System::start_with(
        &[
            ("STOCKROOM_PAYMENT_TIMEOUT", "2s"),
            ("STOCKROOM_EXPIRY_INTERVAL", "200ms"),
        ],
        &["relay", "projector", "reserver"],
    )
    .await;
    sys.stock_product("EXP-1", 300, 4).await;
    let order = place(&sys, "EXP-1", 4).await;
    wait_status(&sys, &order, "confirmed", Duration::from_secs(30)).await;
    wait_status(&sys, &order, "expired", Duration::from_secs(30)).await;
    wait_stock(&sys, "EXP-1", (4, 0)).await;
    forbidden(
        &sys,
        &format!("/v1/orders/{order}/payments"),
        json!({"amount": 1200, "currency": "EUR"}),
    )
    .await;
    let expirations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderExpired'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(expirations, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_makes_a_command_conditional_on_the_stream_version() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("COND-1", 100, 0).await;
    let url = format!("{}/v1/products/COND-1/price", sys.command_url());
    let stale = sys
        .http
        .put(&url)
        .header("If-Match", "\"7\"")
        .json(&json!({"unit_price": 120, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["current_version"], 1);
    let fresh = sys
        .http
        .put(&url)
        .header("If-Match", "\"1\"")
        .json(&json!({"unit_price": 120, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(fresh.json::<Value>().await.unwrap()["version"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discontinued_product_cannot_be_ordered_and_prices_come_from_the_catalogue() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("OLD-1", 100, 5).await;
    sys.stock_product("NEW-1", 100, 5).await;
    let r = sys
        .http
        .put(format!("{}/v1/products/NEW-1/price", sys.command_url()))
        .json(&json!({"unit_price": 250, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = sys.post("/v1/products/OLD-1/discontinue", json!({})).await;
    assert_eq!(r.status(), 200);

    let before = sys.db.event_count().await;
    let refused = sys
        .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "OLD-1", "quantity": 1}]}))
        .await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "lines[0].sku");
    assert_eq!(sys.db.event_count().await, before);

    let placed: Value = sys
        .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "NEW-1", "quantity": 2}]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        placed["total"], 500,
        "the price at placement, not at registration"
    );
}
