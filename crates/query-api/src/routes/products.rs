//! The catalogue with stock levels, and stock alone.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::Json;
use domain::product::ProductStatus;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use web::openapi::{Operation, ParamType, QueryParam};
use web::SecureRouter;

use super::page::{page, Page};
use crate::error::QueryError;
use crate::freshness::{await_if_asked, await_position, position_column, Fresh, MinPosition};
use crate::params::{limit, Params};
use crate::AppState;

const PROJECTIONS: &[&str] = &["catalogue"];

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .get(
            "/v1/products",
            list_products,
            Operation::new("the catalogue with stock, by SKU")
                .read(PRODUCT_FILTERS)
                .answers::<Page<ProductView>>(200, "a page of products"),
        )
        .get(
            "/v1/products/{sku}",
            get_product,
            Operation::new("one product with its stock")
                .read(&[])
                .answers::<ProductView>(200, "the product"),
        )
        .get(
            "/v1/stock",
            list_stock,
            Operation::new("stock of every SKU, by SKU; `below` lists low stock")
                .read(STOCK_FILTERS)
                .answers::<Page<StockView>>(200, "a page of stock"),
        )
        .get(
            "/v1/stock/{sku}",
            get_stock,
            Operation::new("stock of one SKU, in all and per location")
                .read(&[])
                .answers::<StockDetail>(200, "the SKU's stock"),
        )
}

const MAX_LIMIT: i64 = 500;

/// The filters and paging of `GET /v1/products`.
const PRODUCT_FILTERS: &[QueryParam] = &[
    QueryParam {
        name: "status",
        description: "only products in this status",
        kind: ParamType::OneOf(&["active", "discontinued"]),
    },
    limit(MAX_LIMIT),
    SKU_CURSOR,
];

/// The filters and paging of `GET /v1/stock`.
const STOCK_FILTERS: &[QueryParam] = &[
    QueryParam {
        name: "below",
        description: "only SKUs with fewer units available than this",
        kind: ParamType::Integer {
            minimum: 0,
            maximum: u32::MAX as i64,
        },
    },
    limit(MAX_LIMIT),
    SKU_CURSOR,
];

const SKU_CURSOR: QueryParam = QueryParam {
    name: "cursor",
    description: "the `next_cursor` of the previous page (the last SKU)",
    kind: ParamType::Text,
};

/// A product with its stock.
#[derive(Serialize, JsonSchema)]
pub struct ProductView {
    /// The SKU.
    pub sku: String,
    /// What customers see.
    pub name: String,
    /// Price per unit in minor units.
    pub unit_price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Whether it can be ordered.
    #[schemars(with = "ProductStatus")]
    pub status: String,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held for orders.
    pub reserved: i64,
    /// Units that can still be reserved.
    pub available: i64,
    /// The product stream's version.
    pub version: i64,
}

/// Stock of one SKU.
#[derive(Serialize, JsonSchema)]
pub struct StockView {
    /// The SKU.
    pub sku: String,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held for orders.
    pub reserved: i64,
    /// Units that can still be reserved.
    pub available: i64,
    /// The stock stream's version.
    pub version: i64,
}

/// Stock of one SKU with its units per location (`GET /v1/stock/{sku}`).
#[derive(Serialize, JsonSchema)]
pub struct StockDetail {
    /// The totals, as v1 answers them.
    #[serde(flatten)]
    pub totals: StockView,
    /// Units held by carts, over every location.
    pub held: i64,
    /// The same per location that keeps the SKU, by code.
    pub locations: Vec<LocationStockView>,
}

/// A SKU's units at one location.
#[derive(Serialize, JsonSchema)]
pub struct LocationStockView {
    /// The location's code.
    pub location: String,
    /// Units there.
    pub on_hand: i64,
    /// Units there held for orders.
    pub reserved: i64,
    /// Units there held by carts.
    pub held: i64,
    /// `on_hand − reserved − held`.
    pub available: i64,
}

const PRODUCT_SELECT: &str =
    "SELECT p.sku, p.name, p.unit_price, p.currency, p.status, p.version, \
     coalesce(s.on_hand, 0) AS on_hand, coalesce(s.reserved, 0) AS reserved \
     FROM read_models.products p LEFT JOIN read_models.stock s USING (sku)";

/// One product plus the catalogue's position, in one round trip; built once.
static PRODUCT_WITH_POSITION: LazyLock<String> = LazyLock::new(|| {
    let select = PRODUCT_SELECT.replacen("SELECT ", &format!("SELECT {}, ", position_column(2)), 1);
    format!("{select} WHERE p.sku = $1")
});

impl ProductView {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let (on_hand, reserved): (i64, i64) = (row.try_get("on_hand")?, row.try_get("reserved")?);
        Ok(Self {
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            unit_price: row.try_get("unit_price")?,
            currency: row.try_get("currency")?,
            status: row.try_get("status")?,
            on_hand,
            reserved,
            available: on_hand - reserved,
            version: row.try_get("version")?,
        })
    }
}

impl StockView {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let (on_hand, reserved): (i64, i64) = (row.try_get("on_hand")?, row.try_get("reserved")?);
        Ok(Self {
            sku: row.try_get("sku")?,
            on_hand,
            reserved,
            available: on_hand - reserved,
            version: row.try_get("version")?,
        })
    }
}

#[tracing::instrument(skip(state, min))]
async fn get_product(
    State(state): State<AppState>,
    min: MinPosition,
    Path(sku): Path<String>,
) -> Result<Fresh<Json<ProductView>>, QueryError> {
    let waited = await_if_asked(&state.freshness, PROJECTIONS, min).await?;
    let row = sqlx::query(&PRODUCT_WITH_POSITION)
        .bind(&sku)
        .bind(PROJECTIONS)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| QueryError::NotFound(format!("product {sku}")))?;
    let position: i64 = row.try_get("projection_position")?;
    Ok(Fresh(
        position.max(waited.unwrap_or(0)),
        Json(ProductView::from_row(&row)?),
    ))
}

#[tracing::instrument(skip(state, min, params))]
async fn list_products(
    State(state): State<AppState>,
    min: MinPosition,
    params: Params,
) -> Result<Fresh<Json<Page<ProductView>>>, QueryError> {
    let mut p = params.parser(PRODUCT_FILTERS);
    let status: Option<String> = p.optional("status", "active or discontinued");
    if status
        .as_deref()
        .is_some_and(|s| s != "active" && s != "discontinued")
    {
        p.reject("status", "must be active or discontinued");
    }
    let limit = p.int(limit(MAX_LIMIT)).unwrap_or(100);
    let cursor: Option<String> = p.optional("cursor", "a SKU");
    p.finish()?;
    let position = await_position(&state.freshness, PROJECTIONS, min).await?;
    let products = find_products(&state.pool, status.as_deref(), limit, cursor.as_deref());
    Ok(Fresh(position, Json(products.await?)))
}

/// A page of products by SKU after `cursor`, only those in `status` if given.
pub async fn find_products(
    pool: &PgPool,
    status: Option<&str>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Page<ProductView>, QueryError> {
    let mut query = QueryBuilder::<Postgres>::new(format!("{PRODUCT_SELECT} WHERE true"));
    if let Some(status) = status {
        query.push(" AND p.status = ").push_bind(status);
    }
    if let Some(cursor) = cursor {
        query.push(" AND p.sku > ").push_bind(cursor);
    }
    query.push(" ORDER BY p.sku LIMIT ").push_bind(limit + 1);
    let rows = query.build().fetch_all(pool).await?;
    let items = rows
        .iter()
        .map(ProductView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, limit, |p| p.sku.clone()))
}

#[tracing::instrument(skip(state, min))]
async fn get_stock(
    State(state): State<AppState>,
    min: MinPosition,
    Path(sku): Path<String>,
) -> Result<Fresh<Json<StockDetail>>, QueryError> {
    let position = await_position(&state.freshness, PROJECTIONS, min).await?;
    Ok(Fresh(
        position,
        Json(
            find_stock_detail(&state.pool, &sku)
                .await?
                .ok_or_else(|| QueryError::NotFound(format!("stock of {sku}")))?,
        ),
    ))
}

/// One SKU's stock with its locations, in one statement. Units of a cart
/// hold past its end (or ended, not yet projected) are not held: from
/// `expires_at` on no reader sees them, even before the release is written.
pub async fn find_stock_detail(
    pool: &PgPool,
    sku: &str,
) -> Result<Option<StockDetail>, QueryError> {
    let Some(row) = sqlx::query(
        "SELECT s.sku, s.on_hand, s.reserved, s.version, \
                coalesce(jsonb_agg(jsonb_build_object('location', l.location, 'on_hand', l.on_hand, \
                                   'reserved', l.reserved, 'held', l.held - coalesce(( \
                                       SELECT sum(u.quantity) FROM read_models.stock_hold_units u \
                                       JOIN holds h USING (hold_id) \
                                       WHERE u.sku = l.sku AND u.location = l.location \
                                         AND (h.status <> 'active' OR h.expires_at <= now())), 0)) \
                                   ORDER BY l.location) \
                         FILTER (WHERE l.location IS NOT NULL), '[]') AS locations \
         FROM read_models.stock s LEFT JOIN read_models.stock_locations l USING (sku) \
         WHERE s.sku = $1 GROUP BY s.sku",
    )
    .bind(sku)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let mut totals = StockView::from_row(&row)?;
    let raw: Vec<serde_json::Value> =
        serde_json::from_value(row.try_get("locations")?).unwrap_or_default();
    let locations: Vec<LocationStockView> = raw
        .iter()
        .map(|l| {
            let n = |k: &str| l[k].as_i64().unwrap_or(0);
            LocationStockView {
                location: l["location"].as_str().unwrap_or_default().to_owned(),
                on_hand: n("on_hand"),
                reserved: n("reserved"),
                held: n("held"),
                available: n("on_hand") - n("reserved") - n("held"),
            }
        })
        .collect();
    let held = locations.iter().map(|l| l.held).sum();
    totals.available -= held;
    Ok(Some(StockDetail {
        held,
        totals,
        locations,
    }))
}

#[tracing::instrument(skip(state, min, params))]
async fn list_stock(
    State(state): State<AppState>,
    min: MinPosition,
    params: Params,
) -> Result<Fresh<Json<Page<StockView>>>, QueryError> {
    let mut p = params.parser(STOCK_FILTERS);
    let below = p.int(STOCK_FILTERS[0]);
    let limit = p.int(limit(MAX_LIMIT)).unwrap_or(100);
    let cursor: Option<String> = p.optional("cursor", "a SKU");
    p.finish()?;
    let position = await_position(&state.freshness, PROJECTIONS, min).await?;
    let stock = find_stock(&state.pool, below, limit, cursor.as_deref());
    Ok(Fresh(position, Json(stock.await?)))
}

/// A page of stock by SKU after `cursor`, only SKUs with fewer than `below`
/// units available if given.
pub async fn find_stock(
    pool: &PgPool,
    below: Option<i64>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Page<StockView>, QueryError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT sku, on_hand, reserved, version FROM read_models.stock WHERE true",
    );
    if let Some(below) = below {
        query.push(" AND on_hand - reserved < ").push_bind(below);
    }
    if let Some(cursor) = cursor {
        query.push(" AND sku > ").push_bind(cursor);
    }
    query.push(" ORDER BY sku LIMIT ").push_bind(limit + 1);
    let rows = query.build().fetch_all(pool).await?;
    let items = rows
        .iter()
        .map(StockView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, limit, |s| s.sku.clone()))
}
