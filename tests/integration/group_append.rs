//! Group commit of placements (`store::GroupAppend`): concurrent appends
//! share statements, yet each caller gets its own answer (database-level
//! tests over a real Postgres).

use futures::future::join_all;
use sqlx::Connection;
use store::{GroupAppend, StoreError, StreamAppend};

use crate::catalogue::{order_stream, register};
use crate::support::TestDb;

/// Appends `streams` all at once through one group, at catalogue `version`.
async fn append_together(
    group: &GroupAppend,
    streams: Vec<StreamAppend>,
    version: store::CatalogueVersion,
) -> Vec<Result<Option<store::AppendResult>, StoreError>> {
    join_all(
        streams
            .into_iter()
            .map(|stream| group.append_priced_at(stream, version)),
    )
    .await
}

async fn catalogue_version(db: &TestDb) -> store::CatalogueVersion {
    store::catalogue_version(&mut db.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_made_at_once_share_statements_and_each_lands_as_its_own_stream() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let group = GroupAppend::new(db.pool.clone());
    let streams: Vec<StreamAppend> = (0..64).map(|_| order_stream()).collect();
    let ids: Vec<String> = streams.iter().map(|s| s.aggregate_id.clone()).collect();

    let answers = append_together(&group, streams, catalogue_version(&db).await).await;

    let mut positions = Vec::new();
    for answer in answers {
        let landed = answer.unwrap().expect("the catalogue did not move");
        assert_eq!(landed.version, 1);
        positions.push(landed.last_position);
    }
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        64,
        "every append has a position of its own"
    );
    let (streams, transactions): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT stream_id), count(DISTINCT transaction_id) \
         FROM events WHERE category = 'order' AND aggregate_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(streams, 64);
    assert!(
        transactions < 64,
        "64 appends at once took {transactions} statements"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_exists_fails_only_its_own_append() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let version = catalogue_version(&db).await;
    let taken = order_stream();
    let group = GroupAppend::new(db.pool.clone());
    group
        .append_priced_at(taken.clone(), version)
        .await
        .unwrap()
        .unwrap();

    let mut streams: Vec<StreamAppend> = (0..31).map(|_| order_stream()).collect();
    // Another event (an id of its own) for the stream that exists.
    streams.insert(
        15,
        StreamAppend {
            aggregate_id: taken.aggregate_id,
            ..order_stream()
        },
    );
    let answers = append_together(&group, streams, version).await;

    for (i, answer) in answers.into_iter().enumerate() {
        if i == 15 {
            let refused = answer.expect_err("its stream exists");
            assert!(refused.is_conflict(), "{}", store::error_chain(&refused));
        } else {
            assert!(answer.unwrap().is_some(), "append {i} is not to blame");
        }
    }
    assert_eq!(db.event_count().await, 1 + 32);
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_priced_at_an_old_catalogue_all_land_nothing() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let read_at = catalogue_version(&db).await;
    register(&db, "TEA-2", 100).await;
    let before = db.event_count().await;

    let group = GroupAppend::new(db.pool.clone());
    let answers = append_together(&group, (0..16).map(|_| order_stream()).collect(), read_at).await;

    assert!(answers.into_iter().all(|a| a.unwrap().is_none()));
    assert_eq!(db.event_count().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_database_cannot_be_reached_every_caller_hears_why() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let version = catalogue_version(&db).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    pool.close().await;

    let group = GroupAppend::new(pool);
    let answers = append_together(&group, (0..8).map(|_| order_stream()).collect(), version).await;

    for answer in answers {
        let failed = answer.expect_err("the pool is closed");
        assert!(
            matches!(
                failed.cause(),
                StoreError::Database(sqlx::Error::PoolClosed)
            ),
            "{}",
            store::error_chain(&failed)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_whose_connection_was_cut_fails_its_group_and_the_next_append_lands() {
    let db = TestDb::create().await;
    register(&db, "TEA-1", 100).await;
    let version = catalogue_version(&db).await;
    let group = GroupAppend::new(store::connect(&store::DbConfig::new(&db.url)).unwrap());
    group
        .append_priced_at(order_stream(), version)
        .await
        .unwrap()
        .expect("the catalogue did not move");

    // Ends every session of the database but this one, as a restart or an
    // operator would: the writer's kept connection among them.
    let mut operator = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut operator)
    .await
    .unwrap();
    assert!(cut >= 1, "the writer's connection was open");
    let before = db.event_count().await;

    let lost = group.append_priced_at(order_stream(), version).await;
    let failed = lost.expect_err("its statement went out on the cut connection");
    assert!(!failed.is_conflict(), "{}", store::error_chain(&failed));
    assert_eq!(db.event_count().await, before, "nothing landed");

    let landed = group.append_priced_at(order_stream(), version).await;
    assert!(
        landed.unwrap().is_some(),
        "the next append runs on a new connection"
    );
    assert_eq!(db.event_count().await, before + 1);
}
