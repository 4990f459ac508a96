//! Event schema versions and upcasting: events stored under an older schema
//! version are rewritten to the current shape before they are deserialized.

use serde_json::Value;

/// The schema version every event type is written with today.
pub const CURRENT_SCHEMA_VERSION: i32 = 1;

/// Every event type name, as stored and published.
pub const EVENT_TYPES: [&str; 15] = [
    "ProductRegistered",
    "ProductPriceChanged",
    "ProductDiscontinued",
    "StockReceived",
    "StockAdjusted",
    "StockReserved",
    "StockReleased",
    "StockCommitted",
    "OrderPlaced",
    "OrderConfirmed",
    "OrderRejected",
    "OrderPaid",
    "OrderShipped",
    "OrderCancelled",
    "OrderExpired",
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
    fn current_payloads_pass_through_unchanged() {
        let data = json!({"sku": "A"});
        assert_eq!(upcast("ProductDiscontinued", 1, data.clone()), data);
    }
}
