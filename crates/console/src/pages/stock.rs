//! Stock: every SKU with low stock first, one SKU's units per location and
//! movements, receiving, adjusting and counting at a location.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use command_api::commands::{
    adjust_command, count_command, receive_command, AdjustmentBody, CountBody, ReceiptBody,
};
use command_api::runner::Answer;
use domain::location::Site;
use domain::stock::ReasonCode;
use query_api::error::QueryError;
use query_api::reads::{find_stock, find_stock_detail, movements, LocationStockView, StockView};
use serde::Deserialize;

use super::stock_movement::Row;
use super::{acting, after, render, Done};
use crate::error::ConsoleError;
use crate::forms::{given, outcome, FormErrors};
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, Layout};

/// SKUs listed at most.
const LIMIT: i64 = 500;

/// Movements per page.
const MOVEMENTS_PER_PAGE: i64 = 100;

/// Below this many available units a SKU is low unless the page says
/// otherwise.
const LOW_STOCK: i64 = 10;

/// The list's filter.
#[derive(Debug, Deserialize)]
pub struct Low {
    below: Option<i64>,
}

#[derive(Template)]
#[template(path = "stock.html")]
struct StockPage {
    layout: Layout,
    below: i64,
    low: Vec<StockView>,
    all: Vec<StockView>,
}

/// `GET /stock`.
pub async fn list(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(low): Query<Low>,
) -> Result<Response, ConsoleError> {
    let below = low.below.unwrap_or(LOW_STOCK).max(0);
    let page = StockPage {
        layout: Layout::new(&who, "/stock", "Stock"),
        below,
        low: find_stock(&console.reads, Some(below), LIMIT, None)
            .await?
            .items,
        all: find_stock(&console.reads, None, LIMIT, None).await?.items,
    };
    render(StatusCode::OK, &page)
}

/// What was typed into the SKU's forms.
#[derive(Debug, Default, Deserialize)]
pub struct StockForms {
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    reason_code: String,
    /// Blank: adjust whatever is on hand now.
    #[serde(default)]
    expected_on_hand: String,
    #[serde(default)]
    counted: String,
}

impl StockForms {
    /// What was typed into the number field `name`.
    fn value(&self, name: &str) -> &str {
        match name {
            "quantity" => &self.quantity,
            "delta" => &self.delta,
            "expected_on_hand" => &self.expected_on_hand,
            "counted" => &self.counted,
            _ => "",
        }
    }
}

/// Which page of movements: those after this stream version.
#[derive(Debug, Default, Deserialize)]
pub struct After {
    after: Option<i64>,
}

/// A form that was sent and refused, to show again.
#[derive(Default)]
struct Attempt {
    /// `receive`, `adjust` or `count`.
    failed: &'static str,
    typed: StockForms,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "sku.html")]
struct SkuPage {
    layout: Layout,
    sku: String,
    /// Units per location that keeps the SKU.
    levels: Vec<LocationStockView>,
    /// Where stock can be received, adjusted and counted.
    locations: Vec<Site>,
    reason_codes: &'static [&'static str],
    rows: Vec<Row>,
    next: Option<String>,
    can_write: bool,
    attempt: Attempt,
}

async fn sku_page(
    console: &Console,
    who: &SignedIn,
    sku: String,
    after: i64,
    notice: Option<String>,
    attempt: Attempt,
) -> Result<SkuPage, ConsoleError> {
    // A SKU that never moved has no movements yet, but can receive stock.
    let page = match movements(&console.reads, &sku, MOVEMENTS_PER_PAGE, after).await {
        Ok(page) => page,
        Err(QueryError::NotFound(_)) => query_api::reads::Page {
            items: Vec::new(),
            next_cursor: None,
        },
        Err(e) => return Err(e.into()),
    };
    let levels = find_stock_detail(&console.reads, &sku)
        .await?
        .map(|detail| detail.locations)
        .unwrap_or_default();
    Ok(SkuPage {
        layout: Layout::new(who, "/stock", format!("Stock of {sku}")).notice(notice),
        levels,
        locations: store::locations::all(&console.pool).await?,
        reason_codes: &ReasonCode::NAMES,
        rows: page.items.iter().map(Row::from).collect(),
        next: page.next_cursor,
        can_write: may(who, "/stock/{sku}/receive"),
        sku,
        attempt,
    })
}

/// `GET /stock/{sku}`.
pub async fn show(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Path(sku): Path<String>,
    Query(done): Query<Done>,
    Query(page): Query<After>,
) -> Result<Response, ConsoleError> {
    // Movements are read from the log, which already has the change; the
    // units per location from the catalogue's read model.
    let notice = done.settle(&console, &["catalogue"]).await;
    let after = page.after.unwrap_or(0).max(0);
    let page = sku_page(&console, &who, sku, after, notice, Attempt::default()).await?;
    render(StatusCode::OK, &page)
}

async fn respond(
    console: &Console,
    who: &SignedIn,
    sku: String,
    (form, done): (&'static str, &'static str),
    typed: StockForms,
    result: Result<Answer, FormErrors>,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(answer) => Ok(after(&format!("/stock/{sku}"), done, &answer)),
        Err(errors) => {
            let attempt = Attempt {
                failed: form,
                typed,
                errors,
            };
            let page = sku_page(console, who, sku, 0, None, attempt).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// `POST /stock/{sku}/receive`.
pub async fn receive(
    State(console): State<Console>,
    Path(sku): Path<String>,
    CsrfForm { who, form }: CsrfForm<StockForms>,
) -> Result<Response, ConsoleError> {
    let mut errors = FormErrors::default();
    let quantity = errors.whole("quantity", &form.quantity);
    let result = if errors.is_empty() {
        let body = ReceiptBody {
            quantity,
            reference: given(&form.reference),
            location: given(&form.location),
        };
        outcome(receive_command(&console.commands, &acting(&who), &[], &sku, &body).await)?
    } else {
        Err(errors)
    };
    respond(&console, &who, sku, ("receive", "received"), form, result).await
}

/// `POST /stock/{sku}/adjust`.
pub async fn adjust(
    State(console): State<Console>,
    Path(sku): Path<String>,
    CsrfForm { who, form }: CsrfForm<StockForms>,
) -> Result<Response, ConsoleError> {
    let mut errors = FormErrors::default();
    let delta = errors.whole("delta", &form.delta);
    let expected_on_hand =
        given(&form.expected_on_hand).map(|raw| errors.whole("expected_on_hand", &raw));
    let reason_code = given(&form.reason_code).and_then(|raw| {
        let code = ReasonCode::parse(&raw);
        if code.is_none() {
            errors.add("reason_code", "is not one of the reason codes");
        }
        code
    });
    let result = if errors.is_empty() {
        let body = AdjustmentBody {
            delta,
            reason: form.reason.clone(),
            reason_code,
            location: given(&form.location),
            expected_on_hand,
        };
        outcome(adjust_command(&console.commands, &acting(&who), &[], &sku, &body).await)?
    } else {
        Err(errors)
    };
    respond(&console, &who, sku, ("adjust", "adjusted"), form, result).await
}

/// `POST /stock/{sku}/count`.
pub async fn count(
    State(console): State<Console>,
    Path(sku): Path<String>,
    CsrfForm { who, form }: CsrfForm<StockForms>,
) -> Result<Response, ConsoleError> {
    let mut errors = FormErrors::default();
    let counted = errors.whole("counted", &form.counted);
    let result = if errors.is_empty() {
        let body = CountBody {
            location: given(&form.location),
            counted,
            reference: given(&form.reference),
        };
        outcome(count_command(&console.commands, &acting(&who), &[], &sku, &body).await)?
    } else {
        Err(errors)
    };
    respond(&console, &who, sku, ("count", "counted"), form, result).await
}
