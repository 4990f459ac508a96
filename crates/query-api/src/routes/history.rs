//! History a person can read, straight from the log of record: every event
//! of an order, and every movement of a SKU with the running on-hand and
//! reserved units after it. Oldest first, paginated by stream version.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use domain::order::OrderEvent;
use domain::stock::{StockEvent, StockItem};
use domain::{Aggregate, StreamCategory};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use store::read::read_stream_between;
use store::stock_levels::units_at_or_before;
use store::{read_stream, RecordedEvent};
use uuid::Uuid;
use web::access::Role;
use web::auth::Principal;
use web::openapi::{Operation, ParamType, QueryParam};
use web::SecureRouter;

use super::page::{page, Page};
use crate::error::QueryError;
use crate::params::{limit, Params};
use crate::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .get(
            "/v1/orders/{id}/history",
            order_history,
            Operation::new("every event of an order, oldest first, read from the log")
                .query(PAGING)
                .answers::<Page<HistoryEntry>>(200, "a page of the order's events"),
        )
        .get(
            "/v1/stock/{sku}/movements",
            stock_movements,
            Operation::new("a SKU's receipts, adjustments, reservations, releases and commits with the running units")
                .query(PAGING)
                .answers::<Page<Movement>>(200, "a page of movements"),
        )
}

/// The paging of both histories: `cursor` is the last version of the
/// previous page.
const PAGING: &[QueryParam] = &[
    limit(MAX_LIMIT),
    QueryParam {
        name: "cursor",
        description: "the `next_cursor` of the previous page (a stream version)",
        kind: ParamType::Integer {
            minimum: 0,
            maximum: i64::MAX,
        },
    },
];

/// One event as a person reads it.
#[derive(Serialize, JsonSchema)]
pub struct HistoryEntry {
    /// The stream version: 1 for the first event.
    pub version: i64,
    /// Global position in the log.
    pub position: i64,
    /// What happened, such as `OrderPlaced`.
    pub event_type: String,
    /// When it was appended.
    pub occurred_at: DateTime<Utc>,
    /// `key:<id>` for a request, `user:<id>` for the console,
    /// `system:<process>` for Stockroom's own; for a storefront, only the
    /// class: `storefront`, `staff`, `payments` or `system`.
    pub actor: Option<String>,
    /// What changed: the event's payload.
    pub data: Value,
}

impl From<&RecordedEvent> for HistoryEntry {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            version: e.stream_version,
            position: e.position,
            event_type: e.event_type.clone(),
            occurred_at: e.occurred_at,
            actor: e.actor.clone(),
            data: e.data.clone(),
        }
    }
}

/// A stock movement with the SKU's units after it.
#[derive(Serialize, JsonSchema)]
pub struct Movement {
    /// The event.
    #[serde(flatten)]
    pub event: HistoryEntry,
    /// The location it moved units at.
    pub location: String,
    /// Units in stock after this movement, over every location.
    pub on_hand: i64,
    /// Units held by open orders after this movement.
    pub reserved: i64,
}

/// `limit` and `cursor` (the last version of the previous page).
fn paging(params: &Params) -> Result<(i64, i64), QueryError> {
    let mut p = params.parser(PAGING);
    let limit = p.int(PAGING[0]).unwrap_or(DEFAULT_LIMIT);
    let after = p.int(PAGING[1]).unwrap_or(0);
    p.finish()?;
    Ok((limit, after))
}

#[tracing::instrument(skip(state, params))]
async fn order_history(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(order_id): Path<String>,
    params: Params,
) -> Result<Json<Page<HistoryEntry>>, QueryError> {
    let (limit, after) = paging(&params)?;
    let id = Uuid::parse_str(&order_id)
        .map_err(|_| QueryError::NotFound(format!("order {order_id}")))?;
    let mut history =
        order_events(&state.pool, id, principal.channel.as_deref(), limit, after).await?;
    // A storefront learns who acted on its order by class only.
    if principal.role == Role::Storefront {
        let mut actors: Vec<Option<String>> =
            history.items.iter_mut().map(|e| e.actor.take()).collect();
        crate::actors::classify(&state.pool, &mut actors).await?;
        for (entry, actor) in history.items.iter_mut().zip(actors) {
            entry.actor = actor;
        }
    }
    Ok(Json(history))
}

/// Up to `limit` events of order `id` after stream version `after`. An order
/// placed through another channel than `channel` (when given) is not found,
/// exactly like a missing one.
pub async fn order_events(
    pool: &PgPool,
    id: Uuid,
    channel: Option<&str>,
    limit: i64,
    after: i64,
) -> Result<Page<HistoryEntry>, QueryError> {
    let not_found = || QueryError::NotFound(format!("order {id}"));
    let mut conn = pool.acquire().await?;
    let stream_id = StreamCategory::Order.stream_id(&id.to_string());
    let events = read_stream(
        &mut conn,
        &stream_id,
        Some(after.saturating_add(limit).saturating_add(1)),
    )
    .await?;
    let placed_through = match events.first().map(RecordedEvent::decode::<OrderEvent>) {
        Some(Ok(OrderEvent::OrderPlaced { channel, .. })) => channel,
        Some(Err(e)) => return Err(e.into()),
        _ => return Err(not_found()),
    };
    if channel.is_some() && channel != placed_through.as_deref() {
        return Err(not_found());
    }
    let entries = events
        .iter()
        .filter(|e| e.stream_version > after)
        .map(HistoryEntry::from)
        .collect();
    Ok(page(entries, limit, |e| e.version.to_string()))
}

#[tracing::instrument(skip(state, params))]
async fn stock_movements(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    params: Params,
) -> Result<Json<Page<Movement>>, QueryError> {
    let (limit, after) = paging(&params)?;
    Ok(Json(movements(&state.pool, &sku, limit, after).await?))
}

/// Up to `limit` movements of `sku` after stream version `after`, with the
/// units after each.
pub async fn movements(
    pool: &PgPool,
    sku: &str,
    limit: i64,
    after: i64,
) -> Result<Page<Movement>, QueryError> {
    let mut conn = pool.acquire().await?;
    let stream_id = StreamCategory::Stock.stream_id(sku);
    let up_to = after.saturating_add(limit).saturating_add(1);
    // The running units come from the domain's own fold, so they are what
    // every decision on this SKU saw; it starts at the last snapshot of the
    // units before the page (see store::stock_levels), not at the first event.
    let (from, mut state) = match units_at_or_before(&mut conn, sku, after).await? {
        // A snapshot keeps the totals only; the page reports totals, so
        // they are folded on as the units of one place.
        Some((version, on_hand, reserved)) => (
            version,
            StockItem::from_parts(
                [(
                    domain::LocationCode::default_location(),
                    domain::stock::Units {
                        on_hand,
                        reserved,
                        held: 0,
                    },
                )],
                [],
            ),
        ),
        None => (0, StockItem::default()),
    };
    let events = read_stream_between(&mut conn, &stream_id, from, up_to).await?;
    if events.is_empty() && from == 0 {
        return Err(QueryError::NotFound(format!("stock of {sku}")));
    }
    let mut movements = Vec::new();
    for recorded in &events {
        let event: StockEvent = recorded.decode()?;
        state = state.evolve(&event);
        if recorded.stream_version > after {
            movements.push(Movement {
                location: event.location().to_string(),
                event: HistoryEntry::from(recorded),
                on_hand: state.on_hand(),
                reserved: state.reserved(),
            });
        }
    }
    Ok(page(movements, limit, |m| m.event.version.to_string()))
}
