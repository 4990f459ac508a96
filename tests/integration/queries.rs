//! The query API for frontends and analysts: read-your-writes, bounded
//! waits, pagination, parameter errors, CSV and the analyst role.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::shop::{place, wait_visible};
use crate::support::{eventually, System};

#[tokio::test(flavor = "multi_thread")]
async fn a_read_with_the_commands_position_always_sees_the_write() {
    let sys = System::start_with(&[("STOCKROOM_MAX_WAIT", "5s")], &["relay", "projector"]).await;
    sys.stock_product("RYW-1", 100, 1000).await;
    // Warm up: the projector's consumer-group members join within seconds.
    let first = place(&sys, uuid::Uuid::new_v4(), &[("RYW-1", 1)]).await;
    wait_visible(&sys, first["order_id"].as_str().unwrap()).await;
    for _ in 0..30 {
        let placed = place(&sys, uuid::Uuid::new_v4(), &[("RYW-1", 1)]).await;
        let r = sys
            .http
            .get(format!(
                "{}/v1/orders/{}",
                sys.query_url(),
                placed["order_id"].as_str().unwrap()
            ))
            .header("X-Min-Position", placed["position"].to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the order is readable at once");
        let seen: i64 = r.headers()["x-projection-position"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen >= placed["position"].as_i64().unwrap());
    }
    // The same via the query parameter, and for the catalogue.
    let stock = sys
        .post("/v1/stock/RYW-1/receipts", json!({"quantity": 5}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let r = sys
        .get(&format!(
            "/v1/stock/RYW-1?min_position={}",
            stock["position"]
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["on_hand"], 1005);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_position_not_reached_in_time_is_a_503_with_retry_after() {
    // No projector runs, so a real position is never reached.
    let sys = System::start_with(&[("STOCKROOM_MAX_WAIT", "300ms")], &[]).await;
    sys.stock_product("WAIT-1", 100, 0).await;
    let end: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = sys
        .http
        .get(format!("{}/v1/products", sys.query_url()))
        .header("X-Min-Position", end)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "it waited the bound"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// Given no projector (nothing is ever applied), when any database login
/// announces a far position on the positions channel, then a read waiting
/// for a real position still waits for the table, and is a 503.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_position_announcement_answers_no_read() {
    let sys = System::start_with(&[("STOCKROOM_MAX_WAIT", "500ms")], &[]).await;
    sys.stock_product("FORGE-1", 100, 0).await;
    let end: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    let forge = sys.db.pool.clone();
    let forger = tokio::spawn(async move {
        for _ in 0..20 {
            sqlx::query("SELECT pg_notify('stockroom_positions', 'catalogue 9223372036854775000')")
                .execute(&forge)
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    });
    let r = sys
        .http
        .get(format!("{}/v1/products", sys.query_url()))
        .header("X-Min-Position", end)
        .send()
        .await
        .unwrap();
    forger.await.unwrap();
    assert_eq!(r.status(), 503, "answered on a forged announcement");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_position_the_log_has_not_handed_out_is_a_400_long_before_the_bound() {
    let sys = System::start_with(&[("STOCKROOM_MAX_WAIT", "5s")], &[]).await;
    for (header, query) in [
        (Some("7709060723923796648"), None),
        (None, Some("min_position=999999999")),
        (None, Some("min_position=%31%30%30%30%30%30%30")),
    ] {
        let started = std::time::Instant::now();
        let mut request = sys.http.get(format!(
            "{}/v1/products{}",
            sys.query_url(),
            query.map(|q| format!("?{q}")).unwrap_or_default()
        ));
        if let Some(h) = header {
            request = request.header("X-Min-Position", h);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 400, "{header:?} {query:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "refused after the short check, not the 5 s bound"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "min_position");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_walks_every_order_exactly_once_while_orders_arrive() {
    let sys = Arc::new(System::start_with(&[], &["relay", "projector"]).await);
    sys.stock_product("PAGE-1", 100, 10_000).await;
    let customer = uuid::Uuid::new_v4();
    let mut originals = Vec::new();
    for _ in 0..60 {
        let placed = place(&sys, customer, &[("PAGE-1", 1)]).await;
        originals.push(placed["order_id"].as_str().unwrap().to_owned());
    }
    let last = originals.last().unwrap().clone();
    eventually(
        "the orders to be projected",
        Duration::from_secs(60),
        || async { (sys.get(&format!("/v1/orders/{last}")).await.status() == 200).then_some(()) },
    )
    .await;
    let arriving = tokio::spawn({
        let sys = sys.clone();
        async move {
            for _ in 0..20 {
                place(&sys, customer, &[("PAGE-1", 1)]).await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/v1/orders?customer_id={customer}&limit=7",
            sys.query_url()
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = sys
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["order_id"].as_str().unwrap().to_owned()),
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    arriving.await.unwrap();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no order twice");
    for id in &originals {
        assert!(seen.contains(id), "order {id} was skipped");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_query_parameters_are_400s_and_analytics_speak_csv() {
    let sys = System::start_with(&[], &["relay", "projector"]).await;
    for (path, field) in [
        ("/v1/orders?limit=0", "limit"),
        ("/v1/orders?status=lost", "status"),
        // Shops choose their customer ids; a space is outside the alphabet.
        ("/v1/orders?customer_id=has%20space", "customer_id"),
        ("/v1/orders?cursor=garbage", "cursor"),
        ("/v1/orders?colour=red", "colour"),
        ("/v1/stock?below=-1", "below"),
        ("/v1/analytics/sales/daily?from=2026-13-01", "from"),
        (
            "/v1/analytics/summary?from=2026-02-01&to=2026-01-01",
            "from",
        ),
    ] {
        let r = sys.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
    sys.stock_product("CSV-1", 100, 5).await;
    let order = place(&sys, uuid::Uuid::new_v4(), &[("CSV-1", 2)]).await;
    wait_visible(&sys, order["order_id"].as_str().unwrap()).await;
    let r = sys
        .http
        .get(format!(
            "{}/v1/analytics/sales/daily?min_position={}",
            sys.query_url(),
            order["position"]
        ))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with(
            "day,sku,currency,units_confirmed,units_cancelled,units_paid,revenue_paid\n"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_analyst_role_reads_read_models_and_nothing_else() {
    let sys = System::start_with(&[], &[]).await;
    let analyst = sqlx::PgPool::connect(&sys.db.analyst_url()).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.orders")
        .fetch_one(&analyst)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let denied = sqlx::query("SELECT count(*) FROM events")
        .fetch_one(&analyst)
        .await;
    assert!(denied
        .unwrap_err()
        .to_string()
        .contains("permission denied"));
    let denied = sqlx::query("DELETE FROM read_models.products")
        .execute(&analyst)
        .await;
    assert!(denied
        .unwrap_err()
        .to_string()
        .contains("permission denied"));
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_days_are_utc_days_whatever_the_session_time_zone() {
    // The query API's sessions run fourteen hours ahead of UTC.
    let db = crate::support::TestDb::create().await;
    let url = format!("{}?options=-c%20TimeZone%3DPacific%2FKiritimati", db.url);
    let env = crate::support::system::env_for(&db, "tz", &[("DATABASE_URL", url.as_str())]);
    let query = crate::support::Proc::spawn("query-api", &["--addr", "127.0.0.1:0"], &env).await;
    // Placed and paid at 23:30 UTC on 2026-03-10: that UTC day, not the next.
    sqlx::query(
        "INSERT INTO read_models.orders (order_id, customer_id, status, lines, total, currency, \
                                         placed_at, updated_at, paid_at, version, position) \
         VALUES ($1, $2, 'paid', '[]', 1234, 'EUR', '2026-03-10T23:30:00Z', '2026-03-10T23:30:00Z', \
                 '2026-03-10T23:30:00Z', 2, 1)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(uuid::Uuid::new_v4().to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    let client = crate::support::system::client_with(&db.create_key("analyst", None).await);
    let get = |day: &'static str| {
        let url = format!(
            "{}/v1/analytics/summary?from={day}&to={day}",
            query.url.as_deref().unwrap()
        );
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let that_day = get("2026-03-10").await;
    assert_eq!(that_day["orders"], 1, "{that_day}");
    assert_eq!(that_day["orders_by_status"]["paid"], 1, "{that_day}");
    let next_day = get("2026-03-11").await;
    assert_eq!(next_day["orders"], 0, "{next_day}");
}
