//! The promise behind read-your-writes, at the database: a follower that
//! reports position `P` as settled has read every committed event of its
//! categories at or below `P`, whatever the appenders around it do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::StreamCategory;
use sqlx::{Connection, PgConnection};
use store::{append, CommitCursor, EventMetadata, LogFollower, NewEvent};

use crate::support::TestDb;

fn event() -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "Probe".to_owned(),
        schema_version: 1,
        data: serde_json::json!({}),
    }
}

/// Appends one event to a fresh stream of `category`; its position.
async fn append_one(conn: &mut PgConnection, category: StreamCategory) -> i64 {
    append(
        conn,
        category,
        &uuid::Uuid::now_v7().to_string(),
        0,
        &[event()],
        &EventMetadata::new_correlation(Some("system:test".into())),
    )
    .await
    .unwrap()
    .last_position
}

/// Given an appender that holds the newest transaction id with its position
/// handed out and not committed, when a follower reads round after round,
/// then that position is never settled; once it commits, it is read and
/// settled. (A snapshot's xmax leaves such a transaction out, which is how
/// reads waiting for a position were once answered before it was applied.)
#[tokio::test(flavor = "multi_thread")]
async fn an_open_appender_holding_the_newest_id_keeps_its_position_unsettled() {
    let db = TestDb::create().await;
    let mut writer = PgConnection::connect(&db.url).await.unwrap();
    let mut reader = PgConnection::connect(&db.url).await.unwrap();
    let mut follower = LogFollower::new(&[], 100, CommitCursor::default(), 0);

    let mut tx = writer.begin().await.unwrap();
    let open = append_one(&mut tx, StreamCategory::Order).await;
    for _ in 0..5 {
        let read = follower.read(&mut reader).await.unwrap();
        assert!(read.events.is_empty(), "the open append is not read");
        assert!(
            read.settled < open,
            "settled {} while position {open} is still open",
            read.settled
        );
        follower.advance(&read);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.commit().await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut read_positions = Vec::new();
    while follower.settled() < open {
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        let read = follower.read(&mut reader).await.unwrap();
        read_positions.extend(read.events.iter().map(|e| e.position));
        follower.advance(&read);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_positions, vec![open]);
}

/// A small deterministic generator, so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What one follower saw: each round's settled position, and the round at
/// which it read each position.
#[derive(Default)]
struct Observed {
    settled_by_round: Vec<i64>,
    read_at_round: HashMap<i64, usize>,
}

const APPENDERS: u64 = 8;
const TRANSACTIONS_PER_APPENDER: u64 = 40;

/// Given many appenders whose transactions interleave, hold their positions
/// open for a while, append to several categories and sometimes roll back,
/// when followers of different categories read with their own lingers and
/// small batches, then no round settles a position before that follower has
/// read every committed event of its categories at or below it.
#[tokio::test(flavor = "multi_thread")]
async fn no_follower_settles_a_position_before_reading_every_event_up_to_it() {
    let db = TestDb::create().await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    // (position, category) of every committed event.
    let committed: Arc<Mutex<Vec<(i64, StreamCategory)>>> = Arc::default();
    let appenders = (0..APPENDERS).map(|a| {
        let (url, committed) = (db.url.clone(), committed.clone());
        tokio::spawn(async move {
            let mut rng = Rng(seed.wrapping_mul(a + 1) | 1);
            let mut conn = PgConnection::connect(&url).await.unwrap();
            for _ in 0..TRANSACTIONS_PER_APPENDER {
                let mut tx = conn.begin().await.unwrap();
                let mut mine = Vec::new();
                for _ in 0..=rng.below(2) {
                    let category = if rng.below(2) == 0 {
                        StreamCategory::Order
                    } else {
                        StreamCategory::Stock
                    };
                    mine.push((append_one(&mut tx, category).await, category));
                }
                let hold = match rng.below(10) {
                    0 => 60,
                    1..=3 => rng.below(15),
                    _ => 0,
                };
                tokio::time::sleep(Duration::from_millis(hold)).await;
                if rng.below(7) == 0 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    committed.lock().unwrap().extend(mine);
                }
            }
        })
    });
    let appenders: Vec<_> = appenders.collect();

    let followers: Vec<(&[&str], u64)> = vec![(&[], 0), (&["order"], 10), (&["stock"], 40)];
    let all_written = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let runs = followers.iter().map(|(categories, linger)| {
        let (url, all_written) = (db.url.clone(), all_written.clone());
        let categories: Vec<&'static str> = categories.to_vec();
        let linger = Duration::from_millis(*linger);
        tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let mut follower = LogFollower::new(&categories, 7, CommitCursor::default(), 0);
            let mut seen = Observed::default();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            loop {
                let read = follower.read(&mut conn).await.unwrap();
                let round = seen.settled_by_round.len();
                for e in &read.events {
                    seen.read_at_round.insert(e.position, round);
                }
                seen.settled_by_round.push(read.settled);
                follower.advance(&read);
                if follower.settled() >= all_written.load(std::sync::atomic::Ordering::SeqCst) {
                    return (categories, seen);
                }
                assert!(tokio::time::Instant::now() < deadline, "never caught up");
                tokio::time::sleep(linger).await;
            }
        })
    });
    let runs: Vec<_> = runs.collect();
    for a in appenders {
        a.await.unwrap();
    }
    let end: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    all_written.store(end, std::sync::atomic::Ordering::SeqCst);

    let committed = committed.lock().unwrap().clone();
    assert!(
        committed.len() > 100,
        "the appenders committed enough to test"
    );
    for run in runs {
        let (categories, seen) = run.await.unwrap();
        for (position, category) in &committed {
            if !categories.is_empty() && !categories.contains(&category.as_str()) {
                continue;
            }
            let settled_at = seen
                .settled_by_round
                .iter()
                .position(|settled| settled >= position)
                .expect("everything settles in the end");
            let read_at = seen.read_at_round.get(position).copied();
            assert!(
                read_at.is_some_and(|r| r <= settled_at),
                "follower of {categories:?} (seed {seed}): position {position} settled at \
                 round {settled_at} but read at {read_at:?}"
            );
        }
    }
}
