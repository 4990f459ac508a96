//! Placing orders over HTTP against pgbench running the same statements.

use serde_json::json;

use crate::children::{start, BenchDb};
use crate::load::closed_loop;
use crate::pgbench::append_baseline;
use crate::stats::median;
use crate::{BenchConfig, Report};

/// Placing orders over HTTP against pgbench running the same statements.
pub async fn place_order(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let api = start(
        config,
        &db,
        "command-api",
        &[("STOCKROOM_DB_POOL_SIZE", "40")],
    )
    .await?;
    let base = api.url().to_owned();
    let registered = db
        .client()?
        .post(format!("{base}/v1/products"))
        .json(&json!({"sku": "BENCH-1", "name": "Bench", "unit_price": 100, "currency": "EUR"}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "registering the bench product failed"
    );
    let mut conn = db.pool.acquire().await?;
    let catalogue = store::catalogue_version(&mut conn).await?.0;
    drop(conn);
    let max = config.concurrency.iter().copied().max().unwrap_or(1);
    for &clients in &config.concurrency {
        let mut ours = Vec::new();
        let mut raw = Vec::new();
        for _ in 0..config.rounds {
            let url = format!("{base}/v1/orders");
            let (summary, failures) = closed_loop(&db.token, clients, config.warmup, config.duration, move |client, _| {
                let url = url.clone();
                async move {
                    let body = json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "BENCH-1", "quantity": 1}]});
                    client.post(url).json(&body).send().await.is_ok_and(|r| r.status().as_u16() == 202)
                }
            })
            .await;
            anyhow::ensure!(
                failures == 0,
                "{failures} orders failed at {clients} clients"
            );
            ours.push(summary);
            raw.push(append_baseline(&db.url, catalogue, clients, config.duration).await?);
        }
        let (ours, raw) = (median(&ours), median(&raw));
        report.remember(&format!("place-{clients}"), ours);
        report.remember(&format!("pgbench-{clients}"), raw);
        let target = (clients == max).then_some(0.8);
        report.throughput(
            &format!("place order, {clients} client(s): HTTP → event committed vs pgbench running the same statements"),
            "orders",
            ours,
            raw,
            target,
        );
    }
    api.stop().await;
    Ok(())
}
