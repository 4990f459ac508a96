//! The middleware stack both APIs wrap their routers in: request ids,
//! tracing, a timeout, a body limit and problem bodies for bare errors.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::middleware::{from_fn, map_response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::guards::{reject_control_characters, reject_oversized};
use crate::problem::problem_for_bare_errors;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Longest a request may run before it is answered 503.
    pub request_timeout: Duration,
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Wraps `router` in the shared stack. Outermost first, a request meets:
/// request id, tracing, the problem-body mapper (so every bare error below
/// it, the timeout's included, gets a problem body), the timeout, the
/// guards, then the body limit the extractors enforce.
pub fn apply(router: Router, limits: HttpLimits) -> Router {
    let max = limits.max_body_bytes;
    router
        .layer(DefaultBodyLimit::max(max))
        .layer(from_fn(move |request, next| reject_oversized(max, request, next)))
        .layer(from_fn(reject_control_characters))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(map_response(problem_for_bare_errors))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("http", method = %request.method(), uri = %request.uri(), request_id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
