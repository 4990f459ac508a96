//! Read models converge with the log, survive crashes and rebuilds, and serve
//! read-your-writes, pagination and analysts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::process::run_tool;
use crate::support::shop::{assert_verified, place, wait_caught_up, wait_decided, wait_status};
use crate::support::{eventually, Proc, System};

const SKUS: [(&str, i64, i64); 5] = [
    ("DAY-A", 250, 120),
    ("DAY-B", 1000, 40),
    ("DAY-C", 499, 60),
    ("DAY-D", 12000, 8),
    ("DAY-E", 75, 200),
];

async fn stock_shop(sys: &System) {
    for (sku, price, units) in SKUS {
        sys.stock_product(sku, price, units).await;
    }
}

fn lines_for(i: usize) -> Vec<(&'static str, i64)> {
    let first = SKUS[i % SKUS.len()].0;
    let second = SKUS[(i * 7 + 3) % SKUS.len()].0;
    if i % 3 == 0 {
        vec![(first, 1 + (i % 4) as i64), (second, 1)]
    } else {
        vec![(first, 1 + (i % 3) as i64)]
    }
}

async fn post_ok(sys: &System, path: &str, body: Value) -> bool {
    sys.post(path, body).await.status() == 200
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_scripted_day_verify_finds_no_difference() {
    let sys = System::start_with(
        &[
            ("STOCKROOM_PAYMENT_TIMEOUT", "4s"),
            ("STOCKROOM_EXPIRY_INTERVAL", "250ms"),
        ],
        &["relay", "projector", "reserver"],
    )
    .await;
    stock_shop(&sys).await;
    let mut placed = Vec::new();
    for i in 0..240 {
        let order = place(
            &sys,
            uuid::Uuid::from_u128((i % 30) as u128 + 1),
            &lines_for(i),
        )
        .await;
        if i % 23 == 0 {
            // Some are cancelled straight away, often before their reservation.
            post_ok(
                &sys,
                &format!(
                    "/v1/orders/{}/cancellations",
                    order["order_id"].as_str().unwrap()
                ),
                json!({"reason": "oops"}),
            )
            .await;
        }
        placed.push(order);
    }
    wait_decided(&sys, 200).await;
    eventually("the reservations to settle", Duration::from_secs(60), || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT stream_id FROM events WHERE category = 'order' GROUP BY stream_id \
             HAVING count(*) FILTER (WHERE event_type <> 'OrderPlaced') = 0) o",
        )
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
        (pending == 0).then_some(())
    })
    .await;

    // Pay two thirds of the confirmed, ship half the paid, cancel some; the
    // rest stay unpaid and expire.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (i, order) in placed.iter().enumerate() {
        let id = order["order_id"].as_str().unwrap();
        let total = order["total"].as_i64().unwrap();
        let paid = i % 3 != 0
            && post_ok(
                &sys,
                &format!("/v1/orders/{id}/payments"),
                json!({"amount": total, "currency": "EUR"}),
            )
            .await;
        if paid {
            *counts.entry("paid").or_default() += 1;
            if i % 2 == 0
                && post_ok(
                    &sys,
                    &format!("/v1/orders/{id}/shipments"),
                    json!({"carrier": "DHL"}),
                )
                .await
            {
                *counts.entry("shipped").or_default() += 1;
            } else if i % 4 == 1
                && post_ok(
                    &sys,
                    &format!("/v1/orders/{id}/cancellations"),
                    json!({"reason": "refund"}),
                )
                .await
            {
                *counts.entry("cancelled").or_default() += 1;
            }
        }
    }
    assert!(counts.values().all(|n| *n > 5), "{counts:?}");
    // Counted in the log, not in `payment_deadlines`: the reservation
    // process sets a deadline when it reads the confirmation back, and a
    // transaction of a test running beside this one can hold every
    // follower in the cluster back, so an empty table may only mean "not
    // yet set".
    eventually(
        "unpaid orders to expire",
        Duration::from_secs(30),
        || async {
            let confirmed_left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT DISTINCT ON (stream_id) event_type FROM events \
                 WHERE category = 'order' ORDER BY stream_id, stream_version DESC) last \
                 WHERE event_type = 'OrderConfirmed'",
            )
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
            (confirmed_left == 0).then_some(())
        },
    )
    .await;
    // A last few stay confirmed (unpaid, not yet due).
    let mut last = Vec::new();
    for i in 0..5 {
        last.push(place(&sys, uuid::Uuid::new_v4(), &[("DAY-E", 1 + i)]).await);
    }
    for order in &last {
        let id = order["order_id"].as_str().unwrap();
        wait_status(&sys, id, "confirmed", Duration::from_secs(30)).await;
    }
    wait_caught_up(&sys).await;

    let summary: Value = sys.get("/v1/analytics/summary").await.json().await.unwrap();
    assert_eq!(summary["orders"], 245);
    for status in [
        "confirmed",
        "rejected",
        "paid",
        "shipped",
        "cancelled",
        "expired",
    ] {
        assert!(
            summary["orders_by_status"][status].as_i64().unwrap() > 0,
            "{status} in {summary}"
        );
    }
    assert_verified(&sys).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projector_killed_mid_batch_counts_nothing_twice() {
    let mut sys = System::start_with(
        &[("STOCKROOM_PROJECTOR_BATCH_SIZE", "10")],
        &["relay", "reserver"],
    )
    .await;
    stock_shop(&sys).await;
    for i in 0..120 {
        place(&sys, uuid::Uuid::new_v4(), &lines_for(i)).await;
    }
    wait_decided(&sys, 120).await;
    let confirmed: Vec<(String,)> =
        sqlx::query_as("SELECT aggregate_id FROM events WHERE event_type = 'OrderConfirmed'")
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
    for (id,) in &confirmed {
        let total: i64 = sqlx::query_scalar(
            "SELECT (data->>'total')::bigint FROM events WHERE aggregate_id = $1 AND event_type = 'OrderPlaced'",
        )
        .bind(id)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
        assert!(
            post_ok(
                &sys,
                &format!("/v1/orders/{id}/payments"),
                json!({"amount": total, "currency": "EUR"})
            )
            .await
        );
    }

    sys.spawn_worker("projector").await;
    eventually(
        "the projector to be part-way",
        Duration::from_secs(60),
        || async {
            let applied: i64 = sqlx::query_scalar(
                "SELECT coalesce((SELECT handled_events FROM subscriptions WHERE name = 'sales'), 0)",
            )
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
            (applied >= 60).then_some(())
        },
    )
    .await;
    sys.workers.last_mut().unwrap().kill_hard().await;
    // The same instance id takes its partitions back at once.
    let mut env = sys.env.clone();
    env.push((
        "STOCKROOM_INSTANCE_ID".into(),
        format!("extra-{}", sys.workers.len() - 1),
    ));
    sys.workers.push(Proc::spawn("projector", &[], &env).await);
    wait_caught_up(&sys).await;

    let (revenue, units): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(revenue_paid), 0)::bigint, coalesce(sum(units_confirmed), 0)::bigint FROM read_models.daily_sales",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    let (expected_revenue, expected_units): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum((p.data->>'total')::bigint), 0)::bigint, \
                coalesce(sum((SELECT sum((l->>'quantity')::bigint) FROM jsonb_array_elements(p.data->'lines') l)), 0)::bigint \
         FROM events p WHERE p.event_type = 'OrderPlaced' \
           AND EXISTS (SELECT 1 FROM events c WHERE c.aggregate_id = p.aggregate_id AND c.event_type = 'OrderPaid')",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (revenue, units),
        (expected_revenue, expected_units),
        "nothing counted twice"
    );
    assert_verified(&sys).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuilds_swap_in_while_orders_flow_and_reads_never_fail() {
    let sys = Arc::new(System::start().await);
    stock_shop(&sys).await;
    for i in 0..60 {
        place(&sys, uuid::Uuid::new_v4(), &lines_for(i)).await;
    }
    wait_decided(&sys, 60).await;
    let known = place(&sys, uuid::Uuid::new_v4(), &[("DAY-E", 1)]).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_caught_up(&sys).await;

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let (sys, stop) = (sys.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                place(&sys, uuid::Uuid::new_v4(), &lines_for(i)).await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            i
        }
    });
    let reader = tokio::spawn({
        let (sys, stop, failures, reads) =
            (sys.clone(), stop.clone(), failures.clone(), reads.clone());
        async move {
            let paths = [
                format!("/v1/orders/{known}"),
                "/v1/products/DAY-A".to_owned(),
                "/v1/analytics/sales/daily".to_owned(),
                "/v1/stock/DAY-B".to_owned(),
            ];
            while !stop.load(Ordering::Relaxed) {
                for path in &paths {
                    let status = sys.get(path).await.status();
                    reads.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        eprintln!("read {path} failed with {status}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    for name in ["orders", "sales", "catalogue"] {
        let (status, out) = run_tool(&["projections", "rebuild", name], &sys.env).await;
        assert!(status.success(), "rebuild {name}: {out}");
        assert!(out.contains(&format!("rebuilt {name}")), "{out}");
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    reader.await.unwrap();
    assert!(written > 0 && reads.load(Ordering::Relaxed) > 20);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "reads never fail during the swaps"
    );

    wait_decided(&sys, 61 + written as i64).await;
    wait_caught_up(&sys).await;
    assert_verified(&sys).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_a_read_model_that_drifted_from_the_log() {
    let sys = System::start_with(&[], &["relay", "projector"]).await;
    sys.stock_product("DRIFT-1", 100, 7).await;
    eventually(
        "the product to be projected",
        Duration::from_secs(60),
        || async { (sys.get("/v1/stock/DRIFT-1").await.status() == 200).then_some(()) },
    )
    .await;
    wait_caught_up(&sys).await;
    assert_verified(&sys).await;

    sqlx::query("UPDATE read_models.stock SET on_hand = on_hand + 1 WHERE sku = 'DRIFT-1'")
        .execute(&sys.db.pool)
        .await
        .unwrap();
    let (status, out) = run_tool(&["projections", "verify", "catalogue"], &sys.env).await;
    assert!(!status.success());
    assert!(out.contains("catalogue: table stock differs: 1 rows only in the live model, 1 only in the recomputed one"), "{out}");
}
