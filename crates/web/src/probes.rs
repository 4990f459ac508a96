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
use crate::readiness::{Readiness, ReadinessCache};
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
    /// The latest result, which answers `/readyz` for a second.
    cache: ReadinessCache,
}

impl Probes {
    /// Probes of `pool` and `broker`, each check bounded by `timeout`.
    pub fn new(pool: PgPool, broker: BrokerProbe, timeout: Duration) -> Self {
        Self {
            pool,
            broker,
            timeout,
            cache: ReadinessCache::default(),
        }
    }
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
            Operation::new(
                "readiness: the database answers (the broker is only reported); \
                 from a probe at most a second old",
            )
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

async fn ready(State(probes): State<Probes>) -> impl IntoResponse {
    let readiness = probes
        .cache
        .get(&probes.pool, &probes.broker, probes.timeout)
        .await;
    let status = if readiness.database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
