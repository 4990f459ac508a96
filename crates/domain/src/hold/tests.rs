//! Given / when / then for each rule of a hold.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn line(sku: &str, quantity: i64, location: &str) -> HeldLine {
    HeldLine {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::new(quantity).unwrap(),
        location: LocationCode::parse(location).unwrap(),
    }
}

const MAX: i64 = 24 * 3600;

fn place(channel: Option<&str>) -> Hold {
    let command = HoldCommand::Place {
        hold_id: Uuid::nil(),
        channel: channel.map(str::to_owned),
        lines: vec![line("MUG-1", 2, "default")],
        now: t0(),
        ttl: Duration::minutes(15),
        max_lifetime: Duration::seconds(MAX),
    };
    let events = Hold::default().decide(command).unwrap();
    Hold::from_history(&events)
}

fn given_then(hold: &Hold, command: HoldCommand) -> Result<Vec<HoldEvent>, DomainError> {
    hold.decide(command)
}

#[test]
fn a_placed_hold_lasts_its_ttl_and_sorts_its_lines() {
    let events = Hold::default()
        .decide(HoldCommand::Place {
            hold_id: Uuid::nil(),
            channel: None,
            lines: vec![
                line("TEA-1", 1, "b"),
                line("MUG-1", 2, "z"),
                line("MUG-1", 1, "a"),
            ],
            now: t0(),
            ttl: Duration::minutes(15),
            max_lifetime: Duration::seconds(MAX),
        })
        .unwrap();
    let HoldEvent::HoldPlaced {
        lines, expires_at, ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*expires_at, t0() + Duration::minutes(15));
    let order: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.sku.as_str(), l.location.as_str()))
        .collect();
    assert_eq!(order, [("MUG-1", "a"), ("MUG-1", "z"), ("TEA-1", "b")]);
}

#[test]
fn a_hold_names_each_sku_at_each_location_once() {
    let err = Hold::default()
        .decide(HoldCommand::Place {
            hold_id: Uuid::nil(),
            channel: None,
            lines: vec![
                line("MUG-1", 1, "a"),
                line("TEA-1", 1, "a"),
                line("MUG-1", 3, "a"),
            ],
            now: t0(),
            ttl: Duration::minutes(15),
            max_lifetime: Duration::seconds(MAX),
        })
        .unwrap_err();
    assert!(matches!(err, DomainError::InvalidField { .. }), "{err:?}");
}

#[test]
fn a_ttl_past_the_maximum_lifetime_is_refused() {
    let err = Hold::default()
        .decide(HoldCommand::Place {
            hold_id: Uuid::nil(),
            channel: None,
            lines: vec![line("MUG-1", 1, "a")],
            now: t0(),
            ttl: Duration::seconds(MAX + 1),
            max_lifetime: Duration::seconds(MAX),
        })
        .unwrap_err();
    assert!(matches!(err, DomainError::InvalidField { .. }), "{err:?}");
}

#[test]
fn an_extension_counts_from_now_and_stays_within_the_lifetime() {
    let hold = place(None);
    let extend = |at: DateTime<Utc>, ttl| HoldCommand::Extend {
        ttl,
        now: at,
        max_lifetime: Duration::seconds(MAX),
        channel: None,
    };
    let events = given_then(
        &hold,
        extend(t0() + Duration::minutes(10), Duration::minutes(15)),
    )
    .unwrap();
    assert_eq!(
        events,
        [HoldEvent::HoldExtended {
            hold_id: Uuid::nil(),
            expires_at: t0() + Duration::minutes(25)
        }]
    );
    let too_long = extend(t0() + Duration::minutes(10), Duration::seconds(MAX));
    assert!(given_then(&hold, too_long).is_err());
    // Past its end there is nothing left to extend.
    let late = extend(t0() + Duration::minutes(15), Duration::minutes(15));
    assert!(matches!(
        given_then(&hold, late),
        Err(DomainError::Forbidden { .. })
    ));
}

#[test]
fn a_hold_is_expired_from_expires_at_on_even_before_its_event() {
    let hold = place(None);
    let placed = hold.placed().unwrap();
    let end = placed.expires_at;
    assert_eq!(
        placed.status_at(end - Duration::milliseconds(1)),
        HoldStatus::Active
    );
    assert_eq!(placed.status_at(end), HoldStatus::Expired);
    let convert = |now| HoldCommand::Convert {
        order_id: OrderId(Uuid::from_u128(7)),
        now,
        channel: None,
    };
    assert!(given_then(&hold, convert(end - Duration::milliseconds(1))).is_ok());
    assert!(matches!(
        given_then(&hold, convert(end)),
        Err(DomainError::Forbidden { .. })
    ));
}

#[test]
fn a_hold_ends_once() {
    let hold = place(None);
    let expired = hold
        .decide(HoldCommand::Expire {
            now: t0() + Duration::minutes(15),
        })
        .unwrap();
    assert_eq!(
        expired,
        [HoldEvent::HoldExpired {
            hold_id: Uuid::nil()
        }]
    );
    let hold = hold.evolve(&expired[0]);
    let now = t0() + Duration::minutes(16);
    assert_eq!(hold.decide(HoldCommand::Expire { now }).unwrap(), []);
    assert_eq!(
        hold.decide(HoldCommand::Release {
            reason: None,
            now,
            channel: None
        })
        .unwrap(),
        []
    );
    assert!(hold
        .decide(HoldCommand::Convert {
            order_id: OrderId(Uuid::from_u128(7)),
            now,
            channel: None
        })
        .is_err());
}

#[test]
fn an_early_expiry_is_a_no_op() {
    let hold = place(None);
    let early = HoldCommand::Expire {
        now: t0() + Duration::minutes(14),
    };
    assert_eq!(hold.decide(early).unwrap(), []);
}

#[test]
fn a_release_after_expires_at_ends_the_hold_as_expired() {
    let hold = place(None);
    let events = hold
        .decide(HoldCommand::Release {
            reason: None,
            now: t0() + Duration::hours(1),
            channel: None,
        })
        .unwrap();
    assert_eq!(
        events,
        [HoldEvent::HoldExpired {
            hold_id: Uuid::nil()
        }]
    );
}

#[test]
fn a_converted_hold_converts_again_into_the_same_order_only() {
    let hold = place(None);
    let order = OrderId(Uuid::from_u128(7));
    let now = t0() + Duration::minutes(1);
    let convert = |order_id| HoldCommand::Convert {
        order_id,
        now,
        channel: None,
    };
    let events = hold.decide(convert(order)).unwrap();
    let hold = hold.evolve(&events[0]);
    assert_eq!(hold.decide(convert(order)).unwrap(), []);
    assert!(hold.decide(convert(OrderId(Uuid::from_u128(8)))).is_err());
    assert!(hold
        .decide(HoldCommand::Release {
            reason: None,
            now,
            channel: None
        })
        .is_err());
}

#[test]
fn another_channel_cannot_see_the_hold() {
    let hold = place(Some("web"));
    let now = t0() + Duration::minutes(1);
    let err = hold
        .decide(HoldCommand::Release {
            reason: None,
            now,
            channel: Some("pos".to_owned()),
        })
        .unwrap_err();
    assert!(matches!(err, DomainError::NotFound { .. }), "{err:?}");
    assert!(hold
        .decide(HoldCommand::Release {
            reason: None,
            now,
            channel: Some("web".to_owned())
        })
        .is_ok());
}

#[test]
fn changing_to_the_same_lines_is_a_no_op() {
    let hold = place(None);
    let now = t0() + Duration::minutes(1);
    let same = HoldCommand::Change {
        lines: vec![line("MUG-1", 2, "default")],
        now,
        channel: None,
    };
    assert_eq!(hold.decide(same).unwrap(), []);
    let more = HoldCommand::Change {
        lines: vec![line("MUG-1", 3, "default")],
        now,
        channel: None,
    };
    assert_eq!(hold.decide(more).unwrap().len(), 1);
}
