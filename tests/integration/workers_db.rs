//! Database-level tests of the workers' rules, without processes: the
//! expirer never lets one order block the others, and the catalogue counts
//! a stock event applied late (parked, then retried).

use domain::order::{OrderCommand, PricedLine};
use domain::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use projector::catalogue::CatalogueProjection;
use projector::projection::{scope_batch, LIVE_SCHEMA};
use projector::Projection;
use store::RetryPolicy;

use crate::support::TestDb;

async fn confirmed_order(db: &TestDb) -> OrderId {
    let order_id = OrderId::generate();
    let place = OrderCommand::Place {
        order_id,
        customer_id: CustomerId(uuid::Uuid::new_v4()),
        lines: vec![PricedLine {
            sku: Sku::parse("EXP-1").unwrap(),
            quantity: Quantity::new(1).unwrap(),
            unit_price: Money::new(100, Currency::parse("EUR").unwrap()).unwrap(),
            location: None,
        }],
        channel: None,
        pickup_location: None,
    };
    let confirm = OrderCommand::Confirm {
        allocations: vec![],
    };
    db.run_order_commands(order_id, vec![place, confirm]).await;
    order_id
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_that_cannot_expire_does_not_hold_up_the_others() {
    let db = TestDb::create().await;
    let real = confirmed_order(&db).await;
    // A deadline whose order is not in the log: expiring it fails. It is due
    // first, so a round that stopped at the first failure would never reach
    // the real one.
    sqlx::query(
        "INSERT INTO payment_deadlines (order_id, due_at) VALUES \
         ($1, now() - interval '2 minutes'), ($2, now() - interval '1 minute')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(real.0)
    .execute(&db.pool)
    .await
    .unwrap();
    let round = reserver::expirer::expire_due(&db.pool, RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(round.claimed, 2);
    let expired: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM events WHERE event_type = 'OrderExpired' AND aggregate_id = $1",
    )
    .bind(real.to_string())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(expired, vec!["system:expirer".to_owned()]);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_deadlines")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "an order that is gone has nothing left to expire");
}

fn stock_received(version: i64, quantity: i64) -> bus::Delivered {
    bus::Delivered {
        topic: "log:stock".into(),
        partition: 0,
        offset: version,
        envelope: bus::Envelope {
            event_id: uuid::Uuid::now_v7(),
            event_type: "StockReceived".into(),
            schema_version: 1,
            stream_id: "stock-LATE-1".into(),
            stream_version: version,
            global_position: version,
            occurred_at: chrono::Utc::now(),
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            actor: Some("system:test".into()),
            traceparent: None,
            data: serde_json::json!({"sku": "LATE-1", "quantity": quantity, "reference": null}),
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stock_event_applied_late_still_counts() {
    let db = TestDb::create().await;
    let mut tx = db.pool.begin().await.unwrap();
    scope_batch(&mut tx, LIVE_SCHEMA).await.unwrap();
    // Version 2 was parked and is retried after version 3 went through.
    for (version, quantity) in [(1, 5), (3, 2), (2, 4)] {
        CatalogueProjection
            .apply(&mut tx, &stock_received(version, quantity))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let (on_hand, version): (i64, i64) =
        sqlx::query_as("SELECT on_hand, version FROM read_models.stock WHERE sku = 'LATE-1'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((on_hand, version), (11, 3));
}
