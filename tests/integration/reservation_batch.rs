//! The reservation process decides a whole batch in one transaction: orders
//! of one SKU take its stock in log order until it runs out, an order is
//! reserved all or nothing, one cancelled before its turn reserves nothing,
//! the stock rows still equal the full fold, and a redelivered batch changes
//! nothing.

use bus::{BatchHandler, Delivered};
use domain::order::{Order, OrderCommand, PricedLine};
use domain::stock::{StockCommand, StockItem};
use domain::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use reserver::handler::ReservationHandler;
use store::stock_levels::{folded, stored};
use store::{execute, EventMetadata, RetryPolicy};

use crate::support::TestDb;

fn metadata() -> EventMetadata {
    EventMetadata::new_correlation(Some("system:test".into()))
}

async fn receive(db: &TestDb, sku: &str, quantity: i64) {
    let command = StockCommand::Receive {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::new(quantity).unwrap(),
        reference: None,
        location: domain::LocationCode::default_location(),
    };
    execute::<StockItem>(&db.pool, sku, command, &metadata(), RetryPolicy::default())
        .await
        .unwrap();
}

async fn order(db: &TestDb, lines: &[(&str, i64)]) -> OrderId {
    let order_id = OrderId::generate();
    let lines = lines
        .iter()
        .map(|(sku, quantity)| PricedLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(*quantity).unwrap(),
            unit_price: Money::new(100, Currency::parse("EUR").unwrap()).unwrap(),
            location: None,
        })
        .collect();
    let place = OrderCommand::Place {
        order_id,
        customer_id: CustomerId(uuid::Uuid::new_v4()),
        lines,
        channel: None,
        pickup_location: None,
    };
    order_command(db, order_id, place).await;
    order_id
}

async fn order_command(db: &TestDb, order_id: OrderId, command: OrderCommand) {
    execute::<Order>(
        &db.pool,
        &order_id.to_string(),
        command,
        &metadata(),
        RetryPolicy::default(),
    )
    .await
    .unwrap();
}

/// Every order event, as one batch. Read straight by position, not through
/// the gap-safe reader: that one waits for every older transaction of the
/// cluster (other tests' too), and the batch must hold them all.
async fn apply_order_events(db: &TestDb) -> usize {
    let sql = format!(
        "SELECT {} FROM events WHERE category = 'order' ORDER BY position",
        store::read::EVENT_COLUMNS
    );
    let events: Vec<Delivered> = sqlx::query(&sql)
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| Delivered::from_log(&store::read::from_row(row).unwrap()))
        .collect();
    let handler = ReservationHandler {
        policy: reserver::Policy {
            payment_timeout: chrono::Duration::minutes(15),
            allocation: domain::allocation::Strategy::Priority,
        },
        notifier: store::Notifier::disabled(),
    };
    let mut tx = db.pool.begin().await.unwrap();
    handler.apply(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    events.len()
}

async fn event_types(db: &TestDb, stream_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version")
        .bind(stream_id)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_reserves_in_log_order_all_or_nothing_and_a_redelivery_changes_nothing() {
    let db = TestDb::create().await;
    receive(&db, "BATCH-1", 5).await;
    receive(&db, "BATCH-2", 100).await;
    let first = order(&db, &[("BATCH-1", 2)]).await;
    let second = order(&db, &[("BATCH-1", 2), ("BATCH-2", 1)]).await;
    // One unit of BATCH-1 is left: this order's BATCH-2 line must not stay
    // reserved either.
    let short = order(&db, &[("BATCH-2", 7), ("BATCH-1", 2)]).await;
    let cancelled = order(&db, &[("BATCH-2", 3)]).await;
    order_command(
        &db,
        cancelled,
        OrderCommand::Cancel {
            reason: "changed mind".into(),
        },
    )
    .await;

    let batch = apply_order_events(&db).await;
    assert_eq!(batch, 5, "four placements and a cancellation");

    let stream = |id: OrderId| format!("order-{id}");
    assert_eq!(
        event_types(&db, &stream(first)).await,
        ["OrderPlaced", "OrderConfirmed"]
    );
    assert_eq!(
        event_types(&db, &stream(second)).await,
        ["OrderPlaced", "OrderConfirmed"]
    );
    assert_eq!(
        event_types(&db, &stream(short)).await,
        ["OrderPlaced", "OrderRejected"]
    );
    assert_eq!(
        event_types(&db, &stream(cancelled)).await,
        ["OrderPlaced", "OrderCancelled"]
    );
    let rejected_sku: String = sqlx::query_scalar(
        "SELECT data->>'sku' FROM events WHERE stream_id = $1 AND event_type = 'OrderRejected'",
    )
    .bind(stream(short))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(rejected_sku, "BATCH-1");

    let mut conn = db.pool.acquire().await.unwrap();
    for (sku, reserved) in [("BATCH-1", 4), ("BATCH-2", 1)] {
        let row = stored(&mut conn, sku).await.unwrap().unwrap();
        assert_eq!(row, folded(&mut conn, sku).await.unwrap(), "{sku}");
        let units: i64 = row.1.values().map(|u| u.reserved).sum();
        assert_eq!(units, reserved, "{sku} reserved");
    }

    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let redelivered = apply_order_events(&db).await;
    assert_eq!(redelivered, 8, "the batch again, with its three decisions");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(before, after, "a redelivered batch appended events");
}
