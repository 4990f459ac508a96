//! Pages and forms: the role checks, CSRF, and refused input.

use axum::http::{header, StatusCode};
use console::ConsoleSettings;

use super::{app, get, location, post, send, signed_in};
use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread")]
async fn pages_need_a_session_and_a_role_that_allows_them() {
    let db = TestDb::create().await;
    let app = app(&db.pool, ConsoleSettings::default());
    let (anonymous, _) = send(&app, get("/orders", "")).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/login");
    let (stale, _) = send(&app, get("/orders", "stockroom_session=made-up")).await;
    assert_eq!(
        location(&stale),
        "/login",
        "an unknown session is no session"
    );

    let (staff, _) = signed_in(&db, "staff").await;
    let (products, html) = send(&app, get("/products", &staff)).await;
    assert_eq!(products.status(), StatusCode::OK);
    assert!(html.contains(r#"<form method="post" action="/products" id="register">"#));
    assert!(
        !html.contains(r#"href="/projections""#),
        "the menu shows only what the role may open"
    );
    let (projections, html) = send(&app, get("/projections", &staff)).await;
    assert_eq!(projections.status(), StatusCode::FORBIDDEN);
    assert!(html.contains("operations:read"));

    let (operator, csrf) = signed_in(&db, "operator").await;
    let (refused, _) = send(
        &app,
        post(
            "/products",
            &operator,
            &format!("csrf={csrf}&sku=A&name=A&unit_price=1&currency=EUR"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (rebuild, _) = send(
        &app,
        post(
            "/projections/orders/rebuild",
            &operator,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(
        rebuild.status(),
        StatusCode::FORBIDDEN,
        "rebuilds are for admins"
    );
    assert_eq!(db.event_count().await, 0);

    let (_, html) = send(&app, get("/", &operator)).await;
    assert!(
        html.contains(r#"id="lags""#) && !html.contains(r#"id="orders-today""#),
        "operators see the pipeline, not the orders"
    );
    for header in [
        header::CONTENT_SECURITY_POLICY,
        header::X_CONTENT_TYPE_OPTIONS,
        header::CACHE_CONTROL,
    ] {
        assert!(products.headers().contains_key(&header), "{header}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_refuse_a_missing_token_and_bad_input_without_changing_anything() {
    let db = TestDb::create().await;
    let app = app(&db.pool, ConsoleSettings::default());
    let (staff, csrf) = signed_in(&db, "staff").await;

    let valid = "sku=TEA-1&name=Green+tea&unit_price=12.50&currency=EUR";
    let (forged, _) = send(
        &app,
        post("/products", &staff, &format!("csrf=forged&{valid}")),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (missing, _) = send(&app, post("/products", &staff, valid)).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);

    let (refused, html) = send(
        &app,
        post(
            "/products",
            &staff,
            &format!("csrf={csrf}&sku=TEA-1&name=Green+tea&unit_price=twelve&currency=EUR"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="unit_price-error""#), "{html}");
    assert!(
        html.contains(r#"value="Green tea""#),
        "what was typed stays"
    );
    let (refused, html) = send(
        &app,
        post(
            "/products",
            &staff,
            &format!("csrf={csrf}&sku=not+a+sku!&name=Green+tea&unit_price=1&currency=EUR"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"id="sku-error""#),
        "the command's own validation, on its field"
    );
    assert_eq!(db.event_count().await, 0, "nothing was appended");

    let (done, _) = send(
        &app,
        post("/products", &staff, &format!("csrf={csrf}&{valid}")),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).starts_with("/products?done=registered&at="));
    let actor: String = sqlx::query_scalar("SELECT actor FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(actor.starts_with("user:"), "{actor}");
    let (again, html) = send(
        &app,
        post("/products", &staff, &format!("csrf={csrf}&{valid}")),
    )
    .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"class="problem""#),
        "the domain's refusal is shown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_change_prices_discontinue_and_adjust_stock() {
    let db = TestDb::create().await;
    let app = app(&db.pool, ConsoleSettings::default());
    let (staff, csrf) = signed_in(&db, "staff").await;
    let steps = [
        (
            "/products",
            "sku=MUG-1&name=Mug&unit_price=8&currency=EUR",
            "registered",
        ),
        (
            "/products/MUG-1/price",
            "unit_price=9.90&currency=EUR",
            "priced",
        ),
        (
            "/stock/MUG-1/receive",
            "quantity=12&reference=PO-7",
            "received",
        ),
        (
            "/stock/MUG-1/adjust",
            "delta=-2&reason=broken+in+transit",
            "adjusted",
        ),
        ("/products/MUG-1/discontinue", "", "discontinued"),
    ];
    for (path, form, done) in steps {
        let (response, html) = send(&app, post(path, &staff, &format!("csrf={csrf}&{form}"))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}: {html}");
        assert!(
            location(&response).contains(&format!("done={done}")),
            "{path}"
        );
    }
    let (refused, html) = send(
        &app,
        post(
            "/stock/MUG-1/adjust",
            &staff,
            &format!("csrf={csrf}&delta=-1&reason="),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"id="reason-error""#),
        "an adjustment needs a reason"
    );
    let (page, html) = send(&app, get("/stock/MUG-1", &staff)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(html.contains("reason: broken in transit"));
    assert!(
        html.contains(r#"<td class="n on-hand">10</td>"#),
        "12 received, 2 written off"
    );
    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM events ORDER BY position")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "ProductRegistered",
            "ProductPriceChanged",
            "StockReceived",
            "StockAdjusted",
            "ProductDiscontinued"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parked_events_show_their_error_to_operators_their_envelope_to_admins_and_a_failed_retry_keeps_them(
) {
    let db = TestDb::create().await;
    let envelope = serde_json::json!({
        "event_id": uuid::Uuid::now_v7(), "event_type": "OrderTeleported", "schema_version": 1,
        "stream_id": "order-1", "stream_version": 1, "global_position": 1,
        "occurred_at": "2026-11-22T10:00:00Z", "correlation_id": uuid::Uuid::now_v7(),
        "causation_id": null, "actor": "key:test", "data": {"to": "the moon"}
    });
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO parked_events (consumer, event_id, position, topic, partition, \"offset\", envelope, error, attempts) \
         VALUES ('orders', $1, 1, 'log', 0, 1, $2, 'unknown event type OrderTeleported', 3) RETURNING id",
    )
    .bind(uuid::Uuid::parse_str(envelope["event_id"].as_str().unwrap()).unwrap())
    .bind(&envelope)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let app = app(&db.pool, ConsoleSettings::default());

    let (operator, csrf) = signed_in(&db, "operator").await;
    let (page, html) = send(&app, get("/parked", &operator)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(html.contains("unknown event type OrderTeleported"));
    assert!(!html.contains("the moon"), "an operator sees no order data");
    assert!(
        !html.contains(&format!("/parked/{id}/retry")),
        "operators look; admins retry"
    );
    let (refused, _) = send(
        &app,
        post(
            &format!("/parked/{id}/retry"),
            &operator,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let (admin, csrf) = signed_in(&db, "admin").await;
    let (_, html) = send(&app, get("/parked", &admin)).await;
    assert!(
        html.contains("the moon"),
        "the envelope, for whoever may retry it"
    );
    assert!(!html.contains(r#""to": "the moon""#), "escaped as HTML");
    let (failed, html) = send(
        &app,
        post(
            &format!("/parked/{id}/retry"),
            &admin,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(failed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("it stays parked") || html.contains("not an envelope"),
        "{html}"
    );
    let still: i64 =
        sqlx::query_scalar("SELECT count(*) FROM parked_events WHERE retried_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(still, 1);
}
