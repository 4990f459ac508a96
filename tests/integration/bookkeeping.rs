//! Database-level tests of the tables that ride along with the log:
//! idempotency keys, retention of bookkeeping rows, and the rebuild swap.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use store::idempotency::{lock, remember, Claim};
use store::retention::{purge, Retention};

use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_request_with_a_key_waits_for_the_first_and_replays_it() {
    let db = TestDb::create().await;
    let mut first = PgConnection::connect(&db.url).await.unwrap();
    let mut first_tx = first.begin().await.unwrap();
    assert_eq!(
        lock(&mut first_tx, "key-a", "k1", b"body").await.unwrap(),
        Claim::Fresh
    );

    let url = db.url.clone();
    let second = tokio::spawn(async move {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        let claim = lock(&mut tx, "key-a", "k1", b"body").await.unwrap();
        tx.rollback().await.unwrap();
        let mismatch = {
            let mut other = PgConnection::connect(&url).await.unwrap();
            let mut tx2 = other.begin().await.unwrap();
            lock(&mut tx2, "key-a", "k1", b"another body")
                .await
                .unwrap()
        };
        (claim, mismatch)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second request waits for the first"
    );
    remember(
        &mut first_tx,
        "key-a",
        "k1",
        b"body",
        202,
        &serde_json::json!({"order_id": "x"}),
    )
    .await
    .unwrap();
    first_tx.commit().await.unwrap();
    let (claim, mismatch) = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        claim,
        Claim::Replay {
            status: 202,
            body: serde_json::json!({"order_id": "x"})
        }
    );
    assert_eq!(mismatch, Claim::Mismatch);
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_past_their_retention_are_purged_and_unresolved_parked_events_stay() {
    let db = TestDb::create().await;
    sqlx::raw_sql(
        "INSERT INTO processed_events (consumer, event_id, position, processed_at) \
         SELECT 'orders', gen_random_uuid(), g, now() - interval '8 days' FROM generate_series(1, 2500) g; \
         INSERT INTO processed_events (consumer, event_id, position) VALUES ('orders', gen_random_uuid(), 9999); \
         INSERT INTO idempotency_keys (key, fingerprint, status_code, response_body, created_at) \
         VALUES ('old', '\\x00', 200, '{}', now() - interval '2 days'), ('new', '\\x00', 200, '{}', now()); \
         INSERT INTO parked_events (consumer, event_id, position, topic, partition, \"offset\", envelope, error, attempts, parked_at, retried_at) \
         VALUES ('orders', gen_random_uuid(), 1, 'log:order', 0, 1, '{}', 'boom', 3, now() - interval '90 days', now() - interval '60 days'), \
                ('orders', gen_random_uuid(), 2, 'log:order', 0, 2, '{}', 'boom', 3, now() - interval '90 days', NULL)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let purged = purge(
        &db.pool,
        &Retention {
            batch: 1000,
            ..Retention::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        purged.processed_events, 2500,
        "deleted across several batches"
    );
    assert_eq!(purged.idempotency_keys, 1);
    assert_eq!(purged.parked_events, 1);
    let left: (i64, String, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM processed_events), \
                (SELECT string_agg(key, ',') FROM idempotency_keys), \
                (SELECT count(*) FROM parked_events WHERE retried_at IS NULL)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, (1, "new".to_owned(), 1));
}

struct Quiet;

impl projector::rebuild::Progress for Quiet {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

async fn indexes(db: &TestDb, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'read_models' AND tablename = $1 ORDER BY 1",
    )
    .bind(table)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_keeps_the_names_of_indexes_and_constraints() {
    let db = TestDb::create().await;
    let before = indexes(&db, "orders").await;
    assert!(
        before.contains(&"orders_customer_idx".to_owned()),
        "{before:?}"
    );
    for name in projector::registry::NAMES {
        projector::registry::rebuild_named(&db.pool, name, &Quiet)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(indexes(&db, "orders").await, before);
    // A later migration that names an index still finds it.
    sqlx::query("ALTER INDEX read_models.orders_customer_idx SET (fillfactor = 90)")
        .execute(&db.pool)
        .await
        .unwrap();
    // No pooled connection is left holding the rebuild's lock: another runs at once.
    projector::registry::rebuild_named(&db.pool, "orders", &Quiet)
        .await
        .unwrap()
        .unwrap();
}
