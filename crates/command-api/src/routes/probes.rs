//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database = tokio::time::timeout(
        state.probe_timeout,
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let broker = state.broker.reachable(state.probe_timeout).await;
    let status = if database && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": database, "broker": broker })),
    )
}

/// Prometheus text; relay lag is measured from the log on each scrape, so it
/// is right whichever relay instance is active.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(mut conn) = state.pool.acquire().await {
        if let Ok(lag) = bus::relay::relay_lag(&mut conn).await {
            bus::relay::record_lag(lag);
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        web::metrics::render(),
    )
}
