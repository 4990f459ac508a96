//! Following the log in commit order: the one reader behind the relay, the
//! internal workers and rebuilds.
//!
//! Reads are gap-safe ([`crate::read`]): only transactions below the
//! snapshot's xmin are read. On top of that a follower knows which *global
//! positions* are settled, so "every event up to position P has been
//! handled" can be promised (read-your-writes) without a timer:
//!
//! * each round first reads the last position handed out, `L`, and, when
//!   `L` moved since the last sample, is given a transaction id of its own,
//!   the *fence*: every transaction holding a position up to `L` took its id
//!   before that (the `next_event_position()` default assigns the id
//!   first), and ids are handed out in order, so all of theirs are below the
//!   fence;
//! * once a later round is caught up (it read everything below its own
//!   xmin) and that xmin is at or past the fence, all of those transactions
//!   have ended and been read: `L` is settled.
//!
//! A snapshot's xmax is no such bound: Postgres sets it one past the latest
//! *completed* id and leaves running transactions above it out of the
//! snapshot, so the newest appender, still open, would not hold xmin back
//! (see `20261201000001_settle_fence.sql`).

use std::collections::VecDeque;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use sqlx::{PgConnection, Row};

use crate::read::{after_cursor, from_row, CommitCursor, EVENT_COLUMNS};
use crate::{RecordedEvent, StoreError};

/// The bounds one round read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Horizon {
    /// The last position handed out before the snapshot was taken.
    last_position: i64,
    /// Every transaction below this has ended.
    xmin: u64,
    /// Above the id of every transaction that took a position up to
    /// `last_position`; `None` when the log had not moved past the sample
    /// the round was given.
    fence: Option<u64>,
}

/// One round trip of a follower: the current [`Horizon`] (with a fence if
/// the log moved past `sampled_last`), and up to `limit` events of
/// `categories` (all when empty) committed after `cursor` by transactions
/// below its xmin, in commit order (`log_round()` in the migrations takes
/// its steps in the order the settling rule needs). `conn` must not be in a
/// transaction that has written: the fence is the round's own id.
async fn round(
    conn: &mut PgConnection,
    cursor: CommitCursor,
    limit: i64,
    categories: &[&str],
    sampled_last: i64,
) -> Result<(Horizon, Vec<RecordedEvent>), sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT r.last_position, r.horizon_xmin::text::bigint AS horizon_xmin, \
                    r.fence::text::bigint AS fence, {EVENT_COLUMNS} \
             FROM log_round($1::text::xid8, $2, $3, $4, $5) AS r, \
                  LATERAL (SELECT (r.event).*) AS e"
        )
    });
    let rows = after_cursor(&SQL, cursor, limit, categories)
        .bind(sampled_last)
        .fetch_all(conn)
        .await?;
    // The function always returns a row: without events, one whose event is NULL.
    let first = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    let horizon = Horizon {
        last_position: first.try_get("last_position")?,
        xmin: first.try_get::<i64, _>("horizon_xmin")? as u64,
        fence: first
            .try_get::<Option<i64>, _>("fence")?
            .map(|fence| fence as u64),
    };
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("position")?.is_some() {
            events.push(from_row(row)?);
        }
    }
    Ok((horizon, events))
}

/// One round of a [`LogFollower`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogRead {
    /// Events after the cursor, in commit order.
    pub events: Vec<RecordedEvent>,
    /// The cursor after these events; when there are none and the round is
    /// caught up, the start of its horizon (nothing of the follower's
    /// categories lies before it), else unchanged.
    pub cursor: CommitCursor,
    /// Every event of the follower's categories at or below this position
    /// has been read, by this round or an earlier one.
    pub settled: i64,
    /// Whether this round read everything committed below its horizon.
    pub caught_up: bool,
    /// The last position handed out when this round began.
    pub log_end: i64,
    /// How long positions handed out have been waiting on one transaction
    /// that is still open (the horizon's xmin has not moved); `None` when
    /// nothing waits.
    pub held_back_for: Option<Duration>,
}

/// A reader of the committed log for one subscriber (relay, worker,
/// rebuild): its cursor, categories, and settled-position bookkeeping.
#[derive(Debug, Clone)]
pub struct LogFollower {
    categories: Vec<String>,
    batch_size: i64,
    cursor: CommitCursor,
    /// Where the next read starts: at or past `cursor`, moved to the horizon
    /// by a caught-up round that found no event of the follower's
    /// categories, so a follower of some categories does not scan the
    /// others' events again on every round.
    scan_from: CommitCursor,
    settled: i64,
    /// `(fence, last_position)` samples not yet settled, oldest first.
    pending: VecDeque<(u64, i64)>,
    /// The xmin unsettled positions have been waiting on, and since when.
    held: Option<(u64, Instant)>,
}

/// The category [`LogFollower::horizon`] follows: none has this name.
const NO_CATEGORY: &str = "-";

/// Samples kept at most; older ones are dropped (a later sample settles a
/// higher position anyway, so dropping only delays, never lies).
const MAX_PENDING: usize = 4096;

impl LogFollower {
    /// A follower of `categories` (all when empty) starting after `cursor`,
    /// with `settled` already promised.
    pub fn new(categories: &[&str], batch_size: i64, cursor: CommitCursor, settled: i64) -> Self {
        Self {
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            batch_size: batch_size.max(1),
            cursor,
            scan_from: cursor,
            settled,
            pending: VecDeque::new(),
            held: None,
        }
    }

    /// A follower of no category: it reads no event and only tracks the
    /// log's settled position (every position at or below it is committed
    /// or rolled back for good), by the same rule as every other follower.
    pub fn horizon() -> Self {
        // A category no event has, so the read finds nothing; the cursor
        // still moves to each round's horizon, so it scans nothing twice.
        Self::new(&[NO_CATEGORY], 1, CommitCursor::default(), 0)
    }

    /// Where the follower has read to.
    pub fn cursor(&self) -> CommitCursor {
        self.cursor
    }

    /// The highest settled position so far.
    pub fn settled(&self) -> i64 {
        self.settled
    }

    /// Reads the next batch. The cursor and settled position move only in
    /// the returned [`LogRead`]; call [`LogFollower::advance`] once the
    /// caller has durably handled it.
    pub async fn read(&mut self, conn: &mut PgConnection) -> Result<LogRead, StoreError> {
        let categories: Vec<&str> = self.categories.iter().map(String::as_str).collect();
        let sampled_last = self.pending.back().map_or(self.settled, |(_, last)| *last);
        let (horizon, events) = round(
            conn,
            self.scan_from,
            self.batch_size,
            &categories,
            sampled_last,
        )
        .await?;
        if let Some(fence) = horizon.fence {
            if self.pending.len() == MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back((fence, horizon.last_position));
        }
        let caught_up = (events.len() as i64) < self.batch_size;
        let cursor = match events.last() {
            Some(last) => CommitCursor::after(last),
            // Every transaction below the horizon has ended and none of them
            // wrote an event of these categories after the cursor.
            None if caught_up => self
                .scan_from
                .max(CommitCursor::before_transaction(horizon.xmin)),
            None => self.scan_from,
        };
        if events.is_empty() {
            self.scan_from = cursor;
        }
        let mut settled = self.settled;
        if caught_up {
            for (fence, last) in &self.pending {
                if *fence <= horizon.xmin {
                    settled = settled.max(*last);
                }
            }
        }
        let waiting = caught_up && self.pending.iter().any(|(_, last)| *last > settled);
        self.held = match self.held {
            Some((xmin, since)) if waiting && xmin == horizon.xmin => Some((xmin, since)),
            _ if waiting => Some((horizon.xmin, Instant::now())),
            _ => None,
        };
        Ok(LogRead {
            events,
            cursor,
            settled,
            caught_up,
            log_end: horizon.last_position,
            held_back_for: self.held.map(|(_, since)| since.elapsed()),
        })
    }

    /// Records that `read` was handled: the cursor moves past it and its
    /// settled position is kept.
    pub fn advance(&mut self, read: &LogRead) {
        self.cursor = read.cursor;
        self.scan_from = self.scan_from.max(read.cursor);
        if read.settled > self.settled {
            self.settled = read.settled;
            self.pending.retain(|(_, last)| *last > read.settled);
        }
    }

    /// Starts over from `cursor` (a checkpoint reloaded after a failure or a
    /// rebuild moved it).
    pub fn reset(&mut self, cursor: CommitCursor, settled: i64) {
        self.cursor = cursor;
        self.scan_from = cursor;
        self.settled = settled;
        self.pending.clear();
        self.held = None;
    }
}
