//! Idempotency-Key: one execution, identical answers.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::system::post_with_key;
use crate::support::System;

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_posts_with_one_key_place_one_order_and_answer_identically() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("IDEM-1", 250, 100).await;
    let before = sys.db.event_count().await;
    let body =
        json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "IDEM-1", "quantity": 1}]});
    let url = format!("{}/v1/orders", sys.command_url());

    let responses = join_all((0..10).map(|_| {
        let client = sys.client();
        let (url, body) = (url.clone(), body.clone());
        async move { post_with_key(&client, &url, "order-attempt-1", &body).await }
    }))
    .await;

    let first = &responses[0];
    assert_eq!(first.0, 202);
    assert!(
        responses.iter().all(|r| r == first),
        "identical answers: {responses:?}"
    );
    assert_eq!(sys.db.event_count().await, before + 1, "one OrderPlaced");

    // The same key with another body is refused and appends nothing.
    let other = sys
        .http
        .post(&url)
        .header("Idempotency-Key", "order-attempt-1")
        .json(&json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "IDEM-1", "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    assert_eq!(sys.db.event_count().await, before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_command_replays_its_rejection() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("IDEM-2", 250, 1).await;
    let adjust = |key: &'static str| {
        sys.http
            .post(format!("{}/v1/stock/IDEM-2/adjustments", sys.command_url()))
            .header("Idempotency-Key", key)
            .json(&json!({"delta": -5, "reason": "count"}))
            .send()
    };
    let first = adjust("adj-1").await.unwrap();
    assert_eq!(first.status(), 409);
    let first_body: Value = first.json().await.unwrap();
    // Receive more stock: a fresh attempt would now succeed, the replay must not.
    let r = sys
        .post("/v1/stock/IDEM-2/receipts", json!({"quantity": 10}))
        .await;
    assert_eq!(r.status(), 200);
    let replay = adjust("adj-1").await.unwrap();
    assert_eq!(replay.status(), 409);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first_body);
}
