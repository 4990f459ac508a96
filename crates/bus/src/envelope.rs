//! The public message format on Stockroom's topics (see docs/events.md).

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::RecordedEvent;
use uuid::Uuid;

/// The JSON value of every Kafka message Stockroom publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per event; consumers deduplicate by it.
    pub event_id: Uuid,
    /// Type name, such as `OrderPlaced`.
    pub event_type: String,
    /// Shape version of `data`.
    pub schema_version: i32,
    /// `product-{sku}`, `stock-{sku}` or `order-{uuid}`.
    pub stream_id: String,
    /// Version within the stream, from 1, without gaps.
    pub stream_version: i64,
    /// Position in the global log (unique, increasing within a stream).
    pub global_position: i64,
    /// When the event was appended.
    pub occurred_at: DateTime<Utc>,
    /// Ties together everything one user action caused.
    pub correlation_id: Uuid,
    /// The event or request that caused this one.
    pub causation_id: Option<Uuid>,
    /// Who appended it: `key:<api key id>` for a request, `system:<process>`
    /// for Stockroom's own processes. Absent in events from before actors
    /// were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The W3C `traceparent` of the request (or reaction) that appended it;
    /// also sent as the `traceparent` header. Absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The payload.
    pub data: Value,
}

impl From<&RecordedEvent> for Envelope {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            stream_id: e.stream_id.clone(),
            stream_version: e.stream_version,
            global_position: e.position,
            occurred_at: e.occurred_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            actor: e.actor.clone(),
            traceparent: e.trace_parent.clone(),
            data: e.data.clone(),
        }
    }
}

impl Envelope {
    /// The envelope as published: the relay's message value and the event
    /// feed's entries are these bytes.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// `{"events":[…],` followed by `rest` and `}`: a page of the feed or a
    /// webhook batch, each event written exactly as the relay writes it.
    /// `rest` holds the page's other members (`"next_after":P`).
    pub fn page_json(
        events: &[store::RecordedEvent],
        rest: &str,
    ) -> Result<String, serde_json::Error> {
        let mut out = String::from("{\"events\":[");
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Envelope::from(event).to_json()?);
        }
        out.push_str("],");
        out.push_str(rest);
        out.push('}');
        Ok(out)
    }

    /// The Kafka headers duplicating the routing fields, and the trace
    /// context under its W3C name.
    pub fn headers(&self) -> OwnedHeaders {
        let event_id = self.event_id.to_string();
        let schema_version = self.schema_version.to_string();
        let headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: "event_type",
                value: Some(self.event_type.as_str()),
            })
            .insert(Header {
                key: "event_id",
                value: Some(event_id.as_str()),
            })
            .insert(Header {
                key: "schema_version",
                value: Some(schema_version.as_str()),
            });
        match &self.traceparent {
            Some(trace) => headers.insert(Header {
                key: "traceparent",
                value: Some(trace.as_str()),
            }),
            None => headers,
        }
    }

    /// The trace id of the event's trace context, for logs.
    pub fn trace_id(&self) -> Option<String> {
        self.traceparent
            .as_deref()
            .and_then(store::trace::TraceParent::parse)
            .map(|t| t.trace_id().to_owned())
    }

    /// Decodes the payload into a domain event, upcasting older shapes.
    pub fn decode<E: serde::de::DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        store::decode(&self.event_type, self.schema_version, &self.data)
    }
}

/// Reads one header as text, if present and UTF-8.
pub fn header<'a, H: Headers>(headers: &'a H, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}
