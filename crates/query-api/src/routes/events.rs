//! The event feed (api.md v1.2): every event of the log over HTTP, as the
//! Kafka envelopes, in position order below the settled horizon, so a
//! position handed out later can never appear below a cursor already
//! returned; and one stream's events, to reconcile one aggregate.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::StreamCategory;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use store::read::{from_row, read_stream_between, EVENT_COLUMNS};
use store::RecordedEvent;
use web::openapi::{Operation, ParamType, QueryParam};
use web::SecureRouter;

use crate::error::QueryError;
use crate::params::{limit, Params};
use crate::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;
/// Longest a request may long-poll.
const MAX_WAIT_SECONDS: i64 = 30;
/// Most positions one page looks at: with selective filters, a page that
/// matched nothing still ends, and `next_after` says how far it looked.
const SCAN_WINDOW: i64 = 10_000;
/// How long a final page may be cached: by the client only, since pages
/// carry order data behind a key (a shared cache would serve them to anyone).
const IMMUTABLE_FOR: &str = "private, max-age=31536000, immutable";

pub(super) const FEED_PARAMS: &[QueryParam] = &[
    QueryParam {
        name: "after",
        description:
            "the position to read after (exclusive): 0, or the `next_after` of the previous page",
        kind: ParamType::Integer {
            minimum: 0,
            maximum: i64::MAX,
        },
    },
    limit(MAX_LIMIT),
    QueryParam {
        name: "types",
        description: "only these event types, comma-separated (such as `OrderPlaced,OrderPaid`)",
        kind: ParamType::Text,
    },
    QueryParam {
        name: "categories",
        description: "only these stream categories, comma-separated: `product`, `stock`, `order`",
        kind: ParamType::ListOf(&StreamCategory::NAMES),
    },
    QueryParam {
        name: "wait",
        description:
            "seconds to wait for a first event when there is none yet (long poll), 0 to 30",
        kind: ParamType::Integer {
            minimum: 0,
            maximum: MAX_WAIT_SECONDS,
        },
    },
];

const STREAM_PARAMS: &[QueryParam] = &[
    QueryParam {
        name: "after_version",
        description: "the stream version to read after (exclusive); 0 for the whole stream",
        kind: ParamType::Integer {
            minimum: 0,
            maximum: i64::MAX,
        },
    },
    limit(MAX_LIMIT),
];

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .get(
            "/v1/events",
            feed,
            Operation::new(
                "every event, as the Kafka envelopes, in position order after `after`; only \
                 positions below the settled horizon (never one a later commit could come \
                 before), so a cursor never skips an event; a page that ends below the \
                 horizon never changes (Cache-Control: immutable, ETag)",
            )
            .query(FEED_PARAMS)
            .answers::<FeedPage>(200, "a page of the feed"),
        )
        .get(
            "/v1/streams/{stream_id}",
            stream,
            Operation::new(
                "one stream's events (such as `order-<id>`), as envelopes, in version order",
            )
            .query(STREAM_PARAMS)
            .answers::<FeedPage>(200, "a page of the stream"),
        )
}

/// A page of the feed, as documented (the events are the Kafka envelopes,
/// written as the relay writes them).
#[derive(Serialize, JsonSchema)]
pub struct FeedPage {
    /// Envelopes, in order.
    pub events: Vec<Value>,
    /// Pass as `after` (or `after_version`) for the next page.
    pub next_after: i64,
    /// The settled horizon: every position up to it is final.
    pub head: i64,
}

/// What a feed request asks for.
#[derive(Clone)]
pub(super) struct FeedQuery {
    pub(super) after: i64,
    pub(super) limit: i64,
    pub(super) types: Vec<String>,
    pub(super) categories: Vec<String>,
    pub(super) wait: Duration,
}

fn list(p: &mut crate::params::Parser<'_>, name: &str) -> Vec<String> {
    p.optional::<String>(name, "a comma-separated list")
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn feed_query(params: &Params) -> Result<FeedQuery, QueryError> {
    let mut p = params.parser(FEED_PARAMS);
    let after = p.int(FEED_PARAMS[0]).unwrap_or(0);
    let limit = p.int(FEED_PARAMS[1]).unwrap_or(DEFAULT_LIMIT);
    let types = list(&mut p, "types");
    let categories = list(&mut p, "categories");
    if let Some(bad) = categories
        .iter()
        .find(|c| StreamCategory::parse(c).is_none())
    {
        p.reject(
            "categories",
            &format!("unknown category {bad:?}: expected product, stock, order or location"),
        );
    }
    let wait = p.int(FEED_PARAMS[4]).unwrap_or(0);
    p.finish()?;
    Ok(FeedQuery {
        after,
        limit,
        types,
        categories,
        wait: Duration::from_secs(wait as u64),
    })
}

async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, QueryError> {
    let query = feed_query(&params)?;
    // One deadline for the whole request, within its timeout.
    let deadline = tokio::time::Instant::now() + query.wait.min(state.max_long_poll);
    let mut head = state.horizon.settled();
    let (mut events, mut looked_to) = page_below(&state, &query, head).await?;
    // Long poll only at the horizon: a page its scan window stopped below
    // it answers at once (the next page looks further), so a filter that
    // matches nothing never walks the log within one request.
    while events.is_empty() && looked_to >= head && tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        let moved = state.horizon.past(looked_to, left).await;
        if moved <= looked_to {
            break;
        }
        head = moved;
        let next = FeedQuery {
            after: looked_to,
            ..query.clone()
        };
        (events, looked_to) = page_below(&state, &next, head).await?;
    }
    let next_after = events.last().map_or(looked_to, |e| e.position);
    // Final when it did not run into the horizon: full, or stopped by the
    // scan window below it.
    let settled_page = events.len() as i64 == query.limit || looked_to < head;
    let etag = format!(
        "\"{}-{}-{}-{}-{}\"",
        query.after,
        next_after,
        query.limit,
        query.types.join(","),
        query.categories.join(",")
    );
    let not_modified = settled_page
        && headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            body(&events, next_after, head)?,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if settled_page {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(IMMUTABLE_FOR),
        );
        if let Ok(value) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, value);
        }
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// Up to `limit` matching events after `after` and at or below `head`,
/// looking at most [`SCAN_WINDOW`] positions; and the position it looked to.
pub(super) async fn page_below(
    state: &AppState,
    query: &FeedQuery,
    head: i64,
) -> Result<(Vec<RecordedEvent>, i64), QueryError> {
    let looked_to = head.min(query.after.saturating_add(SCAN_WINDOW));
    if looked_to <= query.after {
        return Ok((Vec::new(), query.after.max(looked_to)));
    }
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events \
         WHERE position > $1 AND position <= $2 \
           AND (cardinality($3::text[]) = 0 OR event_type = ANY($3)) \
           AND (cardinality($4::text[]) = 0 OR category = ANY($4)) \
         ORDER BY position LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(query.after)
        .bind(looked_to)
        .bind(&query.types)
        .bind(&query.categories)
        .bind(query.limit)
        .fetch_all(&state.pool)
        .await?;
    let events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok((events, looked_to))
}

/// The page's JSON, each event written exactly as the relay writes it.
fn body(events: &[RecordedEvent], next_after: i64, head: i64) -> Result<String, QueryError> {
    let mut out = String::from("{\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let envelope = bus::Envelope::from(event)
            .to_json()
            .map_err(|e| QueryError::Store(store::StoreError::Encode(e)))?;
        out.push_str(&envelope);
    }
    let _ = write!(out, "],\"next_after\":{next_after},\"head\":{head}}}");
    Ok(out)
}

async fn stream(
    State(state): State<AppState>,
    Path(stream_id): Path<String>,
    params: Params,
) -> Result<Response, QueryError> {
    let mut p = params.parser(STREAM_PARAMS);
    let after = p.int(STREAM_PARAMS[0]).unwrap_or(0);
    let limit = p.int(STREAM_PARAMS[1]).unwrap_or(DEFAULT_LIMIT);
    p.finish()?;
    let category = stream_id.split_once('-').map(|(c, _)| c);
    if category.and_then(StreamCategory::parse).is_none() {
        return Err(QueryError::NotFound(format!("stream {stream_id}")));
    }
    let mut conn = state.pool.acquire().await?;
    let up_to = after.saturating_add(limit);
    let events = read_stream_between(&mut conn, &stream_id, after, up_to).await?;
    if events.is_empty() && after == 0 {
        return Err(QueryError::NotFound(format!("stream {stream_id}")));
    }
    let next_after = events.last().map_or(after, |e| e.stream_version);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body(&events, next_after, state.horizon.settled())?,
    )
        .into_response())
}
