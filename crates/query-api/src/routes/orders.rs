//! Orders as customers and frontends see them.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;
use web::auth::Principal;
use web::openapi::{Operation, ParamType, QueryParam};
use web::SecureRouter;

use super::page::{page, Page};
use crate::error::QueryError;
use crate::freshness::{await_if_asked, await_position, position_column, Fresh, MinPosition};
use crate::params::{limit, Params, CURSOR};
use crate::AppState;
use domain::order::OrderStatus;

const PROJECTIONS: &[&str] = &["orders"];

/// A return's status from its receipts (`r` is its `order_returns` row),
/// by the rule of `domain::order::ReturnState::status`; a macro so that
/// `concat!` can build constant SQL with it.
macro_rules! return_status_sql {
    () => {
        "(SELECT CASE WHEN coalesce(sum(c.units), 0) = 0 THEN 'requested' \
                      WHEN sum(c.units) < r.units THEN 'partially_received' \
                      ELSE 'received' END \
          FROM read_models.return_receipts c WHERE c.return_id = r.return_id)"
    };
}
pub(super) use return_status_sql;

const ORDER_COLUMNS: &str = concat!("order_id, customer_id, status, lines, total, currency, placed_at, \
     updated_at, version, rejection, channel, pickup_location, \
     coalesce((SELECT jsonb_agg(jsonb_build_object('sku', a.sku, 'location', a.location, \
                                                   'quantity', a.quantity) ORDER BY a.sku, a.location) \
               FROM read_models.order_allocations a WHERE a.order_id = orders.order_id), \
              '[]') AS allocations, \
     coalesce((SELECT jsonb_agg(jsonb_build_object('shipment_id', s.shipment_id, \
                                                   'location', s.location, 'lines', s.lines, \
                                                   'carrier', s.carrier, \
                                                   'tracking_number', s.tracking_number, \
                                                   'shipped_at', s.shipped_at) ORDER BY s.version) \
               FROM read_models.order_shipments s WHERE s.order_id = orders.order_id), \
              '[]') AS shipments, \
     CASE WHEN paid_at IS NULL THEN 0 ELSE total END AS paid, \
     coalesce((SELECT sum(f.amount) FROM read_models.order_refunds f \
               WHERE f.order_id = orders.order_id), 0)::bigint AS refunded, \
     coalesce((SELECT jsonb_agg(jsonb_build_object('return_id', r.return_id, \
                                                   'status', ", return_status_sql!(), ") \
                                ORDER BY r.requested_at, r.return_id) \
               FROM read_models.order_returns r WHERE r.order_id = orders.order_id), \
              '[]') AS returns");
const DEFAULT_LIMIT: i64 = 50;

/// One order plus the orders projection's position, in one round trip; built once.
static ORDER_WITH_POSITION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ORDER_COLUMNS}, {} FROM read_models.orders \
         WHERE order_id = $1 AND ($3::text IS NULL OR channel = $3)",
        position_column(2)
    )
});
const MAX_LIMIT: i64 = 200;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .get(
            "/v1/orders",
            list_orders,
            Operation::new("orders, newest first; a storefront must name the customer")
                .read(FILTERS)
                .answers::<Page<OrderView>>(200, "a page of orders"),
        )
        .get(
            "/v1/orders/{id}",
            get_order,
            Operation::new("one order as the orders projection has it")
                .read(&[])
                .answers::<OrderView>(200, "the order"),
        )
}

/// The filters and paging of `GET /v1/orders`.
const FILTERS: &[QueryParam] = &[
    QueryParam {
        name: "customer_id",
        description: "only this customer's orders (required for storefront keys)",
        kind: ParamType::CustomerId,
    },
    QueryParam {
        name: "status",
        description: "only orders in this status",
        kind: ParamType::OneOf(&OrderStatus::NAMES),
    },
    limit(MAX_LIMIT),
    CURSOR,
];

/// One order.
#[derive(Serialize, JsonSchema)]
pub struct OrderView {
    /// The order's id.
    pub order_id: Uuid,
    /// Who bought: the shop's own id.
    #[schemars(with = "domain::CustomerId")]
    pub customer_id: String,
    /// Where it is in its lifecycle.
    #[schemars(with = "OrderStatus")]
    pub status: String,
    /// `[{sku, quantity, unit_price}]`, prices as placed.
    pub lines: Value,
    /// Sum of the lines in minor units.
    pub total: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// The order stream's version (for `If-Match`).
    pub version: i64,
    /// Why stock could not be reserved: `{sku, requested, available}` per short line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Value>,
    /// The sales channel it was placed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Every line ships from here, if a pickup order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickup_location: Option<String>,
    /// Where its units are reserved, once confirmed: `[{sku, location, quantity}]`.
    #[schemars(with = "Vec<domain::allocation::Allocation>")]
    pub allocations: Value,
    /// What left so far: `[{shipment_id, location, lines: [{sku, location,
    /// quantity}], carrier, tracking_number, shipped_at}]`, oldest first.
    #[schemars(with = "Vec<ShipmentView>")]
    pub shipments: Value,
    /// Minor units paid.
    pub paid: i64,
    /// Minor units refunded so far.
    pub refunded: i64,
    /// Its returns, oldest first: `[{return_id, status}]`.
    #[schemars(with = "Vec<ReturnSummary>")]
    pub returns: Value,
}

/// One return of an order (documentation of `returns`).
#[derive(Serialize, JsonSchema)]
pub struct ReturnSummary {
    /// The return's id (`GET /v1/returns/{id}`).
    pub return_id: Uuid,
    /// Where it is.
    pub status: domain::order::ReturnStatus,
}

/// One shipment of an order (documentation of `shipments`).
#[derive(Serialize, JsonSchema)]
pub struct ShipmentView {
    /// The shipment's id.
    pub shipment_id: Uuid,
    /// Where it left from, when every line left from one location.
    pub location: Option<String>,
    /// What it took.
    pub lines: Vec<domain::order::ShippedLine>,
    /// Carrier name.
    pub carrier: Option<String>,
    /// Carrier's tracking number.
    pub tracking_number: Option<String>,
    /// When it was recorded.
    pub shipped_at: DateTime<Utc>,
}

impl OrderView {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            order_id: row.try_get("order_id")?,
            customer_id: row.try_get("customer_id")?,
            status: row.try_get("status")?,
            lines: row.try_get("lines")?,
            total: row.try_get("total")?,
            currency: row.try_get("currency")?,
            placed_at: row.try_get("placed_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            rejection: row.try_get("rejection")?,
            channel: row.try_get("channel")?,
            pickup_location: row.try_get("pickup_location")?,
            allocations: row.try_get("allocations")?,
            shipments: row.try_get("shipments")?,
            paid: row.try_get("paid")?,
            refunded: row.try_get("refunded")?,
            returns: row.try_get("returns")?,
        })
    }
}

#[tracing::instrument(skip(state, min))]
async fn get_order(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    min: MinPosition,
    Path(order_id): Path<String>,
) -> Result<Fresh<Json<OrderView>>, QueryError> {
    let waited = await_if_asked(&state.freshness, PROJECTIONS, min).await?;
    let id = Uuid::parse_str(&order_id)
        .map_err(|_| QueryError::NotFound(format!("order {order_id}")))?;
    // Another channel's order is not found, exactly like a missing one.
    let row = sqlx::query(&ORDER_WITH_POSITION)
        .bind(id)
        .bind(PROJECTIONS)
        .bind(&principal.channel)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| QueryError::NotFound(format!("order {order_id}")))?;
    let position: i64 = row.try_get("projection_position")?;
    Ok(Fresh(
        position.max(waited.unwrap_or(0)),
        Json(OrderView::from_row(&row)?),
    ))
}

/// Where a page ends: newest first, so orders placed later never shift it.
fn encode_cursor(order: &OrderView) -> String {
    format!(
        "{}_{}",
        order.placed_at.timestamp_micros(),
        order.order_id.simple()
    )
}

/// The `(placed_at, order_id)` a `next_cursor` names.
pub fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = raw.split_once('_')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

#[tracing::instrument(skip(state, min, params))]
async fn list_orders(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    min: MinPosition,
    params: Params,
) -> Result<Fresh<Json<Page<OrderView>>>, QueryError> {
    let mut p = params.parser(FILTERS);
    let customer: Option<domain::CustomerId> = p.optional(
        "customer_id",
        "1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '@' or '-'",
    );
    if principal.channel.is_some() && customer.is_none() {
        p.reject(
            "customer_id",
            "is required: a storefront lists one customer's orders at a time",
        );
    }
    let status: Option<String> = p.optional("status", "a status");
    if let Some(s) = &status {
        if OrderStatus::parse(s).is_none() {
            let all: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
            p.reject("status", &format!("must be one of {}", all.join(", ")));
        }
    }
    let limit = p.int(limit(MAX_LIMIT)).unwrap_or(DEFAULT_LIMIT);
    let raw_cursor: Option<String> = p.optional("cursor", "a cursor");
    let cursor = raw_cursor.as_deref().and_then(decode_cursor);
    if raw_cursor.is_some() && cursor.is_none() {
        p.reject("cursor", "must be a next_cursor from an earlier page");
    }
    p.finish()?;
    let position = await_position(&state.freshness, PROJECTIONS, min).await?;
    let filter = OrderFilter {
        customer,
        status,
        channel: principal.channel,
        limit,
        after: cursor,
    };
    Ok(Fresh(
        position,
        Json(find_orders(&state.pool, &filter).await?),
    ))
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only this customer's (exactly this id).
    pub customer: Option<domain::CustomerId>,
    /// Only orders in this status.
    pub status: Option<String>,
    /// Only orders placed through this channel.
    pub channel: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Start after this `(placed_at, order_id)` (a decoded `next_cursor`).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// A page of the orders `filter` selects, newest first.
pub async fn find_orders(
    pool: &PgPool,
    filter: &OrderFilter,
) -> Result<Page<OrderView>, QueryError> {
    // Only the filters given, so that the planner sees which index serves
    // them (a generic plan of `$1 IS NULL OR col = $1` can use none).
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "SELECT {ORDER_COLUMNS} FROM read_models.orders WHERE true"
    ));
    if let Some(customer) = &filter.customer {
        query
            .push(" AND customer_id = ")
            .push_bind(customer.as_str().to_owned());
    }
    if let Some(status) = &filter.status {
        query.push(" AND status = ").push_bind(status);
    }
    if let Some(channel) = &filter.channel {
        query.push(" AND channel = ").push_bind(channel);
    }
    if let Some((placed_at, order_id)) = filter.after {
        query
            .push(" AND (placed_at, order_id) < (")
            .push_bind(placed_at)
            .push(", ")
            .push_bind(order_id)
            .push(")");
    }
    query
        .push(" ORDER BY placed_at DESC, order_id DESC LIMIT ")
        .push_bind(filter.limit + 1);
    let rows = query.build().fetch_all(pool).await?;
    let items = rows
        .iter()
        .map(OrderView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, filter.limit, encode_cursor))
}

/// One order as the orders projection has it, if it exists.
pub async fn find_order(pool: &PgPool, id: Uuid) -> Result<Option<OrderView>, QueryError> {
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM read_models.orders WHERE order_id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(OrderView::from_row).transpose()?)
}
