//! Property tests of an order's after-sales life: random interleavings of
//! partial shipments, return requests, return receipts and refunds on a
//! paid order, checked after every step against sums of its events:
//!
//! * per SKU, units requested back ≤ units shipped;
//! * per return and SKU, units received ≤ units requested;
//! * refunded ≤ paid.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use domain::order::{
    Disposition, Order, OrderCommand, OrderEvent, PricedLine, Receipt, ReceivedLine, Refund,
    ReturnLine,
};
use domain::{Aggregate, Currency, CustomerId, LocationCode, Money, OrderId, Quantity, Sku};
use proptest::prelude::*;
use uuid::Uuid;

const SKUS: [&str; 2] = ["A", "B"];

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
}
fn sku(i: usize) -> Sku {
    Sku::parse(SKUS[i]).unwrap()
}
fn q(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}

#[derive(Debug, Clone)]
enum Step {
    Ship {
        sku: usize,
        units: i64,
    },
    Request {
        sku: usize,
        units: i64,
    },
    Receive {
        ret: usize,
        sku: usize,
        units: i64,
        disposition: u8,
    },
    Refund {
        amount: i64,
        ret: Option<usize>,
    },
    /// Refund what is left to refund, plus `extra` (0 or 1) minor units.
    RefundRest {
        extra: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..2usize, 1i64..5).prop_map(|(sku, units)| Step::Ship { sku, units }),
        (0..2usize, 1i64..5).prop_map(|(sku, units)| Step::Request { sku, units }),
        (0..4usize, 0..2usize, 1i64..5, 0u8..3).prop_map(|(ret, sku, units, disposition)| {
            Step::Receive {
                ret,
                sku,
                units,
                disposition,
            }
        }),
        (1i64..500, prop::option::of(0..4usize))
            .prop_map(|(amount, ret)| Step::Refund { amount, ret }),
        (0i64..2).prop_map(|extra| Step::RefundRest { extra }),
    ]
}

/// A paid order of 5 × A at 100 and 3 × B at 200 (1,100).
fn paid() -> Vec<OrderEvent> {
    let mut history = Vec::new();
    let line = |i: usize, n: i64, price: i64| PricedLine {
        sku: sku(i),
        quantity: q(n),
        unit_price: eur(price),
        location: None,
    };
    for command in [
        OrderCommand::Place {
            order_id: OrderId(Uuid::from_u128(7)),
            customer_id: CustomerId::parse("c-1").unwrap(),
            lines: vec![line(0, 5, 100), line(1, 3, 200)],
            channel: None,
            pickup_location: None,
        },
        OrderCommand::Confirm {
            allocations: vec![],
        },
        OrderCommand::Pay {
            amount: eur(1_100),
            reference: None,
        },
    ] {
        let events = Order::from_history(history.iter()).decide(command).unwrap();
        history.extend(events);
    }
    history
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nothing_comes_back_unshipped_nor_is_refunded_unpaid(steps in prop::collection::vec(step(), 1..40)) {
        let mut history = paid();
        let mut returns: Vec<Uuid> = Vec::new();
        for (n, step) in steps.into_iter().enumerate() {
            let command = match step {
                Step::Ship { sku: i, units } => OrderCommand::Ship {
                    shipment_id: Uuid::from_u128(1_000 + n as u128),
                    location: None,
                    lines: Some(vec![(sku(i), q(units))]),
                    carrier: None,
                    tracking_number: None,
                },
                Step::Request { sku: i, units } => {
                    let return_id = Uuid::from_u128(2_000 + n as u128);
                    returns.push(return_id);
                    OrderCommand::RequestReturn {
                        return_id,
                        lines: vec![ReturnLine { sku: sku(i), quantity: q(units), reason: "no".to_owned() }],
                    }
                }
                Step::Receive { ret, sku: i, units, disposition } => OrderCommand::ReceiveReturn(Receipt {
                    return_id: returns.get(ret).copied().unwrap_or(Uuid::from_u128(9)),
                    receipt_id: Uuid::from_u128(3_000 + n as u128),
                    location: LocationCode::default_location(),
                    lines: vec![ReceivedLine {
                        sku: sku(i),
                        quantity: q(units),
                        disposition: [Disposition::Restock, Disposition::Damaged, Disposition::Missing]
                            [usize::from(disposition)],
                    }],
                }),
                Step::Refund { amount, ret } => OrderCommand::Refund(Refund {
                    refund_id: Uuid::from_u128(4_000 + n as u128),
                    amount: eur(amount),
                    reason: "sorry".to_owned(),
                    return_id: ret.and_then(|r| returns.get(r).copied()),
                }),
                Step::RefundRest { extra } => {
                    let order = Order::from_history(history.iter());
                    let sales = &order.placed().unwrap().after_sales;
                    let rest = sales.paid - sales.refunded + extra;
                    if rest < 1 {
                        continue;
                    }
                    OrderCommand::Refund(Refund {
                        refund_id: Uuid::from_u128(4_000 + n as u128),
                        amount: eur(rest),
                        reason: "the rest".to_owned(),
                        return_id: None,
                    })
                }
            };
            if let Ok(events) = Order::from_history(history.iter()).decide(command) {
                history.extend(events);
            }
            let (mut shipped, mut requested) = (BTreeMap::new(), BTreeMap::new());
            let mut per_return: BTreeMap<(Uuid, Sku), (i64, i64)> = BTreeMap::new();
            let (mut paid, mut refunded) = (0, 0);
            for event in &history {
                match event {
                    OrderEvent::OrderShipped { lines, .. } => {
                        for l in lines {
                            *shipped.entry(l.sku.clone()).or_insert(0) += l.quantity.get();
                        }
                    }
                    OrderEvent::ReturnRequested { return_id, lines, .. } => {
                        for l in lines {
                            *requested.entry(l.sku.clone()).or_insert(0) += l.quantity.get();
                            per_return.entry((*return_id, l.sku.clone())).or_default().0 += l.quantity.get();
                        }
                    }
                    OrderEvent::ReturnReceived { return_id, lines, .. } => {
                        for l in lines {
                            per_return.entry((*return_id, l.sku.clone())).or_default().1 += l.quantity.get();
                        }
                    }
                    OrderEvent::OrderPaid { amount, .. } => paid += amount,
                    OrderEvent::OrderRefunded { amount, .. } => refunded += amount,
                    _ => {}
                }
            }
            for (s, units) in &requested {
                let out = shipped.get(s).copied().unwrap_or(0);
                prop_assert!(*units <= out, "{s}: {units} requested of {out} shipped");
            }
            for ((r, s), (asked, got)) in &per_return {
                prop_assert!(got <= asked, "return {r} {s}: {got} received of {asked}");
            }
            prop_assert!(refunded <= paid, "refunded {refunded} of {paid}");
        }
    }
}
