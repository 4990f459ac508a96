//! Sales and stock figures for analysts, as JSON or CSV.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::Json;
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Row};
use web::openapi::{Operation, ParamType, QueryParam};
use web::SecureRouter;

use crate::csv::{respond, wants_csv};
use crate::error::QueryError;
use crate::freshness::{await_position, Fresh, MinPosition};
use crate::params::{day_range, limit, Params, FROM, TO};
use crate::routes::next_link::{add_next_link, from_hex, to_hex, CURSOR_NAME};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .get(
            "/v1/analytics/sales/daily",
            daily_sales,
            Operation::new("units and paid revenue per SKU and day")
                .read(DAILY)
                .answers::<Vec<DailySales>>(
                    200,
                    "one row per SKU and day, by day then SKU, at most `limit` rows \
                     (1000 by default); when more follow, a `Link: <…>; rel=\"next\"` \
                     header names the next page",
                )
                .answers_text(200, "the same rows with `Accept: text/csv`", "text/csv"),
        )
        .get(
            "/v1/analytics/top-products",
            top_products,
            Operation::new("SKUs ranked by paid revenue")
                .read(TOP)
                .answers::<Vec<TopProduct>>(200, "the ranking")
                .answers_text(200, "the same rows with `Accept: text/csv`", "text/csv"),
        )
        .get(
            "/v1/analytics/summary",
            summary,
            Operation::new(
                "orders per status, and paid and refunded revenue per currency, over days",
            )
            .read(RANGE)
            .answers::<Summary>(200, "the summary")
            .answers_text(200, "the revenue rows with `Accept: text/csv`", "text/csv"),
        )
}

const RANGE: &[QueryParam] = &[FROM, TO];

const DAILY: &[QueryParam] = &[
    FROM,
    TO,
    QueryParam {
        name: "sku",
        description: "only this SKU",
        kind: ParamType::Text,
    },
    limit(MAX_DAILY_ROWS),
    QueryParam {
        name: CURSOR_NAME,
        description:
            "where the page starts: from the `Link: <…>; rel=\"next\"` header of the previous page",
        kind: ParamType::Text,
    },
];

/// Rows of `sales/daily` per answer unless `limit` says otherwise: five
/// years of a large catalogue would otherwise be one unbounded answer.
const DEFAULT_DAILY_ROWS: i64 = 1000;

/// The most rows one `sales/daily` answer holds.
const MAX_DAILY_ROWS: i64 = 10_000;

/// Where a `sales/daily` page ends: the key `(day, sku)` of its last row.
fn encode_day_cursor(row: &DailySales) -> String {
    to_hex(&format!("{}/{}", row.day, row.sku))
}

/// The `(day, sku)` a `sales/daily` cursor names.
fn decode_day_cursor(raw: &str) -> Option<(NaiveDate, String)> {
    let text = from_hex(raw)?;
    let (day, sku) = text.split_once('/')?;
    Some((day.parse().ok()?, sku.to_owned()))
}

const TOP: &[QueryParam] = &[FROM, TO, limit(1000)];

/// Sales of one SKU on one day (UTC).
#[derive(Serialize, JsonSchema)]
struct DailySales {
    day: NaiveDate,
    sku: String,
    currency: String,
    units_confirmed: i64,
    /// Confirmed units given back by a cancellation or an expiry; after a
    /// partial shipment only the units that never shipped.
    units_cancelled: i64,
    units_paid: i64,
    revenue_paid: i64,
}

impl FromRow<'_, PgRow> for DailySales {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            day: row.try_get("day")?,
            sku: row.try_get("sku")?,
            currency: row.try_get("currency")?,
            units_confirmed: row.try_get("units_confirmed")?,
            units_cancelled: row.try_get("units_cancelled")?,
            units_paid: row.try_get("units_paid")?,
            revenue_paid: row.try_get("revenue_paid")?,
        })
    }
}

#[tracing::instrument(skip_all)]
async fn daily_sales(
    State(state): State<AppState>,
    min: MinPosition,
    headers: HeaderMap,
    uri: Uri,
    params: Params,
) -> Result<Fresh<Response>, QueryError> {
    let mut p = params.parser(DAILY);
    let (from, to) = day_range(&mut p);
    let sku: Option<String> = p.optional("sku", "a SKU");
    let limit = p.int(DAILY[3]).unwrap_or(DEFAULT_DAILY_ROWS);
    let raw_cursor: Option<String> = p.optional(CURSOR_NAME, "a cursor");
    let after = raw_cursor.as_deref().and_then(decode_day_cursor);
    if raw_cursor.is_some() && after.is_none() {
        p.reject(
            CURSOR_NAME,
            "must be the cursor of an earlier page's next link",
        );
    }
    p.finish()?;
    let position = await_position(&state.freshness, &["sales"], min).await?;
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT day, sku, currency, units_confirmed, units_cancelled, units_paid, revenue_paid \
         FROM read_models.daily_sales WHERE day BETWEEN ",
    );
    query.push_bind(from).push(" AND ").push_bind(to);
    if let Some(sku) = sku {
        query.push(" AND sku = ").push_bind(sku);
    }
    if let Some((day, sku)) = after {
        query
            .push(" AND (day, sku) > (")
            .push_bind(day)
            .push(", ")
            .push_bind(sku)
            .push(")");
    }
    // One row more than the page tells whether another page follows.
    query.push(" ORDER BY day, sku LIMIT ").push_bind(limit + 1);
    let mut items: Vec<DailySales> = query.build_query_as().fetch_all(&state.pool).await?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(encode_day_cursor)
    } else {
        None
    };
    let columns = [
        "day",
        "sku",
        "currency",
        "units_confirmed",
        "units_cancelled",
        "units_paid",
        "revenue_paid",
    ];
    let mut response = respond(&items, &columns, wants_csv(&headers));
    if let Some(cursor) = next {
        add_next_link(&mut response, &uri, &cursor);
    }
    Ok(Fresh(position, response))
}

/// A product ranked by paid revenue.
#[derive(Serialize, JsonSchema)]
struct TopProduct {
    rank: i64,
    sku: String,
    name: Option<String>,
    currency: String,
    units_paid: i64,
    revenue_paid: i64,
}

impl FromRow<'_, PgRow> for TopProduct {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            rank: row.try_get("rank")?,
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            currency: row.try_get("currency")?,
            units_paid: row.try_get("units_paid")?,
            revenue_paid: row.try_get("revenue_paid")?,
        })
    }
}

#[tracing::instrument(skip_all)]
async fn top_products(
    State(state): State<AppState>,
    min: MinPosition,
    headers: HeaderMap,
    params: Params,
) -> Result<Fresh<Response>, QueryError> {
    let mut p = params.parser(TOP);
    let (from, to) = day_range(&mut p);
    let limit = p.int(TOP[2]).unwrap_or(10);
    p.finish()?;
    let position = await_position(&state.freshness, &["sales", "catalogue"], min).await?;
    let items: Vec<TopProduct> = sqlx::query_as(
        "SELECT row_number() OVER (ORDER BY sum(d.revenue_paid) DESC, d.sku) AS rank, \
                d.sku, p.name, d.currency, sum(d.units_paid)::bigint AS units_paid, \
                sum(d.revenue_paid)::bigint AS revenue_paid \
         FROM read_models.daily_sales d LEFT JOIN read_models.products p USING (sku) \
         WHERE d.day BETWEEN $1 AND $2 GROUP BY d.sku, p.name, d.currency \
         HAVING sum(d.revenue_paid) > 0 ORDER BY rank LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let columns = [
        "rank",
        "sku",
        "name",
        "currency",
        "units_paid",
        "revenue_paid",
    ];
    Ok(Fresh(
        position,
        respond(&items, &columns, wants_csv(&headers)),
    ))
}

/// Paid and refunded revenue in one currency.
#[derive(Serialize, JsonSchema)]
pub struct Revenue {
    /// ISO 4217 code.
    pub currency: String,
    /// Orders paid.
    pub paid_orders: i64,
    /// Their total in minor units.
    pub paid_revenue: i64,
    /// Mean per paid order, rounded half up.
    pub average_order_value: i64,
    /// Refunds given in the range (of orders paid whenever).
    pub refunds: i64,
    /// Their sum in minor units.
    pub refunded_revenue: i64,
}

/// Orders per status (by placement day) and paid revenue (by payment day).
#[derive(Serialize, JsonSchema)]
pub struct Summary {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Orders placed in the range.
    pub orders: i64,
    /// Of those, how many are in each status now (every status, 0 included).
    pub orders_by_status: serde_json::Map<String, serde_json::Value>,
    /// Paid revenue per currency.
    pub revenue: Vec<Revenue>,
}

#[tracing::instrument(skip_all)]
async fn summary(
    State(state): State<AppState>,
    min: MinPosition,
    headers: HeaderMap,
    params: Params,
) -> Result<Fresh<Response>, QueryError> {
    let mut p = params.parser(RANGE);
    let (from, to) = day_range(&mut p);
    p.finish()?;
    let position = await_position(&state.freshness, &["orders"], min).await?;
    let body = summarize(&state.pool, from, to).await?;
    if wants_csv(&headers) {
        let columns = [
            "currency",
            "paid_orders",
            "paid_revenue",
            "average_order_value",
            "refunds",
            "refunded_revenue",
        ];
        return Ok(Fresh(position, respond(&body.revenue, &columns, true)));
    }
    Ok(Fresh(
        position,
        axum::response::IntoResponse::into_response(Json(body)),
    ))
}

/// Orders per status placed from `from` to `to` (inclusive, UTC days), and
/// paid and refunded revenue per currency paid or refunded in those days.
pub async fn summarize(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Summary, QueryError> {
    let day_after = to + chrono::Days::new(1);
    let statuses = sqlx::query(
        "SELECT status, count(*) AS n FROM read_models.orders \
         WHERE placed_at >= ($1::date)::timestamp AT TIME ZONE 'UTC' AND placed_at < ($2::date)::timestamp AT TIME ZONE 'UTC' GROUP BY status",
    )
    .bind(from)
    .bind(day_after)
    .fetch_all(pool)
    .await?;
    let mut orders_by_status = serde_json::Map::new();
    for status in domain::order::OrderStatus::ALL {
        orders_by_status.insert(status.as_str().to_owned(), 0.into());
    }
    let mut orders = 0;
    for r in &statuses {
        let n: i64 = r.try_get("n")?;
        orders += n;
        orders_by_status.insert(r.try_get("status")?, n.into());
    }
    let revenue = sqlx::query(
        "WITH paid AS ( \
             SELECT currency, count(*) AS paid_orders, sum(total)::bigint AS paid_revenue \
             FROM read_models.orders WHERE paid_at >= ($1::date)::timestamp AT TIME ZONE 'UTC' AND paid_at < ($2::date)::timestamp AT TIME ZONE 'UTC' \
             GROUP BY currency \
         ), refunded AS ( \
             SELECT currency, count(*) AS refunds, sum(amount)::bigint AS refunded_revenue \
             FROM read_models.order_refunds WHERE refunded_at >= ($1::date)::timestamp AT TIME ZONE 'UTC' AND refunded_at < ($2::date)::timestamp AT TIME ZONE 'UTC' \
             GROUP BY currency \
         ) \
         SELECT currency, coalesce(p.paid_orders, 0) AS paid_orders, \
                coalesce(p.paid_revenue, 0) AS paid_revenue, coalesce(f.refunds, 0) AS refunds, \
                coalesce(f.refunded_revenue, 0) AS refunded_revenue \
         FROM paid p FULL JOIN refunded f USING (currency) ORDER BY currency",
    )
    .bind(from)
    .bind(day_after)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let paid_orders: i64 = r.try_get("paid_orders")?;
        let paid_revenue: i64 = r.try_get("paid_revenue")?;
        Ok(Revenue {
            currency: r.try_get("currency")?,
            paid_orders,
            paid_revenue,
            // Integer minor units, rounded half up.
            average_order_value: (paid_revenue * 2 + paid_orders) / (paid_orders * 2).max(1),
            refunds: r.try_get("refunds")?,
            refunded_revenue: r.try_get("refunded_revenue")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Summary {
        from,
        to,
        orders,
        orders_by_status,
        revenue,
    })
}
