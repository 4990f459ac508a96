//! How a caught-up follower waits for commits (`bus::wake`): woken by a
//! notification, it lingers and then reads once for every notification that
//! arrived meanwhile (real Postgres LISTEN/NOTIFY).

use std::time::{Duration, Instant};

use bus::wake::wait_for_commits;
use sqlx::postgres::PgListener;

use crate::support::TestDb;

/// A fresh database and a listener on the events channel.
async fn listening() -> (TestDb, PgListener) {
    let db = TestDb::create().await;
    let mut listener = PgListener::connect(&db.url).await.unwrap();
    listener
        .listen(store::notify::EVENTS_CHANNEL)
        .await
        .unwrap();
    (db, listener)
}

async fn notify(db: &TestDb, times: usize) {
    for _ in 0..times {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(store::notify::EVENTS_CHANNEL)
            .execute(&db.pool)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wake_up_lingers_and_absorbs_the_notifications_that_arrived_meanwhile() {
    let (db, mut listener) = listening().await;
    let (_keep, mut shutdown) = tokio::sync::watch::channel(false);
    let (poll, linger) = (Duration::from_secs(5), Duration::from_millis(300));

    let last_read = Instant::now();
    notify(&db, 5).await;
    wait_for_commits(Some(&mut listener), poll, linger, last_read, &mut shutdown).await;
    assert!(
        last_read.elapsed() >= linger,
        "woke {:?} after the last read, inside the linger",
        last_read.elapsed()
    );

    // The five notifications were one wake-up: the next wait lasts until
    // its poll, as nothing new was notified.
    let second = Instant::now();
    let short_poll = Duration::from_millis(200);
    wait_for_commits(
        Some(&mut listener),
        short_poll,
        Duration::ZERO,
        second,
        &mut shutdown,
    )
    .await;
    assert!(
        second.elapsed() >= short_poll,
        "woken again after {:?} by a notification already absorbed",
        second.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_that_read_long_ago_does_not_linger_after_a_wake_up() {
    let (db, mut listener) = listening().await;
    let (_keep, mut shutdown) = tokio::sync::watch::channel(false);
    let last_read = Instant::now() - Duration::from_secs(10);

    notify(&db, 1).await;
    let woke = Instant::now();
    wait_for_commits(
        Some(&mut listener),
        Duration::from_secs(5),
        Duration::from_secs(1),
        last_read,
        &mut shutdown,
    )
    .await;
    assert!(
        woke.elapsed() < Duration::from_secs(1),
        "{:?}",
        woke.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_the_wait_and_the_linger() {
    let (_db, mut listener) = listening().await;
    let (stop, mut shutdown) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let waiting = wait_for_commits(
        Some(&mut listener),
        Duration::from_secs(30),
        Duration::from_secs(30),
        started,
        &mut shutdown,
    );
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(true).unwrap();
    };
    tokio::join!(waiting, stopping);
    assert!(started.elapsed() < Duration::from_secs(5));
}
