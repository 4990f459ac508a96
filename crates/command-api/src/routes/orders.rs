//! Order commands: place, pay, ship, cancel.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::order::{Order, OrderCommand, OrderStatus, PricedLine};
use domain::product::{Product, ProductStatus};
use domain::{Currency, CustomerId, LocationCode, Money, OrderId, Quantity, Sku};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::{Loaded, Outcome};
use uuid::Uuid;
use web::openapi::Operation;
use web::SecureRouter;

use super::answers::{OrderAnswer, PlacedAnswer};
use super::bounds::MinorUnits;
use super::lines::{check_count, sku_and_units, MAX_LINES};
use super::simple::Simple;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, Answer, HttpCommand};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post(
            "/v1/orders",
            place,
            Operation::new(
                "place an order; stock is reserved asynchronously (watch its status). \
                 Through a storefront key, an order holds at most \
                 STOCKROOM_CHANNEL_MAX_UNITS_PER_ORDER units (default 100; more is a 422), \
                 and while the key's channel has STOCKROOM_CHANNEL_MAX_OPEN_ORDERS \
                 orders placed or confirmed and unpaid (default 1000) it is a 429 \
                 `channel-full` with Retry-After",
            )
            .command::<PlaceBody>(
                json!({"customer_id": "0b6c1f7e-3c1d-4f7a-9f3e-2a5d8c4b1e90",
                           "lines": [{"sku": "TEA-GREEN-100G", "quantity": 2}]}),
                true,
            )
            .answers::<PlacedAnswer>(202, "placed; reservation follows"),
        )
        .post(
            "/v1/orders/{id}/payments",
            pay,
            Operation::new("record a payment of the order's total (confirmed orders only)")
                .command::<PaymentBody>(
                    json!({"amount": 2500, "currency": "EUR", "reference": "psp-7f3a"}),
                    false,
                )
                .answers::<OrderAnswer>(200, "paid"),
        )
        .post(
            "/v1/orders/{id}/shipments",
            ship,
            Operation::new(
                "ship a paid order, whole or in part: `lines` (default: everything not yet \
                 shipped) from `location` (default: wherever the units are reserved); the \
                 order is `partially_shipped` until every unit has shipped",
            )
            .command::<ShipmentBody>(
                json!({"carrier": "DHL", "tracking_number": "JD0146000033",
                       "location": "default", "lines": [{"sku": "TEA-GREEN-100G", "quantity": 1}]}),
                false,
            )
            .answers::<OrderAnswer>(200, "shipped, with the new `shipment_id`"),
        )
        .post(
            "/v1/orders/{id}/cancellations",
            cancel,
            Operation::new("cancel an order that has not shipped; its stock is released")
                .command::<CancellationBody>(
                    json!({"reason": "customer changed their mind"}),
                    false,
                )
                .answers::<OrderAnswer>(200, "cancelled"),
        )
}

/// An order to place; prices come from the catalogue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct PlaceBody {
    /// Who is buying: the shop's own id (a UUID is one).
    #[schemars(with = "CustomerId")]
    pub customer_id: String,
    /// 1 to 100 lines.
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<LineBody>,
    /// Ship every line from this location, never split (a pickup order).
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub pickup_location: Option<String>,
    /// Convert this cart hold: the order is confirmed at once from the
    /// held units (each SKU at most what the hold keeps; no line names a
    /// location), and the hold ends.
    pub hold_id: Option<Uuid>,
}

/// One line of an order or a cart hold.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct LineBody {
    /// A registered, active product.
    #[schemars(with = "Sku")]
    pub sku: String,
    /// Units wanted.
    #[schemars(with = "Quantity")]
    pub quantity: i64,
    /// Take this line's units only from this location.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub location: Option<String>,
}

/// A payment received.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct PaymentBody {
    /// Must equal the order's total, in minor units.
    #[schemars(with = "MinorUnits")]
    pub amount: i64,
    /// Must equal the order's currency.
    #[schemars(with = "Currency")]
    pub currency: String,
    /// The payment provider's reference.
    pub reference: Option<String>,
}

/// A shipment sent.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct ShipmentBody {
    /// Who carries it.
    pub carrier: Option<String>,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Ship only from this location.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub location: Option<String>,
    /// What to ship; default: everything not yet shipped (at `location`).
    #[schemars(length(min = 1, max = 100))]
    pub lines: Option<Vec<ShipmentLineBody>>,
}

/// Units of one SKU in a shipment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentLineBody {
    /// A SKU of the order.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub sku: String,
    /// Units to ship.
    #[schemars(with = "Quantity")]
    pub quantity: i64,
}

/// Why the order is cancelled.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct CancellationBody {
    /// Shown in the order's history.
    #[schemars(length(min = 1))]
    pub reason: String,
}

fn answer(id: &str, outcome: &Outcome<Order>) -> (StatusCode, Value) {
    (StatusCode::OK, json!(OrderAnswer::new(id, outcome)))
}

/// Places an order, pricing every line from the catalogue.
pub(super) struct Place {
    pub(super) order_id: OrderId,
    customer_id: CustomerId,
    pub(super) lines: Vec<(Sku, Quantity, Option<LocationCode>)>,
    pub(super) channel: Option<String>,
    pub(super) pickup_location: Option<LocationCode>,
}

impl Place {
    /// The order's SKUs, each once.
    pub(super) fn skus(&self) -> Vec<&str> {
        let mut skus: Vec<&str> = self.lines.iter().map(|(sku, ..)| sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        skus
    }

    /// The domain command, every line priced from `catalogue`; unknown and
    /// discontinued products refuse the lines that name them.
    pub(super) fn priced(
        &self,
        catalogue: &HashMap<String, Loaded<Product>>,
    ) -> Result<OrderCommand, ApiError> {
        let mut fields = Fields::default();
        let mut priced = Vec::with_capacity(self.lines.len());
        for (i, (sku, quantity, location)) in self.lines.iter().enumerate() {
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
                    location: location.clone(),
                }),
            }
        }
        fields.finish()?;
        Ok(OrderCommand::Place {
            order_id: self.order_id,
            customer_id: self.customer_id.clone(),
            lines: priced,
            channel: self.channel.clone(),
            pickup_location: self.pickup_location.clone(),
        })
    }

    /// Places the order in one statement outside any transaction, shared
    /// with the orders placed at the same moment: priced from the process's
    /// [`Catalogue`](crate::catalogue::Catalogue), and appended only if the
    /// catalogue has not changed since (else read the products again and
    /// price again). No `BEGIN`, read or `COMMIT`.
    async fn at_once(self, state: &AppState, headers: &CommandHeaders) -> Result<Answer, ApiError> {
        state.origin.check(&state.pool).await?;
        let skus = self.skus();
        let id = self.order_id.to_string();
        for attempt in 1..=state.retry.attempts {
            let priced = state.catalogue.products(&state.pool, &skus).await?;
            let command = self.priced(&priced.products)?;
            let placed = store::execute_new_priced_at::<Order>(
                &state.appends,
                &id,
                command,
                &headers.metadata,
                priced.version,
            )
            .await?;
            if let Some(outcome) = placed {
                state.notifier.events_appended();
                let (status, body) = self.respond(&outcome);
                return Ok(Answer {
                    status,
                    body,
                    replayed: false,
                });
            }
            // The catalogue moved on: read it again. A product changed once
            // needs no pause; one that keeps changing gets the backoff.
            state.catalogue.forget();
            if attempt == state.retry.attempts {
                break;
            }
            metrics::counter!("stockroom_command_conflicts_retried_total").increment(1);
            if attempt > 1 {
                tokio::time::sleep(state.retry.delay(attempt)).await;
            }
        }
        Err(ApiError::Contended)
    }
}

impl HttpCommand for Place {
    type Aggregate = Order;

    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<OrderCommand, ApiError> {
        // Read inside the transaction that also holds the idempotency key.
        let catalogue = store::load_many::<Product>(conn, &self.skus()).await?;
        self.priced(&catalogue)
    }

    fn creates_stream(&self) -> bool {
        true
    }

    fn respond(&self, outcome: &Outcome<Order>) -> (StatusCode, Value) {
        let placed = outcome.state.placed();
        (
            StatusCode::ACCEPTED,
            json!(PlacedAnswer {
                order_id: self.order_id.0,
                status: OrderStatus::Placed,
                total: placed.map(|o| o.total.minor()),
                currency: placed.map(|o| o.total.currency()),
                position: outcome.position,
                version: outcome.version,
            }),
        )
    }
}

/// The `place` command, as the HTTP route and the console run it.
/// Places an order: checks its lines, and the bounds of the caller's sales
/// channel ([`crate::channel_limits`]).
pub async fn place_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    body: &PlaceBody,
) -> Result<Answer, ApiError> {
    let mut fields = Fields::default();
    let customer_id = fields.check("customer_id", CustomerId::parse(&body.customer_id));
    check_count(&mut fields, &body.lines);
    let mut lines = Vec::with_capacity(body.lines.len());
    let mut named = Vec::new();
    for (i, line) in body.lines.iter().enumerate() {
        let units = sku_and_units(&mut fields, i, &line.sku, line.quantity);
        let location = line.location.as_deref().map(|raw| {
            let field = format!("lines[{i}].location");
            let code = fields.check(&field, LocationCode::parse(raw));
            if let Some(code) = &code {
                named.push((field, code.clone()));
            }
            code
        });
        // Not given: no pin; given but malformed: the line is refused.
        let pin = match location {
            None => Some(None),
            Some(code) => code.map(Some),
        };
        if let (Some((sku, quantity)), Some(pin)) = (units, pin) {
            lines.push((sku, quantity, pin));
        }
    }
    let pickup_location = body.pickup_location.as_deref().and_then(|raw| {
        let code = fields.check("pickup_location", LocationCode::parse(raw));
        if let Some(code) = &code {
            named.push(("pickup_location".to_owned(), code.clone()));
        }
        code
    });
    if !named.is_empty() {
        // Only orders that name a location pay for this read.
        let known = store::locations::all(&state.pool).await?;
        let channel = headers.principal.channel.as_deref();
        for (field, code) in named {
            match known.iter().find(|site| site.code == code) {
                None => fields.reject(field, format!("no location {code} is registered")),
                Some(site) if !site.serves(channel) => fields.reject(
                    field,
                    format!("location {code} is inactive or does not serve this sales channel"),
                ),
                Some(_) => {}
            }
        }
    }
    let channel = headers.principal.channel.as_deref();
    let limits = state.channel_limits;
    let units: i64 = lines.iter().map(|(_, quantity, _)| quantity.get()).sum();
    if channel.is_some() && units > limits.max_units_per_order {
        fields.reject(
            "lines",
            format!(
                "at most {} units in all per order through a sales channel",
                limits.max_units_per_order
            ),
        );
    }
    fields.finish()?;
    let Some(customer_id) = customer_id else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let checked = Checked {
        customer_id,
        lines,
        pickup_location,
        hold_id: body.hold_id,
    };
    let Some(channel) = channel else {
        return place_checked(state, headers, fingerprint, checked).await;
    };
    // A retry of an order already accepted replays its answer, whatever
    // the channel holds now.
    if let Some(key) = &headers.idempotency_key {
        let scope = headers.principal.idempotency_scope();
        if store::idempotency::answered(&state.pool, &scope, key).await? {
            return place_checked(state, headers, fingerprint, checked).await;
        }
    }
    let admission = state
        .open_orders
        .admit(&state.pool, channel, limits.max_open_orders)
        .await?
        .ok_or(ApiError::ChannelFull {
            limit: limits.max_open_orders,
        })?;
    let placed = place_checked(state, headers, fingerprint, checked).await;
    if placed.as_ref().map_or(true, |answer| answer.replayed) {
        admission.cancel().await;
    }
    placed
}

/// An order whose lines passed every check.
struct Checked {
    customer_id: CustomerId,
    lines: Vec<(Sku, Quantity, Option<LocationCode>)>,
    pickup_location: Option<LocationCode>,
    hold_id: Option<Uuid>,
}

/// Places an order whose lines passed every check.
async fn place_checked(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    Checked {
        customer_id,
        lines,
        pickup_location,
        hold_id,
    }: Checked,
) -> Result<Answer, ApiError> {
    let command = Place {
        order_id: OrderId::generate(),
        customer_id,
        lines,
        // The key's channel, never the body's: a storefront places orders
        // only through the channel it is bound to.
        channel: headers.principal.channel.clone(),
        pickup_location,
    };
    if let Some(hold_id) = hold_id {
        let converted = super::hold_orders::FromHold::new(command, hold_id, headers);
        return run(state, headers, fingerprint, converted).await;
    }
    if headers.idempotency_key.is_none() {
        return command.at_once(state, headers).await;
    }
    run(state, headers, fingerprint, command).await
}

async fn place(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<PlaceBody>,
) -> Result<Answer, ApiError> {
    place_command(&state, &headers, &body.fingerprint, &body.value).await
}

/// An order id taken from the path; one that is not a UUID is a 404.
pub(super) fn path_order(raw: &str) -> Result<OrderId, ApiError> {
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
) -> Result<Answer, ApiError> {
    on_order_answering(state, id, headers, fingerprint, command, answer).await
}

/// [`on_order`] with another success answer.
pub(super) async fn on_order_answering(
    state: &AppState,
    id: &str,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    command: OrderCommand,
    respond: fn(&str, &Outcome<Order>) -> (StatusCode, Value),
) -> Result<Answer, ApiError> {
    let shipment_id = match &command {
        OrderCommand::Ship { shipment_id, .. } => Some(*shipment_id),
        _ => None,
    };
    let order = InChannel {
        inner: Simple::<Order> {
            id: path_order(id)?.to_string(),
            command,
            respond,
        },
        channel: headers.principal.channel.clone(),
        shipment_id,
    };
    run(state, headers, fingerprint, order).await
}

/// An order command that first checks the order's channel, when the caller
/// has one.
struct InChannel {
    inner: Simple<Order>,
    channel: Option<String>,
    /// The shipment a `ship` command records, for its answer.
    shipment_id: Option<Uuid>,
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
        let (status, mut body) = self.inner.respond(outcome);
        if let (Some(id), Some(map)) = (self.shipment_id, body.as_object_mut()) {
            map.insert("shipment_id".to_owned(), json!(id));
        }
        (status, body)
    }
}

/// The amount a body's `amount` and `currency` give, or 422 naming them.
pub(super) fn body_money(amount: i64, currency: &str) -> Result<Money, ApiError> {
    let mut fields = Fields::default();
    let money = fields
        .check("currency", Currency::parse(currency))
        .and_then(|c| fields.check("amount", Money::new(amount, c)));
    fields.finish()?;
    money.ok_or_else(|| unreachable!("fields.finish() fails when a value is missing"))
}

/// The `pay` command, as the HTTP route and the console run it.
pub async fn pay_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &PaymentBody,
) -> Result<Answer, ApiError> {
    let amount = body_money(body.amount, &body.currency)?;
    let command = OrderCommand::Pay {
        amount,
        reference: body.reference.clone(),
    };
    on_order(state, id, headers, fingerprint, command).await
}

async fn pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<PaymentBody>,
) -> Result<Answer, ApiError> {
    pay_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}

/// The `ship` command, as the HTTP route and the console run it.
pub async fn ship_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &ShipmentBody,
) -> Result<Answer, ApiError> {
    let mut fields = Fields::default();
    let location = body
        .location
        .as_deref()
        .and_then(|raw| fields.check("location", LocationCode::parse(raw)));
    let lines = body.lines.as_ref().map(|lines| {
        lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| sku_and_units(&mut fields, i, &line.sku, line.quantity))
            .collect::<Vec<_>>()
    });
    if body
        .lines
        .as_ref()
        .is_some_and(|l| l.is_empty() || l.len() > MAX_LINES)
    {
        fields.reject(
            "lines",
            format!("must have 1 to {MAX_LINES} lines, or be left out"),
        );
    }
    fields.finish()?;
    let command = OrderCommand::Ship {
        shipment_id: Uuid::now_v7(),
        location,
        lines,
        carrier: body.carrier.clone(),
        tracking_number: body.tracking_number.clone(),
    };
    on_order(state, id, headers, fingerprint, command).await
}

async fn ship(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ShipmentBody>,
) -> Result<Answer, ApiError> {
    ship_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}

/// The `cancel` command, as the HTTP route and the console run it.
pub async fn cancel_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &CancellationBody,
) -> Result<Answer, ApiError> {
    let command = OrderCommand::Cancel {
        reason: body.reason.clone(),
    };
    on_order(state, id, headers, fingerprint, command).await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<CancellationBody>,
) -> Result<Answer, ApiError> {
    cancel_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}
