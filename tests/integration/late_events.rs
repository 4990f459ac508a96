//! Read models that see an order's events out of order (one was parked and
//! retried later, or came late from Kafka) end as if they had seen them in
//! order: a late payment still dates the order and counts as revenue, and
//! events before a late placement are applied once it arrives.

use bus::Delivered;
use domain::order::{OrderCommand, PricedLine};
use domain::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use projector::orders::OrdersProjection;
use projector::projection::{scope_batch, LIVE_SCHEMA};
use projector::sales::SalesProjection;
use projector::Projection;

use crate::support::TestDb;

/// Places, confirms, pays and ships an order; returns its events.
pub(crate) async fn shipped_order(db: &TestDb, sku: &str) -> Vec<Delivered> {
    let order_id = OrderId::generate();
    let eur = Currency::parse("EUR").unwrap();
    let commands = [
        OrderCommand::Place {
            order_id,
            customer_id: CustomerId(uuid::Uuid::new_v4()),
            lines: vec![PricedLine {
                sku: Sku::parse(sku).unwrap(),
                quantity: Quantity::new(3).unwrap(),
                unit_price: Money::new(100, eur).unwrap(),
                location: None,
            }],
            channel: None,
            pickup_location: None,
        },
        OrderCommand::Confirm {
            allocations: vec![],
        },
        OrderCommand::Pay {
            amount: Money::new(300, eur).unwrap(),
            reference: None,
        },
        OrderCommand::Ship {
            shipment_id: uuid::Uuid::now_v7(),
            location: None,
            lines: None,
            carrier: None,
            tracking_number: None,
        },
    ];
    db.run_order_commands(order_id, commands.into()).await;
    let mut conn = db.pool.acquire().await.unwrap();
    store::read_stream(&mut conn, &format!("order-{order_id}"), None)
        .await
        .unwrap()
        .iter()
        .map(Delivered::from_log)
        .collect()
}

/// Applies `events` one transaction each, in the order given, to both
/// order projections.
async fn apply_in_turn(db: &TestDb, events: &[&Delivered]) {
    for event in events {
        let mut tx = db.pool.begin().await.unwrap();
        scope_batch(&mut tx, LIVE_SCHEMA).await.unwrap();
        OrdersProjection.apply(&mut tx, event).await.unwrap();
        SalesProjection.apply(&mut tx, event).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// The order's row (status, version, paid or not, moved since placed) and
/// its SKU's sales, as text to compare.
async fn models(db: &TestDb, events: &[Delivered], sku: &str) -> (String, String) {
    let order_id: uuid::Uuid = events[0].envelope.stream_id["order-".len()..]
        .parse()
        .unwrap();
    let order: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', status, version, paid_at IS NOT NULL, updated_at > placed_at) \
         FROM read_models.orders WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let sales: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', units_confirmed, units_paid, revenue_paid, units_cancelled) \
         FROM read_models.daily_sales WHERE sku = $1",
    )
    .bind(sku)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    (order, sales)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_retried_after_the_shipment_still_dates_the_order_and_counts_as_revenue() {
    let db = TestDb::create().await;
    let in_order = shipped_order(&db, "LATE-PAY-A").await;
    apply_in_turn(&db, &in_order.iter().collect::<Vec<_>>()).await;
    let late = shipped_order(&db, "LATE-PAY-B").await;
    let [placed, confirmed, paid, shipped] = &late[..] else {
        panic!("four events")
    };
    apply_in_turn(&db, &[placed, confirmed, shipped, paid]).await;

    let (expected_order, expected_sales) = models(&db, &in_order, "LATE-PAY-A").await;
    let (order, sales) = models(&db, &late, "LATE-PAY-B").await;
    assert_eq!(expected_sales, "3 3 300 0");
    assert_eq!(sales, expected_sales);
    assert_eq!(expected_order, "shipped 4 t t");
    assert_eq!(
        order, expected_order,
        "status, version, paid_at as if in order"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_before_a_late_placement_are_applied_when_it_arrives() {
    let db = TestDb::create().await;
    let in_order = shipped_order(&db, "LATE-PLACE-A").await;
    apply_in_turn(&db, &in_order.iter().collect::<Vec<_>>()).await;
    let late = shipped_order(&db, "LATE-PLACE-B").await;
    let [placed, confirmed, paid, shipped] = &late[..] else {
        panic!("four events")
    };
    apply_in_turn(&db, &[confirmed, paid, shipped, placed]).await;

    let (expected_order, expected_sales) = models(&db, &in_order, "LATE-PLACE-A").await;
    let (order, sales) = models(&db, &late, "LATE-PLACE-B").await;
    assert_eq!(sales, expected_sales, "counters that waited for the lines");
    assert_eq!(order, expected_order);
    let waiting: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM read_models.orders_pending_moves) \
              + (SELECT count(*) FROM read_models.sales_pending_counters)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        waiting, 0,
        "nothing is left waiting once the placement came"
    );
}
