//! The documented bounds of the numbers command bodies carry, each written
//! once from the domain's own constant: a body field says
//! `#[schemars(with = "…")]` with one of these (or with [`domain::Quantity`],
//! [`domain::Sku`], [`domain::Currency`], whose schemas the domain owns).

use std::borrow::Cow;

use domain::{Money, Quantity};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

/// Units added (positive) or removed (negative) by a correction: never
/// zero, at most [`Quantity::MAX`] either way.
pub struct UnitsDelta;

impl JsonSchema for UnitsDelta {
    fn schema_name() -> Cow<'static, str> {
        "UnitsDelta".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": -i64::from(Quantity::MAX),
            "maximum": Quantity::MAX,
            "not": {"const": 0},
            "description": "Units to add (positive) or remove (negative); never zero"
        })
    }
}

/// An amount of money in minor units (cents): 0 to [`Money::MAX_MINOR`].
pub struct MinorUnits;

impl JsonSchema for MinorUnits {
    fn schema_name() -> Cow<'static, str> {
        "MinorUnits".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 0,
            "maximum": Money::MAX_MINOR,
            "description": "An amount in minor units of its currency (cents)"
        })
    }
}

/// An amount to refund in minor units: 1 to [`Money::MAX_MINOR`].
pub struct RefundAmount;

impl JsonSchema for RefundAmount {
    fn schema_name() -> Cow<'static, str> {
        "RefundAmount".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": Money::MAX_MINOR,
            "description": "An amount in minor units of the order's currency; at most what was paid less what was refunded"
        })
    }
}

/// Why a return line or refund, for people: 1 to
/// [`domain::order::MAX_REASON`] characters, not only blanks.
pub struct Reason;

impl JsonSchema for Reason {
    fn schema_name() -> Cow<'static, str> {
        "Reason".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": domain::order::MAX_REASON,
            "pattern": domain::order::REASON_PATTERN,
            "description": "Why, for people: not only spaces, tabs or line breaks"
        })
    }
}
