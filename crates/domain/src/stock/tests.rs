//! Given/when/then tests of the stock rules.

use super::*;

fn sku() -> Sku {
    Sku::parse("MUG-1").unwrap()
}
fn qty(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}
fn order(n: u128) -> OrderId {
    OrderId(uuid::Uuid::from_u128(n))
}
fn here() -> LocationCode {
    LocationCode::default_location()
}
fn loc(raw: &str) -> LocationCode {
    LocationCode::parse(raw).unwrap()
}
fn received_at(at: &str, n: i64) -> StockEvent {
    StockEvent::StockReceived {
        sku: sku(),
        quantity: qty(n),
        reference: None,
        location: loc(at),
    }
}
fn received(n: i64) -> StockEvent {
    received_at(LocationCode::DEFAULT, n)
}
fn reserved_at(o: u128, at: &str, n: i64) -> StockEvent {
    StockEvent::StockReserved {
        sku: sku(),
        order_id: order(o),
        quantity: qty(n),
        location: loc(at),
    }
}
fn reserved(o: u128, n: i64) -> StockEvent {
    reserved_at(o, LocationCode::DEFAULT, n)
}
fn given(events: &[StockEvent]) -> StockItem {
    StockItem::from_history(events)
}
fn reserve_at(o: u128, at: &[(&str, i64)]) -> StockCommand {
    StockCommand::Reserve {
        sku: sku(),
        order_id: order(o),
        at: at.iter().map(|(l, n)| (loc(l), qty(*n))).collect(),
    }
}
fn reserve(o: u128, n: i64) -> StockCommand {
    reserve_at(o, &[(LocationCode::DEFAULT, n)])
}
fn adjust(delta: i64, reason: &str) -> StockCommand {
    adjust_at(here(), delta, reason, None)
}
fn adjust_at(
    location: LocationCode,
    delta: i64,
    reason: &str,
    expected_on_hand: Option<i64>,
) -> StockCommand {
    StockCommand::Adjust {
        sku: sku(),
        delta,
        reason: reason.into(),
        reason_code: ReasonCode::Correction,
        location,
        expected_on_hand,
    }
}
fn commit_all(o: u128) -> StockCommand {
    StockCommand::Commit {
        sku: sku(),
        order_id: order(o),
        units: None,
        shipment_id: None,
    }
}
fn after(state: StockItem, events: &[StockEvent]) -> StockItem {
    events.iter().fold(state, |s, e| s.evolve(e))
}

#[test]
fn given_ten_on_hand_when_reserving_four_then_reserved_and_six_available() {
    let state = given(&[received(10)]);
    let events = state.decide(reserve(1, 4)).unwrap();
    assert_eq!(events, vec![reserved(1, 4)]);
    let after = after(state, &events);
    assert_eq!(
        (after.on_hand(), after.reserved(), after.available()),
        (10, 4, 6)
    );
}

#[test]
fn given_three_available_when_reserving_four_then_insufficient_stock() {
    let err = given(&[received(5), reserved(1, 2)])
        .decide(reserve(2, 4))
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::InsufficientStock {
            sku: sku(),
            requested: 4,
            available: 3
        }
    );
}

#[test]
fn given_a_reservation_when_the_same_order_reserves_again_then_nothing_happens() {
    let events = given(&[received(5), reserved(1, 2)])
        .decide(reserve(1, 2))
        .unwrap();
    assert!(events.is_empty());
}

#[test]
fn given_a_released_reservation_when_the_order_reserves_again_then_forbidden() {
    let released = StockEvent::StockReleased {
        sku: sku(),
        order_id: order(1),
        quantity: qty(2),
        reason: "cancelled".into(),
        location: here(),
    };
    let err = given(&[received(5), reserved(1, 2), released])
        .decide(reserve(1, 2))
        .unwrap_err();
    assert!(matches!(err, DomainError::Forbidden { .. }));
}

#[test]
fn given_a_reservation_when_releasing_then_released_and_units_free_again() {
    let state = given(&[received(5), reserved(1, 2)]);
    let events = state
        .decide(StockCommand::Release {
            sku: sku(),
            order_id: order(1),
            reason: "cancelled".into(),
        })
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(after(state, &events).available(), 5);
}

#[test]
fn given_no_reservation_when_releasing_or_committing_then_nothing_happens() {
    let state = given(&[received(5)]);
    let release = StockCommand::Release {
        sku: sku(),
        order_id: order(9),
        reason: "cancelled".into(),
    };
    assert!(state.decide(release).unwrap().is_empty());
    assert!(state.decide(commit_all(9)).unwrap().is_empty());
}

#[test]
fn given_a_reservation_when_committing_then_on_hand_and_reserved_both_drop() {
    let state = given(&[received(5), reserved(1, 2)]);
    let events = state.decide(commit_all(1)).unwrap();
    let after = after(state, &events);
    assert_eq!(
        (after.on_hand(), after.reserved(), after.available()),
        (3, 0, 3)
    );
}

#[test]
fn given_reserved_units_when_adjusting_below_them_then_insufficient_stock() {
    let err = given(&[received(5), reserved(1, 4)])
        .decide(adjust(-2, "broken"))
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::InsufficientStock { available: 1, .. }
    ));
}

#[test]
fn given_stock_when_adjusting_by_zero_or_without_reason_then_invalid() {
    let state = given(&[received(5)]);
    assert!(
        matches!(state.decide(adjust(0, "count")), Err(DomainError::InvalidField { field, .. }) if field == "delta")
    );
    assert!(
        matches!(state.decide(adjust(1, " ")), Err(DomainError::InvalidField { field, .. }) if field == "reason")
    );
}

#[test]
fn given_stock_when_adjusting_up_then_on_hand_grows() {
    let state = given(&[received(5)]);
    let events = state.decide(adjust(3, "found in count")).unwrap();
    assert_eq!(after(state, &events).on_hand(), 8);
}

#[test]
fn given_stock_at_two_locations_when_reserving_at_both_then_each_location_holds_its_part() {
    let state = given(&[received_at("north", 3), received_at("south", 4)]);
    let events = state
        .decide(reserve_at(1, &[("north", 3), ("south", 1)]))
        .unwrap();
    assert_eq!(
        events,
        vec![reserved_at(1, "north", 3), reserved_at(1, "south", 1)]
    );
    let after = after(state, &events);
    assert_eq!(after.at(&loc("north")).available(), 0);
    assert_eq!(after.at(&loc("south")).available(), 3);
    assert_eq!(after.reservation(order(1)), Some(qty(4)));
}

#[test]
fn units_at_one_location_never_cover_a_shortfall_at_another() {
    let state = given(&[received_at("north", 3), received_at("south", 40)]);
    let err = state.decide(reserve_at(1, &[("north", 4)])).unwrap_err();
    assert!(matches!(
        err,
        DomainError::InsufficientStock {
            requested: 4,
            available: 3,
            ..
        }
    ));
    let err = state
        .decide(adjust_at(loc("north"), -4, "broken", None))
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::InsufficientStock { available: 3, .. }
    ));
}

#[test]
fn a_partial_commit_leaves_the_rest_reserved_and_a_release_then_frees_only_that() {
    let state = given(&[
        received_at("north", 3),
        received_at("south", 4),
        reserved_at(1, "north", 3),
        reserved_at(1, "south", 2),
    ]);
    let shipped = state
        .decide(StockCommand::Commit {
            sku: sku(),
            order_id: order(1),
            units: Some((loc("north"), qty(2))),
            shipment_id: None,
        })
        .unwrap();
    let state = after(state, &shipped);
    assert_eq!(state.at(&loc("north")).on_hand, 1);
    assert_eq!(state.reservation(order(1)), Some(qty(3)));
    let released = state
        .decide(StockCommand::Release {
            sku: sku(),
            order_id: order(1),
            reason: "cancelled".into(),
        })
        .unwrap();
    assert_eq!(released.len(), 2);
    let state = after(state, &released);
    assert_eq!(
        (state.on_hand(), state.reserved(), state.available()),
        (5, 0, 5)
    );
    assert_eq!(state.reservation_of(order(1)), Some(&Reservation::Settled));
}

#[test]
fn an_adjustment_with_a_stale_expected_on_hand_is_refused_naming_the_current_value() {
    let state = given(&[received(5)]);
    let stale = adjust_at(here(), -1, "dropped", Some(4));
    assert_eq!(
        state.decide(stale).unwrap_err(),
        DomainError::StaleQuantity {
            location: here(),
            expected: 4,
            actual: 5
        }
    );
    let fresh = adjust_at(here(), -1, "dropped", Some(5));
    assert_eq!(
        after(state.clone(), &state.decide(fresh).unwrap()).on_hand(),
        4
    );
}

#[test]
fn a_count_sets_on_hand_to_what_was_counted_and_an_equal_count_records_nothing() {
    let state = given(&[received_at("north", 7), reserved_at(1, "north", 2)]);
    let count = |counted| StockCommand::Count {
        sku: sku(),
        location: loc("north"),
        counted,
        reference: Some("sheet 12".into()),
    };
    let events = state.decide(count(4)).unwrap();
    assert!(matches!(
        &events[..],
        [StockEvent::StockAdjusted {
            delta: -3,
            reason_code: Some(ReasonCode::CycleCount),
            ..
        }]
    ));
    assert_eq!(after(state.clone(), &events).at(&loc("north")).on_hand, 4);
    assert!(state.decide(count(7)).unwrap().is_empty());
    assert!(matches!(
        state.decide(count(1)),
        Err(DomainError::InsufficientStock { .. })
    ));
}

#[test]
fn an_event_from_before_locations_is_about_the_default_location() {
    let old: StockEvent = serde_json::from_value(serde_json::json!({
        "event_type": "StockReceived",
        "data": {"sku": "MUG-1", "quantity": 3, "reference": null}
    }))
    .unwrap();
    assert_eq!(old.location(), &here());
    let old: StockEvent = serde_json::from_value(serde_json::json!({
        "event_type": "StockAdjusted",
        "data": {"sku": "MUG-1", "delta": -1, "reason": "broken"}
    }))
    .unwrap();
    assert!(matches!(
        old,
        StockEvent::StockAdjusted {
            reason_code: None,
            ..
        }
    ));
}
