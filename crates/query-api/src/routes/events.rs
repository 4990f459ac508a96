//! The event feed (api.md v1.2): every event of the log over HTTP, as the
//! Kafka envelopes, in position order below the settled horizon, so a
//! position handed out later can never appear below a cursor already
//! returned; and one stream's events, to reconcile one aggregate.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use domain::StreamCategory;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use store::feed::{FeedFilter, FeedPage as LogPage};
use store::read::read_stream_between;
use store::RecordedEvent;
use web::auth::Principal;
use web::openapi::{Operation, ParamType, QueryParam};
use web::SecureRouter;

use super::next_link;
use crate::error::QueryError;
use crate::params::{limit, Params};
use crate::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;
/// Longest a request may long-poll.
const MAX_WAIT_SECONDS: i64 = 30;
/// How a final page of the whole feed may be cached: by shared caches too
/// (proxies in front of many replicas of one consumer), each keeping one
/// copy per `Authorization` (the answer varies on it), so a request without
/// the key never gets it (docs/feed.md, "Caching").
const FINAL_UNSCOPED: &str = "public, max-age=31536000, immutable";
/// How a final page of one channel's view may be cached: by the client
/// only, since the same URL answers each channel's keys differently.
const FINAL_SCOPED: &str = "private, max-age=31536000, immutable";

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
                 horizon never changes (Cache-Control: immutable, ETag; `public` for the \
                 whole feed, `private` for a channel's view, both `Vary: Authorization`); \
                 a storefront key sees its own channel's orders' events and every product \
                 and stock event",
            )
            .query(FEED_PARAMS)
            .answers::<FeedPage>(200, "a page of the feed"),
        )
        .get(
            "/v1/streams/{stream_id}",
            stream,
            Operation::new(
                "one stream's events (such as `order-<id>`), as envelopes, in version order; \
                 another channel's order is not found, for a storefront key",
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
    /// The filters asked for, and the key's view (a storefront key sees
    /// its own channel's orders only).
    pub(super) filter: FeedFilter,
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

pub(super) fn feed_query(params: &Params, principal: &Principal) -> Result<FeedQuery, QueryError> {
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
        filter: FeedFilter {
            types,
            categories,
            channel: principal.channel.clone(),
        },
        wait: Duration::from_secs(wait as u64),
    })
}

async fn feed(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, QueryError> {
    let query = feed_query(&params, &principal)?;
    // One deadline for the whole request, within its timeout.
    let deadline = tokio::time::Instant::now() + query.wait.min(state.max_long_poll);
    let mut head = state.horizon.settled();
    let mut page = page_below(&state, &query, head).await?;
    // Long poll only at the horizon: a page its scan window stopped below
    // it answers at once (the next page looks further), so a filter that
    // matches nothing never walks the log within one request.
    while page.events.is_empty() && page.looked_to >= head && tokio::time::Instant::now() < deadline
    {
        let left = deadline - tokio::time::Instant::now();
        let moved = state.horizon.past(page.looked_to, left).await;
        if moved <= page.looked_to {
            break;
        }
        head = moved;
        let next = FeedQuery {
            after: page.looked_to,
            ..query.clone()
        };
        page = page_below(&state, &next, head).await?;
    }
    let next_after = page.next_after(query.limit);
    // Final when it did not run into the horizon: full, or stopped by the
    // scan window below it.
    let settled_page = page.events.len() as i64 == query.limit || page.looked_to < head;
    let etag = etag(&query, next_after);
    let not_modified = settled_page
        && headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            body(&page.events, next_after, head)?,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if settled_page {
        let cache = if query.filter.channel.is_some() {
            FINAL_SCOPED
        } else {
            FINAL_UNSCOPED
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(header::VARY, HeaderValue::from_static("authorization"));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, value);
        }
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// A strong validator of the page's content: the range it covers and the
/// view it was read through (a channel's page differs from the full one).
fn etag(query: &FeedQuery, next_after: i64) -> String {
    let channel = query.filter.channel.as_deref().map(next_link::to_hex);
    format!(
        "\"{}-{}-{}-{}-{}-{}\"",
        query.after,
        next_after,
        query.limit,
        query.filter.types.join(","),
        query.filter.categories.join(","),
        channel.unwrap_or_default(),
    )
}

/// Up to `limit` matching events after `after` and at or below `head`.
pub(super) async fn page_below(
    state: &AppState,
    query: &FeedQuery,
    head: i64,
) -> Result<LogPage, QueryError> {
    Ok(store::feed::page_below(&state.pool, &query.filter, query.after, head, query.limit).await?)
}

/// The page's JSON, each event written exactly as the relay writes it.
fn body(events: &[RecordedEvent], next_after: i64, head: i64) -> Result<String, QueryError> {
    let rest = format!("\"next_after\":{next_after},\"head\":{head}");
    bus::Envelope::page_json(events, &rest)
        .map_err(|e| QueryError::Store(store::StoreError::Encode(e)))
}

async fn stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(stream_id): Path<String>,
    params: Params,
) -> Result<Response, QueryError> {
    let mut p = params.parser(STREAM_PARAMS);
    let after = p.int(STREAM_PARAMS[0]).unwrap_or(0);
    let limit = p.int(STREAM_PARAMS[1]).unwrap_or(DEFAULT_LIMIT);
    p.finish()?;
    let category = stream_id.split_once('-').map(|(c, _)| c);
    let Some(category) = category.and_then(StreamCategory::parse) else {
        return Err(QueryError::NotFound(format!("stream {stream_id}")));
    };
    let mut conn = state.pool.acquire().await?;
    // Another channel's order is not found, exactly like a missing one.
    if let (Some(own), StreamCategory::Order) = (&principal.channel, category) {
        let placed_through = store::feed::order_channel(&mut *conn, &stream_id).await?;
        if placed_through.as_ref() != Some(own) {
            return Err(QueryError::NotFound(format!("stream {stream_id}")));
        }
    }
    // So is another channel's cart hold.
    if let (Some(own), StreamCategory::Hold) = (&principal.channel, category) {
        let hold = uuid::Uuid::parse_str(&stream_id["hold-".len()..]).ok();
        let held_by = match hold {
            Some(id) => store::holds::find(&mut *conn, id)
                .await?
                .and_then(|h| h.channel),
            None => None,
        };
        if held_by.as_ref() != Some(own) {
            return Err(QueryError::NotFound(format!("stream {stream_id}")));
        }
    }
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
