//! Bad input gets a precise 4xx problem and changes nothing.

use serde_json::{json, Value};

use crate::support::System;

struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: String,
    status: u16,
    field: Option<&'static str>,
}

fn case(
    name: &'static str,
    path: &'static str,
    body: Value,
    status: u16,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        path,
        content_type: "application/json",
        body: body.to_string(),
        status,
        field,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_invalid_requests_are_refused_precisely_and_append_nothing() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("GOOD-1", 100, 5).await;
    let customer = uuid::Uuid::new_v4();
    let line = |sku: &str, q: Value| json!({"customer_id": customer, "lines": [{"sku": sku, "quantity": q}]});
    let cases = vec![
        Case {
            name: "malformed JSON",
            path: "/v1/orders",
            content_type: "application/json",
            body: "{\"customer_id\": ".into(),
            status: 400,
            field: None,
        },
        Case {
            name: "wrong content type",
            path: "/v1/orders",
            content_type: "text/plain",
            body: line("GOOD-1", json!(1)).to_string(),
            status: 415,
            field: None,
        },
        // Just over the 64 KiB limit, and far over it: the server drains
        // the body (up to 8 MiB) before answering, so the client reads its
        // 413 instead of a reset connection.
        Case {
            name: "oversized body",
            path: "/v1/orders",
            content_type: "application/json",
            body: format!("{{\"customer_id\": \"{}\"}}", "x".repeat(70_000)),
            status: 413,
            field: None,
        },
        Case {
            name: "body far over the limit",
            path: "/v1/orders",
            content_type: "application/json",
            body: format!("{{\"customer_id\": \"{}\"}}", "x".repeat(2_000_000)),
            status: 413,
            field: None,
        },
        case(
            "wrong type",
            "/v1/orders",
            line("GOOD-1", json!("two")),
            422,
            Some("lines[0].quantity"),
        ),
        case(
            "zero quantity",
            "/v1/orders",
            line("GOOD-1", json!(0)),
            422,
            Some("lines[0].quantity"),
        ),
        case(
            "negative quantity",
            "/v1/orders",
            line("GOOD-1", json!(-3)),
            422,
            Some("lines[0].quantity"),
        ),
        case(
            "unknown SKU",
            "/v1/orders",
            line("NOPE-1", json!(1)),
            422,
            Some("lines[0].sku"),
        ),
        case(
            "empty lines",
            "/v1/orders",
            json!({"customer_id": customer, "lines": []}),
            422,
            Some("lines"),
        ),
        case(
            "missing field",
            "/v1/orders",
            json!({"lines": []}),
            422,
            Some("customer_id"),
        ),
        case(
            "unknown field",
            "/v1/orders",
            json!({"customer_id": customer, "lines": [], "coupon": "X"}),
            422,
            Some("coupon"),
        ),
        case(
            "bad SKU",
            "/v1/products",
            json!({"sku": "has space", "name": "x", "unit_price": 1, "currency": "EUR"}),
            422,
            Some("sku"),
        ),
        case(
            "negative price",
            "/v1/products",
            json!({"sku": "P-1", "name": "x", "unit_price": -1, "currency": "EUR"}),
            422,
            Some("unit_price"),
        ),
        case(
            "bad currency",
            "/v1/products",
            json!({"sku": "P-1", "name": "x", "unit_price": 1, "currency": "euro"}),
            422,
            Some("currency"),
        ),
        case(
            "zero adjustment",
            "/v1/stock/GOOD-1/adjustments",
            json!({"delta": 0, "reason": "count"}),
            422,
            Some("delta"),
        ),
        case(
            "removing more than is free",
            "/v1/stock/GOOD-1/adjustments",
            json!({"delta": -6, "reason": "count"}),
            409,
            None,
        ),
        case(
            "receipt for an unknown product",
            "/v1/stock/NOPE-1/receipts",
            json!({"quantity": 1}),
            404,
            None,
        ),
        // Postgres stores a NUL in neither text nor jsonb: once a 500.
        case(
            "NUL in a product name",
            "/v1/products",
            json!({"sku": "P-2", "name": "a\u{0}b", "unit_price": 1, "currency": "EUR"}),
            422,
            Some("name"),
        ),
        case(
            "NUL in a receipt reference",
            "/v1/stock/GOOD-1/receipts",
            json!({"quantity": 1, "reference": "\u{0}"}),
            422,
            Some("reference"),
        ),
        case(
            "NUL in an adjustment reason",
            "/v1/stock/GOOD-1/adjustments",
            json!({"delta": 1, "reason": "count\u{0}"}),
            422,
            Some("reason"),
        ),
        case(
            "NUL in an order line",
            "/v1/orders",
            line("GOOD-1\u{0}", json!(1)),
            422,
            Some("lines[0].sku"),
        ),
        case(
            "duplicate product",
            "/v1/products",
            json!({"sku": "GOOD-1", "name": "x", "unit_price": 1, "currency": "EUR"}),
            409,
            None,
        ),
    ];
    let before = sys.db.event_count().await;
    for c in cases {
        let r = sys
            .http
            .post(format!("{}{}", sys.command_url(), c.path))
            .header("content-type", c.content_type)
            .body(c.body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), c.status, "{}", c.name);
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{}",
            c.name
        );
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["status"], c.status, "{}", c.name);
        assert!(
            problem["type"].is_string()
                && problem["title"].is_string()
                && problem["detail"].is_string(),
            "{}",
            c.name
        );
        if let Some(field) = c.field {
            let fields: Vec<&str> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(
                fields.contains(&field),
                "{}: {field} not in {fields:?}",
                c.name
            );
        }
    }
    assert_eq!(sys.db.event_count().await, before, "nothing appended");
}
