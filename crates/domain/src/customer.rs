//! The shop's own customer ids (api.md v1.2, Customers).

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValueError;

/// The shop's own id of the customer who places an order: 1 to 128
/// characters of `A-Z a-z 0-9 . _ : @ -`. A UUID is one, so every order
/// placed before shops chose their own ids decodes unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId {
    id: String,
}

/// A UUID as a customer id: the tuple constructor of the type's UUID days,
/// kept (types and functions live in separate namespaces) so code written
/// against it, such as the locations invariants, compiles unchanged.
#[allow(non_snake_case)]
pub fn CustomerId(id: Uuid) -> CustomerId {
    CustomerId::from(id)
}

impl CustomerId {
    /// The longest id a shop may use.
    pub const MAX_LEN: usize = 128;

    /// The rule as a regular expression, for documents and checks elsewhere.
    pub const PATTERN: &'static str = "^[A-Za-z0-9._:@-]{1,128}$";

    /// Validates a customer id.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ok = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-')
            });
        if ok {
            Ok(Self { id: raw.to_owned() })
        } else {
            Err(ValueError::Customer)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl From<Uuid> for CustomerId {
    /// A UUID in its hyphenated form, always a valid id.
    fn from(id: Uuid) -> Self {
        Self { id: id.to_string() }
    }
}

impl std::str::FromStr for CustomerId {
    type Err = ValueError;
    fn from_str(raw: &str) -> Result<Self, ValueError> {
        Self::parse(raw)
    }
}

impl TryFrom<String> for CustomerId {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, ValueError> {
        Self::parse(&raw)
    }
}

impl From<CustomerId> for String {
    fn from(id: CustomerId) -> String {
        id.id
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl JsonSchema for CustomerId {
    fn schema_name() -> Cow<'static, str> {
        "CustomerId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": CustomerId::MAX_LEN,
            "pattern": CustomerId::PATTERN,
            "description": "The shop's own customer id: 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '@' or '-' (a UUID is one)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_are_the_shops_own_and_uuids_are_some() {
        // given ids a shop might use, when parsed, then they are kept as sent
        for ok in [
            "cust-42",
            "a",
            "user@example.com",
            "shop:eu:7_1.x",
            &"x".repeat(128),
        ] {
            assert_eq!(CustomerId::parse(ok).unwrap().as_str(), ok);
        }
        let uuid = Uuid::parse_str("0b6c1f7e-3c1d-4f7a-9f3e-2a5d8c4b1e90").unwrap();
        assert_eq!(
            CustomerId::from(uuid),
            CustomerId::parse(&uuid.to_string()).unwrap()
        );
        // given anything else, when parsed, then it is refused
        for bad in [
            "",
            "has space",
            "ä",
            "semi;colon",
            "slash/",
            &"x".repeat(129),
        ] {
            assert_eq!(CustomerId::parse(bad), Err(ValueError::Customer), "{bad:?}");
        }
    }

    #[test]
    fn customer_ids_in_old_events_decode_unchanged() {
        let id: CustomerId =
            serde_json::from_value(serde_json::json!("0b6c1f7e-3c1d-4f7a-9f3e-2a5d8c4b1e90"))
                .unwrap();
        assert_eq!(id.as_str(), "0b6c1f7e-3c1d-4f7a-9f3e-2a5d8c4b1e90");
        assert!(serde_json::from_value::<CustomerId>(serde_json::json!("no spaces")).is_err());
    }
}
