//! Router tests: the HTTP plumbing of the command API driven with `oneshot`,
//! for what is decided before any database work — content type, JSON shape,
//! field validation, headers — and the mapping of every error to its status.

#![allow(missing_docs)]

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use command_api::error::ApiError;
use command_api::{router, AppState};
use domain::DomainError;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use store::{RetryPolicy, StoreError};
use tower::ServiceExt;
use web::layers::HttpLimits;
use web::probes::Probes;

/// The router over a pool that never connects: a request that reached the
/// database would fail with 503, so a 4xx proves it was refused before.
fn app() -> Router {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(200))
        .connect_lazy("postgres://nobody@127.0.0.1:9/none")
        .unwrap();
    let probes = Probes {
        pool: pool.clone(),
        broker: bus::admin::BrokerProbe::new(&bus::KafkaConfig::new("127.0.0.1:9")).unwrap(),
        timeout: Duration::from_millis(200),
    };
    router(
        AppState {
            pool,
            probes,
            retry: RetryPolicy::default(),
        },
        HttpLimits::default(),
    )
}

async fn post(path: &str, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = Request::post(path);
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let response = app()
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

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let (status, _) = post("/v1/orders", Some("text/plain"), "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = post("/v1/orders", None, "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (status, body) = post("/v1/orders", JSON, "{\"customer_id\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "urn:stockroom:problem:malformed-json");
}

#[tokio::test]
async fn invalid_fields_are_422_naming_each_field() {
    let cases = [
        (
            "/v1/orders",
            r#"{"customer_id": "nope", "lines": []}"#,
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

#[tokio::test]
async fn a_malformed_idempotency_key_or_if_match_is_400() {
    let body = r#"{"quantity": 1}"#;
    for (name, value) in [("if-match", "seven"), ("idempotency-key", "")] {
        let request = Request::post("/v1/stock/A/receipts")
            .header(header::CONTENT_TYPE, "application/json")
            .header(name, value)
            .body(Body::from(body))
            .unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{name}: {value:?}"
        );
    }
}

#[tokio::test]
async fn a_valid_command_that_needs_the_database_is_503_when_it_is_down() {
    let (status, body) = post("/v1/stock/A/receipts", JSON, r#"{"quantity": 1}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["detail"],
        "a backing service is unavailable; retry later"
    );
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
