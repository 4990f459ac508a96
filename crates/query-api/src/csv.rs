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

/// Rows as JSON, or as CSV with `columns` as the header (quoted by the
/// `csv` crate's RFC 4180 writer, text that a spreadsheet would run as a
/// formula neutralised).
pub fn respond<T: Serialize>(rows: &[T], columns: &[&str], csv: bool) -> Response {
    if !csv {
        return Json(rows).into_response();
    }
    match write_csv(rows, columns) {
        Ok(text) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot write CSV");
            web::Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "csv",
                "the answer could not be written as CSV",
            )
            .into_response()
        }
    }
}

fn write_csv<T: Serialize>(rows: &[T], columns: &[&str]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(columns)?;
    for row in rows {
        let value = serde_json::to_value(row).unwrap_or(Value::Null);
        writer.write_record(columns.iter().map(|c| cell(&value[*c])))?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => neutralised(s),
        // Numbers, negative ones included, stay numbers.
        other => other.to_string(),
    }
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's
/// CSV injection list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text that a spreadsheet would evaluate (a product named `=HYPERLINK(…)`)
/// gets a leading `'`, which spreadsheets take as "this is text".
fn neutralised(text: &str) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_need_quoting_are_quoted() {
        let rows = vec![serde_json::json!({"sku": "A,\"B\"", "units": 3, "none": null})];
        let text = String::from_utf8(write_csv(&rows, &["sku", "units", "none"]).unwrap()).unwrap();
        assert_eq!(text, "sku,units,none\n\"A,\"\"B\"\"\",3,\n");
    }

    #[test]
    fn text_a_spreadsheet_would_run_is_neutralised_and_numbers_stay_numbers() {
        let rows = vec![
            serde_json::json!({"name": "=HYPERLINK(\"http://x\")", "units": -3}),
            serde_json::json!({"name": "+1", "units": 0}),
            serde_json::json!({"name": "-2", "units": 1}),
            serde_json::json!({"name": "@SUM(A1)", "units": 2}),
            serde_json::json!({"name": "\tx", "units": 3}),
            serde_json::json!({"name": "\rx", "units": 4}),
            serde_json::json!({"name": "plain = fine", "units": 5}),
        ];
        let text = String::from_utf8(write_csv(&rows, &["name", "units"]).unwrap()).unwrap();
        assert_eq!(
            text,
            "name,units\n\
             \"'=HYPERLINK(\"\"http://x\"\")\",-3\n\
             '+1,0\n\
             '-2,1\n\
             '@SUM(A1),2\n\
             '\tx,3\n\
             \"'\rx\",4\n\
             plain = fine,5\n"
        );
    }
}
