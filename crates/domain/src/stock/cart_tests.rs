//! Given/when/then tests of cart holds on a SKU.

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::*;

fn sku() -> Sku {
    Sku::parse("MUG-1").unwrap()
}
fn qty(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}
fn loc(raw: &str) -> LocationCode {
    LocationCode::parse(raw).unwrap()
}
fn hold(n: u128) -> Uuid {
    Uuid::from_u128(n)
}
fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 15, 0).unwrap()
}
fn received(at: &str, n: i64) -> StockEvent {
    StockEvent::StockReceived {
        sku: sku(),
        quantity: qty(n),
        reference: None,
        location: loc(at),
    }
}
fn held(h: u128, at: &str, n: i64) -> StockEvent {
    StockEvent::StockHeld {
        sku: sku(),
        hold_id: hold(h),
        quantity: qty(n),
        location: loc(at),
        expires_at: end(),
    }
}
fn set_hold(h: u128, at: &[(&str, i64)]) -> StockCommand {
    StockCommand::SetHold {
        sku: sku(),
        hold_id: hold(h),
        at: at.iter().map(|(l, n)| (loc(l), qty(*n))).collect(),
        expires_at: end(),
        reason: "changed".to_owned(),
    }
}
/// The state as a loader sees it, with `lapsed` holds past their end.
fn given(events: &[StockEvent], lapsed: &[u128]) -> StockItem {
    let state = StockItem::from_history(events);
    let holds: Vec<(Uuid, CartHold)> = state
        .cart_holds()
        .map(|(id, h)| {
            let mut h = h.clone();
            h.lapsed = lapsed.iter().any(|l| hold(*l) == id);
            (id, h)
        })
        .collect();
    state.with_cart_holds(holds)
}
fn apply(state: StockItem, events: &[StockEvent]) -> StockItem {
    events.iter().fold(state, StockItem::evolve)
}

#[test]
fn held_units_are_not_available_and_count_in_held() {
    let state = given(&[received("a", 5), held(1, "a", 3)], &[]);
    assert_eq!(state.at(&loc("a")).available(), 2);
    assert_eq!(state.held(), 3);
    let err = state
        .decide(StockCommand::Reserve {
            sku: sku(),
            order_id: OrderId(Uuid::from_u128(9)),
            at: vec![(loc("a"), qty(3))],
        })
        .unwrap_err();
    assert!(
        matches!(err, DomainError::InsufficientStock { available: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn a_hold_changed_needs_room_only_for_what_it_adds() {
    let state = given(&[received("a", 5), held(1, "a", 4)], &[]);
    let events = state.decide(set_hold(1, &[("a", 5)])).unwrap();
    let state = apply(state, &events);
    assert_eq!(state.at(&loc("a")).held, 5);
    assert_eq!(state.at(&loc("a")).available(), 0);
    assert!(state.decide(set_hold(1, &[("a", 6)])).is_err());
}

#[test]
fn setting_what_a_hold_already_keeps_is_a_no_op_and_empty_releases() {
    let state = given(&[received("a", 5), held(1, "a", 2)], &[]);
    assert_eq!(state.decide(set_hold(1, &[("a", 2)])).unwrap(), []);
    let events = state.decide(set_hold(1, &[])).unwrap();
    let state = apply(state, &events);
    assert_eq!(state.held(), 0);
    assert_eq!(state.decide(set_hold(1, &[])).unwrap(), []);
}

#[test]
fn a_reservation_short_at_a_location_releases_its_lapsed_holds_first() {
    let state = given(
        &[
            received("a", 5),
            held(1, "a", 2),
            held(2, "a", 2),
            held(3, "b", 1),
        ],
        &[1, 3],
    );
    assert_eq!(state.obtainable(&loc("a")), 3);
    let events = state
        .decide(StockCommand::Reserve {
            sku: sku(),
            order_id: OrderId(Uuid::from_u128(9)),
            at: vec![(loc("a"), qty(3))],
        })
        .unwrap();
    // Only the lapsed hold at the short location is released; the live
    // one and the lapsed one elsewhere stay.
    let released: Vec<Uuid> = events
        .iter()
        .filter_map(|e| match e {
            StockEvent::StockHoldReleased {
                hold_id, reason, ..
            } if reason == "expired" => Some(*hold_id),
            _ => None,
        })
        .collect();
    assert_eq!(released, [hold(1)]);
    let state = apply(state, &events);
    assert_eq!(state.at(&loc("a")).held, 2);
    assert_eq!(state.at(&loc("a")).available(), 0);
    assert_eq!(state.at(&loc("b")).held, 1);
}

#[test]
fn a_decision_that_fits_leaves_lapsed_holds_alone() {
    let state = given(&[received("a", 5), held(1, "a", 2)], &[1]);
    let events = state
        .decide(StockCommand::Reserve {
            sku: sku(),
            order_id: OrderId(Uuid::from_u128(9)),
            at: vec![(loc("a"), qty(3))],
        })
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn an_adjustment_down_may_take_a_lapsed_holds_units() {
    let state = given(&[received("a", 5), held(1, "a", 5)], &[1]);
    let events = state
        .decide(StockCommand::Adjust {
            sku: sku(),
            delta: -4,
            reason: "broken".to_owned(),
            reason_code: ReasonCode::Damaged,
            location: loc("a"),
            expected_on_hand: None,
        })
        .unwrap();
    let state = apply(state, &events);
    assert_eq!(
        state.at(&loc("a")),
        Units {
            on_hand: 1,
            reserved: 0,
            held: 0
        }
    );
}

#[test]
fn a_converted_hold_becomes_the_orders_reservation_where_it_was_kept() {
    let state = given(
        &[
            received("a", 2),
            received("b", 2),
            held(1, "a", 2),
            held(1, "b", 2),
        ],
        &[],
    );
    let order = OrderId(Uuid::from_u128(9));
    let convert = |n| StockCommand::ConvertHold {
        sku: sku(),
        hold_id: hold(1),
        order_id: order,
        quantity: qty(n),
    };
    assert!(state.decide(convert(5)).is_err());
    let events = state.decide(convert(3)).unwrap();
    let state = apply(state, &events);
    assert_eq!(state.held(), 0);
    assert_eq!(state.at(&loc("a")).reserved, 2);
    assert_eq!(state.at(&loc("b")).reserved, 1);
    assert_eq!(state.available(), 1);
    // Converting again is a no-op: the order holds its units.
    assert_eq!(state.decide(convert(3)).unwrap(), []);
}
