//! W3C trace context carried with events: the `traceparent` of the request
//! that started an order travels with every event it causes, into the
//! reservation and the read models and out on Kafka, so one order can be
//! followed through the whole pipeline by its trace id.

use std::fmt;

use uuid::Uuid;

/// A valid `traceparent` (version 00): trace id, parent span id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    parent_id: String,
    flags: String,
}

impl TraceParent {
    /// Parses a header value; `None` for anything the W3C format refuses
    /// (a caller then starts a new trace, as the recommendation says).
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        let valid = version == "00"
            && parts.next().is_none()
            && hex(trace_id, 32)
            && !zero(trace_id)
            && hex(parent_id, 16)
            && !zero(parent_id)
            && hex(flags, 2);
        valid.then(|| Self {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
            flags: flags.to_owned(),
        })
    }

    /// A new trace, sampled.
    pub fn fresh() -> Self {
        Self {
            trace_id: Uuid::new_v4().simple().to_string(),
            parent_id: span_id(),
            flags: "01".to_owned(),
        }
    }

    /// The same trace, continued by a new span (a worker reacting to an
    /// event of this trace).
    pub fn child(&self) -> Self {
        Self {
            parent_id: span_id(),
            ..self.clone()
        }
    }

    /// The 32-hex-digit id every span of the trace shares.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }
}

/// A random, non-zero 16-hex-digit span id.
fn span_id() -> String {
    let bits = (Uuid::new_v4().as_u128() as u64).max(1);
    format!("{bits:016x}")
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_header_round_trips_and_a_child_keeps_the_trace() {
        let raw = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(raw).unwrap();
        assert_eq!(parsed.to_string(), raw);
        let child = parsed.child();
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child.to_string(), raw);
        assert!(TraceParent::parse(&child.to_string()).is_some());
        assert!(TraceParent::parse(&TraceParent::fresh().to_string()).is_some());
    }

    #[test]
    fn malformed_headers_are_refused() {
        for raw in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(raw).is_none(), "{raw}");
        }
    }
}
