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

use store::feed::FeedPage as LogPage;

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
        stopping: state.horizon.clone(),
        log: state,
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

/// Where a stream reads the log itself, while it is behind the shared tail.
trait LogPages {
    /// Up to `query.limit` events of the stream's view after `query.after`
    /// and at or below the settled position `to`.
    fn page(
        &self,
        query: &FeedQuery,
        to: i64,
    ) -> impl std::future::Future<Output = Result<LogPage, QueryError>> + Send;
}

impl LogPages for AppState {
    async fn page(&self, query: &FeedQuery, to: i64) -> Result<LogPage, QueryError> {
        page_below(self, query, to).await
    }
}

/// One open stream: reads the log itself while it is behind the shared
/// tail, then sends what the tail's batches hold for its view.
struct Follower<L> {
    log: L,
    /// Ends the stream when the process stops.
    stopping: LogHorizon,
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

impl<L: LogPages> Follower<L> {
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
                () = self.stopping.stopping() => return None,
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
        let page = match self.log.page(&self.query, to).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "an event stream's read failed; ending it");
                return None;
            }
        };
        self.query.after = page.next_after(self.query.limit);
        let mut chunk = Vec::new();
        for frame in page.events.iter().filter_map(frame) {
            chunk.extend_from_slice(&frame);
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

    /// A log of `positions` (product events; every third discontinues,
    /// the rest are renamed), read as `page_below` reads it.
    struct Log(Vec<store::RecordedEvent>);

    fn log(positions: impl IntoIterator<Item = i64>) -> Log {
        Log(positions
            .into_iter()
            .map(|position| store::RecordedEvent {
                position,
                transaction_id: 1,
                event_id: Uuid::nil(),
                stream_id: format!("product-P{position}"),
                category: "product".into(),
                aggregate_id: format!("P{position}"),
                stream_version: 1,
                event_type: if position % 3 == 0 {
                    "ProductDiscontinued"
                } else {
                    "ProductRenamed"
                }
                .into(),
                schema_version: 1,
                data: serde_json::json!({}),
                correlation_id: Uuid::nil(),
                causation_id: None,
                actor: None,
                trace_parent: None,
                occurred_at: chrono::DateTime::UNIX_EPOCH,
            })
            .collect())
    }

    impl LogPages for Log {
        async fn page(&self, query: &FeedQuery, to: i64) -> Result<LogPage, QueryError> {
            let events: Vec<_> = self
                .0
                .iter()
                .filter(|e| e.position > query.after && e.position <= to)
                .filter(|e| query.filter.admits(&e.category, &e.event_type, None))
                .take(query.limit as usize)
                .cloned()
                .collect();
            Ok(LogPage {
                events,
                looked_to: to,
            })
        }
    }

    impl Log {
        /// The tail's batch of `(after, upto]`.
        fn batch(&self, after: i64, upto: i64) -> Arc<Batch> {
            let events = self
                .0
                .iter()
                .filter(|e| e.position > after && e.position <= upto)
                .map(|e| {
                    crate::live_tail::encode(store::feed::TailEvent {
                        event: e.clone(),
                        order_channel: None,
                    })
                    .unwrap()
                })
                .collect();
            Arc::new(Batch {
                after,
                upto,
                events,
            })
        }
    }

    fn ids(chunks: &[Bytes]) -> Vec<i64> {
        chunks
            .iter()
            .flat_map(|c| {
                std::str::from_utf8(c)
                    .unwrap()
                    .lines()
                    .filter_map(|l| l.strip_prefix("id: ").map(|id| id.parse().unwrap()))
                    .collect::<Vec<i64>>()
            })
            .collect()
    }

    /// What `follower` sends until its cursor reaches `to`.
    async fn sent_until(follower: &mut Follower<Log>, to: i64) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        for _ in 0..1_000 {
            if follower.query.after >= to {
                return chunks;
            }
            // A call that finds nothing for its view waits for the next
            // batch; it is safe to drop there.
            let next = tokio::time::timeout(Duration::from_millis(50), follower.next_chunk());
            if let Ok(chunk) = next.await {
                chunks.push(chunk.expect("the stream goes on"));
            }
        }
        panic!("the stream stopped at {}", follower.query.after);
    }

    #[tokio::test]
    async fn a_stream_reads_what_it_missed_from_the_log_and_never_sends_an_event_twice() {
        // Positions 1..=300 with holes (rolled-back positions).
        let source = log((1..=300).filter(|p| p % 7 != 0));
        for (types, limit) in [(vec![], 10), (vec!["ProductDiscontinued".to_owned()], 3)] {
            let (tx, live) = broadcast::channel(4);
            let mut follower = Follower {
                log: log(source.0.iter().map(|e| e.position)),
                stopping: LogHorizon::fixed(0),
                query: FeedQuery {
                    after: 0,
                    limit,
                    filter: store::feed::FeedFilter {
                        types: types.clone(),
                        ..Default::default()
                    },
                    wait: Duration::ZERO,
                },
                live,
                // Opened when the log was settled up to 40 …
                catch_up_to: Some(40),
                held: None,
                _slot: KeyedSlots::new(1).take(Uuid::nil()).unwrap(),
            };
            // … while the tail had read up to 30: its first batch overlaps
            // what the stream reads itself.
            tx.send(source.batch(30, 50)).unwrap();
            let mut chunks = sent_until(&mut follower, 50).await;
            // Twenty batches while the stream sends nothing: it keeps the
            // last four and misses the rest.
            for n in 0..20 {
                tx.send(source.batch(50 + n * 10, 60 + n * 10)).unwrap();
            }
            chunks.extend(sent_until(&mut follower, 250).await);
            // Level again: from the tail alone.
            tx.send(source.batch(250, 300)).unwrap();
            chunks.extend(sent_until(&mut follower, 300).await);
            let expected: Vec<i64> = source
                .0
                .iter()
                .filter(|e| types.is_empty() || types.contains(&e.event_type))
                .map(|e| e.position)
                .collect();
            assert_eq!(ids(&chunks), expected, "{types:?} in pages of {limit}");
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
