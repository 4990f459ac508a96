//! Request count and latency per route template, method and status, for
//! both APIs (`stockroom_http_requests_total`,
//! `stockroom_http_request_duration_seconds`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Records one request once it has been answered.
pub async fn record_request(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    // The template (`/v1/orders/{id}`), never the raw path: one series per
    // route, however many ids are asked for.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("stockroom_http_requests_total", &labels).increment(1);
    metrics::histogram!("stockroom_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
