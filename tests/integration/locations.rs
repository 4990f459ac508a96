//! Stock at several locations, over HTTP and in the database: never oversold
//! at any location under concurrency, checked at every stream version;
//! partial shipments; compare-and-set adjustments and counts; the CHECK
//! constraint no code path can get past.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::support::{eventually, shop, System};

async fn register_location(sys: &System, code: &str, priority: i32) {
    let r = sys
        .post(
            "/v1/locations",
            json!({"code": code, "name": format!("Location {code}"), "priority": priority}),
        )
        .await;
    assert_eq!(
        r.status(),
        201,
        "register {code}: {}",
        r.text().await.unwrap()
    );
}

async fn receive_at(sys: &System, sku: &str, location: &str, quantity: i64) -> Value {
    let r = sys
        .post(
            &format!("/v1/stock/{sku}/receipts"),
            json!({"quantity": quantity, "location": location}),
        )
        .await;
    assert_eq!(
        r.status(),
        200,
        "receive at {location}: {}",
        r.text().await.unwrap()
    );
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_eight_orders_racing_for_the_last_units_over_three_locations_never_oversell_any() {
    let mut sys = System::start().await;
    sys.spawn_worker("reserver").await;
    register_location(&sys, "north", 10).await;
    register_location(&sys, "south", 20).await;
    sys.stock_product("RACE-1", 100, 0).await;
    // 5 + 4 + 3 units: the orders of 2 units can take at most 12 between them,
    // some of them split over two locations.
    receive_at(&sys, "RACE-1", "north", 5).await;
    receive_at(&sys, "RACE-1", "south", 4).await;
    receive_at(&sys, "RACE-1", "default", 3).await;

    let clients: Vec<reqwest::Client> = (0..8).map(|_| sys.client()).collect();
    let url = format!("{}/v1/orders", sys.command_url());
    let statuses: Vec<u16> = stream::iter(0..48)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let url = url.clone();
            async move {
                client
                    .post(url)
                    .json(&json!({"customer_id": uuid::Uuid::new_v4(),
                                  "lines": [{"sku": "RACE-1", "quantity": 2}]}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(48)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    shop::wait_decided(&sys, 48).await;

    let confirmed: Vec<Value> = sqlx::query_scalar(
        "SELECT data FROM events WHERE event_type = 'OrderConfirmed' ORDER BY position",
    )
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(confirmed.len(), 6, "12 units in all, 2 per order");
    let mut per_location: BTreeMap<String, i64> = BTreeMap::new();
    let mut split = 0;
    for data in &confirmed {
        let allocations = data["allocations"]
            .as_array()
            .expect("allocations recorded");
        let units: i64 = allocations
            .iter()
            .map(|a| a["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(units, 2, "{data}");
        split += usize::from(allocations.len() > 1);
        for a in allocations {
            *per_location
                .entry(a["location"].as_str().unwrap().to_owned())
                .or_default() += a["quantity"].as_i64().unwrap();
        }
    }
    assert_eq!(
        per_location,
        BTreeMap::from([
            ("default".to_owned(), 3),
            ("north".to_owned(), 5),
            ("south".to_owned(), 4)
        ])
    );
    assert!(split >= 1, "odd amounts at each location force a split");

    let state = crate::support::shop::check_every_version(&sys, "RACE-1").await;
    let mut stored = sys.db.pool.acquire().await.unwrap();
    let (_, units, _) = store::stock_levels::stored(&mut stored, "RACE-1")
        .await
        .unwrap()
        .unwrap();
    for (at, u) in state.locations() {
        assert_eq!(units[at], *u, "the stored row of {at} is the fold's");
        assert_eq!(u.available(), 0, "{at} is sold out");
    }

    let stock: Value = eventually(
        "the read model to settle",
        Duration::from_secs(30),
        || async {
            let s: Value = sys.get("/v1/stock/RACE-1").await.json().await.unwrap();
            (s["reserved"] == 12).then_some(s)
        },
    )
    .await;
    assert_eq!(stock["available"], 0);
    let locations = stock["locations"].as_array().unwrap();
    assert_eq!(locations.len(), 3, "{stock}");
    assert!(locations.iter().all(|l| l["available"] == 0), "{stock}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_split_over_two_locations_ships_in_parts_and_a_cancellation_releases_only_the_rest(
) {
    let sys = System::start().await;
    register_location(&sys, "north", 10).await;
    sys.stock_product("PART-1", 250, 0).await;
    sys.stock_product("PART-2", 100, 0).await;
    receive_at(&sys, "PART-1", "north", 2).await;
    receive_at(&sys, "PART-1", "default", 5).await;
    receive_at(&sys, "PART-2", "default", 5).await;

    let placed = shop::place(&sys, uuid::Uuid::new_v4(), &[("PART-1", 3), ("PART-2", 1)]).await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    shop::wait_status(&sys, &id, "confirmed", Duration::from_secs(30)).await;
    let r = sys
        .post(
            &format!("/v1/orders/{id}/payments"),
            json!({"amount": 850, "currency": "EUR"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // More than is left at a location is refused, nothing recorded.
    let too_many = sys
        .post(
            &format!("/v1/orders/{id}/shipments"),
            json!({"location": "north", "lines": [{"sku": "PART-1", "quantity": 3}]}),
        )
        .await;
    assert_eq!(too_many.status(), 409, "{}", too_many.text().await.unwrap());

    let first = sys
        .post(
            &format!("/v1/orders/{id}/shipments"),
            json!({"location": "north", "carrier": "DHL"}),
        )
        .await;
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "partially_shipped");
    assert!(first["shipment_id"].is_string(), "{first}");

    let order: Value = eventually("the shipment to show", Duration::from_secs(30), || async {
        let o: Value = sys
            .get(&format!("/v1/orders/{id}"))
            .await
            .json()
            .await
            .unwrap();
        (o["status"] == "partially_shipped").then_some(o)
    })
    .await;
    assert_eq!(order["allocations"].as_array().unwrap().len(), 3, "{order}");
    let shipments = order["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 1, "{order}");
    assert_eq!(shipments[0]["location"], "north");
    assert_eq!(shipments[0]["shipment_id"], first["shipment_id"]);

    let cancelled = sys
        .post(
            &format!("/v1/orders/{id}/cancellations"),
            json!({"reason": "the rest is no longer wanted"}),
        )
        .await;
    assert_eq!(
        cancelled.status(),
        200,
        "{}",
        cancelled.text().await.unwrap()
    );
    let stock: Value = eventually("the release to apply", Duration::from_secs(30), || async {
        let s: Value = sys.get("/v1/stock/PART-1").await.json().await.unwrap();
        (s["reserved"] == 0).then_some(s)
    })
    .await;
    // The 2 units shipped from north are gone; the 1 reserved at default is back.
    assert_eq!(
        (stock["on_hand"].as_i64(), stock["available"].as_i64()),
        (Some(5), Some(5))
    );
    let north = stock["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"] == "north")
        .cloned()
        .unwrap();
    assert_eq!(north["on_hand"], 0, "{stock}");
    crate::support::shop::check_every_version(&sys, "PART-1").await;

    // Sales count as cancelled only what never left: 1 of PART-1's 3, and
    // PART-2's 1; a rebuild from the log agrees.
    shop::wait_caught_up(&sys).await;
    let cancelled: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT sku, sum(units_confirmed)::bigint, sum(units_cancelled)::bigint \
         FROM read_models.daily_sales GROUP BY sku ORDER BY sku",
    )
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(
        cancelled,
        vec![("PART-1".to_owned(), 3, 1), ("PART-2".to_owned(), 1, 1)]
    );
    shop::assert_verified(&sys).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_and_compare_and_set_adjustments_name_the_location_and_refuse_stale_values() {
    let sys = System::start_with(&[], &[]).await;
    register_location(&sys, "shop-1", 50).await;
    sys.stock_product("CAS-1", 100, 0).await;
    receive_at(&sys, "CAS-1", "shop-1", 10).await;

    let stale = sys
        .post(
            "/v1/stock/CAS-1/adjustments",
            json!({"delta": -1, "reason": "dropped", "reason_code": "damaged",
                   "location": "shop-1", "expected_on_hand": 9}),
        )
        .await;
    assert_eq!(stale.status(), 409);
    let problem: Value = stale.json().await.unwrap();
    assert_eq!(problem["type"], "urn:stockroom:problem:stale-quantity");
    assert_eq!(problem["current_on_hand"], 10);

    let fresh = sys
        .post(
            "/v1/stock/CAS-1/adjustments",
            json!({"delta": -1, "reason": "dropped", "reason_code": "damaged",
                   "location": "shop-1", "expected_on_hand": 10}),
        )
        .await;
    assert_eq!(fresh.status(), 200, "{}", fresh.text().await.unwrap());

    let counted = sys
        .post(
            "/v1/stock/CAS-1/counts",
            json!({"location": "shop-1", "counted": 7, "reference": "sheet 4"}),
        )
        .await;
    assert_eq!(counted.status(), 200, "{}", counted.text().await.unwrap());
    let counted: Value = counted.json().await.unwrap();
    assert_eq!(counted["on_hand"], 7);
    let codes: Vec<(String, String)> = sqlx::query_as(
        "SELECT data->>'reason_code', data->>'location' FROM events \
         WHERE stream_id = 'stock-CAS-1' AND event_type = 'StockAdjusted' ORDER BY position",
    )
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(
        codes,
        vec![
            ("damaged".to_owned(), "shop-1".to_owned()),
            ("cycle_count".to_owned(), "shop-1".to_owned())
        ]
    );

    let unknown = sys
        .post(
            "/v1/stock/CAS-1/receipts",
            json!({"quantity": 1, "location": "nowhere"}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    let deactivated = sys
        .post(
            "/v1/locations/shop-1/deactivate",
            json!({"reason": "closed"}),
        )
        .await;
    assert_eq!(deactivated.status(), 200);
    let listed: Value = sys.get("/v1/locations").await.json().await.unwrap();
    let codes: Vec<(&str, bool)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["code"].as_str().unwrap(), l["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(codes, vec![("shop-1", false), ("default", true)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_refuses_a_location_row_with_more_reserved_than_on_hand() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("CHK-1", 100, 3).await;
    let refused = sqlx::query(
        "UPDATE stock_location_levels SET reserved = 4 WHERE sku = 'CHK-1' AND location = 'default'",
    )
    .execute(&sys.db.pool)
    .await
    .unwrap_err();
    let code = refused
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("23514"), "check_violation: {refused}");
}
