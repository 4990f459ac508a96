//! Model-based property tests of cart holds on one SKU over one to three
//! locations: random interleavings of receipts, adjustments, order
//! reservations and releases, holds placed, changed, released, lapsed and
//! converted, checked after every step against a reference model.
//!
//! * at every location, held + reserved never exceeds on hand;
//! * held at a location = the units the open holds keep there, reserved =
//!   the open reservations there;
//! * a lapsed hold's units are taken only by a decision short without them;
//! * a decision on the store's rows (every location's units, the hold and
//!   order it is about, the lapsed holds) gives what the full fold gives;
//! * a hold's stream ends once, whatever is asked of it and when.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::hold::{HeldLine, Hold, HoldCommand, HoldEvent};
use domain::stock::{CartHold, Reservation, StockCommand, StockEvent, StockItem};
use domain::{Aggregate, LocationCode, OrderId, Quantity, Sku};
use proptest::prelude::*;
use uuid::Uuid;

const CODES: [&str; 3] = ["default", "north", "south"];
const HOLDS: u128 = 4;
const ORDERS: u128 = 4;

fn sku() -> Sku {
    Sku::parse("A").unwrap()
}
fn code(i: usize) -> LocationCode {
    LocationCode::parse(CODES[i]).unwrap()
}
fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 15, 0).unwrap()
}

#[derive(Debug, Clone)]
enum Step {
    Receive {
        at: usize,
        quantity: i64,
    },
    Adjust {
        at: usize,
        delta: i64,
    },
    Reserve {
        order: u128,
        at: Vec<(usize, i64)>,
    },
    Release {
        order: u128,
    },
    SetHold {
        hold: u128,
        at: Vec<(usize, i64)>,
    },
    Lapse {
        hold: u128,
    },
    Convert {
        hold: u128,
        order: u128,
        quantity: i64,
    },
}

fn units_at(locations: usize) -> impl Strategy<Value = Vec<(usize, i64)>> {
    prop::collection::vec((0..locations, 1i64..6), 0..3)
}

fn step(locations: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..locations, 1i64..8).prop_map(|(at, quantity)| Step::Receive { at, quantity }),
        1 => (0..locations, -6i64..6)
            .prop_filter("non-zero", |(_, d)| *d != 0)
            .prop_map(|(at, delta)| Step::Adjust { at, delta }),
        2 => (0..ORDERS, units_at(locations))
            .prop_filter("a line", |(_, at)| !at.is_empty())
            .prop_map(|(order, at)| Step::Reserve { order, at }),
        1 => (0..ORDERS).prop_map(|order| Step::Release { order }),
        4 => (0..HOLDS, units_at(locations)).prop_map(|(hold, at)| Step::SetHold { hold, at }),
        2 => (0..HOLDS).prop_map(|hold| Step::Lapse { hold }),
        2 => (0..HOLDS, 0..ORDERS, 1i64..6)
            .prop_map(|(hold, order, quantity)| Step::Convert { hold, order, quantity }),
    ]
}

/// The SKU's state and which holds are past their end.
struct Model {
    item: StockItem,
    lapsed: Vec<Uuid>,
}

impl Model {
    /// The state as the store loads it: lapsed flags from the clock.
    fn loaded(&self) -> StockItem {
        let holds: Vec<(Uuid, CartHold)> = self
            .item
            .cart_holds()
            .map(|(id, h)| {
                let mut h = h.clone();
                h.lapsed = self.lapsed.contains(&id);
                (id, h)
            })
            .collect();
        self.item.clone().with_cart_holds(holds)
    }

    /// What the store's rows give for `command`: every location's units,
    /// the order's reservation, the hold's units and every lapsed hold.
    fn as_rows(&self, command: &StockCommand) -> StockItem {
        let state = self.loaded();
        let rows: Vec<_> = state.locations().map(|(l, u)| (l.clone(), *u)).collect();
        let reservation = command.order_id().and_then(|o| {
            state
                .reservation_of(o)
                .map(|r: &Reservation| (o, r.clone()))
        });
        let holds: Vec<(Uuid, CartHold)> = state
            .cart_holds()
            .filter(|(id, h)| h.lapsed || Some(*id) == command.hold_id())
            .filter(|(_, h)| !h.at.is_empty())
            .map(|(id, h)| (id, h.clone()))
            .collect();
        StockItem::from_parts(rows, reservation).with_cart_holds(holds)
    }

    fn run(&mut self, command: StockCommand) {
        let state = self.loaded();
        let from_rows = self.as_rows(&command).decide(command.clone());
        let decided = state.decide(command);
        assert_eq!(from_rows, decided, "rows and fold disagree");
        if let Ok(events) = decided {
            for event in &events {
                if let StockEvent::StockHoldReleased {
                    hold_id, reason, ..
                } = event
                {
                    if reason == "expired" {
                        assert!(
                            self.lapsed.contains(hold_id),
                            "a live hold released as expired"
                        );
                    }
                }
            }
            self.item = events.iter().fold(state, StockItem::evolve);
        }
    }

    fn check(&self) {
        let mut held: BTreeMap<LocationCode, i64> = BTreeMap::new();
        for (_, hold) in self.item.cart_holds() {
            for (at, q) in &hold.at {
                *held.entry(at.clone()).or_default() += q.get();
            }
        }
        let mut reserved: BTreeMap<LocationCode, i64> = BTreeMap::new();
        for (_, r) in self.item.reservations() {
            if let Reservation::Open(at) = r {
                for (l, q) in at {
                    *reserved.entry(l.clone()).or_default() += q.get();
                }
            }
        }
        for (at, units) in self.item.locations() {
            assert!(
                units.held + units.reserved <= units.on_hand,
                "{at}: held {} + reserved {} > on hand {}",
                units.held,
                units.reserved,
                units.on_hand
            );
            assert_eq!(
                units.held,
                held.get(at).copied().unwrap_or(0),
                "held at {at}"
            );
            assert_eq!(
                units.reserved,
                reserved.get(at).copied().unwrap_or(0),
                "reserved at {at}"
            );
        }
    }
}

fn at_list(at: &[(usize, i64)]) -> Vec<(LocationCode, Quantity)> {
    at.iter()
        .map(|(l, q)| (code(*l), Quantity::new(*q).unwrap()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn holds_and_reservations_never_take_more_than_is_on_hand(
        (locations, steps) in (1usize..=3).prop_flat_map(|n| (Just(n), prop::collection::vec(step(n), 1..60)))
    ) {
        let _ = locations;
        let mut model = Model { item: StockItem::default(), lapsed: Vec::new() };
        for step in steps {
            let command = match step {
                Step::Receive { at, quantity } => StockCommand::Receive {
                    sku: sku(), quantity: Quantity::new(quantity).unwrap(), reference: None, location: code(at),
                },
                Step::Adjust { at, delta } => StockCommand::Adjust {
                    sku: sku(), delta, reason: "test".to_owned(),
                    reason_code: domain::stock::ReasonCode::Correction, location: code(at), expected_on_hand: None,
                },
                Step::Reserve { order, at } => StockCommand::Reserve {
                    sku: sku(), order_id: OrderId(Uuid::from_u128(100 + order)), at: at_list(&at),
                },
                Step::Release { order } => StockCommand::Release {
                    sku: sku(), order_id: OrderId(Uuid::from_u128(100 + order)), reason: "test".to_owned(),
                },
                Step::SetHold { hold, at } => {
                    let hold_id = Uuid::from_u128(hold);
                    if model.lapsed.contains(&hold_id) {
                        // A lapsed hold is over: its own commands are refused
                        // by its stream before they reach stock.
                        continue;
                    }
                    StockCommand::SetHold {
                        sku: sku(), hold_id, at: at_list(&at), expires_at: end(), reason: "changed".to_owned(),
                    }
                }
                Step::Lapse { hold } => {
                    let hold_id = Uuid::from_u128(hold);
                    if !model.lapsed.contains(&hold_id) {
                        model.lapsed.push(hold_id);
                    }
                    continue;
                }
                Step::Convert { hold, order, quantity } => {
                    let hold_id = Uuid::from_u128(hold);
                    if model.lapsed.contains(&hold_id) {
                        continue;
                    }
                    StockCommand::ConvertHold {
                        sku: sku(), hold_id, order_id: OrderId(Uuid::from_u128(100 + order)),
                        quantity: Quantity::new(quantity).unwrap(),
                    }
                }
            };
            model.run(command);
            model.check();
        }
    }

    #[test]
    fn a_hold_ends_exactly_once_whatever_is_asked_and_when(
        commands in prop::collection::vec((0u8..6, 0i64..40), 1..30)
    ) {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let line = HeldLine { sku: sku(), quantity: Quantity::new(1).unwrap(), location: code(0) };
        let placed = Hold::default().decide(HoldCommand::Place {
            hold_id: Uuid::nil(), channel: None, lines: vec![line.clone()], now: t0,
            ttl: Duration::minutes(15), max_lifetime: Duration::hours(24),
        }).unwrap();
        let mut hold = Hold::from_history(&placed);
        let mut ends = 0;
        let mut minute = 0;
        for (kind, step) in commands {
            // Time only moves forward.
            minute += step;
            let now = t0 + Duration::minutes(minute);
            let command = match kind {
                0 => HoldCommand::Change { lines: vec![HeldLine { quantity: Quantity::new(2).unwrap(), ..line.clone() }], now, channel: None },
                1 => HoldCommand::Extend { ttl: Duration::minutes(10), now, max_lifetime: Duration::hours(24), channel: None },
                2 => HoldCommand::Release { reason: None, now, channel: None },
                3 => HoldCommand::Expire { now },
                _ => HoldCommand::Convert { order_id: OrderId(Uuid::from_u128(u128::from(kind))), now, channel: None },
            };
            if let Ok(events) = hold.decide(command) {
                for event in &events {
                    if matches!(event, HoldEvent::HoldReleased { .. } | HoldEvent::HoldExpired { .. } | HoldEvent::HoldConverted { .. }) {
                        ends += 1;
                    }
                    if let HoldEvent::HoldExtended { expires_at, .. } = event {
                        prop_assert!(*expires_at <= t0 + Duration::hours(24));
                    }
                }
                hold = events.iter().fold(hold, Hold::evolve);
            }
            prop_assert!(ends <= 1, "a hold ended {ends} times");
        }
    }
}
