//! Catalogue commands.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::product::{Product, ProductCommand};
use domain::{Currency, Money, Sku};
use serde::Deserialize;
use serde_json::json;
use store::Outcome;
use web::SecureRouter;

use super::simple::Simple;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::run;
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post("/v1/products", register)
        .put("/v1/products/{sku}/price", change_price)
        .post("/v1/products/{sku}/discontinue", discontinue)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    sku: String,
    name: String,
    unit_price: i64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBody {
    unit_price: i64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
        StatusCode::CREATED => |sku, o| (StatusCode::CREATED, body(sku, o)),
        _ => |sku, o| (StatusCode::OK, body(sku, o)),
    }
}

fn body(sku: &str, outcome: &Outcome<Product>) -> serde_json::Value {
    let product = outcome.state.registered();
    json!({
        "sku": sku,
        "name": product.map(|p| p.name.clone()),
        "unit_price": product.map(|p| p.price.minor()),
        "currency": product.map(|p| p.price.currency()),
        "status": product.map(|p| p.status),
        "position": outcome.position,
        "version": outcome.version,
    })
}

async fn register(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<RegisterBody>,
) -> Result<Response, ApiError> {
    let raw = &body.value;
    let mut fields = Fields::default();
    let sku = fields.check("sku", Sku::parse(&raw.sku));
    let price = price(&mut fields, raw.unit_price, &raw.currency);
    fields.finish()?;
    let (Some(sku), Some(price)) = (sku, price) else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = Simple::<Product> {
        id: sku.to_string(),
        command: ProductCommand::Register {
            sku,
            name: raw.name.clone(),
            price,
        },
        respond: answer(StatusCode::CREATED),
    };
    run(&state, &headers, &body.fingerprint, command).await
}

async fn change_price(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<PriceBody>,
) -> Result<Response, ApiError> {
    let sku = path_sku(&sku)?;
    let mut fields = Fields::default();
    let price = price(&mut fields, body.value.unit_price, &body.value.currency);
    fields.finish()?;
    let Some(price) = price else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = Simple::<Product> {
        id: sku.to_string(),
        command: ProductCommand::ChangePrice { sku, price },
        respond: answer(StatusCode::OK),
    };
    run(&state, &headers, &body.fingerprint, command).await
}

async fn discontinue(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<EmptyBody>,
) -> Result<Response, ApiError> {
    let sku = path_sku(&sku)?;
    let command = Simple::<Product> {
        id: sku.to_string(),
        command: ProductCommand::Discontinue { sku },
        respond: answer(StatusCode::OK),
    };
    run(&state, &headers, &body.fingerprint, command).await
}
