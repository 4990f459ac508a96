//! The log's settled position as a feed reader sees it: every position at
//! or below it is committed or rolled back for good, so a page of the event
//! feed below it is final. Followed by one [`LogFollower::horizon`] per
//! process, woken by the log's commit notifications and polled as a fallback.
//!
//! Settling needs a transaction id of its own (the fence), so the follower
//! always reads the primary. A query API reading a replica serves a settled
//! position only once the replica has replayed the WAL that holds it
//! ([`store::replica::ReplayedHorizon`]): a final page read from the replica
//! is then the page the primary would give.

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
    /// Follows the horizon of `primary`'s log until `shutdown`, as far as
    /// `replica` (when the feed is read there) has replayed it.
    pub fn start(
        primary: PgPool,
        replica: Option<PgPool>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (tx, rx) = watch::channel(0);
        match replica {
            None => {
                tokio::spawn(follow(primary, None, tx, shutdown.clone()));
            }
            Some(replica) => {
                let (sampled_tx, sampled) = watch::channel((0, 0));
                tokio::spawn(follow(
                    primary,
                    Some(sampled_tx),
                    tx.clone(),
                    shutdown.clone(),
                ));
                tokio::spawn(follow_replay(replica, sampled, tx, shutdown.clone()));
            }
        }
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

/// Follows the primary's settled position; with `sampled`, publishes it
/// there with the WAL location that holds it instead of to `tx`.
async fn follow(
    pool: PgPool,
    sampled: Option<watch::Sender<(i64, u64)>>,
    tx: watch::Sender<i64>,
    mut shutdown: watch::Receiver<bool>,
) {
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
                    match &sampled {
                        None => {
                            tx.send_if_modified(|settled| {
                                let moved = read.settled > *settled;
                                *settled = (*settled).max(read.settled);
                                moved
                            });
                        }
                        Some(sampled) if read.settled > sampled.borrow().0 => {
                            // Sampled after the round: every transaction it
                            // saw ended has its commit record below this.
                            match store::replica::wal_insert_location(&pool).await {
                                Ok(location) => {
                                    sampled.send_replace((read.settled, location));
                                }
                                Err(e) => {
                                    tracing::warn!(error = %store::error_chain(&e), "reading the primary's WAL location failed; retrying");
                                }
                            }
                        }
                        Some(_) => {}
                    }
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

/// How often the replica's replay is read while settled positions wait for
/// it, and while none do (then only to notice a replica that came back).
const REPLAY_CHASE: Duration = Duration::from_millis(5);
const REPLAY_IDLE: Duration = Duration::from_secs(1);

/// Publishes to `tx` the highest of the primary's settled positions (from
/// `sampled`) that `replica` has replayed.
async fn follow_replay(
    replica: PgPool,
    mut sampled: watch::Receiver<(i64, u64)>,
    tx: watch::Sender<i64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut horizon = store::replica::ReplayedHorizon::default();
    while !*shutdown.borrow() {
        let (settled, location) = *sampled.borrow_and_update();
        horizon.record(settled, location);
        let mut failed = false;
        if horizon.waiting() {
            match store::replica::replayed_location(&replica).await {
                // Not a standby (promoted, or the primary's own URL): it
                // holds whatever the primary settled.
                Ok(None) => {
                    horizon.replayed_to(u64::MAX);
                }
                Ok(Some(replayed)) => {
                    horizon.replayed_to(replayed);
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(error = %store::error_chain(&e), "reading the replica's replay location failed; retrying");
                }
            }
            tx.send_if_modified(|served| {
                let moved = horizon.replayed() > *served;
                *served = (*served).max(horizon.replayed());
                moved
            });
        }
        // A replica that does not answer is asked again only every second.
        let wait = if horizon.waiting() && !failed {
            REPLAY_CHASE
        } else {
            REPLAY_IDLE
        };
        tokio::select! {
            _ = sampled.changed(), if !horizon.waiting() => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        }
    }
}
