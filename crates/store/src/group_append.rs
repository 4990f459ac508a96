//! Group commit for appends that need no transaction around them: callers
//! that append at the same moment share one statement, so Postgres parses,
//! plans, executes and flushes the WAL once for all of them. The database's
//! work per order then shrinks as load grows, instead of each order paying a
//! statement, a commit and a connection's round trips of its own.
//!
//! A caller waits no longer than it would alone: while fewer than
//! [`WRITERS`] statements are in flight its append goes out at once, and
//! only the appends that arrive while all writers are busy wait, together,
//! for the next free one.
//!
//! Writers keep their connections between groups, outside the pool: at a
//! steady few hundred orders a second a writer retires after nearly every
//! order, and handing its connection back to the pool would cost a round
//! trip per order (the pool's check on return). They are at most
//! [`WRITERS`] connections beside the pool's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgDatabaseError, PgSeverity};
use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;

use crate::catalogue::CatalogueVersion;
use crate::log::{insert_events, AppendResult, StreamAppend};
use crate::StoreError;

/// Statements in flight at once: enough to keep a small server's cores busy
/// while the next group gathers, few enough that groups do gather.
const WRITERS: usize = 4;

/// Most events in one statement (an order has one; a group this size is
/// far past the point where grouping stops paying).
const MAX_EVENTS: usize = 1_000;

/// Appends from concurrent callers, sent together. Cheap to clone.
#[derive(Clone)]
pub struct GroupAppend {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    writers: usize,
    /// Healthy connections of retired writers, for the next ones to start on.
    kept: Vec<PgConnection>,
}

/// What one caller's append lands as: `None` when the catalogue moved on.
type Reply = Result<Option<AppendResult>, StoreError>;

struct Waiting {
    stream: StreamAppend,
    catalogue: CatalogueVersion,
    reply: oneshot::Sender<Reply>,
}

impl GroupAppend {
    /// Group commit over connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            shared: Arc::new(Shared {
                pool,
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// [`crate::append_streams_priced_at`] for one stream, in a statement
    /// shared with whoever appends at the same moment. The statement lands
    /// all of its streams or none; a stream that cannot land (it exists
    /// already) fails only its own caller.
    pub async fn append_priced_at(
        &self,
        stream: StreamAppend,
        catalogue: CatalogueVersion,
    ) -> Result<Option<AppendResult>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_writer = {
            let mut queue = self.shared.lock();
            queue.waiting.push_back(Waiting {
                stream,
                catalogue,
                reply,
            });
            let idle = queue.writers < WRITERS;
            queue.writers += usize::from(idle);
            idle
        };
        if start_writer {
            // Its own task: a caller that goes away (a client hanging up)
            // must not cancel a statement that carries other callers' appends.
            tokio::spawn(self.clone().write());
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::InvalidState(
                "the append's writer stopped".into(),
            ))
        })
    }

    /// Sends groups until none is waiting, on one connection.
    async fn write(self) {
        let mut slot = Slot {
            shared: &self.shared,
            retired: false,
        };
        let mut conn: Option<PgConnection> = None;
        while let Some(group) = slot.next_group(&mut conn) {
            let ready = match conn.take() {
                Some(c) => Ok(c),
                None => self
                    .shared
                    .pool
                    .acquire()
                    .await
                    .map(|pooled| pooled.detach()),
            };
            match ready {
                Ok(mut c) => {
                    // A connection whose statement failed is closed, since
                    // it may be what failed; a healthy one serves on.
                    if send(&mut c, group).await {
                        conn = Some(c);
                    }
                }
                Err(e) => answer_all(group.replies, e.into()),
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A writer's place among the [`WRITERS`]; given back when it retires, or
/// when its task ends any other way (a panic, a runtime shutting down), so
/// that appends waiting after it still find a writer.
struct Slot<'a> {
    shared: &'a Shared,
    retired: bool,
}

impl Slot<'_> {
    /// The appends that go out together: the oldest waiting and those behind
    /// it priced at the same catalogue version, up to [`MAX_EVENTS`]. None
    /// waiting: the writer retires (under the same lock as the look, so an
    /// append queued just after it starts a writer of its own) and leaves
    /// `conn` for the next writer. A writer without a connection takes a
    /// kept one, if any.
    fn next_group(&mut self, conn: &mut Option<PgConnection>) -> Option<Group> {
        let mut queue = self.shared.lock();
        let Some(first) = queue.waiting.pop_front() else {
            queue.writers -= 1;
            queue.kept.extend(conn.take());
            self.retired = true;
            return None;
        };
        if conn.is_none() {
            *conn = queue.kept.pop();
        }
        let mut events = first.stream.events.len();
        let mut group = Group {
            catalogue: first.catalogue,
            streams: vec![first.stream],
            replies: vec![first.reply],
        };
        while let Some(next) = queue.waiting.front() {
            let more = next.stream.events.len();
            if next.catalogue != group.catalogue || events + more > MAX_EVENTS {
                break;
            }
            events += more;
            if let Some(next) = queue.waiting.pop_front() {
                group.streams.push(next.stream);
                group.replies.push(next.reply);
            }
        }
        Some(group)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.retired {
            self.shared.lock().writers -= 1;
        }
    }
}

/// Appends that go out in one statement, and where each caller's answer goes
/// (`replies[i]` for `streams[i]`).
struct Group {
    catalogue: CatalogueVersion,
    streams: Vec<StreamAppend>,
    replies: Vec<oneshot::Sender<Reply>>,
}

/// Appends `group` in one statement and answers each caller; whether the
/// connection is still good for the next group.
async fn send(conn: &mut PgConnection, group: Group) -> bool {
    let Group {
        catalogue,
        streams,
        replies,
    } = group;
    match insert_events(conn, &streams, Some(catalogue)).await {
        Ok(Some(results)) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(Some(result)));
            }
            true
        }
        Ok(None) => {
            for reply in replies {
                let _ = reply.send(Ok(None));
            }
            true
        }
        // The statement was refused as a whole and nothing landed: one
        // append's fault (its stream exists) must not become the others',
        // so each goes again alone and gets its own answer.
        Err(e) if refused(&e) && streams.len() > 1 => {
            let mut healthy = true;
            for (stream, reply) in streams.iter().zip(replies) {
                let alone = insert_events(conn, std::slice::from_ref(stream), Some(catalogue))
                    .await
                    .map(|landed| landed.map(|results| results[0]));
                if let Err(e) = &alone {
                    healthy &= refused(e);
                }
                let _ = reply.send(alone);
            }
            healthy
        }
        Err(e) => {
            let healthy = refused(&e);
            answer_all(replies, e);
            healthy
        }
    }
}

/// Whether Postgres refused the statement itself (nothing landed and the
/// connection is fine), as opposed to the connection failing. A `FATAL`
/// error (the backend was terminated, the server is shutting down) ends the
/// session, so its connection is not fine.
fn refused(error: &StoreError) -> bool {
    match error {
        StoreError::Conflict { .. } => true,
        StoreError::Database(sqlx::Error::Database(db)) => db
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|pg| !matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
        _ => false,
    }
}

/// Gives every caller the failure of their statement: a lone caller the
/// error itself, several callers each a share of it.
fn answer_all(replies: Vec<oneshot::Sender<Reply>>, error: StoreError) {
    let replies = match <[oneshot::Sender<Reply>; 1]>::try_from(replies) {
        Ok([alone]) => {
            let _ = alone.send(Err(error));
            return;
        }
        Err(replies) => replies,
    };
    let shared = Arc::new(error);
    for reply in replies {
        let _ = reply.send(Err(StoreError::Shared(shared.clone())));
    }
}
