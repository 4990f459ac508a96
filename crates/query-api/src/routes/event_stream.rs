//! `GET /v1/events/stream`: the event feed as server-sent events (`id:` is
//! the position; a client resumes with `Last-Event-ID`), with heartbeats.
//! Events are read a page at a time as the connection takes them, so a slow
//! client holds one page at most; each key may hold a few streams at once.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::{self, Stream, StreamExt};
use uuid::Uuid;
use web::auth::Principal;
use web::openapi::Operation;
use web::per_client::{KeyedSlots, Slot};
use web::SecureRouter;

use super::events::{feed_query, page_below, FeedQuery, FEED_PARAMS};
use crate::error::QueryError;
use crate::params::Params;
use crate::AppState;

/// Streams one key may hold open at once.
pub const STREAMS_PER_KEY: usize = 4;
/// How often an idle stream sends a comment, so proxies keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long one wait for new events lasts before the stream looks again.
const WAIT: Duration = Duration::from_secs(15);

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router.get(
        "/v1/events/stream",
        stream_events,
        Operation::new(
            "the event feed as server-sent events: `id:` is the position, `event:` the \
             event type, `data:` the envelope; resumes after `Last-Event-ID` (else after \
             `after`); heartbeats every 15 s; at most 4 open streams per key (else 429); \
             a storefront key sees its own channel's orders' events and every product and \
             stock event",
        )
        .query(FEED_PARAMS)
        .answers_text(200, "an endless stream of events", "text/event-stream"),
    )
}

/// Open streams per key.
#[derive(Clone)]
pub struct StreamSlots(KeyedSlots<Uuid>);

impl Default for StreamSlots {
    fn default() -> Self {
        Self(KeyedSlots::new(STREAMS_PER_KEY))
    }
}

async fn stream_events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, QueryError> {
    let mut query = feed_query(&params, &principal)?;
    if let Some(last) = headers.get("last-event-id") {
        query.after = last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|p| *p >= 0)
            .ok_or_else(|| QueryError::bad("Last-Event-ID", "must be a position"))?;
    }
    let Some(slot) = state.event_streams.0.take(principal.key_id) else {
        return Err(QueryError::TooManyStreams(STREAMS_PER_KEY));
    };
    let events = events(state, query, slot);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response())
}

/// The events after `query.after`, for ever, a page at a time; ends when
/// the process stops or the database fails (the client resumes).
fn events(
    state: AppState,
    query: FeedQuery,
    slot: Slot<Uuid>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let pages = stream::unfold(
        (state, query, slot, false),
        |(state, mut query, slot, done)| async move {
            if done {
                return None;
            }
            loop {
                let head = state.horizon.settled();
                let page = match page_below(&state, &query, head).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "an event stream's read failed; ending it");
                        return None;
                    }
                };
                let next = page.next_after(query.limit);
                query.after = next;
                if !page.events.is_empty() {
                    let frames: Vec<Result<Event, Infallible>> =
                        page.events.iter().filter_map(frame).map(Ok).collect();
                    return Some((stream::iter(frames), (state, query, slot, false)));
                }
                tokio::select! {
                    _ = state.horizon.past(next, WAIT) => {}
                    () = state.horizon.stopping() => return None,
                }
            }
        },
    );
    pages.flatten()
}

fn frame(event: &store::RecordedEvent) -> Option<Event> {
    let data = bus::Envelope::from(event).to_json().ok()?;
    Some(
        Event::default()
            .id(event.position.to_string())
            .event(&event.event_type)
            .data(data),
    )
}
