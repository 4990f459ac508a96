//! The log's settled position as a feed reader sees it: every position at
//! or below it is committed or rolled back for good, so a page of the event
//! feed below it is final. Followed by one [`LogFollower::horizon`] per
//! process, woken by the log's commit notifications and polled as a fallback.

use std::time::{Duration, Instant};

use crate::wake::wait_for_commits;
use sqlx::postgres::PgListener;
use sqlx::{ConnectOptions, PgPool};
use store::LogFollower;
use tokio::sync::watch;

/// Least time between two rounds: a round per commit would cost a
/// transaction id per commit.
const LINGER: Duration = Duration::from_millis(5);

/// How often the horizon is read without a notification.
const POLL: Duration = Duration::from_millis(500);

/// The settled position, kept current in the background.
#[derive(Clone)]
pub struct LogHorizon {
    settled: watch::Receiver<i64>,
    /// Turns true when the process stops: long-lived readers (event
    /// streams) end so the server can drain.
    stopping: watch::Receiver<bool>,
}

impl LogHorizon {
    /// Follows the horizon of `pool`'s log until `shutdown`.
    pub fn start(pool: PgPool, shutdown: watch::Receiver<bool>) -> Self {
        let (tx, rx) = watch::channel(0);
        tokio::spawn(follow(pool, tx, shutdown.clone()));
        Self {
            settled: rx,
            stopping: shutdown,
        }
    }

    /// A horizon that never moves from `settled` (router tests).
    pub fn fixed(settled: i64) -> Self {
        let (tx, rx) = watch::channel(settled);
        let (stop, stopping) = watch::channel(false);
        // Kept alive for ever so the receivers never see a closed channel.
        std::mem::forget((tx, stop));
        Self {
            settled: rx,
            stopping,
        }
    }

    /// Completes when the process begins to stop.
    pub async fn stopping(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stopped| *stopped).await;
    }

    /// The settled position now.
    pub fn settled(&self) -> i64 {
        *self.settled.borrow()
    }

    /// Waits up to `wait` for the settled position to pass `position`;
    /// returns the settled position then.
    pub async fn past(&self, position: i64, wait: Duration) -> i64 {
        let mut settled = self.settled.clone();
        let _ = tokio::time::timeout(wait, settled.wait_for(|s| *s > position)).await;
        let now = *settled.borrow();
        now
    }
}

async fn follow(pool: PgPool, tx: watch::Sender<i64>, mut shutdown: watch::Receiver<bool>) {
    let options = pool.connect_options().as_ref().clone();
    let mut follower = LogFollower::horizon();
    let mut listener: Option<PgListener> = None;
    let mut conn = None;
    while !*shutdown.borrow() {
        if listener.is_none() {
            listener = match PgListener::connect_with(&pool).await {
                Ok(mut l) => l
                    .listen(store::notify::EVENTS_CHANNEL)
                    .await
                    .ok()
                    .map(|()| l),
                Err(_) => None,
            };
        }
        if conn.is_none() {
            conn = options.connect().await.ok();
        }
        // Positions handed out and waiting to be settled are settled by a
        // later round once their transactions end: it comes soon.
        let mut pending = false;
        let last_read = Instant::now();
        if let Some(c) = conn.as_mut() {
            match follower.read(c).await {
                Ok(read) => {
                    pending = read.held_back_for.is_some();
                    follower.advance(&read);
                    tx.send_if_modified(|settled| {
                        let moved = read.settled > *settled;
                        *settled = (*settled).max(read.settled);
                        moved
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %store::error_chain(&e), "reading the log's horizon failed; retrying");
                    conn = None;
                }
            }
        }
        let poll = if pending { LINGER * 4 } else { POLL };
        wait_for_commits(listener.as_mut(), poll, LINGER, last_read, &mut shutdown).await;
    }
}
