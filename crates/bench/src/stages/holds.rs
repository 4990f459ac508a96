//! A cart hold placed and converted against a plain order, at the same
//! open-loop rate in the same run: what a shopper waits from the first
//! request to a confirmed order. Plain: the placement's POST plus placed →
//! confirmed in the log (the reservation process confirms it). Hold: the
//! hold's POST plus the converting order's POST (confirmed in its own
//! transaction).

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use super::end_to_end::confirmation_waits;
use crate::children::{start, BenchDb};
use crate::stats::{median, summarise};
use crate::{BenchConfig, Report};

/// SKUs the holds and orders are spread over.
const SKUS: usize = 50;

fn any_sku() -> String {
    format!("HOLD-{}", uuid::Uuid::new_v4().as_u128() % SKUS as u128)
}

/// Posts `body` to `url`: the answer, if it succeeded.
async fn post(http: &reqwest::Client, url: String, body: Value) -> Option<Value> {
    let r = http.post(url).json(&body).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Runs both at `rate` per second for `duration`, `config.rounds` times,
/// interleaved round by round.
pub async fn holds(
    config: &BenchConfig,
    report: &mut Report,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let command = start(config, &db, "command-api", &[]).await?;
    let reserver = start(config, &db, "reserver", &[]).await?;
    let http = db.client()?;
    let c = command.url().to_owned();
    for i in 0..SKUS {
        let sku = format!("HOLD-{i}");
        for (path, body) in [
            (
                "/v1/products".to_owned(),
                json!({"sku": sku, "name": "Hold", "unit_price": 100, "currency": "EUR"}),
            ),
            (
                format!("/v1/stock/{sku}/receipts"),
                json!({"quantity": 1_000_000}),
            ),
        ] {
            post(&http, format!("{c}{path}"), body)
                .await
                .ok_or_else(|| anyhow::anyhow!("setting up {sku} failed"))?;
        }
    }
    let plain = |http: reqwest::Client, c: String| async move {
        let body = json!({"customer_id": "bench", "lines": [{"sku": any_sku(), "quantity": 1}]});
        let sent = Instant::now();
        let placed = post(&http, format!("{c}/v1/orders"), body).await?;
        Some((placed["order_id"].as_str()?.to_owned(), sent.elapsed()))
    };
    let converted = |http: reqwest::Client, c: String| async move {
        let lines = json!([{"sku": any_sku(), "quantity": 1}]);
        let sent = Instant::now();
        let held = post(&http, format!("{c}/v1/holds"), json!({"lines": lines})).await?;
        let body = json!({"customer_id": "bench", "lines": lines, "hold_id": held["hold_id"]});
        let order = post(&http, format!("{c}/v1/orders"), body).await?;
        (order["status"] == "confirmed").then(|| sent.elapsed())
    };
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (mut plains, mut holds) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        // Plain orders: POST, then placed → confirmed from the log.
        let mut ticker = tokio::time::interval(interval);
        let end = Instant::now() + duration;
        let mut tasks = Vec::new();
        while Instant::now() < end {
            ticker.tick().await;
            tasks.push(tokio::spawn(plain(http.clone(), c.clone())));
        }
        let placed: Vec<(String, Duration)> = join_all(tasks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        plains.push(summarise(
            confirmed_after_post(&db, &placed).await?,
            duration,
        ));
        // Holds converted into orders at the same rate.
        let mut ticker = tokio::time::interval(interval);
        let end = Instant::now() + duration;
        let mut tasks = Vec::new();
        while Instant::now() < end {
            ticker.tick().await;
            tasks.push(tokio::spawn(converted(http.clone(), c.clone())));
        }
        let took: Vec<Duration> = join_all(tasks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        holds.push(summarise(took, duration));
    }
    reserver.stop().await;
    command.stop().await;
    report.latency_ratio(
        &format!(
            "a hold placed and converted into an order vs a plain order, {rate}/s open loop: \
             first request → confirmed"
        ),
        median(&holds),
        median(&plains),
        1.0,
    );
    Ok(())
}

/// Each placed order's POST time plus its placed → confirmed in the log.
async fn confirmed_after_post(
    db: &BenchDb,
    placed: &[(String, Duration)],
) -> anyhow::Result<Vec<Duration>> {
    let ids: Vec<String> = placed.iter().map(|(id, _)| id.clone()).collect();
    let waited = confirmation_waits(db, &ids).await?;
    let never = Duration::from_secs(60);
    Ok(placed
        .iter()
        .map(|(id, post)| *post + waited.get(id).copied().unwrap_or(never))
        .collect())
}
