//! Order commands: place, pay, ship, cancel.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::order::{Order, OrderCommand, PricedLine};
use domain::product::{Product, ProductStatus};
use domain::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::Outcome;
use uuid::Uuid;
use web::SecureRouter;

use super::simple::Simple;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, HttpCommand};
use crate::AppState;

/// Most lines one order may have.
const MAX_LINES: usize = 100;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post("/v1/orders", place)
        .post("/v1/orders/{id}/payments", pay)
        .post("/v1/orders/{id}/shipments", ship)
        .post("/v1/orders/{id}/cancellations", cancel)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceBody {
    customer_id: Uuid,
    lines: Vec<LineBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    amount: i64,
    currency: String,
    reference: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShipmentBody {
    carrier: Option<String>,
    tracking_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancellationBody {
    reason: String,
}

fn answer(id: &str, outcome: &Outcome<Order>) -> (StatusCode, Value) {
    let status = outcome.state.placed().map(|o| o.status);
    (
        StatusCode::OK,
        json!({ "order_id": id, "status": status, "position": outcome.position, "version": outcome.version }),
    )
}

/// Places an order, pricing every line from the catalogue (read in one
/// statement) inside the command's transaction.
struct Place {
    order_id: OrderId,
    customer_id: CustomerId,
    lines: Vec<(Sku, Quantity)>,
    channel: Option<String>,
}

impl HttpCommand for Place {
    type Aggregate = Order;

    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<OrderCommand, ApiError> {
        let mut fields = Fields::default();
        let mut priced = Vec::with_capacity(self.lines.len());
        let skus: Vec<&str> = self.lines.iter().map(|(sku, _)| sku.as_str()).collect();
        let catalogue = store::load_many::<Product>(conn, &skus).await?;
        for (i, (sku, quantity)) in self.lines.iter().enumerate() {
            let registered = catalogue
                .get(sku.as_str())
                .and_then(|product| product.state.registered());
            match registered {
                None => fields.reject(format!("lines[{i}].sku"), format!("unknown SKU {sku}")),
                Some(p) if p.status == ProductStatus::Discontinued => fields.reject(
                    format!("lines[{i}].sku"),
                    format!("product {sku} is discontinued and cannot be ordered"),
                ),
                Some(p) => priced.push(PricedLine {
                    sku: sku.clone(),
                    quantity: *quantity,
                    unit_price: p.price,
                }),
            }
        }
        fields.finish()?;
        Ok(OrderCommand::Place {
            order_id: self.order_id,
            customer_id: self.customer_id,
            lines: priced,
            channel: self.channel.clone(),
        })
    }

    fn creates_stream(&self) -> bool {
        true
    }

    fn respond(&self, outcome: &Outcome<Order>) -> (StatusCode, Value) {
        (
            StatusCode::ACCEPTED,
            json!({
                "order_id": self.order_id,
                "status": "placed",
                "total": outcome.state.placed().map(|o| o.total.minor()),
                "currency": outcome.state.placed().map(|o| o.total.currency()),
                "position": outcome.position,
                "version": outcome.version,
            }),
        )
    }
}

async fn place(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<PlaceBody>,
) -> Result<Response, ApiError> {
    let raw = &body.value;
    let mut fields = Fields::default();
    if raw.lines.is_empty() || raw.lines.len() > MAX_LINES {
        fields.reject("lines", format!("must have 1 to {MAX_LINES} lines"));
    }
    let mut lines = Vec::with_capacity(raw.lines.len());
    for (i, line) in raw.lines.iter().enumerate() {
        let sku = fields.check(&format!("lines[{i}].sku"), Sku::parse(&line.sku));
        let quantity = fields.check(
            &format!("lines[{i}].quantity"),
            Quantity::new(line.quantity),
        );
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            lines.push((sku, quantity));
        }
    }
    fields.finish()?;
    let command = Place {
        order_id: OrderId::generate(),
        customer_id: CustomerId(raw.customer_id),
        lines,
        // The key's channel, never the body's: a storefront places orders
        // only through the channel it is bound to.
        channel: headers.principal.channel.clone(),
    };
    run(&state, &headers, &body.fingerprint, command).await
}

/// An order id taken from the path; one that is not a UUID is a 404.
fn path_order(raw: &str) -> Result<OrderId, ApiError> {
    Uuid::parse_str(raw)
        .map(OrderId)
        .map_err(|_| ApiError::NotFound(format!("order {raw}")))
}

/// Runs `command` on the order the path names. A caller bound to a channel
/// acts only on orders placed through it: another channel's order is not
/// found, exactly like an order that does not exist.
async fn on_order(
    state: &AppState,
    id: &str,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    command: OrderCommand,
) -> Result<Response, ApiError> {
    let order = InChannel {
        inner: Simple::<Order> {
            id: path_order(id)?.to_string(),
            command,
            respond: answer,
        },
        channel: headers.principal.channel.clone(),
    };
    run(state, headers, fingerprint, order).await
}

/// An order command that first checks the order's channel, when the caller
/// has one.
struct InChannel {
    inner: Simple<Order>,
    channel: Option<String>,
}

impl HttpCommand for InChannel {
    type Aggregate = Order;

    fn aggregate_id(&self) -> String {
        self.inner.aggregate_id()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<OrderCommand, ApiError> {
        if let Some(channel) = &self.channel {
            let order = store::load::<Order>(conn, &self.inner.id).await?;
            let visible = order
                .state
                .placed()
                .is_some_and(|o| o.channel.as_deref() == Some(channel.as_str()));
            if !visible {
                return Err(ApiError::NotFound(format!("order {}", self.inner.id)));
            }
        }
        self.inner.prepare(conn).await
    }

    fn respond(&self, outcome: &Outcome<Order>) -> (StatusCode, Value) {
        self.inner.respond(outcome)
    }
}

async fn pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<PaymentBody>,
) -> Result<Response, ApiError> {
    let raw = &body.value;
    let mut fields = Fields::default();
    let amount = fields
        .check("currency", Currency::parse(&raw.currency))
        .and_then(|c| fields.check("amount", Money::new(raw.amount, c)));
    fields.finish()?;
    let Some(amount) = amount else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = OrderCommand::Pay {
        amount,
        reference: raw.reference.clone(),
    };
    on_order(&state, &id, &headers, &body.fingerprint, command).await
}

async fn ship(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ShipmentBody>,
) -> Result<Response, ApiError> {
    let command = OrderCommand::Ship {
        carrier: body.value.carrier.clone(),
        tracking_number: body.value.tracking_number.clone(),
    };
    on_order(&state, &id, &headers, &body.fingerprint, command).await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<CancellationBody>,
) -> Result<Response, ApiError> {
    let command = OrderCommand::Cancel {
        reason: body.value.reason.clone(),
    };
    on_order(&state, &id, &headers, &body.fingerprint, command).await
}
