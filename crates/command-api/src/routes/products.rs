//! Catalogue commands.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::product::{Product, ProductCommand};
use domain::{Currency, Money, Sku};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use store::Outcome;
use web::openapi::Operation;
use web::SecureRouter;

use super::answers::ProductAnswer;
use super::bounds::MinorUnits;
use super::simple::Simple;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, Answer};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post(
            "/v1/products",
            register,
            Operation::new("register a product")
                .command::<RegisterBody>(
                    json!({"sku": "TEA-GREEN-100G", "name": "Green tea, 100 g", "unit_price": 1100, "currency": "EUR"}),
                    true,
                )
                .answers::<ProductAnswer>(201, "registered"),
        )
        .put(
            "/v1/products/{sku}/price",
            change_price,
            Operation::new("change a product's price (orders placed before keep theirs)")
                .command::<PriceBody>(json!({"unit_price": 1250, "currency": "EUR"}), false)
                .answers::<ProductAnswer>(200, "the new price"),
        )
        .post(
            "/v1/products/{sku}/discontinue",
            discontinue,
            Operation::new("stop selling a product (stock stays; new orders are refused)")
                .command::<EmptyBody>(json!({}), false)
                .answers::<ProductAnswer>(200, "discontinued"),
        )
}

/// A product to register.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct RegisterBody {
    /// Letters, digits, `.`, `_`, `-`; 1 to 64 characters.
    #[schemars(with = "Sku")]
    pub sku: String,
    /// What customers see.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// Price per unit in minor units (cents).
    #[schemars(with = "MinorUnits")]
    pub unit_price: i64,
    /// ISO 4217 code.
    #[schemars(with = "Currency")]
    pub currency: String,
}

/// A new price.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct PriceBody {
    /// Price per unit in minor units (cents).
    #[schemars(with = "MinorUnits")]
    pub unit_price: i64,
    /// ISO 4217 code.
    #[schemars(with = "Currency")]
    pub currency: String,
}

/// An empty object.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
struct EmptyBody {}

/// A SKU taken from the path; one that cannot exist is a 404.
pub(super) fn path_sku(raw: &str) -> Result<Sku, ApiError> {
    Sku::parse(raw).map_err(|_| ApiError::NotFound(format!("product {raw}")))
}

fn price(fields: &mut Fields, unit_price: i64, currency: &str) -> Option<Money> {
    let currency = fields.check("currency", Currency::parse(currency))?;
    fields.check("unit_price", Money::new(unit_price, currency))
}

fn answer(status: StatusCode) -> fn(&str, &Outcome<Product>) -> (StatusCode, serde_json::Value) {
    match status {
        StatusCode::CREATED => |sku, o| (StatusCode::CREATED, json!(ProductAnswer::new(sku, o))),
        _ => |sku, o| (StatusCode::OK, json!(ProductAnswer::new(sku, o))),
    }
}

/// Runs a product command; this process's next order reads its products
/// again rather than finding the catalogue changed when it appends.
async fn run_product(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    command: Simple<Product>,
) -> Result<Answer, ApiError> {
    let answer = run(state, headers, fingerprint, command).await;
    state.catalogue.forget();
    answer
}

/// The `register` command, as the HTTP route and the console run it.
pub async fn register_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    body: &RegisterBody,
) -> Result<Answer, ApiError> {
    let mut fields = Fields::default();
    let sku = fields.check("sku", Sku::parse(&body.sku));
    let price = price(&mut fields, body.unit_price, &body.currency);
    fields.finish()?;
    let (Some(sku), Some(price)) = (sku, price) else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = Simple::<Product> {
        id: sku.to_string(),
        command: ProductCommand::Register {
            sku,
            name: body.name.clone(),
            price,
        },
        respond: answer(StatusCode::CREATED),
    };
    run_product(state, headers, fingerprint, command).await
}

async fn register(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<RegisterBody>,
) -> Result<Answer, ApiError> {
    register_command(&state, &headers, &body.fingerprint, &body.value).await
}

/// The `change_price` command, as the HTTP route and the console run it.
pub async fn change_price_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    sku: &str,
    body: &PriceBody,
) -> Result<Answer, ApiError> {
    let sku = path_sku(sku)?;
    let mut fields = Fields::default();
    let price = price(&mut fields, body.unit_price, &body.currency);
    fields.finish()?;
    let Some(price) = price else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = Simple::<Product> {
        id: sku.to_string(),
        command: ProductCommand::ChangePrice { sku, price },
        respond: answer(StatusCode::OK),
    };
    run_product(state, headers, fingerprint, command).await
}

async fn change_price(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<PriceBody>,
) -> Result<Answer, ApiError> {
    change_price_command(&state, &headers, &body.fingerprint, &sku, &body.value).await
}

/// The `discontinue` command, as the HTTP route and the console run it.
pub async fn discontinue_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    sku: &str,
) -> Result<Answer, ApiError> {
    let sku = path_sku(sku)?;
    let command = Simple::<Product> {
        id: sku.to_string(),
        command: ProductCommand::Discontinue { sku },
        respond: answer(StatusCode::OK),
    };
    run_product(state, headers, fingerprint, command).await
}

async fn discontinue(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<EmptyBody>,
) -> Result<Answer, ApiError> {
    discontinue_command(&state, &headers, &body.fingerprint, &sku).await
}
