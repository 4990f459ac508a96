//! The console's HTTP plumbing with `oneshot` over a real database: signing
//! in, sessions, CSRF, the page table's role checks, and forms that refuse
//! bad input without changing anything.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use console::{Console, ConsoleSettings};
use sqlx::PgPool;
use store::console_users;
use store::RetryPolicy;
use tower::ServiceExt;
use web::auth::Authenticator;
use web::probes::Probes;

use crate::support::process::run_tool_with_input;
use crate::support::TestDb;

const PASSWORD: &str = "a long enough password";

fn app(pool: &PgPool, settings: ConsoleSettings) -> Router {
    let probes = Probes {
        pool: pool.clone(),
        broker: bus::admin::BrokerProbe::new(&bus::KafkaConfig::new("127.0.0.1:9")).unwrap(),
        timeout: Duration::from_millis(200),
    };
    let commands = command_api::AppState {
        pool: pool.clone(),
        probes,
        retry: RetryPolicy::default(),
        authenticator: Authenticator::new(pool.clone()),
        notifier: store::Notifier::disabled(),
    };
    let stop = tokio::sync::watch::channel(false).1;
    console::router(Console::new(commands, settings, stop))
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50000))))
}

/// A user with `role` and a signed-in session: (cookie header, CSRF token).
async fn signed_in(db: &TestDb, role: &str) -> (String, String) {
    let email = format!("{}@example.com", crate::support::unique(role));
    let hash = console::password::hash(PASSWORD.into()).await.unwrap();
    let user = console_users::create(&db.pool, &email, role, &hash)
        .await
        .unwrap()
        .unwrap();
    let token = console_users::start_session(&db.pool, user.id)
        .await
        .unwrap();
    let session = console_users::touch_session(&db.pool, &token, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    (format!("stockroom_session={token}"), session.csrf_token)
}

async fn send(app: &Router, request: Request<Body>) -> (Response, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let text = String::from_utf8(to_bytes(body, 1 << 22).await.unwrap().to_vec()).unwrap();
    (Response::from_parts(parts, Body::empty()), text)
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

/// The sign-in form's token, from its cookie.
fn sign_in_token(response: &Response) -> String {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("stockroom_sign_in="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_needs_the_form_token_and_the_right_password() {
    let db = TestDb::create().await;
    let hash = console::password::hash(PASSWORD.into()).await.unwrap();
    console_users::create(&db.pool, "Ops@Example.com", "operator", &hash)
        .await
        .unwrap()
        .unwrap();
    let app = app(&db.pool, ConsoleSettings::default());

    let (form, html) = send(&app, get("/login", "")).await;
    assert_eq!(form.status(), StatusCode::OK);
    let token = sign_in_token(&form);
    assert!(html.contains(&format!(r#"name="csrf" value="{token}""#)));
    let cookie = format!("stockroom_sign_in={token}");

    let forged = format!("email=ops%40example.com&password={PASSWORD}&csrf=other");
    let (refused, _) = send(&app, post("/login", &cookie, &forged)).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a token from elsewhere"
    );

    let wrong = format!("email=ops%40example.com&password=wrong+password&csrf={token}");
    let (refused, html) = send(&app, post("/login", &cookie, &wrong)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(html.contains("Wrong e-mail address or password."));
    let unknown = format!("email=nobody%40example.com&password=wrong+password&csrf={token}");
    let (refused, same) = send(&app, post("/login", &cookie, &unknown)).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "an unknown address reads like a wrong password"
    );
    assert!(same.contains("Wrong e-mail address or password."));

    let right = format!(
        "email=OPS%40example.com&password={}&csrf={token}",
        PASSWORD.replace(' ', "+")
    );
    let (signed_in, _) = send(&app, post("/login", &cookie, &right)).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/");
    let session = signed_in
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("stockroom_session="))
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{session} has {attribute}");
    }
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM console_sessions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let token = session
        .trim_start_matches("stockroom_session=")
        .split(';')
        .next()
        .unwrap();
    assert_ne!(
        stored,
        token.as_bytes(),
        "only a hash of the session token is kept"
    );
    let (dashboard, html) = send(&app, get("/", &format!("stockroom_session={token}"))).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(html.contains("ops@example.com (operator)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_attempts_are_limited_per_address() {
    let db = TestDb::create().await;
    let settings = ConsoleSettings {
        sign_in_per_minute: 2,
        ..ConsoleSettings::default()
    };
    let app = app(&db.pool, settings);
    let (form, _) = send(&app, get("/login", "")).await;
    let token = sign_in_token(&form);
    let cookie = format!("stockroom_sign_in={token}");
    let attempt = format!("email=someone%40example.com&password=guess+number+one&csrf={token}");
    for _ in 0..2 {
        let (refused, _) = send(&app, post("/login", &cookie, &attempt)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let (limited, html) = send(&app, post("/login", &cookie, &attempt)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("too many sign-in attempts"));
}

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
async fn sessions_end_when_idle_or_signed_out() {
    let db = TestDb::create().await;
    let (cookie, csrf) = signed_in(&db, "staff").await;
    let token = cookie.trim_start_matches("stockroom_session=").to_owned();
    let idle = Duration::from_secs(60);
    sqlx::query("UPDATE console_sessions SET last_seen_at = now() - interval '2 minutes'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(console_users::touch_session(&db.pool, &token, idle)
        .await
        .unwrap()
        .is_none());
    assert_eq!(console_users::purge_idle(&db.pool, idle).await.unwrap(), 1);

    let (cookie, csrf_now) = signed_in(&db, "staff").await;
    assert_ne!(csrf, csrf_now, "every session has its own form token");
    let app = app(&db.pool, ConsoleSettings::default());
    let (out, _) = send(&app, post("/logout", &cookie, &format!("csrf={csrf_now}"))).await;
    assert_eq!(location(&out), "/login");
    let (after, _) = send(&app, get("/", &cookie)).await;
    assert_eq!(location(&after), "/login");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
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
async fn parked_events_show_their_error_and_envelope_and_a_failed_retry_keeps_them() {
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
    assert!(html.contains("the moon"), "the envelope");
    assert!(!html.contains(r#""to": "the moon""#), "escaped as HTML");
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

#[tokio::test(flavor = "multi_thread")]
async fn users_are_made_on_the_command_line_with_a_typed_password_or_a_one_time_one() {
    let db = TestDb::create().await;
    let env = vec![("DATABASE_URL".to_owned(), db.url.clone())];
    let typed = "typed on standard input\n";
    let (status, printed) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "Lea@Example.com",
            "--role",
            "staff",
            "--password-stdin",
        ],
        &env,
        typed,
    )
    .await;
    assert!(status.success());
    assert!(printed.is_empty(), "a typed password is not printed back");
    let (user, hash) = console_users::find_for_sign_in(&db.pool, "lea@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, "staff");
    assert!(
        hash.starts_with("$argon2id$"),
        "only an Argon2id hash is kept"
    );
    assert!(console::password::verify("typed on standard input".into(), Some(hash)).await);

    let (status, _) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "lea@example.com",
            "--role",
            "staff",
            "--password-stdin",
        ],
        &env,
        typed,
    )
    .await;
    assert!(!status.success(), "one account per address");
    let (status, _) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "max@example.com",
            "--role",
            "storefront",
        ],
        &env,
        "",
    )
    .await;
    assert!(
        !status.success(),
        "storefront is a role for keys, not people"
    );
    let (status, _) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "max@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &env,
        "short\n",
    )
    .await;
    assert!(!status.success(), "too short a password");
}
