//! Reservation latency on a SKU stocked at eight locations against the same
//! on a SKU at one, in the same run, one order at a time, interleaved.

use std::time::Instant;

use serde_json::json;

use super::history::place_and_confirm;
use crate::children::{start, BenchDb};
use crate::stats::{median, summarise};
use crate::{BenchConfig, Report};

const SPREAD: &str = "SPREAD-1";
const SINGLE: &str = "SINGLE-1";

/// Locations `SPREAD` is stocked at, `default` included.
const LOCATIONS: usize = 8;

/// Orders per SKU per round.
const ORDERS: usize = 50;

/// Placed → confirmed of two-unit orders: on a SKU with one unit at each of
/// eight locations per order (so allocation walks them and every order is
/// split over two) against a SKU whose stock is all at `default`.
pub async fn locations(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let command = start(config, &db, "command-api", &[]).await?;
    let reserver = start(config, &db, "reserver", &[]).await?;
    let http = db.client()?;
    let base = command.url().to_owned();
    let post = |path: String, body: serde_json::Value| {
        let request = http.post(format!("{base}{path}")).json(&body);
        async move {
            let r = request.send().await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            anyhow::Ok(())
        }
    };
    for n in 1..LOCATIONS {
        post(
            "/v1/locations".into(),
            json!({"code": format!("site-{n}"), "name": format!("Site {n}"), "priority": n}),
        )
        .await?;
    }
    let orders = (config.rounds * ORDERS + 1) as i64;
    for sku in [SPREAD, SINGLE] {
        post(
            "/v1/products".into(),
            json!({"sku": sku, "name": "Locations", "unit_price": 100, "currency": "EUR"}),
        )
        .await?;
    }
    // Each site holds what one order per round takes, so the walk crosses
    // locations as the run goes on.
    for n in 0..LOCATIONS {
        let location = if n == 0 {
            "default".to_owned()
        } else {
            format!("site-{n}")
        };
        post(
            format!("/v1/stock/{SPREAD}/receipts"),
            json!({"quantity": orders * 2 / LOCATIONS as i64 + 2, "location": location}),
        )
        .await?;
    }
    post(
        format!("/v1/stock/{SINGLE}/receipts"),
        json!({"quantity": orders * 2 + 2}),
    )
    .await?;

    place_and_confirm(&db, &http, &base, SPREAD, 2).await?;
    place_and_confirm(&db, &http, &base, SINGLE, 2).await?;
    let (mut spread, mut single) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        let (mut s, mut o) = (Vec::new(), Vec::new());
        let started = Instant::now();
        for _ in 0..ORDERS {
            s.push(place_and_confirm(&db, &http, &base, SPREAD, 2).await?);
            o.push(place_and_confirm(&db, &http, &base, SINGLE, 2).await?);
        }
        let elapsed = started.elapsed() / 2;
        spread.push(summarise(s, elapsed));
        single.push(summarise(o, elapsed));
    }
    reserver.stop().await;
    command.stop().await;
    report.latency_ratio(
        &format!(
            "reservation on a SKU stocked at {LOCATIONS} locations vs at one: placed → confirmed, \
             one two-unit order at a time"
        ),
        median(&spread),
        median(&single),
        1.3,
    );
    Ok(())
}
