//! Which events count as processed, for each source: a log follower records
//! only its checkpoint, a Kafka member records event ids and skips what the
//! checkpoint covers, and the subscription's lease keeps the two apart. A
//! real Postgres, no processes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::parking::Processed;
use bus::run::RunSettings;
use bus::{BatchHandler, Delivered, HandlerError, LogSettings, LogSource};
use sqlx::{Connection, PgConnection};
use store::subscription::{self, Lease};
use store::{append, CommitCursor, EventMetadata, NewEvent};
use tokio::sync::watch;

use crate::support::TestDb;

/// Appends one event to a fresh order stream; returns it as recorded.
async fn append_one(conn: &mut PgConnection) -> store::RecordedEvent {
    let id = uuid::Uuid::now_v7().to_string();
    let event = NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "OrderPlaced".to_owned(),
        schema_version: 1,
        data: serde_json::json!({}),
    };
    let position = append(
        conn,
        domain::StreamCategory::Order,
        &id,
        0,
        &[event],
        &EventMetadata::new_correlation(Some("system:test".into())),
    )
    .await
    .unwrap()
    .last_position;
    let sql = format!(
        "SELECT {} FROM events WHERE position = $1",
        store::read::EVENT_COLUMNS
    );
    let row = sqlx::query(&sql)
        .bind(position)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    store::read::from_row(&row).unwrap()
}

async fn ids_recorded(conn: &mut PgConnection) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT position FROM processed_events WHERE consumer = 'test' ORDER BY position",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Remembers the positions it was handed.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<i64>>>);

impl BatchHandler for Recording {
    fn consumer_name(&self) -> &str {
        "test"
    }

    async fn apply(
        &self,
        _conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        self.0
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| e.offset));
        Ok(())
    }
}

/// Runs a log follower of subscription `test` until its checkpoint reaches
/// `last`; returns the positions its handler was handed.
async fn follow_log_to(db: &TestDb, last: i64) -> Vec<i64> {
    let handler = Recording::default();
    let (stop, shutdown) = watch::channel(false);
    let run = tokio::spawn({
        let (pool, handler) = (db.pool.clone(), handler.clone());
        async move {
            let mut source =
                LogSource::new(pool.clone(), "test", &["order"], LogSettings::default());
            bus::run::run(
                &mut source,
                &pool,
                &handler,
                RunSettings::default(),
                shutdown,
            )
            .await
        }
    });
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while subscription::load(&mut conn, "test")
        .await
        .unwrap()
        .cursor
        .position
        < last
    {
        assert!(
            Instant::now() < deadline,
            "the follower never reached {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    run.await.unwrap().unwrap();
    let seen = handler.0.lock().unwrap().clone();
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_follower_records_its_checkpoint_and_no_event_ids() {
    let db = TestDb::create().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let first = append_one(&mut conn).await;
    let second = append_one(&mut conn).await;

    let seen = follow_log_to(&db, second.position).await;

    assert_eq!(seen, vec![first.position, second.position]);
    assert!(
        ids_recorded(&mut conn).await.is_empty(),
        "the checkpoint alone says what was handled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_follower_skips_what_a_kafka_phase_recorded_beyond_its_checkpoint() {
    let db = TestDb::create().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let before = append_one(&mut conn).await;
    subscription::fast_forward(&mut conn, "test", CommitCursor::after(&before))
        .await
        .unwrap();
    let missed = append_one(&mut conn).await;
    let handled_from_kafka = append_one(&mut conn).await;
    let delivered = bus::Delivered::from_log(&handled_from_kafka);
    let claimed = bus::parking::claim(&mut conn, "test", &[delivered], Processed::ByIdOrCheckpoint)
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        1,
        "beyond the checkpoint, a claim records the id"
    );

    let seen = follow_log_to(&db, handled_from_kafka.position).await;

    assert_eq!(
        seen,
        vec![missed.position],
        "neither the event below the checkpoint nor the one recorded by id is handled again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_claim_skips_what_the_log_checkpoint_covers() {
    let db = TestDb::create().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let events = [
        append_one(&mut conn).await,
        append_one(&mut conn).await,
        append_one(&mut conn).await,
    ];
    subscription::fast_forward(&mut conn, "test", CommitCursor::after(&events[1]))
        .await
        .unwrap();
    let delivered: Vec<Delivered> = events.iter().map(Delivered::from_log).collect();

    let fresh = bus::parking::claim(&mut conn, "test", &delivered, Processed::ByIdOrCheckpoint)
        .await
        .unwrap();

    let fresh: Vec<i64> = fresh.iter().map(|e| e.offset).collect();
    assert_eq!(fresh, vec![events[2].position]);
    assert_eq!(ids_recorded(&mut conn).await, vec![events[2].position]);
    let other = bus::parking::claim(&mut conn, "other", &delivered, Processed::ByIdOrCheckpoint)
        .await
        .unwrap();
    assert_eq!(
        other.len(),
        3,
        "another consumer's checkpoint covers nothing here"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_members_share_a_lease_that_a_log_follower_holds_alone() {
    let db = TestDb::create().await;
    let options = db.pool.connect_options().as_ref().clone();
    let member = Lease::try_acquire_shared(&options, "orders")
        .await
        .unwrap()
        .expect("a free lease is shared");
    let other_member = Lease::try_acquire_shared(&options, "orders")
        .await
        .unwrap()
        .expect("members of a group share it");
    assert!(
        Lease::try_acquire(&options, "orders")
            .await
            .unwrap()
            .is_none(),
        "a log follower waits while Kafka members hold it"
    );
    member.release().await;
    other_member.release().await;
    let follower = Lease::try_acquire(&options, "orders")
        .await
        .unwrap()
        .expect("free once the members left");
    assert!(
        Lease::try_acquire_shared(&options, "orders")
            .await
            .unwrap()
            .is_none(),
        "a Kafka member waits while a log follower leads"
    );
    follower.release().await;
}
