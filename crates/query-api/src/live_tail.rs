//! One reader of the log's settled tail per query API process, shared by
//! every open event stream: each newly settled range is read and encoded
//! once and handed to all streams as one batch, so a hundred open streams
//! cost one query per step of the horizon, not a hundred. Each batch says
//! which range it covers, so a stream always knows whether it has seen
//! everything before it; one that fell behind the kept batches (a slow
//! client) reads the log itself until it is level again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::PgPool;
use store::feed::{FeedFilter, TailEvent};
use store::RecordedEvent;
use tokio::sync::broadcast;

use crate::horizon::LogHorizon;

/// Most events one batch carries: a longer range is read in several.
const BATCH: i64 = 500;
/// Batches kept for streams not yet past them; a stream further behind
/// reads the log.
const KEPT: usize = 64;
/// How long the tail waits for the horizon before looking again.
const WAIT: Duration = Duration::from_secs(15);
/// How long a failed read waits before the next try.
const RETRY: Duration = Duration::from_secs(1);

/// Every event of the log after `after` and up to `upto`, in position
/// order, each encoded once for every stream.
#[derive(Debug)]
pub struct Batch {
    /// The position the batch follows (exclusive).
    pub after: i64,
    /// The last position the batch covers: nothing at or below it is left.
    pub upto: i64,
    /// The events, in position order.
    pub events: Vec<Encoded>,
}

/// One event as a stream writes it, with what a view needs to judge it.
#[derive(Debug)]
pub struct Encoded {
    /// Its position in the log.
    pub position: i64,
    category: String,
    event_type: String,
    order_channel: Option<String>,
    /// The server-sent event, ready for the wire.
    pub frame: Bytes,
}

impl Encoded {
    /// Whether a stream with `filter` sends this event.
    pub fn admitted_by(&self, filter: &FeedFilter) -> bool {
        filter.admits(
            &self.category,
            &self.event_type,
            self.order_channel.as_deref(),
        )
    }
}

/// `event` as one server-sent event: `id:` its position, `event:` its
/// type, `data:` the envelope exactly as the relay writes it (compact JSON
/// never holds a raw line break, so one `data:` line carries it). `None`,
/// logged, for an event that cannot be encoded: streams leave it out.
pub fn frame(event: &RecordedEvent) -> Option<Bytes> {
    match bus::Envelope::from(event).to_json() {
        Ok(data) => Some(Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {data}\n\n",
            event.position, event.event_type
        ))),
        Err(e) => {
            tracing::error!(position = event.position, error = %e, "an event could not be encoded for the event streams");
            None
        }
    }
}

/// The shared tail of the log, to subscribe to.
#[derive(Clone)]
pub struct LiveTail {
    batches: broadcast::Sender<Arc<Batch>>,
}

impl LiveTail {
    /// Follows the settled tail of `pool`'s log until the process stops,
    /// reading only while some stream listens.
    pub fn start(pool: PgPool, horizon: LogHorizon) -> Self {
        let (batches, _) = broadcast::channel(KEPT);
        tokio::spawn(follow(pool, horizon, batches.clone()));
        Self { batches }
    }

    /// The batches from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.batches.subscribe()
    }
}

async fn follow(pool: PgPool, horizon: LogHorizon, batches: broadcast::Sender<Arc<Batch>>) {
    let mut cursor = horizon.settled();
    loop {
        let settled = tokio::select! {
            settled = horizon.past(cursor, WAIT) => settled,
            () = horizon.stopping() => return,
        };
        if batches.receiver_count() == 0 {
            // Nobody listens: a stream that subscribes later reads what it
            // needs below this itself.
            cursor = cursor.max(settled);
            continue;
        }
        while cursor < settled {
            match store::feed::tail_below(&pool, cursor, settled, BATCH).await {
                Ok(events) => {
                    let upto = match events.last() {
                        Some(last) if events.len() as i64 >= BATCH => last.event.position,
                        _ => settled,
                    };
                    let events = events.into_iter().filter_map(encode).collect();
                    let _ = batches.send(Arc::new(Batch {
                        after: cursor,
                        upto,
                        events,
                    }));
                    cursor = upto;
                }
                Err(e) => {
                    tracing::warn!(error = %store::error_chain(&e), "reading the log's tail for the event streams failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = horizon.stopping() => return,
                    }
                }
            }
        }
    }
}

/// `tail` encoded once for every stream (see [`frame`]).
pub(crate) fn encode(tail: TailEvent) -> Option<Encoded> {
    let frame = frame(&tail.event)?;
    Some(Encoded {
        position: tail.event.position,
        category: tail.event.category,
        event_type: tail.event.event_type,
        order_channel: tail.order_channel,
        frame,
    })
}
