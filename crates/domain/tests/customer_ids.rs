//! Property tests of the customer id rule (api.md v1.2, Customers): every
//! string of 1 to 128 characters of `A-Z a-z 0-9 . _ : @ -` is an id, kept
//! as sent and round-tripped through JSON; nothing else is; every UUID is.

#![allow(missing_docs)]

use domain::{CustomerId, ValueError};
use proptest::prelude::*;

proptest! {
    #[test]
    fn every_string_of_the_alphabet_is_an_id(raw in "[A-Za-z0-9._:@-]{1,128}") {
        let id = CustomerId::parse(&raw).unwrap();
        prop_assert_eq!(id.as_str(), raw.as_str());
        let json = serde_json::to_value(&id).unwrap();
        prop_assert_eq!(serde_json::from_value::<CustomerId>(json).unwrap(), id);
    }

    #[test]
    fn a_character_outside_the_alphabet_is_refused(
        head in "[A-Za-z0-9._:@-]{0,60}",
        bad in "[^A-Za-z0-9._:@-]",
        tail in "[A-Za-z0-9._:@-]{0,60}",
    ) {
        let raw = format!("{head}{bad}{tail}");
        prop_assert_eq!(CustomerId::parse(&raw), Err(ValueError::Customer));
    }

    #[test]
    fn longer_than_128_is_refused(raw in "[A-Za-z0-9._:@-]{129,300}") {
        prop_assert_eq!(CustomerId::parse(&raw), Err(ValueError::Customer));
    }

    #[test]
    fn every_uuid_is_an_id(bits in any::<u128>()) {
        let uuid = uuid::Uuid::from_u128(bits);
        prop_assert_eq!(CustomerId::parse(&uuid.to_string()).unwrap(), CustomerId::from(uuid));
    }
}
