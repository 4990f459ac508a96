//! `/healthz`, `/readyz` and `/metrics`, the same on both APIs.

use std::future::Future;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use bus::admin::BrokerProbe;
use serde_json::json;
use sqlx::PgPool;

/// What readiness checks: the database decides; the broker is reported but
/// does not count, since no request of either API needs it (only
/// publication to other teams waits for it).
#[derive(Clone)]
pub struct Probes {
    /// The database.
    pub pool: PgPool,
    /// The broker.
    pub broker: BrokerProbe,
    /// Timeout of each check.
    pub timeout: Duration,
}

/// Work to do before `/metrics` renders (gauges measured on scrape).
pub trait BeforeScrape: Clone + Send + Sync + 'static {
    /// Updates gauges.
    fn refresh(&self) -> impl Future<Output = ()> + Send;
}

/// Nothing to refresh.
#[derive(Clone)]
pub struct NoRefresh;

impl BeforeScrape for NoRefresh {
    async fn refresh(&self) {}
}

/// The probe routes for a state that holds [`Probes`].
pub fn routes<S, R>(refresh: R) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Probes: FromRef<S>,
    R: BeforeScrape,
{
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(move || {
                let refresh = refresh.clone();
                async move {
                    refresh.refresh().await;
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        crate::metrics::render(),
                    )
                }
            }),
        )
}

async fn ready(State(probes): State<Probes>) -> impl IntoResponse {
    let database = async {
        tokio::time::timeout(
            probes.timeout,
            sqlx::query("SELECT 1").execute(&probes.pool),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    };
    let (database, broker) = tokio::join!(database, probes.broker.reachable(probes.timeout));
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": database, "broker": broker })),
    )
}
