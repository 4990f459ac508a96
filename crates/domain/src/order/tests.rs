//! Given / when / then tests of the order lifecycle.

use super::*;
use uuid::Uuid;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
}
fn order_id() -> OrderId {
    OrderId(Uuid::from_u128(7))
}
fn line(sku: &str, quantity: i64, price: i64) -> PricedLine {
    PricedLine {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::new(quantity).unwrap(),
        unit_price: eur(price),
        location: None,
    }
}
fn place(lines: Vec<PricedLine>) -> OrderCommand {
    OrderCommand::Place {
        order_id: order_id(),
        customer_id: CustomerId(Uuid::from_u128(1)),
        lines,
        channel: Some("web".into()),
        pickup_location: None,
    }
}
fn placed() -> Vec<OrderEvent> {
    Order::default()
        .decide(place(vec![line("A", 2, 250), line("B", 1, 1000)]))
        .unwrap()
}
fn given(history: &[OrderEvent]) -> Order {
    Order::from_history(history)
}
fn with(mut history: Vec<OrderEvent>, more: &[OrderEvent]) -> Vec<OrderEvent> {
    history.extend_from_slice(more);
    history
}
fn confirmed() -> Vec<OrderEvent> {
    with(
        placed(),
        &[OrderEvent::OrderConfirmed {
            order_id: order_id(),
            allocations: vec![],
        }],
    )
}
fn paid() -> Vec<OrderEvent> {
    with(
        confirmed(),
        &[OrderEvent::OrderPaid {
            order_id: order_id(),
            amount: 1500,
            currency: Currency::parse("EUR").unwrap(),
            reference: None,
        }],
    )
}
fn shipped() -> Vec<OrderEvent> {
    with(
        paid(),
        &[OrderEvent::OrderShipped {
            order_id: order_id(),
            carrier: None,
            tracking_number: None,
            shipment_id: None,
            location: None,
            lines: vec![],
            complete: true,
        }],
    )
}
fn status_after(history: &[OrderEvent]) -> OrderStatus {
    given(history).placed().unwrap().status
}
fn cancel() -> OrderCommand {
    OrderCommand::Cancel {
        reason: "changed my mind".into(),
    }
}
fn pay(minor: i64) -> OrderCommand {
    OrderCommand::Pay {
        amount: eur(minor),
        reference: Some("psp-1".into()),
    }
}
fn is_forbidden(result: Result<Vec<OrderEvent>, DomainError>) -> bool {
    matches!(result, Err(DomainError::Forbidden { .. }))
}

#[test]
fn given_nothing_when_placing_then_lines_are_priced_and_totalled() {
    let events = placed();
    let [OrderEvent::OrderPlaced { lines, total, .. }] = events.as_slice() else {
        panic!("expected one OrderPlaced, got {events:?}");
    };
    assert_eq!(*total, 1500);
    assert_eq!(lines[0].line_total, 500);
    assert_eq!(lines[1].line_total, 1000);
}

#[test]
fn given_nothing_when_placing_without_lines_then_lines_are_invalid() {
    let err = Order::default().decide(place(vec![])).unwrap_err();
    assert!(matches!(err, DomainError::InvalidField { field, .. } if field == "lines"));
}

#[test]
fn given_nothing_when_placing_lines_in_two_currencies_then_the_line_is_invalid() {
    let mut usd = line("B", 1, 100);
    usd.unit_price = Money::new(100, Currency::parse("USD").unwrap()).unwrap();
    let err = Order::default()
        .decide(place(vec![line("A", 1, 100), usd]))
        .unwrap_err();
    assert!(matches!(err, DomainError::InvalidField { field, .. } if field == "lines[1]"));
}

#[test]
fn given_placed_when_placing_again_then_already_exists() {
    let err = given(&placed())
        .decide(place(vec![line("A", 1, 1)]))
        .unwrap_err();
    assert!(matches!(err, DomainError::AlreadyExists { .. }));
}

#[test]
fn given_nothing_when_paying_then_not_found() {
    let err = Order::default().decide(pay(1)).unwrap_err();
    assert_eq!(err.kind(), crate::RejectionKind::NotFound);
}

#[test]
fn given_placed_when_confirming_then_confirmed_and_again_is_a_no_op() {
    let events = given(&placed())
        .decide(OrderCommand::Confirm {
            allocations: vec![],
        })
        .unwrap();
    assert_eq!(
        status_after(&with(placed(), &events)),
        OrderStatus::Confirmed
    );
    assert!(given(&confirmed())
        .decide(OrderCommand::Confirm {
            allocations: vec![],
        })
        .unwrap()
        .is_empty());
}

#[test]
fn given_placed_when_rejecting_then_rejected_naming_the_sku() {
    let events = given(&placed())
        .decide(OrderCommand::Reject {
            sku: Sku::parse("B").unwrap(),
            reason: "insufficient stock".into(),
        })
        .unwrap();
    assert!(matches!(&events[..], [OrderEvent::OrderRejected { sku, .. }] if sku.as_str() == "B"));
}

#[test]
fn given_cancelled_when_confirming_then_forbidden() {
    let history = with(placed(), &given(&placed()).decide(cancel()).unwrap());
    assert!(is_forbidden(given(&history).decide(
        OrderCommand::Confirm {
            allocations: vec![],
        }
    )));
}

#[test]
fn given_placed_when_paying_then_forbidden_because_not_confirmed() {
    assert!(is_forbidden(given(&placed()).decide(pay(1500))));
}

#[test]
fn given_confirmed_when_paying_the_total_then_paid() {
    let events = given(&confirmed()).decide(pay(1500)).unwrap();
    assert_eq!(status_after(&with(confirmed(), &events)), OrderStatus::Paid);
}

#[test]
fn given_confirmed_when_paying_a_different_amount_then_amount_is_invalid() {
    let err = given(&confirmed()).decide(pay(1499)).unwrap_err();
    assert!(matches!(err, DomainError::InvalidField { field, .. } if field == "amount"));
}

#[test]
fn given_paid_when_paying_again_then_forbidden() {
    assert!(is_forbidden(given(&paid()).decide(pay(1500))));
}

#[test]
fn given_confirmed_when_shipping_then_forbidden_because_unpaid() {
    let ship = OrderCommand::Ship {
        shipment_id: Uuid::from_u128(50),
        location: None,
        lines: None,
        carrier: None,
        tracking_number: None,
    };
    assert!(is_forbidden(given(&confirmed()).decide(ship)));
}

#[test]
fn given_paid_when_shipping_then_shipped() {
    let ship = OrderCommand::Ship {
        shipment_id: Uuid::from_u128(50),
        location: None,
        lines: None,
        carrier: Some("DHL".into()),
        tracking_number: Some("123".into()),
    };
    let events = given(&paid()).decide(ship).unwrap();
    assert_eq!(status_after(&with(paid(), &events)), OrderStatus::Shipped);
}

#[test]
fn given_placed_confirmed_or_paid_when_cancelling_then_cancelled_with_previous_status() {
    for (history, from) in [
        (placed(), OrderStatus::Placed),
        (confirmed(), OrderStatus::Confirmed),
        (paid(), OrderStatus::Paid),
    ] {
        let events = given(&history).decide(cancel()).unwrap();
        assert!(matches!(
            &events[..],
            [OrderEvent::OrderCancelled { previous_status, .. }] if *previous_status == from
        ));
    }
}

#[test]
fn given_shipped_when_cancelling_then_forbidden() {
    assert!(is_forbidden(given(&shipped()).decide(cancel())));
}

#[test]
fn given_placed_when_cancelling_without_reason_then_reason_is_invalid() {
    let err = given(&placed())
        .decide(OrderCommand::Cancel { reason: "".into() })
        .unwrap_err();
    assert!(matches!(err, DomainError::InvalidField { field, .. } if field == "reason"));
}

#[test]
fn given_confirmed_when_expiring_then_expired() {
    let events = given(&confirmed()).decide(OrderCommand::Expire).unwrap();
    assert_eq!(
        status_after(&with(confirmed(), &events)),
        OrderStatus::Expired
    );
}

#[test]
fn given_paid_when_expiring_then_nothing_happens() {
    assert!(given(&paid())
        .decide(OrderCommand::Expire)
        .unwrap()
        .is_empty());
}

#[test]
fn given_expired_when_paying_then_forbidden() {
    let expired = with(
        confirmed(),
        &[OrderEvent::OrderExpired {
            order_id: order_id(),
        }],
    );
    assert!(is_forbidden(given(&expired).decide(pay(1500))));
}

#[test]
fn units_by_sku_merges_lines_naming_the_same_sku() {
    let events = Order::default()
        .decide(place(vec![
            line("A", 2, 1),
            line("A", 3, 1),
            line("B", 1, 1),
        ]))
        .unwrap();
    let units = given(&events).placed().unwrap().units_by_sku().unwrap();
    let units: Vec<(String, i64)> = units
        .into_iter()
        .map(|(s, q)| (s.to_string(), q.get()))
        .collect();
    assert_eq!(units, vec![("A".into(), 5), ("B".into(), 1)]);
}

#[test]
fn given_nothing_when_placing_lines_of_one_sku_over_the_maximum_then_invalid_naming_the_lines() {
    let result = Order::default().decide(place(vec![
        line("A", 600_000, 100),
        line("B", 1, 100),
        line("A", 600_000, 100),
    ]));
    match result {
        Err(DomainError::InvalidField { field, message }) => {
            assert_eq!(field, "lines[0], lines[2]");
            assert!(message.contains("1200000"), "{message}");
        }
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn given_nothing_when_placing_lines_of_one_sku_up_to_the_maximum_then_placed() {
    let events = Order::default()
        .decide(place(vec![line("A", 500_000, 1), line("A", 500_000, 1)]))
        .unwrap();
    let units = given(&events).placed().unwrap().units_by_sku().unwrap();
    assert_eq!(units[0].1.get(), 1_000_000);
}

#[test]
fn given_an_order_placed_over_the_maximum_before_the_rule_then_its_units_do_not_fit() {
    // Such an order may already be in a log: it must never look reservable.
    let events = vec![OrderEvent::OrderPlaced {
        order_id: order_id(),
        customer_id: CustomerId(Uuid::from_u128(1)),
        lines: vec![
            OrderLine {
                sku: Sku::parse("A").unwrap(),
                quantity: Quantity::new(600_000).unwrap(),
                unit_price: 100,
                line_total: 60_000_000,
                location: None,
            };
            2
        ],
        total: 120_000_000,
        currency: Currency::parse("EUR").unwrap(),
        channel: None,
        pickup_location: None,
    }];
    let overflow = given(&events).placed().unwrap().units_by_sku().unwrap_err();
    assert_eq!(overflow.sku.as_str(), "A");
    assert_eq!(overflow.units, 1_200_000);
}

#[test]
fn given_nothing_when_placing_through_a_channel_then_the_order_records_it() {
    let events = placed();
    assert!(matches!(&events[0], OrderEvent::OrderPlaced { channel: Some(c), .. } if c == "web"));
    assert_eq!(
        given(&events).placed().unwrap().channel.as_deref(),
        Some("web")
    );
}

#[test]
fn an_order_placed_event_from_before_channels_still_decodes() {
    let old = serde_json::json!({"event_type": "OrderPlaced", "data": {
        "order_id": Uuid::from_u128(7), "customer_id": Uuid::from_u128(1),
        "lines": [], "total": 0, "currency": "EUR"}});
    let event: OrderEvent = serde_json::from_value(old).unwrap();
    assert!(matches!(
        event,
        OrderEvent::OrderPlaced { channel: None, .. }
    ));
}

fn loc(raw: &str) -> LocationCode {
    LocationCode::parse(raw).unwrap()
}

fn allocation(sku: &str, at: &str, units: i64) -> Allocation {
    Allocation {
        sku: Sku::parse(sku).unwrap(),
        location: loc(at),
        quantity: Quantity::new(units).unwrap(),
    }
}

/// Placed with 2 × A and 1 × B, confirmed with A split over two locations.
fn paid_split() -> Vec<OrderEvent> {
    let mut history = placed();
    history.push(OrderEvent::OrderConfirmed {
        order_id: order_id(),
        allocations: vec![
            allocation("A", "north", 1),
            allocation("A", "south", 1),
            allocation("B", "south", 1),
        ],
    });
    history.push(OrderEvent::OrderPaid {
        order_id: order_id(),
        amount: 1500,
        currency: Currency::parse("EUR").unwrap(),
        reference: None,
    });
    history
}

fn ship(n: u128, location: Option<&str>, lines: Option<Vec<(&str, i64)>>) -> OrderCommand {
    OrderCommand::Ship {
        shipment_id: Uuid::from_u128(n),
        location: location.map(loc),
        lines: lines.map(|lines| {
            lines
                .into_iter()
                .map(|(s, q)| (Sku::parse(s).unwrap(), Quantity::new(q).unwrap()))
                .collect()
        }),
        carrier: None,
        tracking_number: None,
    }
}

#[test]
fn given_a_split_order_when_shipping_one_location_then_partially_shipped_until_the_rest_ships() {
    let history = paid_split();
    let first = given(&history)
        .decide(ship(1, Some("south"), None))
        .unwrap();
    assert!(matches!(
        &first[..],
        [OrderEvent::OrderShipped { location: Some(l), lines, .. }] if l.as_str() == "south" && lines.len() == 2
    ));
    let history = with(history, &first);
    assert_eq!(status_after(&history), OrderStatus::PartiallyShipped);
    let second = given(&history).decide(ship(2, None, None)).unwrap();
    let history = with(history, &second);
    assert_eq!(status_after(&history), OrderStatus::Shipped);
    assert!(is_forbidden(given(&history).decide(ship(3, None, None))));
}

#[test]
fn a_shipment_of_named_lines_takes_only_what_is_unshipped_and_refuses_more() {
    let history = paid_split();
    let events = given(&history)
        .decide(ship(1, None, Some(vec![("A", 2)])))
        .unwrap();
    let OrderEvent::OrderShipped {
        lines, location, ..
    } = &events[0]
    else {
        panic!("a shipment")
    };
    assert_eq!(location, &None, "two locations: the shipment names none");
    assert_eq!(lines.iter().map(|l| l.quantity.get()).sum::<i64>(), 2);
    let history = with(history, &events);
    assert_eq!(status_after(&history), OrderStatus::PartiallyShipped);
    assert!(is_forbidden(given(&history).decide(ship(
        2,
        None,
        Some(vec![("A", 1)])
    ))));
    assert!(is_forbidden(given(&history).decide(ship(
        2,
        Some("north"),
        Some(vec![("B", 1)])
    ))));
}

#[test]
fn given_a_partial_shipment_when_cancelling_then_cancelled_from_partially_shipped() {
    let history = paid_split();
    let events = given(&history)
        .decide(ship(1, Some("north"), None))
        .unwrap();
    let history = with(history, &events);
    let cancelled = given(&history)
        .decide(OrderCommand::Cancel {
            reason: "customer asked".into(),
        })
        .unwrap();
    assert!(matches!(
        &cancelled[..],
        [OrderEvent::OrderCancelled {
            previous_status: OrderStatus::PartiallyShipped,
            ..
        }]
    ));
}

#[test]
fn allocations_that_do_not_add_up_to_the_order_are_refused() {
    let short = OrderCommand::Confirm {
        allocations: vec![allocation("A", "north", 1), allocation("B", "north", 1)],
    };
    assert!(matches!(
        given(&placed()).decide(short),
        Err(DomainError::InvalidField { field, .. }) if field == "allocations"
    ));
}

#[test]
fn a_pickup_order_refuses_a_line_pinned_elsewhere() {
    let mut pinned = line("A", 1, 100);
    pinned.location = Some(loc("north"));
    let command = OrderCommand::Place {
        order_id: order_id(),
        customer_id: CustomerId(Uuid::from_u128(1)),
        lines: vec![line("B", 1, 100), pinned],
        channel: None,
        pickup_location: Some(loc("south")),
    };
    assert!(matches!(
        Order::default().decide(command),
        Err(DomainError::InvalidField { field, .. }) if field == "lines[1].location"
    ));
}

#[test]
fn a_shipment_from_before_partial_shipments_ships_the_whole_order() {
    let old = serde_json::json!({"event_type": "OrderShipped", "data": {
        "order_id": Uuid::from_u128(7), "carrier": null, "tracking_number": null}});
    let event: OrderEvent = serde_json::from_value(old).unwrap();
    assert_eq!(
        status_after(&with(paid_split(), &[event])),
        OrderStatus::Shipped
    );
}
