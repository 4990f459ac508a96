//! Reservation latency on a SKU whose stream already holds a long history,
//! against the same on a fresh SKU, in the same run.

use std::time::{Duration, Instant};

use domain::stock::StockEvent;
use domain::{OrderId, Quantity, Sku, StreamCategory};
use serde_json::json;
use store::{append, encode, EventMetadata};

use crate::children::{start, BenchDb};
use crate::stats::{median, summarise};
use crate::{BenchConfig, Report};

const HOT: &str = "HOT-1";
const FRESH: &str = "FRESH-1";

/// Events appended per statement while seeding.
const SEED_BATCH: usize = 10_000;

/// Orders per SKU per round, placed one after another.
const ORDERS: usize = 50;

/// Placed → confirmed, one order at a time, on a SKU with a history of
/// `config.history` stock events against a fresh SKU. The first reservation
/// after the history was imported folds it once (no current-state row yet);
/// that one is reported apart.
pub async fn history(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    seed_history(&db, config.history).await?;
    let command = start(config, &db, "command-api", &[]).await?;
    let reserver = start(config, &db, "reserver", &[]).await?;
    let http = db.client()?;
    let base = command.url().to_owned();
    for sku in [HOT, FRESH] {
        let body = json!({"sku": sku, "name": "History", "unit_price": 100, "currency": "EUR"});
        let r = http
            .post(format!("{base}/v1/products"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "registering {sku} failed");
    }
    let r = http
        .post(format!("{base}/v1/stock/{FRESH}/receipts"))
        .json(&json!({"quantity": 1_000_000}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "receiving {FRESH} failed");

    let first_fold = place_and_confirm(&db, &http, &base, HOT, 1).await?;
    place_and_confirm(&db, &http, &base, FRESH, 1).await?;
    let (mut hot, mut fresh) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        let (mut h, mut f) = (Vec::new(), Vec::new());
        let started = Instant::now();
        for _ in 0..ORDERS {
            h.push(place_and_confirm(&db, &http, &base, HOT, 1).await?);
            f.push(place_and_confirm(&db, &http, &base, FRESH, 1).await?);
        }
        let elapsed = started.elapsed() / 2;
        hot.push(summarise(h, elapsed));
        fresh.push(summarise(f, elapsed));
    }
    reserver.stop().await;
    command.stop().await;
    let (hot, fresh) = (median(&hot), median(&fresh));
    report.latency_ratio(
        &format!(
            "reservation on a SKU with {} stock events vs a fresh SKU: placed → confirmed, one order at a time \
             (the first, which folded the imported history once: {:.0} ms)",
            config.history,
            first_fold.as_secs_f64() * 1e3
        ),
        hot,
        fresh,
        1.2,
    );
    Ok(())
}

/// `count` stock events on `HOT`: a receipt, then reservations each released
/// again, as years of sales and cancellations would leave them.
async fn seed_history(db: &BenchDb, count: usize) -> anyhow::Result<()> {
    let sku = Sku::parse(HOT)?;
    let one = Quantity::new(1)?;
    let mut events = vec![StockEvent::StockReceived {
        sku: sku.clone(),
        quantity: Quantity::new(1_000_000)?,
        reference: None,
        location: domain::LocationCode::default_location(),
    }];
    for n in 1..count {
        let order_id = OrderId(uuid::Uuid::from_u128(n as u128 / 2 + 1));
        events.push(if n % 2 == 1 {
            StockEvent::StockReserved {
                sku: sku.clone(),
                order_id,
                quantity: one,
                location: domain::LocationCode::default_location(),
            }
        } else {
            StockEvent::StockReleased {
                sku: sku.clone(),
                order_id,
                quantity: one,
                reason: "cancelled".into(),
                location: domain::LocationCode::default_location(),
            }
        });
    }
    let metadata = EventMetadata::new_correlation(None);
    let mut conn = db.pool.acquire().await?;
    let mut version = 0;
    for chunk in events.chunks(SEED_BATCH) {
        let encoded = chunk.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        version = append(
            &mut conn,
            StreamCategory::Stock,
            HOT,
            version,
            &encoded,
            &metadata,
        )
        .await?
        .version;
    }
    Ok(())
}

/// Places a one-line order of `units` of `sku` and waits until it is
/// decided; returns placed → confirmed as the log's own timestamps tell it.
pub(super) async fn place_and_confirm(
    db: &BenchDb,
    http: &reqwest::Client,
    base: &str,
    sku: &str,
    units: i64,
) -> anyhow::Result<Duration> {
    let body =
        json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": sku, "quantity": units}]});
    let placed: serde_json::Value = http
        .post(format!("{base}/v1/orders"))
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let order_id = placed["order_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("placing an order of {sku} failed: {placed}"))?
        .to_owned();
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let seconds: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM c.occurred_at - p.occurred_at)::float8 \
             FROM events p JOIN events c ON c.stream_id = p.stream_id \
             WHERE p.stream_id = 'order-' || $1 AND p.stream_version = 1 \
               AND c.event_type = 'OrderConfirmed'",
        )
        .bind(&order_id)
        .fetch_optional(&db.pool)
        .await?;
        if let Some(s) = seconds {
            return Ok(Duration::from_secs_f64(s.max(0.0)));
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "order {order_id} of {sku} was not confirmed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
