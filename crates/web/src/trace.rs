//! Every request carries a W3C trace context: the caller's `traceparent`
//! when it sent a valid one, a new trace otherwise. Handlers store it with
//! the events they append; logs name its trace id.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use store::trace::TraceParent;

/// The header's name.
pub const TRACEPARENT: &str = "traceparent";

/// Replaces a missing or malformed `traceparent` with a new trace.
pub async fn ensure_traceparent(mut request: Request, next: Next) -> Response {
    if trace_of(&request).is_none() {
        let fresh = TraceParent::fresh().to_string();
        if let Ok(value) = HeaderValue::from_str(&fresh) {
            request.headers_mut().insert(TRACEPARENT, value);
        }
    }
    next.run(request).await
}

/// The request's trace context, if valid.
pub fn trace_of<B>(request: &axum::http::Request<B>) -> Option<TraceParent> {
    request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
}
