//! Paging an answer whose body is a bare array (api.md's shape for
//! `sales/daily`): the next page is named by a `Link: <…>; rel="next"`
//! header (RFC 8288), so the body keeps its shape for JSON and CSV alike.

use axum::http::{header, HeaderValue, Uri};
use axum::response::Response;

/// The query parameter a next link sets.
pub const CURSOR_NAME: &str = "cursor";

/// Adds `Link: <uri with cursor=…>; rel="next"` to `response`; `cursor`
/// must be URL-safe (it is written as is).
pub fn add_next_link(response: &mut Response, uri: &Uri, cursor: &str) {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(CURSOR_NAME))
        .collect();
    let cursor_pair = format!("{CURSOR_NAME}={cursor}");
    query.push(&cursor_pair);
    let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.join("&"));
    // The URI came in as a valid header-safe string; should it not be, the
    // page is still right, only without its link.
    if let Ok(value) = HeaderValue::from_str(&link) {
        response.headers_mut().insert(header::LINK, value);
    }
}

/// `text` as lowercase hex: URL-safe whatever the text holds.
pub fn to_hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text `hex` encodes, if it is hex of UTF-8.
pub fn from_hex(hex: &str) -> Option<String> {
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_keeps_the_other_parameters_and_replaces_the_cursor() {
        let mut response = Response::new(axum::body::Body::empty());
        let uri: Uri = "/v1/x?from=2026-01-01&cursor=00&sku=A%20B".parse().unwrap();
        add_next_link(&mut response, &uri, "abcd");
        assert_eq!(
            response.headers()[header::LINK],
            "</v1/x?from=2026-01-01&sku=A%20B&cursor=abcd>; rel=\"next\""
        );
    }

    #[test]
    fn hex_round_trips_any_text_and_refuses_garbage() {
        for text in ["2026-01-01/SKU 1", "ü/=&", ""] {
            assert_eq!(from_hex(&to_hex(text)).as_deref(), Some(text));
        }
        for garbage in ["zz", "abc", "ff"] {
            assert_eq!(from_hex(garbage), None, "{garbage}");
        }
    }
}
