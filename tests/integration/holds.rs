//! Cart holds against the real processes (api.md v1.2, Holds): all or
//! nothing, exact expiry from the shopper's side, conversion into an order
//! exactly once, channels, and races for the last units.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::support::system::client_with;
use crate::support::{eventually, System};

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    let r = client
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post(client: &reqwest::Client, sys: &System, path: &str, body: Value) -> (u16, Value) {
    send(
        client,
        reqwest::Method::POST,
        format!("{}{path}", sys.command_url()),
        body,
    )
    .await
}

async fn hold(sys: &System, lines: Value, ttl_seconds: Option<i64>) -> (u16, Value) {
    let mut body = json!({"lines": lines});
    if let Some(ttl) = ttl_seconds {
        body["ttl_seconds"] = json!(ttl);
    }
    post(&sys.client(), sys, "/v1/holds", body).await
}

async fn read_hold(client: &reqwest::Client, sys: &System, id: &str) -> (u16, Value) {
    let r = client
        .get(format!("{}/v1/holds/{id}", sys.query_url()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The SKU's units at `location` as its current-state row has them:
/// (on hand, reserved, held).
async fn units(sys: &System, sku: &str, location: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT on_hand, reserved, held FROM stock_location_levels WHERE sku = $1 AND location = $2",
    )
    .bind(sku)
    .bind(location)
    .fetch_one(&sys.db.pool)
    .await
    .unwrap()
}

fn expires_at(answer: &Value) -> DateTime<Utc> {
    answer["expires_at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_keeps_its_units_from_everyone_until_it_is_released() {
    let sys = System::start_with(&[], &["reserver"]).await;
    sys.stock_product("MUG-1", 1200, 5).await;
    sys.stock_product("TEA-1", 500, 1).await;

    let (status, held) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 4}]), None).await;
    assert_eq!(status, 201, "{held}");
    assert_eq!(held["status"], "active");
    assert_eq!(
        held["lines"],
        json!([{"sku": "MUG-1", "quantity": 4, "location": "default"}])
    );
    let default_end = expires_at(&held) - Utc::now();
    assert!(
        (14 * 60..=15 * 60).contains(&default_end.num_seconds()),
        "default TTL is 15 min: {default_end}"
    );
    assert_eq!(units(&sys, "MUG-1", "default").await, (5, 0, 4));
    let id = held["hold_id"].as_str().unwrap().to_owned();

    // All or nothing, and every short line is named.
    let (status, short) = hold(
        &sys,
        json!([{"sku": "MUG-1", "quantity": 2}, {"sku": "TEA-1", "quantity": 3}]),
        None,
    )
    .await;
    assert_eq!(status, 409, "{short}");
    assert_eq!(short["type"], "urn:stockroom:problem:insufficient-stock");
    let named: Vec<(&str, i64, i64)> = short["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap(),
                l["requested"].as_i64().unwrap(),
                l["available"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(named, [("MUG-1", 2, 1), ("TEA-1", 3, 1)]);
    assert_eq!(
        units(&sys, "TEA-1", "default").await,
        (1, 0, 0),
        "nothing held"
    );

    // An order cannot have the held units either.
    let (status, placed) = post(
        &sys.client(),
        &sys,
        "/v1/orders",
        json!({"customer_id": "c-1", "lines": [{"sku": "MUG-1", "quantity": 2}]}),
    )
    .await;
    assert_eq!(status, 202, "{placed}");
    let order = placed["order_id"].as_str().unwrap().to_owned();
    eventually("the order to be rejected", Duration::from_secs(60), || async {
        let rejected: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_id = $1 AND event_type = 'OrderRejected')",
        )
        .bind(&order)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
        rejected.then_some(())
    })
    .await;

    let (status, read) = read_hold(&sys.client(), &sys, &id).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["status"], "active");

    let (status, released) = post(
        &sys.client(),
        &sys,
        &format!("/v1/holds/{id}/releases"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["status"], "released");
    assert_eq!(units(&sys, "MUG-1", "default").await, (5, 0, 0));
    // Releasing again changes nothing; extending a released hold is refused.
    let (status, again) = post(
        &sys.client(),
        &sys,
        &format!("/v1/holds/{id}/releases"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, again["version"].clone()),
        (200, released["version"].clone())
    );
    let (status, _) = post(
        &sys.client(),
        &sys,
        &format!("/v1/holds/{id}/extensions"),
        json!({"ttl_seconds": 60}),
    )
    .await;
    assert_eq!(status, 409);

    let (status, held) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 5}]), None).await;
    assert_eq!(status, 201, "{held}");
    crate::support::shop::check_every_version(&sys, "MUG-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_hold_holds_nothing_even_before_its_expiry_is_written() {
    // No reservation process yet: nothing writes expiries.
    let mut sys = System::start_with(&[], &[]).await;
    sys.stock_product("MUG-1", 1200, 5).await;
    let (status, first) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 5}]), Some(1)).await;
    assert_eq!(status, 201, "{first}");
    let id = first["hold_id"].as_str().unwrap().to_owned();
    let (status, _) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 1}]), None).await;
    assert_eq!(
        status, 409,
        "the first hold keeps every unit while it lasts"
    );

    let wait = (expires_at(&first) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    let (_, read) = read_hold(&sys.client(), &sys, &id).await;
    assert_eq!(
        read["status"], "expired",
        "past its end before any expiry is written"
    );
    let expiries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'HoldExpired'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(expiries, 0);

    // The next hold short of stock releases the lapsed one's units itself.
    let (status, second) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 3}]), None).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(units(&sys, "MUG-1", "default").await, (5, 0, 3));
    let released: String = sqlx::query_scalar(
        "SELECT data->>'reason' FROM events WHERE event_type = 'StockHoldReleased' AND data->>'hold_id' = $1",
    )
    .bind(&id)
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(released, "expired");

    // The expirer writes the hold's end on time, once.
    sys.spawn_worker("reserver").await;
    eventually(
        "the expirer to end the hold",
        Duration::from_secs(30),
        || async {
            let status: String =
                sqlx::query_scalar("SELECT status FROM holds WHERE hold_id = $1::uuid")
                    .bind(&id)
                    .fetch_one(&sys.db.pool)
                    .await
                    .unwrap();
            (status == "expired").then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ends: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type IN ('HoldExpired', 'HoldReleased', 'HoldConverted')",
    )
    .bind(&id)
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(ends, 1, "a hold ends exactly once");
    assert_eq!(
        units(&sys, "MUG-1", "default").await,
        (5, 0, 3),
        "the live hold keeps its units"
    );
    crate::support::shop::check_every_version(&sys, "MUG-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn converting_a_hold_confirms_the_order_from_the_held_units_exactly_once() {
    let sys = System::start().await;
    sys.stock_product("MUG-1", 1200, 3).await;
    sys.stock_product("TEA-1", 500, 2).await;
    let (status, held) = hold(
        &sys,
        json!([{"sku": "MUG-1", "quantity": 3}, {"sku": "TEA-1", "quantity": 1}]),
        None,
    )
    .await;
    assert_eq!(status, 201, "{held}");
    let id = held["hold_id"].as_str().unwrap().to_owned();

    // More than the hold keeps of a SKU is refused, and changes nothing.
    let order = |units: i64| {
        json!({"customer_id": "shopper@example.com", "hold_id": id,
               "lines": [{"sku": "MUG-1", "quantity": units}]})
    };
    let (status, refused) = post(&sys.client(), &sys, "/v1/orders", order(4)).await;
    assert_eq!(status, 409, "{refused}");

    let (status, placed) = post(&sys.client(), &sys, "/v1/orders", order(2)).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["status"], "confirmed");
    assert_eq!(placed["version"], 2);
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    // The order reserves 2 where the hold kept them; the hold's other units
    // (one MUG-1, the TEA-1) are free again.
    assert_eq!(units(&sys, "MUG-1", "default").await, (3, 2, 0));
    assert_eq!(units(&sys, "TEA-1", "default").await, (2, 0, 0));
    let (_, read) = read_hold(&sys.client(), &sys, &id).await;
    assert_eq!(read["status"], "converted");
    assert_eq!(read["order_id"], json!(order_id));

    // A hold converts once.
    let (status, twice) = post(&sys.client(), &sys, "/v1/orders", order(1)).await;
    assert_eq!(status, 409, "{twice}");

    // The reservation process finds the order decided and leaves it so.
    crate::support::shop::wait_status(&sys, &order_id, "confirmed", Duration::from_secs(60)).await;
    crate::support::shop::wait_caught_up(&sys).await;
    let decisions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type IN ('OrderConfirmed', 'OrderRejected')",
    )
    .bind(&order_id)
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(decisions, 1);
    assert_eq!(units(&sys, "MUG-1", "default").await, (3, 2, 0));
    let stock: Value = sys.get("/v1/stock/MUG-1").await.json().await.unwrap();
    assert_eq!(
        (stock["available"].as_i64(), stock["held"].as_i64()),
        (Some(1), Some(0)),
        "{stock}"
    );
    crate::support::shop::assert_verified(&sys).await;
    crate::support::shop::check_every_version(&sys, "MUG-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storefront_sees_extends_and_changes_only_its_channels_holds() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("MUG-1", 1200, 10).await;
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let analyst = client_with(&sys.db.create_key("analyst", None).await);

    let (status, held) = post(
        &web,
        &sys,
        "/v1/holds",
        json!({"lines": [{"sku": "MUG-1", "quantity": 2}], "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(status, 201, "{held}");
    let id = held["hold_id"].as_str().unwrap().to_owned();
    assert_eq!(read_hold(&web, &sys, &id).await.0, 200);
    assert_eq!(read_hold(&app, &sys, &id).await.0, 404);
    assert_eq!(read_hold(&analyst, &sys, &id).await.0, 403);
    // Its stream too is only its channel's.
    let stream = |client: &reqwest::Client| {
        client
            .get(format!("{}/v1/streams/hold-{id}", sys.query_url()))
            .send()
    };
    assert_eq!(stream(&web).await.unwrap().status(), 200);
    assert_eq!(stream(&app).await.unwrap().status(), 404);
    let (status, _) = post(&app, &sys, &format!("/v1/holds/{id}/releases"), json!({})).await;
    assert_eq!(status, 404, "another channel's hold does not exist for it");
    let (status, _) = post(
        &analyst,
        &sys,
        "/v1/holds",
        json!({"lines": [{"sku": "MUG-1", "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, 403);

    let (status, extended) = post(
        &web,
        &sys,
        &format!("/v1/holds/{id}/extensions"),
        json!({"ttl_seconds": 600}),
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    assert!(expires_at(&extended) > expires_at(&held));
    let end: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(expires_at) FROM stock_cart_holds WHERE hold_id = $1::uuid")
            .bind(&id)
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(
        end,
        expires_at(&extended),
        "the SKU rows follow the extension"
    );
    let (status, too_long) = post(
        &web,
        &sys,
        &format!("/v1/holds/{id}/extensions"),
        json!({"ttl_seconds": 90_000}),
    )
    .await;
    assert_eq!(status, 422, "past the 24 h lifetime: {too_long}");

    let (status, changed) = send(
        &web,
        reqwest::Method::PUT,
        format!("{}/v1/holds/{id}", sys.command_url()),
        json!({"lines": [{"sku": "MUG-1", "quantity": 10}]}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(units(&sys, "MUG-1", "default").await, (10, 0, 10));
    let (status, _) = send(
        &web,
        reqwest::Method::PUT,
        format!("{}/v1/holds/{id}", sys.command_url()),
        json!({"lines": [{"sku": "MUG-1", "quantity": 11}]}),
    )
    .await;
    assert_eq!(status, 409, "all or nothing: the old lines stay");
    assert_eq!(units(&sys, "MUG-1", "default").await, (10, 0, 10));
    crate::support::shop::check_every_version(&sys, "MUG-1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn holds_orders_and_expiries_racing_for_the_last_units_never_oversell() {
    let sys = System::start_with(&[], &["reserver"]).await;
    for (code, priority) in [("north", 10), ("south", 20)] {
        let (status, body) = post(
            &sys.client(),
            &sys,
            "/v1/locations",
            json!({"code": code, "name": code, "priority": priority}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    sys.stock_product("RACE-1", 100, 2).await;
    for (location, quantity) in [("north", 3), ("south", 3)] {
        let (status, body) = post(
            &sys.client(),
            &sys,
            "/v1/stock/RACE-1/receipts",
            json!({"quantity": quantity, "location": location}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // 8 units; 36 contenders of 2 units: holds that last, holds that lapse
    // at once, and plain orders.
    let outcomes: Vec<(usize, u16)> = stream::iter(0..36usize)
        .map(|i| {
            let sys = &sys;
            async move {
                let lines = json!([{"sku": "RACE-1", "quantity": 2}]);
                let status = match i % 3 {
                    0 => hold(sys, lines, Some(600)).await.0,
                    1 => hold(sys, lines, Some(1)).await.0,
                    _ => {
                        post(
                            &sys.client(),
                            sys,
                            "/v1/orders",
                            json!({"customer_id": format!("c-{i}"), "lines": lines}),
                        )
                        .await
                        .0
                    }
                };
                (i, status)
            }
        })
        .buffer_unordered(36)
        .collect()
        .await;
    for (i, status) in &outcomes {
        assert!(matches!(status, 201 | 202 | 409), "contender {i}: {status}");
    }
    crate::support::shop::wait_decided(&sys, 12).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let state = crate::support::shop::check_every_version(&sys, "RACE-1").await;
    assert!(state.reserved() + state.held() <= 8, "{state:?}");
    let confirmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderConfirmed'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(state.reserved(), 2 * confirmed);
    // 12 holds for 10 minutes want 24 of the 8 units: some contender lost.
    let rejected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderRejected'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    let refused = outcomes.iter().filter(|(_, s)| *s == 409).count() as i64;
    assert!(refused + rejected >= 1, "{outcomes:?}");
    // Every hold ended at most once.
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT aggregate_id FROM events \
         WHERE event_type IN ('HoldExpired', 'HoldReleased', 'HoldConverted') \
         GROUP BY aggregate_id HAVING count(*) > 1) t",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(twice, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_converts_just_before_its_end_and_not_just_after() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("MUG-1", 1200, 4).await;
    let convert = |id: &str| json!({"customer_id": "c-1", "hold_id": id, "lines": [{"sku": "MUG-1", "quantity": 2}]});
    let (_, before) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 2}]), Some(2)).await;
    let (_, after) = hold(&sys, json!([{"sku": "MUG-1", "quantity": 2}]), Some(2)).await;

    let until = |answer: &Value, offset_ms: i64| {
        (expires_at(answer) + chrono::Duration::milliseconds(offset_ms) - Utc::now())
            .to_std()
            .unwrap_or_default()
    };
    tokio::time::sleep(until(&before, -150)).await;
    let (status, placed) = post(
        &sys.client(),
        &sys,
        "/v1/orders",
        convert(before["hold_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 201, "150 ms before its end: {placed}");
    tokio::time::sleep(until(&after, 20)).await;
    let (status, late) = post(
        &sys.client(),
        &sys,
        "/v1/orders",
        convert(after["hold_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 409, "20 ms after its end: {late}");
    assert_eq!(
        units(&sys, "MUG-1", "default").await.1,
        2,
        "only the first became a reservation"
    );
}
