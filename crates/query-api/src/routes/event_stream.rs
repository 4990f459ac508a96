//! `GET /v1/events/stream`: the event feed as server-sent events (`id:` is
//! the position; a client resumes with `Last-Event-ID`), with heartbeats.
//! Every stream takes its events from the process's one shared reader of
//! the log's tail ([`crate::live_tail`]) and reads the log itself only to
//! catch up, a page at a time as the connection takes them, so a slow
//! client holds one page or batch at most; each key may hold a few streams
//! at once.

use std::convert::Infallible;
use std::time::Duration;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use futures::stream;
use sqlx::PgPool;
use tokio::sync::broadcast;
use uuid::Uuid;
use web::auth::Principal;
use web::openapi::Operation;
use web::per_client::{KeyedSlots, Slot};
use web::SecureRouter;

use super::events::{feed_query, page_below, FeedQuery, FEED_PARAMS};
use crate::error::QueryError;
use crate::horizon::LogHorizon;
use crate::live_tail::{frame, Batch, LiveTail};
use crate::params::Params;
use crate::AppState;

/// Streams one key may hold open at once.
pub const STREAMS_PER_KEY: usize = 4;
/// How long a stream stays silent before it sends a comment, so proxies
/// keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);

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

/// Open streams per key, and the log's tail they share.
#[derive(Clone)]
pub struct EventStreams {
    slots: KeyedSlots<Uuid>,
    tail: LiveTail,
}

impl EventStreams {
    /// Streams over `pool`'s log, sharing one reader of its tail.
    pub fn start(pool: PgPool, horizon: LogHorizon) -> Self {
        Self {
            slots: KeyedSlots::new(STREAMS_PER_KEY),
            tail: LiveTail::start(pool, horizon),
        }
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
    let Some(slot) = state.event_streams.slots.take(principal.key_id) else {
        return Err(QueryError::TooManyStreams(STREAMS_PER_KEY));
    };
    // Subscribed before the first read, so no batch is missed between.
    let live = state.event_streams.tail.subscribe();
    let catch_up_to = state.horizon.settled();
    let follower = Follower {
        state,
        query,
        live,
        catch_up_to: Some(catch_up_to),
        held: None,
        _slot: slot,
    };
    let body = stream::unfold(follower, |mut f| async move {
        let chunk = f.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), f))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// One open stream: reads the log itself while it is behind the shared
/// tail, then sends what the tail's batches hold for its view.
struct Follower {
    state: AppState,
    /// `after` is the stream's cursor: everything up to it was sent or
    /// left out by the view.
    query: FeedQuery,
    live: broadcast::Receiver<Arc<Batch>>,
    /// Read the log up to here before taking batches again.
    catch_up_to: Option<i64>,
    /// The batch that showed the gap, sent once the gap is read.
    held: Option<Arc<Batch>>,
    _slot: Slot<Uuid>,
}

impl Follower {
    /// The next bytes to send; `None` ends the stream (the process stops,
    /// the database failed: the client resumes with `Last-Event-ID`).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(to) = self.catch_up_to {
                if self.query.after < to {
                    if let Some(chunk) = self.read_log(to).await? {
                        return Some(chunk);
                    }
                    continue;
                }
                self.catch_up_to = None;
                if let Some(batch) = self.held.take() {
                    if let Some(chunk) = self.take(&batch) {
                        return Some(chunk);
                    }
                }
                continue;
            }
            let received = tokio::select! {
                received = self.live.recv() => received,
                () = tokio::time::sleep(HEARTBEAT) => return Some(Bytes::from_static(b":\n\n")),
                () = self.state.horizon.stopping() => return None,
            };
            match received {
                Ok(batch) => match step(self.query.after, &batch) {
                    Step::Skip => {}
                    Step::CatchUpFirst => {
                        self.catch_up_to = Some(batch.after);
                        self.held = Some(batch);
                    }
                    Step::Take => {
                        if let Some(chunk) = self.take(&batch) {
                            return Some(chunk);
                        }
                    }
                },
                // The next batch shows how much was missed.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// One page of the log below `to` (settled), read by this stream
    /// alone; `None` when the read failed, `Some(None)` when the page held
    /// nothing for this view.
    async fn read_log(&mut self, to: i64) -> Option<Option<Bytes>> {
        let page = match page_below(&self.state, &self.query, to).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "an event stream's read failed; ending it");
                return None;
            }
        };
        self.query.after = page.next_after(self.query.limit);
        let mut chunk = Vec::new();
        for event in &page.events {
            match frame(event) {
                Ok(frame) => chunk.extend_from_slice(&frame),
                Err(e) => {
                    tracing::error!(position = event.position, error = %e, "an event could not be encoded for an event stream");
                }
            }
        }
        Some((!chunk.is_empty()).then(|| chunk.into()))
    }

    /// What `batch` holds for this stream past its cursor, which moves to
    /// the batch's end.
    fn take(&mut self, batch: &Batch) -> Option<Bytes> {
        let after = self.query.after;
        self.query.after = batch.upto;
        let mut sent = batch
            .events
            .iter()
            .filter(|e| e.position > after && e.admitted_by(&self.query.filter));
        let first = sent.next()?;
        let Some(second) = sent.next() else {
            return Some(first.frame.clone());
        };
        let mut chunk = Vec::with_capacity(first.frame.len() * 8);
        for e in [first, second].into_iter().chain(sent) {
            chunk.extend_from_slice(&e.frame);
        }
        Some(chunk.into())
    }
}

/// What a stream whose cursor is at `cursor` does with a batch.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Everything in it was sent already.
    Skip,
    /// Batches before it were missed (they went before this stream could
    /// take them): read the log up to the batch first.
    CatchUpFirst,
    /// It starts at or before the cursor and reaches past it.
    Take,
}

fn step(cursor: i64, batch: &Batch) -> Step {
    if batch.upto <= cursor {
        Step::Skip
    } else if batch.after > cursor {
        Step::CatchUpFirst
    } else {
        Step::Take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(after: i64, upto: i64) -> Batch {
        Batch {
            after,
            upto,
            events: Vec::new(),
        }
    }

    #[test]
    fn a_stream_takes_a_batch_only_when_nothing_lies_between_its_cursor_and_the_batch() {
        assert_eq!(step(10, &batch(4, 10)), Step::Skip, "all sent");
        assert_eq!(step(10, &batch(10, 15)), Step::Take, "next in line");
        assert_eq!(step(10, &batch(6, 15)), Step::Take, "overlaps the cursor");
        assert_eq!(
            step(10, &batch(11, 15)),
            Step::CatchUpFirst,
            "position 11 was in a batch this stream missed"
        );
    }
}
