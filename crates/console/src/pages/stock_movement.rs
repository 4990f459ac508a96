//! A SKU's movement as a row of its stock page: what happened, where, by
//! whom, and the units after it.

use query_api::reads::Movement;

/// A movement as a row.
pub(super) struct Row {
    /// The stream version it made.
    pub(super) version: i64,
    /// The event's type.
    pub(super) event_type: String,
    /// When it happened.
    pub(super) at: String,
    /// Who did it.
    pub(super) actor: String,
    /// Where.
    pub(super) location: String,
    /// Its quantities, reason and reference.
    pub(super) what: String,
    /// Units on hand after it.
    pub(super) on_hand: i64,
    /// Units reserved after it.
    pub(super) reserved: i64,
}

impl From<&Movement> for Row {
    fn from(m: &Movement) -> Self {
        let data = &m.event.data;
        let mut what: Vec<String> = [
            "quantity",
            "delta",
            "reason_code",
            "reason",
            "reference",
            "order_id",
        ]
        .iter()
        .filter_map(|key| {
            let value = &data[*key];
            (!value.is_null()).then(|| {
                format!(
                    "{key}: {}",
                    value
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| value.to_string())
                )
            })
        })
        .collect();
        what.dedup();
        Self {
            version: m.event.version,
            event_type: m.event.event_type.clone(),
            at: m
                .event
                .occurred_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            actor: m.event.actor.clone().unwrap_or_default(),
            // Events from before locations happened at the default one.
            location: data["location"]
                .as_str()
                .unwrap_or(domain::LocationCode::DEFAULT)
                .to_owned(),
            what: what.join(", "),
            on_hand: m.on_hand,
            reserved: m.reserved,
        }
    }
}
