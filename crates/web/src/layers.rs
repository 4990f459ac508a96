//! The middleware stack both APIs wrap their routers in: request ids,
//! tracing, a timeout, a body limit and problem bodies for bare errors.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{authenticate, AuthLayerState};
use crate::guards::{reject_control_characters, reject_oversized};
use crate::panic::catch_panics;
use crate::problem::problem_for_bare_errors;
use crate::request_metrics::record_request;
use crate::trace::{ensure_traceparent, trace_of};

/// Limits of every listener and every request: the one place their
/// defaults live (the command line reads them from here).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Longest a request may run before it is answered 503.
    pub request_timeout: Duration,
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Longest a client may take to send a request's head; the clock starts
    /// when the connection waits for one (so it also bounds idle time).
    pub header_read_timeout: Duration,
    /// Longest a connection may sit idle with no request in flight.
    pub keep_alive_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// Open connections per listener; one more is accepted and closed at once.
    pub max_connections: usize,
    /// Open connections per client address (an IPv6 /64 as one), so one
    /// client cannot hold them all; set it to `max_connections` behind a
    /// reverse proxy, where every connection comes from the proxy.
    pub max_connections_per_client: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_client: 256,
        }
    }
}

/// Bounds each request's time: the whole of it (a 503), and each wait for
/// a piece of its body. The console wears this as the APIs do.
pub fn time_limits<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limits: &HttpLimits,
) -> Router<S> {
    router
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
}

/// Wraps `router` in the shared stack. Outermost first, a request meets:
/// request id, request metrics, the trace context, tracing, the panic
/// catcher (a panic below is a logged 500, not a dropped connection), the problem-body mapper (so every bare error below
/// it, the timeout's included, gets a problem body), the timeout,
/// authentication and the rate limit (before anything reads the body), the
/// guards, then the body limit the extractors enforce; each route then
/// checks its permission.
pub fn apply(router: Router, limits: HttpLimits, auth: AuthLayerState) -> Router {
    let max = limits.max_body_bytes;
    let inner = router
        .layer(DefaultBodyLimit::max(max))
        .layer(from_fn(move |request, next| {
            reject_oversized(max, request, next)
        }))
        .layer(from_fn(reject_control_characters))
        .layer(from_fn_with_state(auth, authenticate));
    time_limits(inner, &limits)
        .layer(map_response(problem_for_bare_errors))
        .layer(catch_panics())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let trace_id = trace_of(request)
                    .map(|t| t.trace_id().to_owned())
                    .unwrap_or_default();
                tracing::info_span!("http", method = %request.method(), uri = %request.uri(), request_id, trace_id)
            }),
        )
        .layer(from_fn(ensure_traceparent))
        .layer(from_fn(record_request))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::{header, Request, StatusCode};
    use axum::routing::{get, post};
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        let routes = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: String| async move { body }))
            .route("/items/{id}", get(|| async { "never reached" }))
            .route("/private", post(|body: String| async move { body }))
            .route(
                "/panics",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("secret internals: the vault code is 1234");
                    }
                    "never"
                }),
            );
        // No database behind it: a well-formed key cannot be checked.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(100))
            .connect_lazy("postgres://nobody@127.0.0.1:9/none")
            .unwrap();
        let auth = AuthLayerState {
            authenticator: crate::auth::Authenticator::new(pool),
            public: std::sync::Arc::new(vec![
                "/slow",
                "/echo",
                "/items/%00",
                "/items/a%0d%0a",
                "/nowhere",
                "/panics",
            ]),
        };
        apply(
            routes,
            HttpLimits {
                request_timeout: Duration::from_millis(50),
                max_body_bytes: 16,
                ..HttpLimits::default()
            },
            auth,
        )
    }

    async fn send(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = app().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    fn get_request(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_timed_out_request_gets_a_problem_body_and_retry_after() {
        let (status, headers, body) = send(get_request("/slow")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[header::RETRY_AFTER], "1");
        assert!(body.contains("urn:stockroom:problem:timeout"), "{body}");
        assert!(
            headers.contains_key("x-request-id"),
            "the request id survives the mapping"
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_that_tells_nothing_of_the_panic() {
        let (status, headers, body) = send(get_request("/panics")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert!(body.contains("urn:stockroom:problem:internal"), "{body}");
        assert!(!body.contains("vault") && !body.contains("1234"), "{body}");
        assert!(headers.contains_key("x-request-id"), "{headers:?}");
    }

    #[tokio::test]
    async fn a_declared_oversized_body_is_a_413_problem_before_any_handler() {
        let request = Request::post("/echo")
            .header(header::CONTENT_LENGTH, "1000")
            .body(Body::from(vec![b'x'; 1000]))
            .unwrap();
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert!(body.contains("1000 bytes"), "{body}");
        assert!(
            !headers.contains_key(header::CONNECTION),
            "drained, so the connection stays"
        );
    }

    #[tokio::test]
    async fn a_body_within_the_limit_reaches_the_handler() {
        let request = Request::post("/echo").body(Body::from("hello")).unwrap();
        let (status, _, body) = send(request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "hello");
    }

    #[tokio::test]
    async fn a_nul_in_the_path_or_query_is_a_400_before_any_handler() {
        for uri in ["/items/%00", "/echo?x=%00", "/items/a%0d%0a"] {
            let (status, headers, _) = send(get_request(uri)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        }
    }

    #[tokio::test]
    async fn a_private_route_without_a_key_is_401_before_its_body_is_read() {
        for body in ["{not json", "x"] {
            let request = Request::post("/private")
                .header(header::CONTENT_LENGTH, "100000")
                .body(Body::from(body))
                .unwrap();
            let (status, headers, problem) = send(request).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
            assert_eq!(
                headers[header::WWW_AUTHENTICATE],
                r#"Bearer realm="stockroom""#
            );
        }
    }

    #[tokio::test]
    async fn a_malformed_key_is_401_with_invalid_token_and_the_same_body() {
        let mut bodies = Vec::new();
        for authorization in [
            "Basic dXNlcjpwYXNz",
            "Bearer ",
            "Bearer nope",
            &format!("Bearer {}", "a".repeat(10_000)),
        ] {
            let request = Request::post("/private")
                .header(header::AUTHORIZATION, authorization)
                .body(Body::empty())
                .unwrap();
            let (status, headers, body) = send(request).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:.20}");
            assert_eq!(
                headers[header::WWW_AUTHENTICATE],
                r#"Bearer realm="stockroom", error="invalid_token""#
            );
            bodies.push(body);
        }
        bodies.dedup();
        assert_eq!(bodies.len(), 1, "one body whatever the reason");
    }

    #[tokio::test]
    async fn a_key_that_cannot_be_checked_is_503_not_401() {
        let token = format!(
            "Bearer stockroom_{}_{}",
            uuid::Uuid::new_v4().simple(),
            "ab".repeat(32)
        );
        let request = Request::post("/private")
            .header(header::AUTHORIZATION, token)
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = send(request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_get_problem_bodies() {
        let (status, headers, _) = send(get_request("/nowhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let (status, headers, _) = send(get_request("/echo")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    }
}
