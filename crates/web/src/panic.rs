//! A panic in a handler answers 500 instead of dropping the connection.

use std::any::Any;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::Problem;

/// What a panic is answered with.
type PanicAnswer = fn(Box<dyn Any + Send + 'static>) -> Response;

/// The layer every router wears (the APIs', the workers' and the
/// console's): the panic is logged with its message, the client gets a
/// problem body that says nothing of it.
pub fn catch_panics() -> CatchPanicLayer<PanicAnswer> {
    CatchPanicLayer::custom(answer_panic as PanicAnswer)
}

fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %message, "a request handler panicked");
    metrics::counter!("stockroom_http_panics_total").increment(1);
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request could not be completed",
    )
    .into_response()
}
