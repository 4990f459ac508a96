//! Request count and latency per route template, method and status, for
//! both APIs (`stockroom_http_requests_total`,
//! `stockroom_http_request_duration_seconds`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Records one request once it has been answered.
pub async fn record_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
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
        ("method", method.to_owned()),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("stockroom_http_requests_total", &labels).increment(1);
    metrics::histogram!("stockroom_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label from a closed set: a made-up method (`M00001`)
/// would otherwise open a new series per request, which an unauthenticated
/// client could send without end (20,000 of them once grew `/metrics` to
/// 42 MB).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"M00001").unwrap()),
            "other"
        );
        assert_eq!(
            method_label(&Method::from_bytes(b"M00002").unwrap()),
            "other"
        );
    }
}
