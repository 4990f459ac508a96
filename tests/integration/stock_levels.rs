//! The stock current-state table against the full fold of the log: equal
//! after concurrent reservations, releases and commits, rebuilt by folding
//! when a stream has no row, and never holding what the events do not.

use domain::stock::{StockCommand, StockItem};
use domain::{OrderId, Quantity, Sku};
use store::stock_levels::{folded, stored};
use store::{execute, EventMetadata, RetryPolicy};

use crate::support::TestDb;

const SKU: &str = "LEVEL-1";

fn sku() -> Sku {
    Sku::parse(SKU).unwrap()
}

fn order(n: u128) -> OrderId {
    OrderId(uuid::Uuid::from_u128(n))
}

async fn run(db: &TestDb, command: StockCommand) -> Result<(), store::CommandError> {
    let metadata = EventMetadata::new_correlation(None);
    execute::<StockItem>(&db.pool, SKU, command, &metadata, RetryPolicy::default())
        .await
        .map(|_| ())
}

async fn assert_row_equals_fold(db: &TestDb) {
    let mut conn = db.pool.acquire().await.unwrap();
    let from_log = folded(&mut conn, SKU).await.unwrap();
    let row = stored(&mut conn, SKU).await.unwrap().expect("a row");
    assert_eq!(row, from_log, "stored row (left) and full fold (right)");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reservations_releases_and_commits_leave_the_row_equal_to_the_fold() {
    let db = TestDb::create().await;
    run(
        &db,
        StockCommand::Receive {
            sku: sku(),
            quantity: Quantity::new(100).unwrap(),
            reference: None,
            location: domain::LocationCode::default_location(),
        },
    )
    .await
    .unwrap();

    // 40 orders of 3 units race for 100 units: 33 win, 7 are refused.
    let reserves = (1..=40u128).map(|n| {
        let db = &db;
        async move {
            run(
                db,
                StockCommand::Reserve {
                    sku: sku(),
                    order_id: order(n),
                    at: vec![(
                        domain::LocationCode::default_location(),
                        Quantity::new(3).unwrap(),
                    )],
                },
            )
            .await
        }
    });
    let results = futures::future::join_all(reserves).await;
    let winners: Vec<u128> = (1..=40u128)
        .zip(&results)
        .filter_map(|(n, r)| r.is_ok().then_some(n))
        .collect();
    assert_eq!(winners.len(), 33, "{results:?}");
    assert_row_equals_fold(&db).await;

    // Release some, commit others, concurrently; then redeliver a reserve
    // for a released order: it must be refused, not resurrected.
    let settle = (1..=20u128).map(|n| {
        let db = &db;
        async move {
            let command = if n % 2 == 0 {
                StockCommand::Release {
                    sku: sku(),
                    order_id: order(n),
                    reason: "cancelled".into(),
                }
            } else {
                StockCommand::Commit {
                    sku: sku(),
                    order_id: order(n),
                    units: None,
                    shipment_id: None,
                }
            };
            run(db, command).await
        }
    });
    for result in futures::future::join_all(settle).await {
        result.unwrap();
    }
    let released = *winners
        .iter()
        .find(|n| **n <= 20 && **n % 2 == 0)
        .expect("an even order among the first 20 won");
    let again = run(
        &db,
        StockCommand::Reserve {
            sku: sku(),
            order_id: order(released),
            at: vec![(
                domain::LocationCode::default_location(),
                Quantity::new(3).unwrap(),
            )],
        },
    )
    .await;
    assert!(
        matches!(again, Err(store::CommandError::Rejected(_))),
        "{again:?}"
    );
    assert_row_equals_fold(&db).await;

    let (_, units, _) = stored(&mut db.pool.acquire().await.unwrap(), SKU)
        .await
        .unwrap()
        .unwrap();
    let here = &units[&domain::LocationCode::default_location()];
    let (on_hand, reserved) = (here.on_hand, here.reserved);
    let shipped = winners.iter().filter(|n| **n <= 20 && **n % 2 == 1).count() as i64;
    let holding = winners.iter().filter(|n| **n > 20).count() as i64;
    assert_eq!((on_hand, reserved), (100 - 3 * shipped, 3 * holding));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_without_a_row_is_folded_and_its_row_written_with_the_next_events() {
    let db = TestDb::create().await;
    for n in 1..=3u128 {
        let command = if n == 1 {
            StockCommand::Receive {
                sku: sku(),
                quantity: Quantity::new(10).unwrap(),
                reference: None,
                location: domain::LocationCode::default_location(),
            }
        } else {
            StockCommand::Reserve {
                sku: sku(),
                order_id: order(n),
                at: vec![(
                    domain::LocationCode::default_location(),
                    Quantity::new(2).unwrap(),
                )],
            }
        };
        run(&db, command).await.unwrap();
    }
    // As in a database written before the table existed.
    for table in ["stock_holds", "stock_levels"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&db.pool)
            .await
            .unwrap();
    }

    run(
        &db,
        StockCommand::Release {
            sku: sku(),
            order_id: order(2),
            reason: "cancelled".into(),
        },
    )
    .await
    .unwrap();
    assert_row_equals_fold(&db).await;
    let redelivered = run(
        &db,
        StockCommand::Reserve {
            sku: sku(),
            order_id: order(2),
            at: vec![(
                domain::LocationCode::default_location(),
                Quantity::new(2).unwrap(),
            )],
        },
    )
    .await;
    assert!(redelivered.is_err(), "settled hold survived the rebuild");
}

/// Given a SKU with a long history of receipts, reservations and releases,
/// when any page of its movements is read, then its running units are the
/// full fold's, though the page folds only from the snapshot before it.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_movements_folds_from_the_snapshot_before_it_and_agrees_with_the_full_fold() {
    let db = TestDb::create().await;
    let quantity = |n: i64| Quantity::new(n).unwrap();
    let mut expected = vec![(0, 0)];
    let (mut on_hand, mut reserved) = (0, 0);
    for i in 0..100u128 {
        run(
            &db,
            StockCommand::Receive {
                sku: sku(),
                quantity: quantity(3),
                reference: None,
                location: domain::LocationCode::default_location(),
            },
        )
        .await
        .unwrap();
        on_hand += 3;
        expected.push((on_hand, reserved));
        run(
            &db,
            StockCommand::Reserve {
                sku: sku(),
                order_id: order(i),
                at: vec![(domain::LocationCode::default_location(), quantity(2))],
            },
        )
        .await
        .unwrap();
        reserved += 2;
        expected.push((on_hand, reserved));
        if i % 2 == 0 {
            run(
                &db,
                StockCommand::Release {
                    sku: sku(),
                    order_id: order(i),
                    reason: "test".into(),
                },
            )
            .await
            .unwrap();
            reserved -= 2;
            expected.push((on_hand, reserved));
        }
    }
    let versions = expected.len() as i64 - 1;
    let snapshots: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock_unit_snapshots WHERE sku = $1")
            .bind(SKU)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        snapshots >= versions / store::stock_levels::SNAPSHOT_EVERY,
        "{snapshots} snapshots over {versions} versions"
    );
    for after in [0, 1, 63, 64, 65, 130, 200, versions - 3, versions] {
        let page = query_api::routes::history::movements(&db.pool, SKU, 5, after)
            .await
            .unwrap();
        let got: Vec<(i64, i64, i64)> = page
            .items
            .iter()
            .map(|m| (m.event.version, m.on_hand, m.reserved))
            .collect();
        let want: Vec<(i64, i64, i64)> = (after + 1..=(after + 5).min(versions))
            .map(|v| (v, expected[v as usize].0, expected[v as usize].1))
            .collect();
        assert_eq!(got, want, "the page after version {after}");
    }
}

/// Given two SKUs with rows, when transactions lock them in opposite orders
/// at the same time, then none deadlocks: `lock_stock` takes the rows in SKU
/// order whatever order the caller names them in.
#[tokio::test(flavor = "multi_thread")]
async fn transactions_naming_skus_in_opposite_orders_never_deadlock() {
    let db = TestDb::create().await;
    for name in ["LOCK-A", "LOCK-B"] {
        let metadata = EventMetadata::new_correlation(None);
        let receive = StockCommand::Receive {
            sku: Sku::parse(name).unwrap(),
            quantity: Quantity::new(1).unwrap(),
            reference: None,
            location: domain::LocationCode::default_location(),
        };
        execute::<StockItem>(&db.pool, name, receive, &metadata, RetryPolicy::default())
            .await
            .unwrap();
    }
    let lockers = (0..16).map(|n| {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            let names = if n % 2 == 0 {
                ["LOCK-A", "LOCK-B"]
            } else {
                ["LOCK-B", "LOCK-A"]
            };
            let pairs: Vec<(String, Option<OrderId>)> =
                names.iter().map(|s| (s.to_string(), None)).collect();
            let mut tx = pool.begin().await.unwrap();
            let locked = store::stock_levels::lock_many(&mut tx, &pairs).await;
            // Hold the locks a moment, so the opposite orders overlap.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            tx.commit().await.unwrap();
            locked.map(|l| l.len())
        })
    });
    for result in futures::future::join_all(lockers).await {
        assert_eq!(result.unwrap().unwrap(), 2, "both rows locked, no deadlock");
    }
}
