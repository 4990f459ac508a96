//! Locations in the console, and stock received, counted and adjusted at
//! one of them.

use axum::http::StatusCode;
use console::ConsoleSettings;

use super::{app, get, location, post, send, signed_in};
use crate::support::TestDb;

async fn event_data(db: &TestDb, event_type: &str) -> Vec<serde_json::Value> {
    sqlx::query_scalar("SELECT data FROM events WHERE event_type = $1 ORDER BY position")
        .bind(event_type)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_register_and_deactivate_locations_and_others_may_not() {
    let db = TestDb::create().await;
    let app = app(&db.pool, ConsoleSettings::default());
    let (operator, operator_csrf) = signed_in(&db, "operator").await;
    let (page, _) = send(&app, get("/locations", &operator)).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN, "locations:read");
    let (refused, _) = send(
        &app,
        post(
            "/locations",
            &operator,
            &format!("csrf={operator_csrf}&code=berlin-1&name=Berlin"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "locations:write");
    assert_eq!(db.event_count().await, 0);

    let (staff, csrf) = signed_in(&db, "staff").await;
    let (page, html) = send(&app, get("/locations", &staff)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(html.contains(r#"<tr data-location="default">"#), "{html}");
    assert!(html.contains(r#"href="/locations""#), "in the menu");

    let (bad, html) = send(
        &app,
        post(
            "/locations",
            &staff,
            &format!("csrf={csrf}&code=Berlin+One&name=Berlin&priority=10"),
        ),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="code-error""#), "{html}");
    assert!(html.contains(r#"value="Berlin""#), "what was typed stays");
    let (bad, html) = send(
        &app,
        post(
            "/locations",
            &staff,
            &format!("csrf={csrf}&code=berlin-1&name=Berlin&channels=web,a+b"),
        ),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"id="channels-error""#),
        "a channel's own message shows on the field: {html}"
    );
    assert_eq!(db.event_count().await, 0, "refused forms append nothing");

    let (done, _) = send(
        &app,
        post(
            "/locations",
            &staff,
            &format!(
                "csrf={csrf}&code=berlin-1&name=Berlin+warehouse&priority=10&channels=web,+pos"
            ),
        ),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).starts_with("/locations?done=location-registered&at="));
    let (_, html) = send(&app, get(location(&done), &staff)).await;
    assert!(html.contains("Location registered."));
    assert!(
        html.contains("<td>Berlin warehouse</td><td class=\"n\">10</td><td>pos, web</td>"),
        "{html}"
    );

    let (no_reason, html) = send(
        &app,
        post(
            "/locations/berlin-1/deactivate",
            &staff,
            &format!("csrf={csrf}&reason=+"),
        ),
    )
    .await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="reason-error""#), "{html}");
    let (unknown, _) = send(
        &app,
        post(
            "/locations/nowhere/deactivate",
            &staff,
            &format!("csrf={csrf}&reason=closed"),
        ),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (done, _) = send(
        &app,
        post(
            "/locations/berlin-1/deactivate",
            &staff,
            &format!("csrf={csrf}&reason=closed+for+renovation"),
        ),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (_, html) = send(&app, get("/locations", &staff)).await;
    let row = html
        .split(r#"<tr data-location="berlin-1">"#)
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap();
    assert!(row.contains(r#"<td class="active">no</td>"#), "{row}");
    assert!(!row.contains("/deactivate"), "nothing left to deactivate");

    let registered = event_data(&db, "LocationRegistered").await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["channels"], serde_json::json!(["pos", "web"]));
    assert_eq!(event_data(&db, "LocationDeactivated").await.len(), 1);
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM events")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(actors.iter().all(|a| a.starts_with("user:")), "{actors:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_is_received_counted_and_adjusted_at_a_chosen_location() {
    let db = TestDb::create().await;
    let app = app(&db.pool, ConsoleSettings::default());
    let (staff, csrf) = signed_in(&db, "staff").await;
    for (path, form) in [
        ("/products", "sku=MUG-1&name=Mug&unit_price=8&currency=EUR"),
        ("/locations", "code=shop-1&name=Shop"),
        (
            "/stock/MUG-1/receive",
            "location=shop-1&quantity=5&reference=PO-1",
        ),
        ("/stock/MUG-1/receive", "location=default&quantity=3"),
        (
            "/stock/MUG-1/count",
            "location=shop-1&counted=4&reference=shelf+A",
        ),
    ] {
        let (response, html) = send(&app, post(path, &staff, &format!("csrf={csrf}&{form}"))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}: {html}");
    }

    let (page, html) = send(&app, get("/stock/MUG-1", &staff)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        html.contains(r#"<option value="shop-1">shop-1 · Shop</option>"#),
        "the forms offer every location: {html}"
    );
    assert!(html.contains(r#"<option value="cycle_count">cycle_count</option>"#));
    assert!(html.contains(r#"<td class="location">shop-1</td>"#));
    assert!(html.contains(r#"<td class="location">default</td>"#));

    let (unknown, html) = send(
        &app,
        post(
            "/stock/MUG-1/receive",
            &staff,
            &format!("csrf={csrf}&location=nowhere&quantity=1"),
        ),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="location-error""#), "{html}");

    let stale = "location=shop-1&delta=-1&reason_code=damaged&reason=dropped&expected_on_hand=5";
    let (refused, html) = send(
        &app,
        post(
            "/stock/MUG-1/adjust",
            &staff,
            &format!("csrf={csrf}&{stale}"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"id="expected_on_hand-error">on hand at shop-1 is 4, not the expected 5"#),
        "the current value, on the field: {html}"
    );
    assert!(
        html.contains(r#"<option value="damaged" selected>"#),
        "the chosen code stays"
    );
    let (bad_code, html) = send(
        &app,
        post(
            "/stock/MUG-1/adjust",
            &staff,
            &format!("csrf={csrf}&location=shop-1&delta=-1&reason_code=lost&reason=x"),
        ),
    )
    .await;
    assert_eq!(bad_code.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="reason_code-error""#));

    let (done, _) = send(
        &app,
        post(
            "/stock/MUG-1/adjust",
            &staff,
            &format!("csrf={csrf}&location=shop-1&delta=-1&reason_code=damaged&reason=dropped&expected_on_hand=4"),
        ),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).contains("done=adjusted"));

    let adjusted = event_data(&db, "StockAdjusted").await;
    let summary: Vec<(String, i64, String)> = adjusted
        .iter()
        .map(|d| {
            (
                d["location"].as_str().unwrap().to_owned(),
                d["delta"].as_i64().unwrap(),
                d["reason_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("shop-1".to_owned(), -1, "cycle_count".to_owned()),
            ("shop-1".to_owned(), -1, "damaged".to_owned())
        ],
        "the count set 5 to 4, the adjustment wrote one off"
    );
    let received: Vec<String> = event_data(&db, "StockReceived")
        .await
        .iter()
        .map(|d| d["location"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received, ["shop-1", "default"]);
}
