//! The pages, one module per section, and what they share: acting as the
//! signed-in person, and showing what was just done once the read models
//! have it.

pub mod aftersales;
pub mod dashboard;
pub mod holds;
pub mod locations;
mod order_summary;
pub mod orders;
pub mod parked;
pub mod password;
pub mod products;
pub mod projections;
pub mod stock;
mod stock_movement;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use command_api::extract::CommandHeaders;
use command_api::runner::Answer;
use query_api::freshness::{await_position, MinPosition};
use serde::Deserialize;
use web::auth::Principal;

use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::state::Console;

/// What a page says after a change, by the code its redirect carries.
const NOTICES: [(&str, &str); 17] = [
    ("registered", "Product registered."),
    ("priced", "Price changed."),
    ("discontinued", "Product discontinued."),
    ("received", "Stock received."),
    ("adjusted", "Stock adjusted."),
    ("counted", "Count recorded."),
    ("location-registered", "Location registered."),
    (
        "location-deactivated",
        "Location deactivated; its stock stays.",
    ),
    ("shipped", "Order shipped."),
    (
        "partly-shipped",
        "Shipment recorded; the rest of the order is still to ship.",
    ),
    ("cancelled", "Order cancelled; its stock is released."),
    ("refunded", "Refund recorded."),
    ("received", "Returned units recorded."),
    ("released", "Hold released; its units are free again."),
    ("retried", "The parked event was applied."),
    ("rebuild", "Rebuild started."),
    ("verify", "Verification started."),
];

/// The query a page is redirected to after a change: what was done, and
/// the log position that change reached.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
    at: Option<i64>,
}

impl Done {
    /// The notice to show, after waiting (a bounded time) until
    /// `projections` have applied the change, so the page shows it.
    pub async fn settle(&self, console: &Console, projections: &[&str]) -> Option<String> {
        if self.at.is_some() {
            // A page that is a moment behind beats no page: on a timeout
            // it is shown as it is.
            let _ = await_position(&console.freshness, projections, MinPosition(self.at)).await;
        }
        self.notice()
    }

    /// The notice to show, without waiting (for pages that read the log
    /// itself, which has every committed change).
    pub fn notice(&self) -> Option<String> {
        let code = self.done.as_deref()?;
        NOTICES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, text)| (*text).to_owned())
    }
}

/// The headers of a command the signed-in person sends: their role, and
/// `user:<id>` as the actor of every event it appends.
pub fn acting(who: &SignedIn) -> CommandHeaders {
    let principal = Principal {
        key_id: who.user.id,
        role: who.role,
        channel: None,
    };
    CommandHeaders::acting_as(principal, who.actor())
}

/// Where to go after `answer`: `path` with the notice and the position.
pub fn after(path: &str, done: &str, answer: &Answer) -> Response {
    let position = answer.body["position"].as_i64().unwrap_or(0);
    Redirect::to(&format!("{path}?done={done}&at={position}")).into_response()
}

/// A rendered page with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Result<Response, ConsoleError> {
    Ok((status, Html(page.render()?)).into_response())
}
