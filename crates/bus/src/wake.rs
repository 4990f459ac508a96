//! How a caught-up follower of the log (the relay, a worker's log source)
//! waits for new commits: woken by a notification or a poll, then lingering
//! so that it reads at most once per linger.
//!
//! Under load every commit notifies, and a follower that read on each
//! notification read one or two events at a time: at 500 orders/s the five
//! followers made 1,100 reads a second, each a round of statements, and
//! every small batch paid its handler's whole transaction. Lingering a few
//! milliseconds after a wake-up gathers what committed meanwhile into one
//! read, the way a Kafka consumer's `fetch.max.wait.ms` does; a follower
//! with a backlog never lingers (it reads again at once while batches come
//! back full).

use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::watch;

/// Least time between a caught-up follower's reads, unless configured
/// otherwise: a few milliseconds of latency for batches several times larger.
pub const READ_LINGER: Duration = Duration::from_millis(10);

/// Waits until a notification arrives on `listener` (or `poll` passes, or
/// shutdown), then until `linger` has passed since `last_read`, and drops
/// the notifications that arrived meanwhile: the next read sees all of
/// their commits.
pub async fn wait_for_commits(
    listener: Option<&mut PgListener>,
    poll: Duration,
    linger: Duration,
    last_read: Instant,
    shutdown: &mut watch::Receiver<bool>,
) {
    let Some(listener) = listener else {
        sleep_unless_stopped(poll, shutdown).await;
        return;
    };
    tokio::select! {
        woken = listener.try_recv() => {
            if woken.is_err() {
                // Reconnected on the next wait; polling covers the gap.
                sleep_unless_stopped(poll, shutdown).await;
            }
        }
        _ = tokio::time::sleep(poll) => {}
        _ = shutdown.changed() => return,
    }
    // Notifications reach the listener's buffer only while it is polled, so
    // the linger keeps receiving (and dropping) them.
    let lingered = tokio::time::sleep(linger.saturating_sub(last_read.elapsed()));
    tokio::pin!(lingered);
    loop {
        tokio::select! {
            woken = listener.try_recv() => {
                if woken.is_err() {
                    break;
                }
            }
            () = &mut lingered => break,
            _ = shutdown.changed() => return,
        }
    }
    while listener.next_buffered().is_some() {}
}

/// Sleeps for `pause`, or less if shutdown begins.
async fn sleep_unless_stopped(pause: Duration, shutdown: &mut watch::Receiver<bool>) {
    if pause.is_zero() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = shutdown.changed() => {}
    }
}
