//! Answering in JSON or, on `Accept: text/csv`, in CSV.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

/// Whether the client prefers CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|m| m.trim().starts_with("text/csv")))
}

/// Rows as JSON, or as CSV with `columns` as the header.
pub fn respond<T: Serialize>(rows: &[T], columns: &[&str], csv: bool) -> Response {
    if !csv {
        return Json(rows).into_response();
    }
    let mut out = columns.join(",");
    out.push('\n');
    for row in rows {
        let value = serde_json::to_value(row).unwrap_or(Value::Null);
        let cells: Vec<String> = columns.iter().map(|c| cell(&value[*c])).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}

fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
