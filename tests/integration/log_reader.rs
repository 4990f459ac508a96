//! Database-level tests of the log reader every subscriber shares: commit
//! order, gap safety, settled positions, checkpoints with fencing, and
//! deduplication by event id. A real Postgres, no processes.

use bus::parking::Processed;
use domain::StreamCategory;
use sqlx::{Connection, PgConnection};
use store::subscription::{self, Checkpoint};
use store::{append, CommitCursor, EventMetadata, LogFollower, NewEvent, StoreError};

use crate::support::TestDb;

fn event(kind: &str) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: kind.to_owned(),
        schema_version: 1,
        data: serde_json::json!({}),
    }
}

/// Appends one event to a fresh order stream inside `conn`'s transaction.
async fn append_one(conn: &mut PgConnection) -> i64 {
    let id = uuid::Uuid::now_v7().to_string();
    append(
        conn,
        StreamCategory::Order,
        &id,
        0,
        &[event("OrderPlaced")],
        &EventMetadata::new_correlation(Some("system:test".into())),
    )
    .await
    .unwrap()
    .last_position
}

/// Appends one event to a fresh product stream inside `conn`'s transaction.
async fn append_product(conn: &mut PgConnection) -> i64 {
    append(
        conn,
        StreamCategory::Product,
        &uuid::Uuid::now_v7().to_string(),
        0,
        &[event("ProductCreated")],
        &EventMetadata::new_correlation(Some("system:test".into())),
    )
    .await
    .unwrap()
    .last_position
}

async fn connect(db: &TestDb) -> PgConnection {
    PgConnection::connect(&db.url).await.unwrap()
}

/// Reads and advances until `done` holds for everything read so far. The
/// horizon is cluster-wide, so a transaction of a test running beside this
/// one can hold it back for a moment: retry rather than read once.
async fn follow_until(
    follower: &mut LogFollower,
    conn: &mut PgConnection,
    mut done: impl FnMut(&[i64], i64) -> bool,
) -> Vec<i64> {
    let mut positions = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let read = follower.read(conn).await.unwrap();
        positions.extend(read.events.iter().map(|e| e.position));
        follower.advance(&read);
        if done(&positions, follower.settled()) {
            return positions;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "read {positions:?}, settled {}",
            follower.settled()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_commit_below_a_read_position_is_read_and_never_stepped_over() {
    let db = TestDb::create().await;
    let (mut early, mut late, mut reader) =
        (connect(&db).await, connect(&db).await, connect(&db).await);
    let mut follower = LogFollower::new(&[], 100, CommitCursor::default(), 0);

    // `early` takes a lower position and stays open; `late` commits after it.
    let mut early_tx = early.begin().await.unwrap();
    let low = append_one(&mut early_tx).await;
    let mut late_tx = late.begin().await.unwrap();
    let high = append_one(&mut late_tx).await;
    late_tx.commit().await.unwrap();
    assert!(low < high);

    let read = follower.read(&mut reader).await.unwrap();
    assert!(
        read.events.is_empty(),
        "nothing is read while an older transaction is open: {:?}",
        read.events.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    assert!(
        read.settled < low,
        "settled {} must not pass the open position {low}",
        read.settled
    );
    follower.advance(&read);

    early_tx.commit().await.unwrap();
    let positions = follow_until(&mut follower, &mut reader, |read, settled| {
        read.len() >= 2 && settled >= high
    })
    .await;
    assert_eq!(positions, vec![low, high], "both, in commit order");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_position_does_not_block_the_settled_position() {
    let db = TestDb::create().await;
    let (mut writer, mut reader) = (connect(&db).await, connect(&db).await);
    let mut follower = LogFollower::new(&[], 100, CommitCursor::default(), 0);
    let mut tx = writer.begin().await.unwrap();
    let lost = append_one(&mut tx).await;
    tx.rollback().await.unwrap();
    let kept = append_one(&mut writer).await;
    assert!(lost < kept);
    let positions = follow_until(&mut follower, &mut reader, |_, settled| settled >= kept).await;
    assert_eq!(positions, vec![kept]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_batch_settles_nothing_until_the_reader_catches_up() {
    let db = TestDb::create().await;
    let (mut writer, mut reader) = (connect(&db).await, connect(&db).await);
    for _ in 0..5 {
        append_one(&mut writer).await;
    }
    let mut follower = LogFollower::new(&[], 2, CommitCursor::default(), 0);
    let mut first = follower.read(&mut reader).await.unwrap();
    while first.events.len() < 2 {
        // Held back, before or between the appends, by a transaction
        // elsewhere in the cluster (the horizon is cluster-wide).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        first = follower.read(&mut reader).await.unwrap();
    }
    assert_eq!(first.events.len(), 2);
    assert!(!first.caught_up);
    assert_eq!(first.settled, 0, "events past this batch are unread");
    follower.advance(&first);
    let rest = follow_until(&mut follower, &mut reader, |read, _| read.len() >= 3).await;
    assert_eq!(rest.len(), 3, "the other three, once each");
}

/// Given a log, when a rebuild's commit-order read is planned, then it walks
/// the commit-order index: a sort would read and order the whole log on
/// every batch (0.6 s per 5,000 events of a 1,000,000-event log), which an
/// `ORDER BY` on `EVENT_COLUMNS`' cast `transaction_id` once did.
#[tokio::test(flavor = "multi_thread")]
async fn the_commit_order_read_walks_the_index_and_never_sorts_the_log() {
    let db = TestDb::create().await;
    let mut conn = connect(&db).await;
    for _ in 0..20 {
        append_one(&mut conn).await;
    }
    // A 20-row table is cheaper to scan and sort; the plan wanted is the one
    // a large log gets. A sort the query cannot do without stays in the plan
    // even so: these settings only make the alternatives dear.
    sqlx::raw_sql("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN {}",
        store::read::COMMITTED_AFTER.as_str()
    ))
    .bind("0")
    .bind(0_i64)
    .bind(5_000_i64)
    .bind(vec!["order"])
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("events_commit_order_idx"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_moves_only_from_where_its_writer_read_it() {
    let db = TestDb::create().await;
    let mut conn = connect(&db).await;
    let start = subscription::load(&mut conn, "test").await.unwrap();
    assert_eq!(start, Checkpoint::default());
    let next = Checkpoint {
        cursor: CommitCursor {
            transaction_id: 10,
            position: 5,
        },
        settled: 5,
    };
    subscription::save(&mut conn, "test", start.cursor, next, 5)
        .await
        .unwrap();
    // A second writer that still believes the old checkpoint is fenced off.
    let stale = subscription::save(&mut conn, "test", start.cursor, next, 5).await;
    assert!(
        matches!(stale, Err(StoreError::CheckpointMoved { .. })),
        "{stale:?}"
    );
    assert_eq!(subscription::load(&mut conn, "test").await.unwrap(), next);
    // A rebuild moves it forward, never back.
    subscription::fast_forward(&mut conn, "test", CommitCursor::default())
        .await
        .unwrap();
    assert_eq!(subscription::load(&mut conn, "test").await.unwrap(), next);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_is_held_by_one_instance_and_freed_when_its_holder_goes() {
    let db = TestDb::create().await;
    let options = db.pool.connect_options().as_ref().clone();
    let holder = subscription::Lease::try_acquire(&options, "orders")
        .await
        .unwrap()
        .expect("a free lease is taken");
    assert!(subscription::Lease::try_acquire(&options, "orders")
        .await
        .unwrap()
        .is_none());
    assert!(
        subscription::Lease::try_acquire(&options, "sales")
            .await
            .unwrap()
            .is_some(),
        "leases are per subscription"
    );
    holder.release().await;
    assert!(subscription::Lease::try_acquire(&options, "orders")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn claiming_returns_each_event_once() {
    let db = TestDb::create().await;
    let mut conn = connect(&db).await;
    append_one(&mut conn).await;
    append_one(&mut conn).await;
    let sql = format!(
        "SELECT {} FROM events ORDER BY position",
        store::read::EVENT_COLUMNS
    );
    let rows = sqlx::query(&sql).fetch_all(&mut conn).await.unwrap();
    let events: Vec<store::RecordedEvent> = rows
        .iter()
        .map(|r| store::read::from_row(r).unwrap())
        .collect();
    let delivered: Vec<bus::Delivered> = events.iter().map(bus::Delivered::from_log).collect();
    let twice = [delivered.clone(), delivered.clone()].concat();
    let fresh = bus::parking::claim(&mut conn, "test", &twice, Processed::ByIdOrCheckpoint)
        .await
        .unwrap();
    assert_eq!(fresh.len(), 2, "duplicates within a batch count once");
    let again = bus::parking::claim(&mut conn, "test", &delivered, Processed::ByIdOrCheckpoint)
        .await
        .unwrap();
    assert!(again.is_empty(), "a redelivery is recognised by event id");
    let other = bus::parking::claim(&mut conn, "other", &delivered, Processed::ByIdOrCheckpoint)
        .await
        .unwrap();
    assert_eq!(other.len(), 2, "deduplication is per consumer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_of_other_categories_moves_past_events_it_skips_and_misses_none_of_its_own() {
    let db = TestDb::create().await;
    let (mut writer, mut open, mut reader) =
        (connect(&db).await, connect(&db).await, connect(&db).await);
    let mut follower = LogFollower::new(&["product"], 100, CommitCursor::default(), 0);

    // A product event whose transaction stays open while orders pass by.
    let mut open_tx = open.begin().await.unwrap();
    let product = append_product(&mut open_tx).await;
    let mut last_order = 0;
    for _ in 0..5 {
        last_order = append_one(&mut writer).await;
    }

    // Orders committed after the open transaction began stay above the
    // horizon; once it commits, the follower reads its event and then
    // moves past every order it never had to read.
    let read = follower.read(&mut reader).await.unwrap();
    assert!(read.events.is_empty());
    open_tx.commit().await.unwrap();
    let positions = follow_until(&mut follower, &mut reader, |read, _| !read.is_empty()).await;
    assert_eq!(positions, vec![product]);
    let last_order_cursor: (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM events WHERE position = $1",
    )
    .bind(last_order)
    .fetch_one(&mut reader)
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let read = follower.read(&mut reader).await.unwrap();
        assert!(read.events.is_empty(), "no other product event was written");
        follower.advance(&read);
        let cursor = follower.cursor();
        if (cursor.transaction_id as i64, cursor.position) > last_order_cursor {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cursor stayed at {cursor:?}, behind the last order {last_order_cursor:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A product event written after the move is read.
    let later = append_product(&mut writer).await;
    let positions = follow_until(&mut follower, &mut reader, |read, _| !read.is_empty()).await;
    assert_eq!(positions, vec![later]);
}
