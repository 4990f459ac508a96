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
