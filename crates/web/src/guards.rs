//! Request guards that answer before any handler runs: a body declared
//! larger than the limit, and text no database column can hold.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Problem;

/// Most bytes of an oversized body read and thrown away before answering,
/// so the client is reading when the answer comes instead of being reset
/// mid-upload. Past this the connection is closed after the answer.
pub const DRAIN_CAP: usize = 8 * 1024 * 1024;

/// Longest spent draining an oversized body.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Middleware: a body whose `Content-Length` is over `max` is drained (up to
/// [`DRAIN_CAP`]) and answered 413 with a problem body. Bodies without a
/// length are limited while they are read (`DefaultBodyLimit`).
pub async fn reject_oversized(max: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|n| *n > max as u64) else {
        return next.run(request).await;
    };
    let body: Body = request.into_body();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, DRAIN_CAP)).await;
    let mut response = Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        format!("the request body is {declared} bytes; at most {max} are accepted"),
    )
    .into_response();
    if !matches!(drained, Ok(Ok(_))) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Middleware: a path or query holding a NUL or another control character
/// (percent-encoded or not) is a 400 before it can reach Postgres, which
/// cannot store NUL in text.
pub async fn reject_control_characters(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let bad = [Some(uri.path()), uri.query()]
        .into_iter()
        .flatten()
        .any(has_control_character);
    if bad {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "the path or query holds a control character",
        )
        .into_response();
    }
    next.run(request).await
}

fn has_control_character(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                i += 2;
                u8::from_str_radix(hex, 16).unwrap_or(b' ')
            }
            other => other,
        };
        if byte < 0x20 || byte == 0x7f {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_control_character;

    #[test]
    fn control_characters_are_found_raw_or_percent_encoded() {
        for bad in ["/v1/stock/%00", "/v1/stock/a%0Ab", "sku=%1f", "/x%7F"] {
            assert!(has_control_character(bad), "{bad}");
        }
        for good in [
            "/v1/stock/MUG-1",
            "sku=a%20b",
            "/v1/stock/%C3%A9",
            "q=100%",
            "%2",
        ] {
            assert!(!has_control_character(good), "{good}");
        }
    }
}
