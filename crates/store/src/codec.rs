//! Between domain events and stored rows: `{event_type, data}` JSON, schema
//! versions and upcasting, and the metadata every event carries.

use chrono::{DateTime, Utc};
use domain::schema::{upcast, CURRENT_SCHEMA_VERSION};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::trace::TraceParent;
use crate::StoreError;

/// Who and what caused an append; stored with every event it appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    /// Ties together everything one user action caused.
    pub correlation_id: Uuid,
    /// The event or request that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// The person or process acting.
    pub actor: Option<String>,
    /// The trace the append belongs to.
    pub trace_parent: Option<TraceParent>,
}

impl EventMetadata {
    /// Metadata for a new user action.
    pub fn new_correlation(actor: Option<String>) -> Self {
        Self {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor,
            trace_parent: None,
        }
    }
}

/// An event ready to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Fresh UUIDv7, the deduplication key downstream.
    pub event_id: Uuid,
    /// Type name, such as `OrderPlaced`.
    pub event_type: String,
    /// Shape version of `data`.
    pub schema_version: i32,
    /// The payload.
    pub data: Value,
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Global position.
    pub position: i64,
    /// The writer's transaction id (commit-order key).
    pub transaction_id: u64,
    /// Event id.
    pub event_id: Uuid,
    /// `category-aggregate_id`.
    pub stream_id: String,
    /// `product`, `stock` or `order`.
    pub category: String,
    /// SKU or order id: the Kafka key.
    pub aggregate_id: String,
    /// Version within the stream, from 1.
    pub stream_version: i64,
    /// Type name.
    pub event_type: String,
    /// Shape version of `data`.
    pub schema_version: i32,
    /// The payload, as stored (not upcast).
    pub data: Value,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// Causation id.
    pub causation_id: Option<Uuid>,
    /// Actor.
    pub actor: Option<String>,
    /// The W3C `traceparent` the append belonged to, as stored.
    pub trace_parent: Option<String>,
    /// When the event was appended.
    pub occurred_at: DateTime<Utc>,
}

/// Turns a domain event into a row to append.
pub fn encode<E: Serialize>(event: &E) -> Result<NewEvent, StoreError> {
    let tagged = serde_json::to_value(event).map_err(StoreError::Encode)?;
    let (event_type, data) = match tagged {
        Value::Object(mut map) => (
            map.remove("event_type")
                .and_then(|t| t.as_str().map(str::to_owned)),
            map.remove("data").unwrap_or(Value::Null),
        ),
        _ => (None, Value::Null),
    };
    let event_type = event_type.ok_or_else(|| {
        StoreError::Encode(serde::ser::Error::custom(
            "domain events must serialize as {event_type, data}",
        ))
    })?;
    Ok(NewEvent {
        event_id: Uuid::now_v7(),
        event_type,
        schema_version: CURRENT_SCHEMA_VERSION,
        data,
    })
}

/// Decodes a stored event into its domain type, upcasting older shapes.
pub fn decode<E: DeserializeOwned>(
    event_type: &str,
    schema_version: i32,
    data: &Value,
) -> Result<E, serde_json::Error> {
    let data = upcast(event_type, schema_version, data.clone());
    serde_json::from_value(json!({ "event_type": event_type, "data": data }))
}

impl RecordedEvent {
    /// Decodes this row into a domain event.
    pub fn decode<E: DeserializeOwned>(&self) -> Result<E, StoreError> {
        decode(&self.event_type, self.schema_version, &self.data).map_err(|source| {
            StoreError::Corrupt {
                position: self.position,
                stream_id: self.stream_id.clone(),
                source,
            }
        })
    }
}
