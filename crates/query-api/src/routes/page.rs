//! Keyset pagination: fetch one row more than asked to know if a next page exists.

use schemars::JsonSchema;
use serde::Serialize;

/// A page of items with the cursor of the next page.
#[derive(Serialize, JsonSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// Cuts `rows` (fetched with `limit + 1`) to a page.
pub fn page<T>(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}
