//! Made-up keys cost little: they are not remembered without bound, key
//! lookups against the database are capped for the whole process, and each
//! client address (an IPv6 /64 as one) may cause only so many.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use sqlx::PgPool;
use tower::ServiceExt;
use web::auth::{AuthLimits, Authenticator};
use web::layers::HttpLimits;
use web::probes::Probes;

use crate::support::TestDb;

/// The command API over `pool` with `authenticator`.
fn app(pool: &PgPool, authenticator: Authenticator) -> Router {
    let probes = Probes::new(
        pool.clone(),
        bus::admin::BrokerProbe::new(&bus::KafkaConfig::new("127.0.0.1:9")).unwrap(),
        Duration::from_millis(200),
    );
    command_api::router(
        command_api::AppState::new(
            pool.clone(),
            probes,
            store::RetryPolicy::default(),
            authenticator,
            store::Notifier::disabled(),
        ),
        HttpLimits::default(),
    )
}

/// A well-formed token no key has.
fn made_up() -> String {
    format!(
        "stockroom_{}_{}",
        uuid::Uuid::new_v4().simple(),
        "ab".repeat(32)
    )
}

/// The status of `GET /metrics` with `token`, from `client` if given.
async fn status(app: &Router, token: &str, client: Option<&str>) -> StatusCode {
    let mut request = Request::get("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    if let Some(client) = client {
        let address: SocketAddr = client.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(address));
    }
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_keys_are_not_remembered_without_bound() {
    let db = TestDb::create().await;
    let token = db.create_key("admin", None).await;
    let authenticator = Authenticator::with_limits(
        db.pool.clone(),
        AuthLimits {
            max_cached_keys: 50,
            ..AuthLimits::default()
        },
    );
    let app = app(&db.pool, authenticator.clone());
    for _ in 0..300 {
        assert_eq!(
            status(&app, &made_up(), None).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        authenticator.cached_keys() <= 50,
        "{} keys cached",
        authenticator.cached_keys()
    );
    assert_eq!(
        status(&app, &token, None).await,
        StatusCode::OK,
        "a real key still works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_lookups_past_the_cap_are_503s_with_retry_after() {
    let db = TestDb::create().await;
    let authenticator = Authenticator::with_limits(
        db.pool.clone(),
        AuthLimits {
            max_concurrent_lookups: 2,
            lookup_wait: Duration::from_millis(200),
            ..AuthLimits::default()
        },
    );
    let app = app(&db.pool, authenticator);
    // Lookups hang on the locked table, holding their slots.
    let mut lock = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { status(&app, &made_up(), None).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    lock.rollback().await.unwrap();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((busy, refused), (4, 2), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_client_address_may_try_only_so_many_unknown_keys() {
    let db = TestDb::create().await;
    let token = db.create_key("admin", None).await;
    let authenticator = Authenticator::with_limits(
        db.pool.clone(),
        AuthLimits {
            lookups_per_client: 5,
            ..AuthLimits::default()
        },
    );
    let app = app(&db.pool, authenticator);
    let mut statuses = Vec::new();
    for i in 0..10 {
        // Addresses of one /64.
        let client = format!("[2001:db8::{i}]:4000");
        statuses.push(status(&app, &made_up(), Some(&client)).await);
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(limited, 5, "{statuses:?}");
    assert_eq!(
        status(&app, &made_up(), Some("[2001:db8:0:1::1]:4000")).await,
        StatusCode::UNAUTHORIZED,
        "another /64 has its own budget"
    );
    // A real key, once cached, is not held back by its address's budget.
    assert_eq!(
        status(&app, &token, Some("10.0.0.1:1")).await,
        StatusCode::OK
    );
    for _ in 0..20 {
        assert_eq!(
            status(&app, &token, Some("10.0.0.1:1")).await,
            StatusCode::OK
        );
    }
}
