//! Returns, refunds and the shop's own customer ids against the real
//! processes (api.md v1.2, Returns and refunds, Customers, Roles).

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::shop::{assert_verified, wait_caught_up, wait_status};
use crate::support::system::client_with;
use crate::support::{eventually, System};

/// Posts `body` to the command API's `path` through `client`: the status
/// and the answer.
async fn post(client: &reqwest::Client, sys: &System, path: &str, body: Value) -> (u16, Value) {
    let r = client
        .post(format!("{}{path}", sys.command_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Places an order of `units` × `sku` for `customer` and waits until it is
/// confirmed; its id.
async fn confirmed_order(
    sys: &System,
    client: &reqwest::Client,
    customer: &str,
    sku: &str,
    units: i64,
) -> String {
    let (status, placed) = post(
        client,
        sys,
        "/v1/orders",
        json!({"customer_id": customer, "lines": [{"sku": sku, "quantity": units}]}),
    )
    .await;
    assert_eq!(status, 202, "{placed}");
    let id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(sys, &id, "confirmed", Duration::from_secs(60)).await;
    id
}

/// [`confirmed_order`], paid and shipped whole.
async fn shipped_order(sys: &System, customer: &str, sku: &str, units: i64, total: i64) -> String {
    let id = confirmed_order(sys, &sys.client(), customer, sku, units).await;
    let (status, paid) = post(
        &sys.client(),
        sys,
        &format!("/v1/orders/{id}/payments"),
        json!({"amount": total, "currency": "EUR"}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    let (status, shipped) = post(
        &sys.client(),
        sys,
        &format!("/v1/orders/{id}/shipments"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{shipped}");
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_customer_id_places_orders_and_lists_exactly_its_own() {
    let sys = System::start().await;
    sys.stock_product("CUST-1", 100, 10).await;
    let mine = "shop:eu@cust-42.x_1";
    let order = confirmed_order(&sys, &sys.client(), mine, "CUST-1", 1).await;
    // A prefix of the id, and a UUID, are other customers.
    confirmed_order(&sys, &sys.client(), "shop:eu@cust-42", "CUST-1", 1).await;
    confirmed_order(
        &sys,
        &sys.client(),
        &uuid::Uuid::new_v4().to_string(),
        "CUST-1",
        1,
    )
    .await;

    let listed: Value = sys
        .get(&format!("/v1/orders?customer_id={mine}"))
        .await
        .json()
        .await
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["order_id"], order.as_str());
    assert_eq!(items[0]["customer_id"], mine);

    // Outside the alphabet or too long: refused, nothing appended.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    for bad in [
        "has space".to_owned(),
        "x".repeat(129),
        String::new(),
        "a/b".to_owned(),
    ] {
        let (status, problem) = post(
            &sys.client(),
            &sys,
            "/v1/orders",
            json!({"customer_id": bad, "lines": [{"sku": "CUST-1", "quantity": 1}]}),
        )
        .await;
        assert_eq!(status, 422, "{bad:?}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "customer_id", "{problem}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shipped_order_comes_back_in_parts_is_restocked_and_refunded_up_to_what_was_paid() {
    let sys = System::start().await;
    sys.stock_product("RET-1", 500, 5).await;
    let order = shipped_order(&sys, "cust-ret", "RET-1", 3, 1500).await;

    // Only shipped units, less what earlier returns asked for.
    let returns = format!("/v1/orders/{order}/returns");
    let line = |n: i64| json!({"lines": [{"sku": "RET-1", "quantity": n, "reason": "too big"}]});
    let (status, body) = post(&sys.client(), &sys, &returns, line(4)).await;
    assert_eq!(status, 409, "{body}");
    let (status, requested) = post(&sys.client(), &sys, &returns, line(2)).await;
    assert_eq!(status, 201, "{requested}");
    let return_id = requested["return_id"].as_str().unwrap().to_owned();
    assert_eq!(requested["status"], "requested");
    let (status, body) = post(&sys.client(), &sys, &returns, line(2)).await;
    assert_eq!(status, 409, "only one unit is left to return: {body}");

    // Received in two parts, never more than requested.
    let receipts = format!("/v1/returns/{return_id}/receipts");
    let arrived = |d: &str| json!({"lines": [{"sku": "RET-1", "quantity": 1, "disposition": d}]});
    let (status, first) = post(&sys.client(), &sys, &receipts, arrived("restock")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "partially_received");
    let (status, second) = post(&sys.client(), &sys, &receipts, arrived("damaged")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "received");
    let (status, body) = post(&sys.client(), &sys, &receipts, arrived("restock")).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = post(
        &sys.client(),
        &sys,
        &format!("/v1/returns/{}/receipts", uuid::Uuid::new_v4()),
        arrived("restock"),
    )
    .await;
    assert_eq!(status, 404);

    // The restocked unit is on hand again, as a receipt naming the return;
    // the damaged one is not.
    let stock_events: Vec<(String, Value)> = sqlx::query_as(
        "SELECT event_type, data FROM events WHERE stream_id = 'stock-RET-1' ORDER BY stream_version",
    )
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    let restocked: Vec<&Value> = stock_events
        .iter()
        .filter(|(t, d)| t == "StockReceived" && d["reference"] == format!("return:{return_id}"))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(restocked.len(), 1, "{stock_events:?}");
    assert_eq!(restocked[0]["quantity"], 1);

    // Refunds: never more than paid less refunded, in the order's currency.
    let refunds = format!("/v1/orders/{order}/refunds");
    let refund = |amount: i64, currency: &str| json!({"amount": amount, "currency": currency, "reason": "returned", "return_id": return_id});
    let (status, body) = post(&sys.client(), &sys, &refunds, refund(1000, "USD")).await;
    assert_eq!(status, 422, "{body}");
    let (status, refunded) = post(&sys.client(), &sys, &refunds, refund(1000, "EUR")).await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(
        (refunded["paid"].as_i64(), refunded["refunded"].as_i64()),
        (Some(1500), Some(1000))
    );
    let (status, body) = post(&sys.client(), &sys, &refunds, refund(501, "EUR")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["type"], "urn:stockroom:problem:conflict", "{body}");
    let (status, body) = post(
        &sys.client(),
        &sys,
        &refunds,
        json!({"amount": 1, "currency": "EUR", "reason": "x", "return_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(status, 422, "a return of another order: {body}");

    // The read side: the order's money and returns, the return's lines.
    let seen: Value = eventually("the refund to show", Duration::from_secs(30), || async {
        let o: Value = sys
            .get(&format!("/v1/orders/{order}"))
            .await
            .json()
            .await
            .ok()?;
        (o["refunded"] == 1000).then_some(o)
    })
    .await;
    assert_eq!(seen["paid"], 1500, "{seen}");
    assert_eq!(
        seen["status"], "shipped",
        "after-sales events keep the status"
    );
    assert_eq!(
        seen["returns"],
        json!([{"return_id": return_id, "status": "received"}])
    );
    let ret: Value = sys
        .get(&format!("/v1/returns/{return_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ret["order_id"], order.as_str(), "{ret}");
    assert_eq!(ret["status"], "received");
    assert_eq!(ret["lines"][0]["sku"], "RET-1");
    assert_eq!(
        [
            &ret["lines"][0]["quantity"],
            &ret["lines"][0]["restocked"],
            &ret["lines"][0]["damaged"]
        ],
        [&json!(2), &json!(1), &json!(1)],
        "{ret}"
    );
    assert_eq!(ret["receipts"].as_array().unwrap().len(), 2, "{ret}");
    let stock: Value = eventually("the restock to show", Duration::from_secs(30), || async {
        let s: Value = sys.get("/v1/stock/RET-1").await.json().await.ok()?;
        (s["on_hand"] == 3).then_some(s)
    })
    .await;
    assert_eq!(
        stock["available"], 3,
        "5 − 3 shipped + 1 restocked: {stock}"
    );

    // Analytics count the refunded revenue.
    let today = chrono::Utc::now().date_naive();
    let summary: Value = sys
        .get(&format!("/v1/analytics/summary?from={today}&to={today}"))
        .await
        .json()
        .await
        .unwrap();
    let eur = summary["revenue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "EUR")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            eur["paid_revenue"].as_i64(),
            eur["refunded_revenue"].as_i64()
        ),
        (Some(1500), Some(1000)),
        "{summary}"
    );
    // The sales projection follows the log on its own, a little behind.
    wait_caught_up(&sys).await;
    let daily: i64 = sqlx::query_scalar(
        "SELECT revenue_refunded FROM read_models.daily_refunds WHERE currency = 'EUR'",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(daily, 1000);

    // Rebuilt from the log, every read model says the same.
    assert_verified(&sys).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn storefronts_return_their_own_channels_orders_warehouses_receive_and_payments_refund() {
    let sys = System::start().await;
    sys.stock_product("ROLE-1", 200, 10).await;
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let warehouse = client_with(&sys.db.create_key("warehouse", None).await);
    let payments = client_with(&sys.db.create_key("payments", None).await);
    let id = confirmed_order(&sys, &web, "cust-web", "ROLE-1", 2).await;
    let (status, _) = post(
        &payments,
        &sys,
        &format!("/v1/orders/{id}/payments"),
        json!({"amount": 400, "currency": "EUR"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &warehouse,
        &sys,
        &format!("/v1/orders/{id}/shipments"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);

    let line = json!({"lines": [{"sku": "ROLE-1", "quantity": 1, "reason": "broken"}]});
    let returns = format!("/v1/orders/{id}/returns");
    let (status, _) = post(&app, &sys, &returns, line.clone()).await;
    assert_eq!(status, 404, "another channel's order is not found");
    let (status, _) = post(&warehouse, &sys, &returns, line.clone()).await;
    assert_eq!(
        status, 403,
        "warehouses receive returns, they do not request them"
    );
    let (status, requested) = post(&web, &sys, &returns, line).await;
    assert_eq!(status, 201, "{requested}");
    let return_id = requested["return_id"].as_str().unwrap();

    let receipt = json!({"lines": [{"sku": "ROLE-1", "quantity": 1, "disposition": "missing"}]});
    let receipts = format!("/v1/returns/{return_id}/receipts");
    let (status, _) = post(&web, &sys, &receipts, receipt.clone()).await;
    assert_eq!(status, 403);
    let (status, body) = post(&warehouse, &sys, &receipts, receipt).await;
    assert_eq!(status, 200, "{body}");

    let refund = json!({"amount": 200, "currency": "EUR", "reason": "never arrived"});
    let refunds = format!("/v1/orders/{id}/refunds");
    for (who, client) in [("storefront", &web), ("warehouse", &warehouse)] {
        let (status, _) = post(client, &sys, &refunds, refund.clone()).await;
        assert_eq!(status, 403, "{who}");
    }
    let (status, body) = post(&payments, &sys, &refunds, refund).await;
    assert_eq!(status, 200, "{body}");

    // The storefront reads its own channel's return, not another's.
    eventually("the return to show", Duration::from_secs(30), || async {
        let r = web
            .get(format!("{}/v1/returns/{return_id}", sys.query_url()))
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    let r = app
        .get(format!("{}/v1/returns/{return_id}", sys.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
