//! Optimistic concurrency on one stream.

use std::sync::Arc;

use domain::StreamCategory;
use store::{append, encode, EventMetadata, StoreError};
use tokio::sync::Barrier;

use crate::support::TestDb;

fn event() -> store::NewEvent {
    let sku = domain::Sku::parse("RACE-1").unwrap();
    encode(&domain::product::ProductEvent::ProductDiscontinued { sku }).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_appends_at_the_same_expected_version_one_wins_one_conflicts() {
    let db = TestDb::create().await;
    for round in 0..20i64 {
        let barrier = Arc::new(Barrier::new(2));
        let attempt = |barrier: Arc<Barrier>| {
            let pool = db.pool.clone();
            async move {
                let mut tx = pool.begin().await.unwrap();
                barrier.wait().await;
                let result = append(
                    &mut tx,
                    StreamCategory::Product,
                    "RACE-1",
                    round,
                    &[event()],
                    &EventMetadata::new_correlation(None),
                )
                .await;
                if result.is_ok() {
                    tx.commit().await.unwrap();
                }
                result
            }
        };
        let (a, b) = tokio::join!(
            tokio::spawn(attempt(barrier.clone())),
            tokio::spawn(attempt(barrier))
        );
        let results = [a.unwrap(), b.unwrap()];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
            .count();
        assert_eq!((wins, conflicts), (1, 1), "round {round}: {results:?}");
    }
    let versions: Vec<i64> = sqlx::query_scalar(
        "SELECT stream_version FROM events WHERE stream_id = 'product-RACE-1' ORDER BY stream_version",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>());
}
