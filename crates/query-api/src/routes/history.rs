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
use store::{read_stream, RecordedEvent};
use uuid::Uuid;
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
struct HistoryEntry {
    /// The stream version: 1 for the first event.
    version: i64,
    /// Global position in the log.
    position: i64,
    event_type: String,
    occurred_at: DateTime<Utc>,
    /// `key:<id>` for a request, `system:<process>` for Stockroom's own.
    actor: Option<String>,
    /// What changed: the event's payload.
    data: Value,
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
struct Movement {
    #[serde(flatten)]
    event: HistoryEntry,
    /// Units in stock after this movement.
    on_hand: i64,
    /// Units held by open orders after this movement.
    reserved: i64,
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
    let not_found = || QueryError::NotFound(format!("order {order_id}"));
    let id = Uuid::parse_str(&order_id).map_err(|_| not_found())?;
    let mut conn = state.pool.acquire().await?;
    let stream_id = StreamCategory::Order.stream_id(&id.to_string());
    let events = read_stream(&mut conn, &stream_id, Some(after + limit + 1)).await?;
    // Another channel's order is not found, exactly like a missing one.
    let placed_through = match events.first().map(RecordedEvent::decode::<OrderEvent>) {
        Some(Ok(OrderEvent::OrderPlaced { channel, .. })) => channel,
        Some(Err(e)) => return Err(e.into()),
        _ => return Err(not_found()),
    };
    if principal.channel.is_some() && principal.channel != placed_through {
        return Err(not_found());
    }
    let entries = events
        .iter()
        .filter(|e| e.stream_version > after)
        .map(HistoryEntry::from)
        .collect();
    Ok(Json(page(entries, limit, |e| e.version.to_string())))
}

#[tracing::instrument(skip(state, params))]
async fn stock_movements(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    params: Params,
) -> Result<Json<Page<Movement>>, QueryError> {
    let (limit, after) = paging(&params)?;
    let mut conn = state.pool.acquire().await?;
    let stream_id = StreamCategory::Stock.stream_id(&sku);
    // The running units come from the domain's own fold, so they are what
    // every decision on this SKU saw; a later page folds its earlier events.
    let events = read_stream(&mut conn, &stream_id, Some(after + limit + 1)).await?;
    if events.is_empty() {
        return Err(QueryError::NotFound(format!("stock of {sku}")));
    }
    let mut state = StockItem::default();
    let mut movements = Vec::new();
    for recorded in &events {
        let event: StockEvent = recorded.decode()?;
        state = state.evolve(&event);
        if recorded.stream_version > after {
            movements.push(Movement {
                event: HistoryEntry::from(recorded),
                on_hand: state.on_hand(),
                reserved: state.reserved(),
            });
        }
    }
    Ok(Json(page(movements, limit, |m| {
        m.event.version.to_string()
    })))
}
