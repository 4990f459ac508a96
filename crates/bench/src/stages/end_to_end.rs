//! Placed → confirmed and accepted → visible under a steady load.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::children::{start, BenchDb};
use crate::stats::{median, summarise, Summary};
use crate::{BenchConfig, Report};

/// Pause before asking again after a read that timed out (503).
const POLL: Duration = Duration::from_millis(10);

/// SKUs the end-to-end orders are spread over.
const SKUS: usize = 50;

/// Accepted → visible in the query API, under a steady offered load, against
/// the sum of the stage latencies measured above.
pub async fn end_to_end(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let command = start(config, &db, "command-api", &[]).await?;
    let query = start(config, &db, "query-api", &[("STOCKROOM_MAX_WAIT", "10s")]).await?;
    let workers = [
        start(config, &db, "relay", &[]).await?,
        start(config, &db, "projector", &[]).await?,
        start(config, &db, "reserver", &[]).await?,
    ];
    let http = db.client()?;
    let (c, q) = (command.url().to_owned(), query.url().to_owned());
    // Orders spread over a catalogue, as in a shop: every reservation of one
    // SKU re-reads that SKU's stream (no snapshots yet), so a single hot SKU
    // would measure that instead of the pipeline.
    for i in 0..SKUS {
        let sku = format!("E2E-{i}");
        for (path, body) in [
            (
                "/v1/products".to_owned(),
                json!({"sku": sku, "name": "E2E", "unit_price": 100, "currency": "EUR"}),
            ),
            (
                format!("/v1/stock/{sku}/receipts"),
                json!({"quantity": 1_000_000}),
            ),
        ] {
            let r = http.post(format!("{c}{path}")).json(&body).send().await?;
            anyhow::ensure!(r.status().is_success(), "setting up {sku} failed");
        }
    }
    // Returns the order id and how long it took to become readable.
    let one = |http: reqwest::Client, c: String, q: String| async move {
        let sku = format!("E2E-{}", uuid::Uuid::new_v4().as_u128() % SKUS as u128);
        let body =
            json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": sku, "quantity": 1}]});
        let placed: Value = http
            .post(format!("{c}/v1/orders"))
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let accepted = Instant::now();
        let order_id = uuid::Uuid::parse_str(placed["order_id"].as_str()?).ok()?;
        let url = format!("{q}/v1/orders/{order_id}");
        let give_up = accepted + Duration::from_secs(30);
        let position = placed["position"].as_i64()?;
        // One read that waits server-side for the order's position
        // (read-your-writes), as a frontend would: no polling load.
        while Instant::now() < give_up {
            let read = http
                .get(&url)
                .header("X-Min-Position", position)
                .send()
                .await
                .ok()?;
            if read.status().is_success() {
                return Some((order_id, accepted.elapsed()));
            }
            tokio::time::sleep(POLL).await;
        }
        None
    };
    // Warm up until the pipeline answers at all (consumer groups join in seconds).
    let warm_until = Instant::now() + Duration::from_secs(60);
    while one(http.clone(), c.clone(), q.clone()).await.is_none() {
        anyhow::ensure!(
            Instant::now() < warm_until,
            "the pipeline never delivered an order"
        );
    }
    let (mut visible_rounds, mut confirmed_rounds) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        let interval = Duration::from_secs_f64(1.0 / f64::from(config.e2e_rate.max(1)));
        let mut ticker = tokio::time::interval(interval);
        let end = Instant::now() + config.e2e_duration;
        let mut tasks = Vec::new();
        while Instant::now() < end {
            ticker.tick().await;
            tasks.push(tokio::spawn(one(http.clone(), c.clone(), q.clone())));
        }
        let results: Vec<(uuid::Uuid, Duration)> = join_all(tasks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        let ids: Vec<uuid::Uuid> = results.iter().map(|(id, _)| *id).collect();
        let latencies = results.into_iter().map(|(_, d)| d).collect();
        visible_rounds.push(summarise(latencies, config.e2e_duration));
        confirmed_rounds.push(placed_to_confirmed(&db, &ids, config.e2e_duration).await?);
    }
    for w in workers {
        w.stop().await;
    }
    command.stop().await;
    query.stop().await;
    let (place, read) = (report.recall("place-1"), report.recall("query"));
    let per_event =
        |name: &str| Duration::from_secs_f64(1.0 / report.recall(name).per_second.max(1e-9));
    let pipeline = per_event("relay") + per_event("projector");
    let sum = Summary {
        per_second: 0.0,
        p50: place.p50 + read.p50 + pipeline,
        p99: place.p99 + read.p99 + pipeline,
    };
    report.latency(
        &format!(
            "end to end at {} orders/s offered for {:?}: placed → confirmed (in the log) vs sum of stage latencies",
            config.e2e_rate, config.e2e_duration
        ),
        median(&confirmed_rounds),
        sum,
        Duration::from_millis(100),
    );
    report.latency(
        &format!(
            "end to end at {} orders/s offered for {:?}: accepted → visible (query API) vs sum of stage latencies",
            config.e2e_rate, config.e2e_duration
        ),
        median(&visible_rounds),
        sum,
        Duration::from_millis(150),
    );
    Ok(())
}

/// Placed → confirmed of `orders`, from the log: the confirmation's append
/// time less the placement's. Waits (bounded) for every order to be decided;
/// an order never confirmed counts as the longest wait.
async fn placed_to_confirmed(
    db: &BenchDb,
    orders: &[uuid::Uuid],
    elapsed: Duration,
) -> anyhow::Result<Summary> {
    let ids: Vec<String> = orders.iter().map(ToString::to_string).collect();
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let decided: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE category = 'order' AND aggregate_id = ANY($1) \
               AND event_type IN ('OrderConfirmed', 'OrderRejected')",
        )
        .bind(&ids)
        .fetch_one(&db.pool)
        .await?;
        if decided >= ids.len() as i64 || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds: Vec<f64> = sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM c.occurred_at - p.occurred_at)::float8, 60) \
         FROM events p LEFT JOIN events c \
           ON c.stream_id = p.stream_id AND c.event_type = 'OrderConfirmed' \
         WHERE p.category = 'order' AND p.event_type = 'OrderPlaced' AND p.aggregate_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&db.pool)
    .await?;
    let latencies = seconds
        .into_iter()
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
        .collect();
    Ok(summarise(latencies, elapsed))
}
