//! All-or-nothing reservation: a refused line leaves no other line reserved.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{eventually, System};

#[tokio::test(flavor = "multi_thread")]
async fn an_order_with_an_out_of_stock_line_is_rejected_and_reserves_nothing() {
    let sys = System::start().await;
    sys.stock_product("AAA-1", 100, 5).await;
    sys.stock_product("BBB-1", 100, 1).await;

    let placed: Value = sys
        .post(
            "/v1/orders",
            json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "AAA-1", "quantity": 3}, {"sku": "BBB-1", "quantity": 2}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let order_id = placed["order_id"].as_str().unwrap().to_owned();

    let order: Value = eventually(
        "the order to be rejected",
        Duration::from_secs(30),
        || async {
            let o: Value = sys
                .get(&format!("/v1/orders/{order_id}"))
                .await
                .json()
                .await
                .unwrap();
            (o["status"] == "rejected").then_some(o)
        },
    )
    .await;
    assert_eq!(order["rejection"]["sku"], "BBB-1");
    assert!(order["rejection"]["reason"]
        .as_str()
        .unwrap()
        .contains("insufficient stock"));

    // The order's lines are reserved in one transaction: A's reservation
    // was rolled back with B's refusal and never reached the log.
    let a_events: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE stream_id = 'stock-AAA-1' ORDER BY stream_version",
    )
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(a_events, ["StockReceived"]);

    let a: Value = eventually(
        "A's stock to be free again",
        Duration::from_secs(30),
        || async {
            let p: Value = sys.get("/v1/products/AAA-1").await.json().await.unwrap();
            (p["version"].is_number() && p["reserved"] == 0 && p["available"] == 5).then_some(p)
        },
    )
    .await;
    assert_eq!(a["on_hand"], 5);
}
