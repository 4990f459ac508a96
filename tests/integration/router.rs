//! Router tests: the HTTP plumbing of both APIs driven with `oneshot` over a
//! real database (no processes): the access table, authentication before the
//! body, the extractors, and the mapping of every error to its status.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use command_api::error::ApiError;
use command_api::{router, AppState};
use domain::DomainError;
use serde_json::Value;
use sqlx::PgPool;
use store::{RetryPolicy, StoreError};
use tower::ServiceExt;
use web::access::{Access, RouteRule};
use web::auth::Authenticator;
use web::layers::HttpLimits;
use web::probes::Probes;

use crate::support::TestDb;

/// The command API's router over `pool`.
pub(crate) fn command_app(pool: PgPool) -> Router {
    let probes = Probes::new(
        pool.clone(),
        bus::admin::BrokerProbe::new(&bus::KafkaConfig::new("127.0.0.1:9")).unwrap(),
        Duration::from_millis(200),
    );
    router(
        AppState::new(
            pool.clone(),
            probes,
            RetryPolicy::default(),
            Authenticator::new(pool),
            store::Notifier::disabled(),
        ),
        HttpLimits::default(),
    )
}

/// The query API's router over `pool`.
pub(crate) fn query_app(pool: PgPool) -> Router {
    let probes = Probes::new(
        pool.clone(),
        bus::admin::BrokerProbe::new(&bus::KafkaConfig::new("127.0.0.1:9")).unwrap(),
        Duration::from_millis(200),
    );
    let horizon = query_api::horizon::LogHorizon::fixed(0);
    query_api::router(
        query_api::AppState {
            event_streams: query_api::routes::EventStreams::start(pool.clone(), horizon.clone()),
            horizon,
            max_long_poll: std::time::Duration::from_secs(1),
            freshness: query_api::freshness::Freshness::start(
                pool.clone(),
                Duration::from_millis(100),
                tokio::sync::watch::channel(false).1,
            ),
            pool: pool.clone(),
            probes,
            authenticator: Authenticator::new(pool),
        },
        HttpLimits::default(),
    )
}

/// A fresh database, the command API over it, and a staff key.
async fn app() -> (TestDb, Router, String) {
    let db = TestDb::create().await;
    let token = db.create_key("admin", None).await;
    let app = command_app(db.pool.clone());
    (db, app, token)
}

async fn post(path: &str, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
    let (_db, app, token) = app().await;
    let mut request = Request::post(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let response = app
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        if status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        }
    );
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_declared_json_is_415() {
    let (status, _) = post("/v1/orders", Some("text/plain"), "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = post("/v1/orders", None, "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_400() {
    let (status, body) = post("/v1/orders", JSON, "{\"customer_id\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "urn:stockroom:problem:malformed-json");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_fields_are_422_naming_each_field() {
    let cases = [
        (
            "/v1/orders",
            // Shops choose their own ids, but never with a space or a slash.
            r#"{"customer_id": "no/pe here", "lines": []}"#,
            "customer_id",
        ),
        (
            "/v1/orders",
            r#"{"customer_id": "4b0c8b8e-1f57-4b43-9c3e-8e2f1f3c2a11", "lines": [{"sku": "A", "quantity": 0}]}"#,
            "lines[0].quantity",
        ),
        (
            "/v1/orders",
            r#"{"customer_id": "4b0c8b8e-1f57-4b43-9c3e-8e2f1f3c2a11", "lines": [{"sku": "A", "quantity": 1}], "status": "paid"}"#,
            "status",
        ),
        (
            "/v1/products",
            r#"{"sku": "A", "name": "x", "unit_price": -1, "currency": "EUR"}"#,
            "unit_price",
        ),
        (
            "/v1/stock/A/receipts",
            r#"{"quantity": "many"}"#,
            "quantity",
        ),
    ];
    for (path, body, field) in cases {
        let (status, problem) = post(path, JSON, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {problem}"
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {fields:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_idempotency_key_or_if_match_is_400() {
    let (_db, app, token) = app().await;
    let body = r#"{"quantity": 1}"#;
    for (name, value) in [("if-match", "seven"), ("idempotency-key", "")] {
        let request = Request::post("/v1/stock/A/receipts")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(name, value)
            .body(Body::from(body))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{name}: {value:?}"
        );
    }
}

/// A concrete path for a route template.
fn concrete(rule: &RouteRule) -> String {
    rule.path
        .replace("{sku}", "SKU-1")
        .replace("{id}", "0f8fad5b-d9cb-469f-a165-70867728950e")
}

/// Every role × every route in both tables: public routes answer without a
/// key; every other route is a 401 without one, a 403 naming the permission
/// for a role that lacks it, and anything but 401/403 for one that holds it
/// (the table drives both the routers and these checks).
#[tokio::test(flavor = "multi_thread")]
async fn every_role_on_every_route_is_allowed_or_refused_as_the_table_says() {
    let db = TestDb::create().await;
    let mut keys = Vec::new();
    for role in web::access::Role::ALL {
        let channel = role.needs_channel().then_some("web");
        keys.push((role, db.create_key(role.as_str(), channel).await));
    }
    let apps = [
        (
            command_app(db.pool.clone()),
            &command_api::routes::ACCESS[..],
        ),
        (query_app(db.pool.clone()), &query_api::routes::ACCESS[..]),
    ];
    for (app, table) in apps {
        for rule in table {
            let path = concrete(rule);
            let send = |token: Option<&str>| {
                let mut request = Request::builder().method(rule.method.clone()).uri(&path);
                if let Some(token) = token {
                    request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
                }
                app.clone().oneshot(request.body(Body::empty()).unwrap())
            };
            let anonymous = send(None).await.unwrap().status();
            let Access::Requires(permission) = rule.access else {
                assert!(
                    anonymous.is_success(),
                    "{} {path}: {anonymous}",
                    rule.method
                );
                continue;
            };
            assert_eq!(
                anonymous,
                StatusCode::UNAUTHORIZED,
                "{} {path}",
                rule.method
            );
            for (role, token) in &keys {
                let response = send(Some(token)).await.unwrap();
                let status = response.status();
                if role.allows(permission) {
                    assert!(
                        status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                        "{role} on {} {path}: {status}",
                        rule.method
                    );
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{role} on {} {path}",
                        rule.method
                    );
                    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
                    let problem: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(problem["permission"], permission.as_str());
                }
            }
        }
    }
}

#[test]
fn every_error_maps_to_one_status() {
    let table: Vec<(ApiError, u16)> = vec![
        (DomainError::invalid("sku", "bad").into(), 422),
        (
            DomainError::NotFound {
                what: "order".into(),
            }
            .into(),
            404,
        ),
        (
            DomainError::Forbidden {
                action: "pay",
                why: "placed".into(),
            }
            .into(),
            409,
        ),
        (ApiError::Validation(vec![]), 422),
        (ApiError::MalformedJson("eof".into()), 400),
        (ApiError::UnsupportedMediaType, 415),
        (ApiError::PayloadTooLarge, 413),
        (
            ApiError::BadHeader {
                name: "if-match",
                message: "x".into(),
            },
            400,
        ),
        (
            ApiError::PreconditionFailed {
                expected: 1,
                current: 2,
            },
            412,
        ),
        (ApiError::IdempotencyMismatch, 422),
        (ApiError::NotFound("order".into()), 404),
        (ApiError::Contended, 409),
        (
            ApiError::Infrastructure(StoreError::Database(sqlx::Error::PoolTimedOut)),
            503,
        ),
        (
            ApiError::Infrastructure(StoreError::Database(sqlx::Error::RowNotFound)),
            500,
        ),
    ];
    for (error, status) in table {
        let problem = error.to_problem();
        assert_eq!(problem.status, status, "{error:?}");
        if status >= 500 {
            assert!(
                !problem.detail.contains("RowNotFound") && !problem.detail.contains("pool"),
                "no internals leak: {}",
                problem.detail
            );
        }
    }
}

/// The API description served at `/openapi.json` names every route of the
/// table with the security the router enforces.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route_with_its_security() {
    let db = TestDb::create().await;
    let apps = [
        (
            command_app(db.pool.clone()),
            &command_api::routes::ACCESS[..],
        ),
        (query_app(db.pool.clone()), &query_api::routes::ACCESS[..]),
    ];
    for (app, table) in apps {
        let response = app
            .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "served without a key");
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, table.len());
        for rule in table {
            let operation = &doc["paths"][rule.path][rule.method.as_str().to_ascii_lowercase()];
            match rule.access {
                Access::Public => assert_eq!(operation["security"], serde_json::json!([])),
                Access::Requires(permission) => {
                    assert_eq!(operation["security"], serde_json::json!([{"bearer": []}]));
                    assert_eq!(operation["x-permission"], permission.as_str());
                }
            }
        }
    }
}
