//! History a person can read: an order's events with their actors, a SKU's
//! movements with the running units, paged, and both behind their access
//! rules.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::shop::{place_through, wait_status};
use crate::support::system::client_with;
use crate::support::System;

#[tokio::test(flavor = "multi_thread")]
async fn an_orders_history_and_a_skus_movements_tell_what_happened_and_who_did_it() {
    let sys = System::start_with(&[], &["projector", "reserver"]).await;
    sys.stock_product("HIST-1", 250, 10).await;
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let placed = place_through(&web, &sys, uuid::Uuid::new_v4(), &[("HIST-1", 3)], &[]).await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &id, "confirmed", Duration::from_secs(30)).await;
    let cancelled = sys
        .post(
            &format!("/v1/orders/{id}/cancellations"),
            json!({"reason": "changed mind"}),
        )
        .await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    wait_status(&sys, &id, "cancelled", Duration::from_secs(30)).await;

    let history: Value = sys
        .get(&format!("/v1/orders/{id}/history"))
        .await
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    let types: Vec<&str> = items
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["OrderPlaced", "OrderConfirmed", "OrderCancelled"]);
    assert!(items[0]["actor"].as_str().unwrap().starts_with("key:"));
    assert_eq!(items[1]["actor"], "system:reserver");
    assert_eq!(items[2]["data"]["reason"], "changed mind");
    assert_eq!(items[0]["data"]["lines"][0]["quantity"], 3);

    // The storefront that placed it sees who acted by class, no ids.
    let seen_by_shop: Value = web
        .get(format!("{}/v1/orders/{id}/history", sys.query_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actors: Vec<&str> = seen_by_shop["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["storefront", "system", "staff"]);

    // Paged: one at a time, following next_cursor.
    let mut cursor: Option<String> = None;
    let mut paged = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orders/{id}/history?limit=1&cursor={c}"),
            None => format!("/v1/orders/{id}/history?limit=1"),
        };
        let page: Value = sys.get(&path).await.json().await.unwrap();
        paged.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["version"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, [json!(1), json!(2), json!(3)]);

    // The largest cursor the schema allows is an empty page, not an overflow.
    for path in [
        format!("/v1/orders/{id}/history?limit=200&cursor={}", i64::MAX),
        format!("/v1/stock/HIST-1/movements?limit=200&cursor={}", i64::MAX),
    ] {
        let r = sys.get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
        let page: Value = r.json().await.unwrap();
        assert_eq!(page["items"], json!([]), "{path}");
    }

    // The release is written by the reservation process after the
    // cancellation; wait for it in the movements themselves.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let movements = loop {
        let m: Value = sys
            .get("/v1/stock/HIST-1/movements")
            .await
            .json()
            .await
            .unwrap();
        if m["items"].as_array().unwrap().len() == 3 || std::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let running: Vec<(String, i64, i64)> = movements["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["event_type"].as_str().unwrap().to_owned(),
                m["on_hand"].as_i64().unwrap(),
                m["reserved"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        running,
        [
            ("StockReceived".to_owned(), 10, 0),
            ("StockReserved".to_owned(), 10, 3),
            ("StockReleased".to_owned(), 10, 0),
        ]
    );
    assert_eq!(movements["items"][2]["data"]["reason"], "order cancelled");

    // Access: another channel sees no such order; an analyst may not read
    // movements (they name other people's orders); staff may.
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let theirs = app
        .get(format!("{}/v1/orders/{id}/history", sys.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    let mine = web
        .get(format!("{}/v1/orders/{id}/history", sys.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
    let analyst = client_with(&sys.db.create_key("analyst", None).await);
    let denied = analyst
        .get(format!("{}/v1/stock/HIST-1/movements", sys.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let staff = client_with(&sys.db.create_key("staff", None).await);
    let allowed = staff
        .get(format!(
            "{}/v1/stock/HIST-1/movements?limit=2",
            sys.query_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let page: Value = allowed.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_cursor"], "2");

    let missing = sys.get("/v1/stock/NOPE-1/movements").await;
    assert_eq!(missing.status(), 404);
    let unknown = sys
        .get(&format!("/v1/orders/{}/history", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status(), 404);
}
