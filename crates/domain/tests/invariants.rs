//! Property tests: random sequences of commands on products, stock and
//! orders, driven the way the reservation process drives them, never break
//! the invariants Stockroom promises.
//!
//! * available = on hand − reserved ≥ 0 on every SKU;
//! * reserved = the sum of the open reservations;
//! * an order is confirmed (or paid) only while every unit of it is reserved,
//!   and a settled order holds nothing;
//! * an order's total is the sum of its lines;
//! * a stock command decided on the store's current-state row (totals and
//!   the one hold it is about) gives what the full fold gives.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use domain::order::{Order, OrderCommand, OrderStatus, PricedLine};
use domain::stock::{StockCommand, StockItem};
use domain::{Aggregate, Currency, CustomerId, DomainError, Money, OrderId, Quantity, Sku};
use proptest::prelude::*;

const SKUS: [&str; 3] = ["A", "B", "C"];

#[derive(Debug, Clone)]
enum Step {
    Receive { sku: usize, quantity: i64 },
    Adjust { sku: usize, delta: i64 },
    Place { lines: Vec<(usize, i64)> },
    Cancel { order: usize },
    Pay { order: usize },
    Ship { order: usize },
    Expire { order: usize },
}

fn quantity() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..20, 1i64..=1_000_000, Just(600_000), Just(1_000_000)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..SKUS.len(), quantity()).prop_map(|(sku, quantity)| Step::Receive { sku, quantity }),
        (0..SKUS.len(), -50i64..50).prop_map(|(sku, delta)| Step::Adjust { sku, delta }),
        prop::collection::vec((0..SKUS.len(), quantity()), 1..4)
            .prop_map(|lines| Step::Place { lines }),
        any::<usize>().prop_map(|order| Step::Cancel { order }),
        any::<usize>().prop_map(|order| Step::Pay { order }),
        any::<usize>().prop_map(|order| Step::Ship { order }),
        any::<usize>().prop_map(|order| Step::Expire { order }),
    ]
}

/// The shop: every aggregate, as the store would fold them.
#[derive(Default)]
struct Shop {
    stock: BTreeMap<Sku, StockItem>,
    orders: Vec<(OrderId, Order)>,
}

fn sku(i: usize) -> Sku {
    Sku::parse(SKUS[i]).unwrap()
}

fn price(i: usize) -> Money {
    Money::new(100 * (i as i64 + 1), Currency::parse("EUR").unwrap()).unwrap()
}

impl Shop {
    fn stock_command(&mut self, command: StockCommand) -> Result<(), DomainError> {
        let key = match &command {
            StockCommand::Receive { sku, .. }
            | StockCommand::Adjust { sku, .. }
            | StockCommand::Reserve { sku, .. }
            | StockCommand::Release { sku, .. }
            | StockCommand::Commit { sku, .. } => sku.clone(),
        };
        let item = self.stock.entry(key).or_default();
        // What the store decides on: the current-state row and the one hold
        // the command is about. It must decide exactly as the full fold does.
        let hold = command
            .order_id()
            .and_then(|order| item.hold(order).map(|hold| (order, hold)));
        let partial = StockItem::from_parts(item.on_hand(), item.reserved(), hold);
        let from_row = partial.decide(command.clone());
        let events = item.decide(command);
        assert_eq!(from_row, events, "current-state row and full fold disagree");
        let events = events?;
        let partial_after = events.iter().fold(partial, StockItem::evolve);
        *item = events.iter().fold(std::mem::take(item), StockItem::evolve);
        assert_eq!(
            (partial_after.on_hand(), partial_after.reserved()),
            (item.on_hand(), item.reserved()),
            "current-state totals drift from the fold"
        );
        Ok(())
    }

    fn order_command(&mut self, index: usize, command: OrderCommand) -> Result<(), DomainError> {
        let order = &mut self.orders[index].1;
        let events = order.decide(command)?;
        *order = events.iter().fold(std::mem::take(order), Order::evolve);
        Ok(())
    }

    /// What the reservation process does with a placed order.
    fn reserve(&mut self, index: usize) {
        let (order_id, order) = &self.orders[index];
        let (order_id, placed) = (*order_id, order.placed().unwrap().clone());
        let units = match placed.units_by_sku() {
            Ok(units) => units,
            Err(overflow) => {
                self.order_command(
                    index,
                    OrderCommand::Reject {
                        sku: overflow.sku,
                        reason: "too many".into(),
                    },
                )
                .unwrap();
                return;
            }
        };
        let mut reserved = Vec::new();
        for (sku, quantity) in units {
            let reserve = StockCommand::Reserve {
                sku: sku.clone(),
                order_id,
                quantity,
            };
            if self.stock_command(reserve).is_err() {
                for sku in reserved {
                    self.release(order_id, sku);
                }
                self.order_command(
                    index,
                    OrderCommand::Reject {
                        sku,
                        reason: "no stock".into(),
                    },
                )
                .unwrap();
                return;
            }
            reserved.push(sku);
        }
        self.order_command(index, OrderCommand::Confirm).unwrap();
    }

    fn release(&mut self, order_id: OrderId, sku: Sku) {
        self.stock_command(StockCommand::Release {
            sku,
            order_id,
            reason: "released".into(),
        })
        .unwrap();
    }

    fn pick(&self, n: usize) -> Option<usize> {
        (!self.orders.is_empty()).then(|| n % self.orders.len())
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Receive { sku: i, quantity } => {
                let _ = self.stock_command(StockCommand::Receive {
                    sku: sku(i),
                    quantity: Quantity::new(quantity).unwrap(),
                    reference: None,
                });
            }
            Step::Adjust { sku: i, delta } => {
                let _ = self.stock_command(StockCommand::Adjust {
                    sku: sku(i),
                    delta,
                    reason: "count".into(),
                });
            }
            Step::Place { lines } => {
                let order_id = OrderId(uuid::Uuid::from_u128(self.orders.len() as u128 + 1));
                let lines: Vec<PricedLine> = lines
                    .into_iter()
                    .map(|(i, q)| PricedLine {
                        sku: sku(i),
                        quantity: Quantity::new(q).unwrap(),
                        unit_price: price(i),
                    })
                    .collect();
                let command = OrderCommand::Place {
                    order_id,
                    customer_id: CustomerId(uuid::Uuid::nil()),
                    lines,
                    channel: None,
                };
                let mut order = Order::default();
                if let Ok(events) = order.decide(command) {
                    order = events.iter().fold(order, Order::evolve);
                    self.orders.push((order_id, order));
                    self.reserve(self.orders.len() - 1);
                }
            }
            Step::Cancel { order } | Step::Expire { order } => {
                let Some(index) = self.pick(order) else {
                    return;
                };
                let command = match step {
                    Step::Cancel { .. } => OrderCommand::Cancel {
                        reason: "changed mind".into(),
                    },
                    _ => OrderCommand::Expire,
                };
                let before = self.orders[index].1.placed().unwrap().status;
                if self.order_command(index, command).is_ok()
                    && self.orders[index].1.placed().unwrap().status != before
                {
                    let (order_id, order) = &self.orders[index];
                    let (order_id, skus) = (*order_id, order.placed().unwrap().skus());
                    for sku in skus {
                        self.release(order_id, sku);
                    }
                }
            }
            Step::Pay { order } => {
                let Some(index) = self.pick(order) else {
                    return;
                };
                let total = self.orders[index].1.placed().unwrap().total;
                let _ = self.order_command(
                    index,
                    OrderCommand::Pay {
                        amount: total,
                        reference: None,
                    },
                );
            }
            Step::Ship { order } => {
                let Some(index) = self.pick(order) else {
                    return;
                };
                if self
                    .order_command(
                        index,
                        OrderCommand::Ship {
                            carrier: None,
                            tracking_number: None,
                        },
                    )
                    .is_ok()
                {
                    let (order_id, order) = &self.orders[index];
                    let (order_id, skus) = (*order_id, order.placed().unwrap().skus());
                    for sku in skus {
                        self.stock_command(StockCommand::Commit { sku, order_id })
                            .unwrap();
                    }
                }
            }
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (sku, item) in &self.stock {
            prop_assert!(
                item.available() >= 0,
                "{sku}: available {}",
                item.available()
            );
            prop_assert_eq!(item.available(), item.on_hand() - item.reserved());
            let open: i64 = self
                .orders
                .iter()
                .filter_map(|(id, _)| item.reservation(*id))
                .map(Quantity::get)
                .sum();
            prop_assert_eq!(
                item.reserved(),
                open,
                "{} reserved = its open reservations",
                sku
            );
        }
        for (order_id, order) in &self.orders {
            let placed = order.placed().unwrap();
            let sum: i64 = placed.lines.iter().map(|l| l.line_total).sum();
            prop_assert_eq!(placed.total.minor(), sum, "total = sum of lines");
            for line in &placed.lines {
                prop_assert_eq!(line.line_total, line.unit_price * line.quantity.get());
            }
            let holds = |sku: &Sku| {
                self.stock
                    .get(sku)
                    .and_then(|item| item.reservation(*order_id))
                    .map_or(0, Quantity::get)
            };
            match placed.status {
                OrderStatus::Confirmed | OrderStatus::Paid => {
                    // Summed from the lines themselves, not through the
                    // domain's own helper, so a helper that drops a SKU fails.
                    let mut wanted: BTreeMap<&Sku, i64> = BTreeMap::new();
                    for line in &placed.lines {
                        *wanted.entry(&line.sku).or_default() += line.quantity.get();
                    }
                    for (sku, units) in wanted {
                        prop_assert_eq!(
                            holds(sku),
                            units,
                            "{} holds every unit of {}",
                            order_id,
                            sku
                        );
                    }
                }
                _ => {
                    for sku in placed.skus() {
                        prop_assert_eq!(
                            holds(&sku),
                            0,
                            "{} is settled and holds nothing of {}",
                            order_id,
                            sku
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_commands_breaks_the_stock_and_order_invariants(
        steps in prop::collection::vec(step(), 1..60)
    ) {
        let mut shop = Shop::default();
        for step in steps {
            shop.apply(step);
            shop.check()?;
        }
    }

    #[test]
    fn lines_of_one_sku_over_the_maximum_are_refused_never_confirmed_short(
        a in 1i64..=1_000_000, b in 1i64..=1_000_000
    ) {
        let mut shop = Shop::default();
        shop.apply(Step::Receive { sku: 0, quantity: 10 });
        shop.apply(Step::Place { lines: vec![(0, a), (0, b)] });
        if a + b > 1_000_000 {
            prop_assert!(shop.orders.is_empty(), "placement refused");
        } else {
            let status = shop.orders[0].1.placed().unwrap().status;
            prop_assert_eq!(status, if a + b <= 10 { OrderStatus::Confirmed } else { OrderStatus::Rejected });
        }
        shop.check()?;
    }
}
