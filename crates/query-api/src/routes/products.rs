//! The catalogue with stock levels.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::Row;

use crate::error::QueryError;
use crate::freshness::{await_position, Fresh, MinPosition};
use crate::AppState;

const PROJECTIONS: &[&str] = &["catalogue"];

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/products/{sku}", get(get_product))
}

/// A product with its stock.
#[derive(Serialize)]
struct ProductView {
    sku: String,
    name: String,
    unit_price: i64,
    currency: String,
    status: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
    version: i64,
}

#[tracing::instrument(skip(state, min))]
async fn get_product(
    State(state): State<AppState>,
    min: MinPosition,
    Path(sku): Path<String>,
) -> Result<Fresh<Json<ProductView>>, QueryError> {
    let position = await_position(&state.pool, PROJECTIONS, min, state.max_wait).await?;
    let row = sqlx::query(
        "SELECT p.sku, p.name, p.unit_price, p.currency, p.status, p.version, \
                coalesce(s.on_hand, 0) AS on_hand, coalesce(s.reserved, 0) AS reserved \
         FROM read_models.products p LEFT JOIN read_models.stock s USING (sku) WHERE p.sku = $1",
    )
    .bind(&sku)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| QueryError::NotFound(format!("product {sku}")))?;
    let (on_hand, reserved): (i64, i64) = (row.try_get("on_hand")?, row.try_get("reserved")?);
    Ok(Fresh(
        position,
        Json(ProductView {
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            unit_price: row.try_get("unit_price")?,
            currency: row.try_get("currency")?,
            status: row.try_get("status")?,
            on_hand,
            reserved,
            available: on_hand - reserved,
            version: row.try_get("version")?,
        }),
    ))
}
