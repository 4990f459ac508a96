//! Orders: search, one order beside its event history, ship all or part of
//! it (from a chosen location), cancel.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use std::collections::BTreeMap;

use command_api::commands::{
    cancel_command, ship_command, CancellationBody, ShipmentBody, ShipmentLineBody,
};
use domain::order::OrderStatus;
use query_api::reads::{
    decode_cursor, find_order, find_orders, order_events, HistoryEntry, OrderFilter, OrderView,
};
use serde::Deserialize;
use uuid::Uuid;

use super::order_summary::Summary;
use super::{acting, after, render, Done};
use crate::error::ConsoleError;
use crate::forms::{given, outcome, FormErrors};
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, money, Layout};

const PAGE_SIZE: i64 = 50;

/// Events of one order shown at most.
const HISTORY_LIMIT: i64 = 500;

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

/// An order as a row of the list.
struct Row {
    id: Uuid,
    customer: String,
    status: String,
    total: String,
    placed_at: String,
}

impl From<&OrderView> for Row {
    fn from(o: &OrderView) -> Self {
        Self {
            id: o.order_id,
            customer: o.customer_id.clone(),
            status: o.status.clone(),
            total: money(o.total, &o.currency),
            placed_at: o.placed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct ListPage {
    layout: Layout,
    search: Search,
    statuses: &'static [&'static str],
    rows: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
}

/// `GET /orders`: by id (straight to the order), by customer, by status.
pub async fn list(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(search): Query<Search>,
) -> Result<Response, ConsoleError> {
    let q = search.q.trim();
    let mut filter = OrderFilter {
        limit: PAGE_SIZE,
        ..OrderFilter::default()
    };
    let mut error = None;
    if let Ok(id) = Uuid::parse_str(q) {
        if find_order(&console.reads, id).await?.is_some() {
            return Ok(Redirect::to(&format!("/orders/{id}")).into_response());
        }
        // Not an order id: a customer's.
        filter.customer = Some(domain::CustomerId::from(id));
    } else if let Ok(customer) = domain::CustomerId::parse(q) {
        // Shops choose their own customer ids; a UUID is only one kind.
        filter.customer = Some(customer);
    } else if !q.is_empty() {
        error = Some(format!("{q:?} is neither an order id nor a customer id"));
    }
    if OrderStatus::parse(&search.status).is_some() {
        filter.status = Some(search.status.clone());
    }
    filter.after = decode_cursor(&search.cursor);
    let rows = if error.is_none() {
        find_orders(&console.reads, &filter).await?
    } else {
        query_api::reads::Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    let page = ListPage {
        layout: Layout::new(&who, "/orders", "Orders"),
        statuses: &OrderStatus::NAMES,
        rows: rows.items.iter().map(Row::from).collect(),
        next: rows.next_cursor,
        search,
        error,
    };
    render(StatusCode::OK, &page)
}

/// One event on the timeline.
struct Entry {
    version: i64,
    event_type: String,
    at: String,
    actor: String,
    data: String,
}

impl From<&HistoryEntry> for Entry {
    fn from(e: &HistoryEntry) -> Self {
        Self {
            version: e.version,
            event_type: e.event_type.clone(),
            at: e
                .occurred_at
                .format("%Y-%m-%d %H:%M:%S%.3f UTC")
                .to_string(),
            actor: e.actor.clone().unwrap_or_else(|| "unknown".to_owned()),
            data: serde_json::to_string_pretty(&e.data).unwrap_or_default(),
        }
    }
}

/// What was typed into the order's forms.
#[derive(Debug, Default, Deserialize)]
pub struct OrderForms {
    /// `ship-<sku>` fields are the ship form's; every other one is named.
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
    #[serde(default)]
    reason: String,
    /// Ship only from here; blank: wherever the units are.
    #[serde(default)]
    location: String,
    /// The after-sales forms' fields (a refund, a return's receipt).
    #[serde(flatten)]
    pub(super) after_sales: super::aftersales::AfterSalesForms,
    /// `ship-<sku>`: units of that SKU to ship; every one blank: all
    /// that is left.
    #[serde(flatten)]
    units: BTreeMap<String, String>,
}

/// The prefix of the ship form's field per SKU.
const UNITS_FIELD: &str = "ship-";

impl OrderForms {
    /// What was typed as units of `sku` to ship.
    fn units_of(&self, sku: &str) -> &str {
        self.units
            .get(&format!("{UNITS_FIELD}{sku}"))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The shipment's lines: `None` when every SKU's field is blank.
    fn shipment_lines(&self, errors: &mut FormErrors) -> Option<Vec<ShipmentLineBody>> {
        let lines: Vec<ShipmentLineBody> = self
            .units
            .iter()
            .filter_map(|(field, raw)| {
                let sku = field.strip_prefix(UNITS_FIELD)?;
                given(raw).map(|raw| ShipmentLineBody {
                    sku: sku.to_owned(),
                    quantity: errors.whole(field, &raw),
                })
            })
            .collect();
        (!lines.is_empty()).then_some(lines)
    }
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    id: Uuid,
    order: Option<Summary>,
    history: Vec<Entry>,
    can_ship: bool,
    can_cancel: bool,
    can_refund: bool,
    can_receive: bool,
    dispositions: &'static [&'static str],
    typed: OrderForms,
    errors: FormErrors,
}

async fn order_page(
    console: &Console,
    who: &SignedIn,
    id: Uuid,
    notice: Option<String>,
    typed: OrderForms,
    errors: FormErrors,
) -> Result<OrderPage, ConsoleError> {
    let order = find_order(&console.reads, id).await?;
    let history = order_events(&console.reads, id, None, HISTORY_LIMIT, 0).await?;
    let status = order.as_ref().map(|o| o.status.as_str()).unwrap_or("");
    let shippable = matches!(status, "paid" | "partially_shipped");
    Ok(OrderPage {
        layout: Layout::new(who, "/orders", format!("Order {id}")).notice(notice),
        id,
        can_ship: may(who, "/orders/{id}/ship") && shippable,
        can_cancel: may(who, "/orders/{id}/cancel")
            && matches!(
                status,
                "placed" | "confirmed" | "paid" | "partially_shipped"
            ),
        can_refund: may(who, "/orders/{id}/refund")
            && order.as_ref().is_some_and(|o| o.paid > o.refunded),
        can_receive: may(who, "/orders/{id}/return-receipt")
            && order.as_ref().is_some_and(|o| {
                // A return still expecting units.
                o.returns
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["status"] != "received"))
            }),
        dispositions: &super::aftersales::DISPOSITIONS,
        order: order.as_ref().map(Summary::from),
        history: history.items.iter().map(Entry::from).collect(),
        typed,
        errors,
    })
}

pub(super) fn order_id(raw: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(raw).map_err(|_| ConsoleError::NotFound(format!("order {raw}")))
}

/// `GET /orders/{id}`.
pub async fn show(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let id = order_id(&id)?;
    let notice = done.settle(&console, &["orders"]).await;
    let page = order_page(
        &console,
        &who,
        id,
        notice,
        OrderForms::default(),
        FormErrors::default(),
    )
    .await?;
    render(StatusCode::OK, &page)
}

/// `POST /orders/{id}/ship`.
pub async fn ship(
    State(console): State<Console>,
    Path(id): Path<String>,
    CsrfForm { who, form }: CsrfForm<OrderForms>,
) -> Result<Response, ConsoleError> {
    let id = order_id(&id)?;
    let mut errors = FormErrors::default();
    let lines = form.shipment_lines(&mut errors);
    if !errors.is_empty() {
        return respond(&console, &who, id, "shipped", form, Err(errors)).await;
    }
    let body = ShipmentBody {
        carrier: given(&form.carrier),
        tracking_number: given(&form.tracking_number),
        location: given(&form.location),
        lines,
    };
    let result = ship_command(
        &console.commands,
        &acting(&who),
        &[],
        &id.to_string(),
        &body,
    )
    .await;
    let result = outcome(result)?;
    let done = match &result {
        Ok(answer) if answer.body["status"] == "partially_shipped" => "partly-shipped",
        _ => "shipped",
    };
    respond(&console, &who, id, done, form, result).await
}

/// `POST /orders/{id}/cancel`.
pub async fn cancel(
    State(console): State<Console>,
    Path(id): Path<String>,
    CsrfForm { who, form }: CsrfForm<OrderForms>,
) -> Result<Response, ConsoleError> {
    let id = order_id(&id)?;
    let body = CancellationBody {
        reason: form.reason.trim().to_owned(),
    };
    let result = cancel_command(
        &console.commands,
        &acting(&who),
        &[],
        &id.to_string(),
        &body,
    )
    .await;
    respond(&console, &who, id, "cancelled", form, outcome(result)?).await
}

pub(super) async fn respond(
    console: &Console,
    who: &SignedIn,
    id: Uuid,
    done: &str,
    typed: OrderForms,
    result: Result<command_api::runner::Answer, FormErrors>,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(answer) => Ok(after(&format!("/orders/{id}"), done, &answer)),
        Err(errors) => {
            let page = order_page(console, who, id, None, typed, errors).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
