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
fn received(n: i64) -> StockEvent {
    StockEvent::StockReceived {
        sku: sku(),
        quantity: qty(n),
        reference: None,
    }
}
fn reserved(o: u128, n: i64) -> StockEvent {
    StockEvent::StockReserved {
        sku: sku(),
        order_id: order(o),
        quantity: qty(n),
    }
}
fn given(events: &[StockEvent]) -> StockItem {
    StockItem::from_history(events)
}
fn reserve(o: u128, n: i64) -> StockCommand {
    StockCommand::Reserve {
        sku: sku(),
        order_id: order(o),
        quantity: qty(n),
    }
}

#[test]
fn given_ten_on_hand_when_reserving_four_then_reserved_and_six_available() {
    let state = given(&[received(10)]);
    let events = state.decide(reserve(1, 4)).unwrap();
    assert_eq!(events, vec![reserved(1, 4)]);
    let after = events.iter().fold(state, |s, e| s.evolve(e));
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
    let after = events.iter().fold(state, |s, e| s.evolve(e));
    assert_eq!(after.available(), 5);
}

#[test]
fn given_no_reservation_when_releasing_or_committing_then_nothing_happens() {
    let state = given(&[received(5)]);
    let release = StockCommand::Release {
        sku: sku(),
        order_id: order(9),
        reason: "cancelled".into(),
    };
    let commit = StockCommand::Commit {
        sku: sku(),
        order_id: order(9),
    };
    assert!(state.decide(release).unwrap().is_empty());
    assert!(state.decide(commit).unwrap().is_empty());
}

#[test]
fn given_a_reservation_when_committing_then_on_hand_and_reserved_both_drop() {
    let state = given(&[received(5), reserved(1, 2)]);
    let events = state
        .decide(StockCommand::Commit {
            sku: sku(),
            order_id: order(1),
        })
        .unwrap();
    let after = events.iter().fold(state, |s, e| s.evolve(e));
    assert_eq!(
        (after.on_hand(), after.reserved(), after.available()),
        (3, 0, 3)
    );
}

#[test]
fn given_reserved_units_when_adjusting_below_them_then_insufficient_stock() {
    let err = given(&[received(5), reserved(1, 4)])
        .decide(StockCommand::Adjust {
            sku: sku(),
            delta: -2,
            reason: "broken".into(),
        })
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::InsufficientStock { available: 1, .. }
    ));
}

#[test]
fn given_stock_when_adjusting_by_zero_or_without_reason_then_invalid() {
    let state = given(&[received(5)]);
    let zero = StockCommand::Adjust {
        sku: sku(),
        delta: 0,
        reason: "count".into(),
    };
    let blank = StockCommand::Adjust {
        sku: sku(),
        delta: 1,
        reason: " ".into(),
    };
    assert!(
        matches!(state.decide(zero), Err(DomainError::InvalidField { field, .. }) if field == "delta")
    );
    assert!(
        matches!(state.decide(blank), Err(DomainError::InvalidField { field, .. }) if field == "reason")
    );
}

#[test]
fn given_stock_when_adjusting_up_then_on_hand_grows() {
    let state = given(&[received(5)]);
    let events = state
        .decide(StockCommand::Adjust {
            sku: sku(),
            delta: 3,
            reason: "found in count".into(),
        })
        .unwrap();
    let after = events.iter().fold(state, |s, e| s.evolve(e));
    assert_eq!(after.on_hand(), 8);
}
