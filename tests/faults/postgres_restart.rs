//! Postgres restarts under running services; every process reconnects by
//! itself.

use std::time::Duration;

use serde_json::{json, Value};

use crate::infra::{exclusive, restart_postgres, start_postgres, stop_postgres};
use crate::support::{eventually, System};

async fn order_and_wait_confirmed(sys: &System) {
    let placed = eventually("an order to be accepted", Duration::from_secs(60), || async {
        let r = sys
            .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "PG-1", "quantity": 1}]}))
            .await;
        if r.status() == 202 {
            r.json::<Value>().await.ok()
        } else {
            None
        }
    })
    .await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    let position = placed["position"].as_i64().unwrap();
    eventually(
        "the order to be confirmed and readable",
        Duration::from_secs(60),
        || async {
            let r = sys
                .http
                .get(format!("{}/v1/orders/{id}", sys.query_url()))
                .header("X-Min-Position", position.to_string())
                .send()
                .await
                .ok()?;
            let order: Value = r.json().await.ok()?;
            (order["status"] == "confirmed").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_process_reconnects_after_postgres_restarts() {
    let _serial = exclusive().await;
    let mut sys = System::start().await;
    sys.stock_product("PG-1", 100, 100).await;
    order_and_wait_confirmed(&sys).await;

    restart_postgres();

    order_and_wait_confirmed(&sys).await;
    let ready = sys
        .http
        .get(format!("{}/readyz", sys.command_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(sys.command.running() && sys.query.running());
    for worker in &mut sys.workers {
        assert!(worker.running(), "{} kept running", worker.name);
    }
}

/// Starts Postgres again even if the test fails half-way.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        start_postgres();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_process_stops_on_sigterm_while_postgres_is_down() {
    let _serial = exclusive().await;
    let mut sys = System::start().await;
    sys.stock_product("PG-2", 100, 100).await;
    order_and_wait_confirmed_sku(&sys, "PG-2").await;

    stop_postgres();
    let _restart = Restart;
    // Let every process notice and settle into its retry loop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let mut procs: Vec<&mut crate::support::Proc> = vec![&mut sys.command, &mut sys.query];
    procs.extend(sys.workers.iter_mut());
    for proc in procs {
        let status = proc.terminate().await;
        eprintln!(
            "{} stopped with {status} after {:?}",
            proc.name,
            started.elapsed()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "every process stopped within the grace period"
    );
}

async fn order_and_wait_confirmed_sku(sys: &System, sku: &str) {
    let placed: Value = sys
        .post(
            "/v1/orders",
            json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": sku, "quantity": 1}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = placed["order_id"].as_str().unwrap().to_owned();
    crate::support::shop::wait_status(sys, &id, "confirmed", Duration::from_secs(30)).await;
}
