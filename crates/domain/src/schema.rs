//! Event schema versions and upcasting: events stored under an older schema
//! version are rewritten to the current shape before they are deserialized.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::hold::HoldEvent;
use crate::location::LocationEvent;
use crate::order::OrderEvent;
use crate::product::ProductEvent;
use crate::stock::StockEvent;

/// The schema version every event type is written with today.
pub const CURRENT_SCHEMA_VERSION: i32 = 1;

/// Every event type name, as stored and published.
pub const EVENT_TYPES: [&str; 28] = [
    "ProductRegistered",
    "ProductPriceChanged",
    "ProductDiscontinued",
    "StockReceived",
    "StockAdjusted",
    "StockReserved",
    "StockReleased",
    "StockCommitted",
    "StockHeld",
    "StockHoldReleased",
    "OrderPlaced",
    "OrderConfirmed",
    "OrderRejected",
    "OrderPaid",
    "OrderShipped",
    "OrderCancelled",
    "OrderExpired",
    "ReturnRequested",
    "ReturnReceived",
    "OrderRefunded",
    "LocationRegistered",
    "LocationDeactivated",
    "HoldPlaced",
    "HoldChanged",
    "HoldExtended",
    "HoldReleased",
    "HoldExpired",
    "HoldConverted",
];

/// Brings a stored payload from `schema_version` to [`CURRENT_SCHEMA_VERSION`].
///
/// Each step is a pure function from version N to N+1, so a change of shape
/// adds one arm here and never rewrites the log.
pub fn upcast(event_type: &str, schema_version: i32, mut data: Value) -> Value {
    let mut version = schema_version;
    while version < CURRENT_SCHEMA_VERSION {
        data = step(event_type, version, data);
        version += 1;
    }
    data
}

/// One upcasting step. Version 0 is the pre-release shape of `StockReceived`
/// without `reference`; it shows where future steps go.
fn step(event_type: &str, from: i32, mut data: Value) -> Value {
    match (event_type, from) {
        ("StockReceived", 0) => {
            if let Some(map) = data.as_object_mut() {
                map.entry("reference").or_insert(Value::Null);
            }
            data
        }
        _ => data,
    }
}

/// The JSON Schema of each event type's `data`, keyed by event type, generated
/// from the Rust types (the checked-in copies under `docs/schemas/` must match).
pub fn data_schemas() -> BTreeMap<String, Value> {
    let roots = [
        schemars::schema_for!(ProductEvent).to_value(),
        schemars::schema_for!(StockEvent).to_value(),
        schemars::schema_for!(OrderEvent).to_value(),
        schemars::schema_for!(LocationEvent).to_value(),
        schemars::schema_for!(HoldEvent).to_value(),
    ];
    let mut schemas = BTreeMap::new();
    for root in roots {
        let defs = root.get("$defs").cloned();
        for variant in root["oneOf"].as_array().into_iter().flatten() {
            let tag = &variant["properties"]["event_type"];
            let Some(name) = tag["const"].as_str().or_else(|| tag["enum"][0].as_str()) else {
                continue;
            };
            let mut schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": name,
                "description": variant.get("description").cloned().unwrap_or(Value::Null),
                "x-schema-version": CURRENT_SCHEMA_VERSION,
            });
            if let (Some(map), Some(data)) = (
                schema.as_object_mut(),
                variant["properties"]["data"].as_object(),
            ) {
                map.extend(data.clone());
                if let Some(defs) = &defs {
                    map.insert("$defs".to_owned(), defs.clone());
                }
            }
            schemas.insert(name.to_owned(), schema);
        }
    }
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stock::StockEvent;
    use serde_json::json;

    #[test]
    fn given_a_version_zero_stock_receipt_when_upcast_then_it_loads() {
        let data = upcast("StockReceived", 0, json!({"sku": "A", "quantity": 3}));
        let event: StockEvent =
            serde_json::from_value(json!({"event_type": "StockReceived", "data": data})).unwrap();
        assert!(matches!(
            event,
            StockEvent::StockReceived {
                reference: None,
                ..
            }
        ));
    }

    #[test]
    fn there_is_a_data_schema_for_every_event_type() {
        let schemas = data_schemas();
        let names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        let mut expected = EVENT_TYPES.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(schemas["OrderPlaced"]["type"], "object");
    }

    #[test]
    fn current_payloads_pass_through_unchanged() {
        let data = json!({"sku": "A"});
        assert_eq!(upcast("ProductDiscontinued", 1, data.clone()), data);
    }
}
