//! `/healthz`, `/readyz` and `/metrics`, the same on both APIs.

use std::future::Future;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::Method;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bus::admin::BrokerProbe;
use schemars::JsonSchema;
use serde::Serialize;

use crate::access::{rule, Access, Permission, RouteRule};
use crate::openapi::Operation;
use crate::SecureRouter;
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

/// Liveness: anyone may ask. Every API's access table carries this row.
pub const HEALTHZ: RouteRule = rule(Method::GET, "/healthz", Access::Public);
/// Readiness: anyone may ask.
pub const READYZ: RouteRule = rule(Method::GET, "/readyz", Access::Public);
/// Metrics: operators only.
pub const METRICS: RouteRule = rule(
    Method::GET,
    "/metrics",
    Access::Requires(Permission::OperationsRead),
);

/// Mounts the probe routes for a state that holds [`Probes`].
pub fn routes<S, R>(router: SecureRouter<S>, refresh: R) -> SecureRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Probes: FromRef<S>,
    R: BeforeScrape,
{
    router
        .get(
            "/healthz",
            || async { Json(Liveness { status: "ok" }) },
            Operation::new("liveness: the process serves requests")
                .answers::<Liveness>(200, "alive"),
        )
        .get(
            "/readyz",
            ready,
            Operation::new("readiness: the database answers (the broker is only reported)")
                .answers::<Readiness>(200, "ready")
                .answers::<Readiness>(503, "the database does not answer"),
        )
        .get(
            "/metrics",
            move || {
                let refresh = refresh.clone();
                async move {
                    refresh.refresh().await;
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        crate::metrics::render(),
                    )
                }
            },
            Operation::new("Prometheus metrics of this process").answers_text(
                200,
                "the Prometheus text format",
                "text/plain",
            ),
        )
}

/// `/healthz`'s answer.
#[derive(Serialize, JsonSchema)]
pub struct Liveness {
    /// Always `ok`.
    status: &'static str,
}

/// `/readyz`'s answer.
#[derive(Serialize, JsonSchema)]
pub struct Readiness {
    /// Whether the database answered in time.
    database: bool,
    /// Whether the broker answered in time (does not decide readiness).
    broker: bool,
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
    (status, Json(Readiness { database, broker }))
}
