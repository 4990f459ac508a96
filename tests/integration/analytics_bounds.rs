//! Analytics under hostile parameters: dates outside 1970..=9999 are 400s
//! naming the parameter (not a panic, not a database error), `sales/daily`
//! answers in bounded pages, and CSV cells a spreadsheet would run are
//! neutralised.

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use crate::router::query_app;
use crate::support::TestDb;

async fn get(
    app: &Router,
    token: &str,
    uri: &str,
    csv: bool,
) -> (StatusCode, Option<String>, String) {
    let mut request = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if csv {
        request = request.header(header::ACCEPT, "text/csv");
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let link = response
        .headers()
        .get(header::LINK)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 24).await.unwrap();
    (status, link, String::from_utf8(body.to_vec()).unwrap())
}

/// A database holding what `sql` inserts, the query API over it and an
/// analyst's key.
async fn analyst_app(sql: &str) -> (TestDb, Router, String) {
    let db = TestDb::create().await;
    let token = db.create_key("analyst", None).await;
    if !sql.is_empty() {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
    let app = query_app(db.pool.clone());
    (db, app, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_outside_the_sane_range_are_400s_naming_the_parameter() {
    let (_db, app, token) = analyst_app("").await;
    for (uri, field) in [
        ("/v1/analytics/sales/daily?to=-262143-01-05", "to"),
        ("/v1/analytics/summary?to=-262143-01-05", "to"),
        ("/v1/analytics/top-products?to=+262142-12-31", "to"),
        (
            "/v1/analytics/summary?from=0001-01-01&to=0001-01-02",
            "from",
        ),
        (
            "/v1/analytics/summary?from=9999-12-31&to=+10000-01-01",
            "to",
        ),
        ("/v1/analytics/sales/daily?limit=10001", "limit"),
        ("/v1/analytics/sales/daily?cursor=nothex", "cursor"),
    ] {
        let (status, _, body) = get(&app, &token, uri, false).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        let fields: Vec<&Value> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["field"])
            .collect();
        assert!(fields.contains(&&Value::from(field)), "{uri}: {problem}");
    }
    let (status, _, body) = get(
        &app,
        &token,
        "/v1/analytics/summary?from=9999-12-01&to=9999-12-31",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the last sane day works: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_sales_come_in_bounded_pages_linked_to_the_next() {
    let (_db, app, token) = analyst_app(
        "INSERT INTO read_models.daily_sales (day, sku, currency, units_paid, revenue_paid) \
         SELECT '2026-01-01'::date + (i / 3), 'SKU-' || (i % 3), 'EUR', i, -i \
         FROM generate_series(0, 6) AS i",
    )
    .await;
    let mut uri = "/v1/analytics/sales/daily?from=2026-01-01&to=2026-01-31&limit=3".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, link, body) = get(&app, &token, &uri, false).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert!(rows.len() <= 3, "{rows:?}");
        seen.extend(rows.iter().map(|r| format!("{} {}", r["day"], r["sku"])));
        pages += 1;
        let Some(link) = link else { break };
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("{link}"));
        assert!(
            next.contains("limit=3") && next.contains("from=2026-01-01"),
            "{next}"
        );
        uri = next.to_owned();
    }
    assert_eq!(pages, 3, "7 rows in pages of 3");
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in key order, none twice");
    let (_, link, _) = get(
        &app,
        &token,
        "/v1/analytics/sales/daily?from=2026-01-01&to=2026-01-31",
        false,
    )
    .await;
    assert_eq!(link, None, "the default page holds all 7");
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
    let (_db, app, token) = analyst_app(
        "INSERT INTO read_models.daily_sales (day, sku, currency, units_paid, revenue_paid) \
         VALUES ('2026-01-01', '=HYPERLINK(\"http://evil\")', 'EUR', 1, -5)",
    )
    .await;
    let (status, _, text) = get(
        &app,
        &token,
        "/v1/analytics/sales/daily?from=2026-01-01&to=2026-01-01",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\",EUR,0,0,1,-5\n"),
        "{text}"
    );
}
