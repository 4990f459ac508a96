//! Given / when / then tests of returns, receipts and refunds.

use super::*;
use crate::order::{Order, OrderCommand, PricedLine};
use crate::{Aggregate, CustomerId, OrderId};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
}
fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}
fn q(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}
fn order_id() -> OrderId {
    OrderId(Uuid::from_u128(7))
}
fn run(history: &mut Vec<OrderEvent>, command: OrderCommand) -> Result<(), DomainError> {
    let events = Order::from_history(history.iter()).decide(command)?;
    history.extend(events);
    Ok(())
}
/// An order of 3 × A at 100 and 1 × B at 500, confirmed and paid (800).
fn paid() -> Vec<OrderEvent> {
    let mut history = Vec::new();
    let line = |raw: &str, n: i64, price: i64| PricedLine {
        sku: sku(raw),
        quantity: q(n),
        unit_price: eur(price),
        location: None,
    };
    let place = OrderCommand::Place {
        order_id: order_id(),
        customer_id: CustomerId::parse("shop:cust-1").unwrap(),
        lines: vec![line("A", 3, 100), line("B", 1, 500)],
        channel: None,
        pickup_location: None,
    };
    run(&mut history, place).unwrap();
    run(
        &mut history,
        OrderCommand::Confirm {
            allocations: vec![],
        },
    )
    .unwrap();
    let pay = OrderCommand::Pay {
        amount: eur(800),
        reference: None,
    };
    run(&mut history, pay).unwrap();
    history
}
/// [`paid`], with 2 × A shipped.
fn partly_shipped() -> Vec<OrderEvent> {
    let mut history = paid();
    let ship = OrderCommand::Ship {
        shipment_id: Uuid::from_u128(50),
        location: None,
        lines: Some(vec![(sku("A"), q(2))]),
        carrier: None,
        tracking_number: None,
    };
    run(&mut history, ship).unwrap();
    history
}
fn request(id: u128, lines: &[(&str, i64)]) -> OrderCommand {
    OrderCommand::RequestReturn {
        return_id: Uuid::from_u128(id),
        lines: lines
            .iter()
            .map(|(s, n)| ReturnLine {
                sku: sku(s),
                quantity: q(*n),
                reason: "too small".into(),
            })
            .collect(),
    }
}
fn receive(id: u128, lines: &[(&str, i64, Disposition)]) -> OrderCommand {
    OrderCommand::ReceiveReturn(Receipt {
        return_id: Uuid::from_u128(id),
        receipt_id: Uuid::now_v7(),
        location: LocationCode::default_location(),
        lines: lines
            .iter()
            .map(|(s, n, d)| ReceivedLine {
                sku: sku(s),
                quantity: q(*n),
                disposition: *d,
            })
            .collect(),
    })
}
fn refund(minor: i64, currency: &str) -> OrderCommand {
    OrderCommand::Refund(Refund {
        refund_id: Uuid::now_v7(),
        amount: Money::new(minor, Currency::parse(currency).unwrap()).unwrap(),
        reason: "goodwill".into(),
        return_id: None,
    })
}
fn after_sales(history: &[OrderEvent]) -> AfterSales {
    Order::from_history(history)
        .placed()
        .unwrap()
        .after_sales
        .clone()
}
fn is_forbidden(r: Result<(), DomainError>) -> bool {
    matches!(r, Err(DomainError::Forbidden { .. }))
}

#[test]
fn given_shipped_units_when_returning_them_then_a_return_is_requested() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 2)])).unwrap();
    let state = &after_sales(&history).returns[&Uuid::from_u128(1)];
    assert_eq!(state.requested[&sku("A")], 2);
    assert_eq!(state.status(), ReturnStatus::Requested);
}

#[test]
fn given_unshipped_units_when_returning_them_then_forbidden() {
    let mut history = partly_shipped();
    assert!(is_forbidden(run(&mut history, request(1, &[("A", 3)]))));
    assert!(is_forbidden(run(&mut history, request(1, &[("B", 1)]))));
    let mut unshipped = paid();
    assert!(is_forbidden(run(&mut unshipped, request(1, &[("A", 1)]))));
}

#[test]
fn given_an_earlier_return_when_returning_again_then_only_what_is_left() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 1)])).unwrap();
    assert!(is_forbidden(run(&mut history, request(2, &[("A", 2)]))));
    // The same SKU twice in one request counts twice.
    assert!(is_forbidden(run(
        &mut history,
        request(2, &[("A", 1), ("A", 1)])
    )));
    run(&mut history, request(2, &[("A", 1)])).unwrap();
}

#[test]
fn given_a_return_when_its_id_is_reused_then_it_already_exists() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 1)])).unwrap();
    assert!(matches!(
        run(&mut history, request(1, &[("A", 1)])),
        Err(DomainError::AlreadyExists { .. })
    ));
}

#[test]
fn given_a_return_when_units_arrive_in_parts_then_it_is_partly_then_wholly_received() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 2)])).unwrap();
    run(&mut history, receive(1, &[("A", 1, Disposition::Restock)])).unwrap();
    assert_eq!(
        after_sales(&history).returns[&Uuid::from_u128(1)].status(),
        ReturnStatus::PartiallyReceived
    );
    run(&mut history, receive(1, &[("A", 1, Disposition::Damaged)])).unwrap();
    assert_eq!(
        after_sales(&history).returns[&Uuid::from_u128(1)].status(),
        ReturnStatus::Received
    );
}

#[test]
fn given_a_return_when_more_arrives_than_requested_then_forbidden() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 1)])).unwrap();
    let twice = receive(
        1,
        &[
            ("A", 1, Disposition::Restock),
            ("A", 1, Disposition::Missing),
        ],
    );
    assert!(is_forbidden(run(&mut history, twice)));
    run(&mut history, receive(1, &[("A", 1, Disposition::Missing)])).unwrap();
    assert!(is_forbidden(run(
        &mut history,
        receive(1, &[("A", 1, Disposition::Restock)])
    )));
}

#[test]
fn given_a_return_when_a_receipt_names_another_sku_or_return_then_refused() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 1)])).unwrap();
    assert!(matches!(
        run(&mut history, receive(1, &[("B", 1, Disposition::Restock)])),
        Err(DomainError::InvalidField { field, .. }) if field == "lines[0].sku"
    ));
    assert!(matches!(
        run(&mut history, receive(9, &[("A", 1, Disposition::Restock)])),
        Err(DomainError::NotFound { .. })
    ));
}

#[test]
fn given_a_paid_order_when_refunding_in_parts_then_never_more_than_paid() {
    let mut history = paid();
    run(&mut history, refund(300, "EUR")).unwrap();
    run(&mut history, refund(500, "EUR")).unwrap();
    assert_eq!(after_sales(&history).refunded, 800);
    assert!(is_forbidden(run(&mut history, refund(1, "EUR"))));
}

#[test]
fn given_an_unpaid_order_when_refunding_then_forbidden() {
    let mut history = paid();
    history.pop();
    assert!(is_forbidden(run(&mut history, refund(1, "EUR"))));
}

#[test]
fn given_a_paid_order_when_refunding_in_another_currency_or_nothing_then_invalid() {
    let mut history = paid();
    assert!(matches!(
        run(&mut history, refund(100, "USD")),
        Err(DomainError::InvalidField { field, .. }) if field == "currency"
    ));
    assert!(matches!(
        run(&mut history, refund(0, "EUR")),
        Err(DomainError::InvalidField { field, .. }) if field == "amount"
    ));
}

#[test]
fn given_a_refund_for_a_return_when_the_return_is_not_the_orders_then_invalid() {
    let mut history = partly_shipped();
    run(&mut history, request(1, &[("A", 1)])).unwrap();
    let tied = |id: u128| {
        OrderCommand::Refund(Refund {
            refund_id: Uuid::now_v7(),
            amount: eur(100),
            reason: "returned".into(),
            return_id: Some(Uuid::from_u128(id)),
        })
    };
    run(&mut history, tied(1)).unwrap();
    assert!(matches!(
        run(&mut history, tied(2)),
        Err(DomainError::InvalidField { field, .. }) if field == "return_id"
    ));
}

#[test]
fn refund_events_from_the_log_decode_without_a_return() {
    let event: OrderEvent = serde_json::from_value(serde_json::json!({
        "event_type": "OrderRefunded",
        "data": {"order_id": Uuid::from_u128(7), "refund_id": Uuid::from_u128(8),
                 "amount": 100, "currency": "EUR", "reason": "goodwill"}
    }))
    .unwrap();
    assert!(matches!(
        event,
        OrderEvent::OrderRefunded {
            return_id: None,
            ..
        }
    ));
}
