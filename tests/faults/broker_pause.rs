//! The broker stops answering for 20 s: commands are still accepted, and the
//! pipeline catches up afterwards without losing anything.

use std::time::Duration;

use serde_json::{json, Value};

use crate::infra::{broker_pid, exclusive};
use crate::support::process::signal;
use crate::support::{eventually, System};

/// Resumes the broker even if the test fails half-way.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_are_accepted_while_the_broker_is_paused_and_nothing_is_lost() {
    let _serial = exclusive().await;
    let sys = System::start().await;
    sys.stock_product("PAUSE-1", 100, 1_000).await;

    let broker = broker_pid();
    signal(broker, "STOP");
    let resume = Resume(broker);
    let paused_at = tokio::time::Instant::now();
    let mut orders = Vec::new();
    while paused_at.elapsed() < Duration::from_secs(20) {
        let r = sys
            .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "PAUSE-1", "quantity": 1}]}))
            .await;
        assert_eq!(r.status(), 202, "accepted while the broker is paused");
        orders.push(
            r.json::<Value>().await.unwrap()["order_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(resume);
    assert!(orders.len() >= 40);

    eventually(
        "every order to be confirmed after the broker returns",
        Duration::from_secs(120),
        || async {
            let confirmed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events WHERE event_type = 'OrderConfirmed'",
            )
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
            (confirmed == orders.len() as i64).then_some(())
        },
    )
    .await;
    for order in &orders {
        let r = sys.get(&format!("/v1/orders/{order}")).await;
        assert_eq!(r.status(), 200, "order {order} reached the read model");
    }
    let product: Value = eventually("stock to settle", Duration::from_secs(60), || async {
        let p: Value = sys.get("/v1/products/PAUSE-1").await.json().await.unwrap();
        (p["reserved"] == orders.len()).then_some(p)
    })
    .await;
    assert_eq!(product["available"], 1_000 - orders.len() as i64);
}
