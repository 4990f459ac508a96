//! A place that keeps stock (a warehouse, a store): its priority for
//! allocation, the sales channels it may serve, and whether it still takes
//! new allocations. The location `default` exists without being registered.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError, LocationCode, StreamCategory};

/// Priority of a location registered without one; lower ships first.
pub const DEFAULT_PRIORITY: i32 = 100;

/// Highest priority number accepted.
pub const MAX_PRIORITY: i32 = 10_000;

/// Most sales channels one location may list.
pub const MAX_CHANNELS: usize = 64;

/// Events of the `location-{code}` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "data")]
pub enum LocationEvent {
    /// A location was registered.
    LocationRegistered {
        /// Its code.
        code: LocationCode,
        /// Its name, for people.
        name: String,
        /// Lower ships first.
        priority: i32,
        /// Sales channels it may serve; empty: all.
        channels: Vec<String>,
    },
    /// The location takes no new allocations; its stock stays.
    LocationDeactivated {
        /// Its code.
        code: LocationCode,
        /// Why, for people.
        reason: String,
    },
}

/// Commands on a location.
#[derive(Debug, Clone)]
pub enum LocationCommand {
    /// Register a new location.
    Register {
        /// Its code.
        code: LocationCode,
        /// Its name.
        name: String,
        /// Lower ships first; [`DEFAULT_PRIORITY`] when absent.
        priority: Option<i32>,
        /// Sales channels it may serve; empty: all.
        channels: Vec<String>,
    },
    /// Stop allocating from it; a no-op when it is already inactive.
    Deactivate {
        /// Its code.
        code: LocationCode,
        /// Why.
        reason: String,
    },
}

/// What a location is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Site {
    /// Its code.
    pub code: LocationCode,
    /// Its name.
    pub name: String,
    /// Lower ships first.
    pub priority: i32,
    /// Sales channels it may serve; empty: all.
    pub channels: Vec<String>,
    /// Whether it takes new allocations.
    pub active: bool,
}

impl Site {
    /// The location `default` as it is before anyone changes it.
    pub fn builtin_default() -> Self {
        Self {
            code: LocationCode::default_location(),
            name: "Default".to_owned(),
            priority: DEFAULT_PRIORITY,
            channels: Vec::new(),
            active: true,
        }
    }

    /// Whether an order placed through `channel` may be allocated here. An
    /// order placed without a channel (by staff) may use any active location.
    pub fn serves(&self, channel: Option<&str>) -> bool {
        self.active
            && (self.channels.is_empty()
                || channel.is_none_or(|c| self.channels.iter().any(|own| own == c)))
    }
}

/// A location's state; `None` inside until registered, except for `default`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location(Option<Site>);

impl Location {
    /// The location, if it exists.
    pub fn site(&self) -> Option<&Site> {
        self.0.as_ref()
    }

    /// The state of `code` as decisions see it: `default` exists even with
    /// an empty stream.
    fn resolved(&self, code: &LocationCode) -> Option<Site> {
        self.0
            .clone()
            .or_else(|| code.is_default().then(Site::builtin_default))
    }
}

/// Refuses a registration's fields that break a rule, whatever the
/// location's state: adapters check them before anything else (a version
/// precondition included), so a bad request is a 422 first.
pub fn check_registration(
    name: &str,
    priority: Option<i32>,
    channels: &[String],
) -> Result<(), DomainError> {
    check_name(name)?;
    if !(0..=MAX_PRIORITY).contains(&priority.unwrap_or(DEFAULT_PRIORITY)) {
        return Err(DomainError::invalid(
            "priority",
            format!("must be from 0 to {MAX_PRIORITY}"),
        ));
    }
    check_channels(channels)
}

/// Refuses a deactivation's reason that breaks a rule.
pub fn check_reason(reason: &str) -> Result<(), DomainError> {
    let chars = reason.trim().chars().count();
    if chars == 0 || chars > 500 {
        return Err(DomainError::invalid(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), DomainError> {
    let chars = name.trim().chars().count();
    if chars == 0 || chars > 200 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "must be 1 to 200 characters, none of them control characters",
        ));
    }
    Ok(())
}

fn check_channels(channels: &[String]) -> Result<(), DomainError> {
    if channels.len() > MAX_CHANNELS {
        return Err(DomainError::invalid(
            "channels",
            format!("may list at most {MAX_CHANNELS} channels"),
        ));
    }
    for (i, channel) in channels.iter().enumerate() {
        let ok = (1..=64).contains(&channel.chars().count())
            && !channel.chars().any(|c| c.is_control() || c.is_whitespace());
        if !ok {
            return Err(DomainError::invalid(
                format!("channels[{i}]"),
                "must be 1 to 64 characters without spaces or control characters",
            ));
        }
    }
    Ok(())
}

impl Aggregate for Location {
    type Command = LocationCommand;
    type Event = LocationEvent;
    const CATEGORY: StreamCategory = StreamCategory::Location;

    fn decide(&self, command: LocationCommand) -> Result<Vec<LocationEvent>, DomainError> {
        match command {
            LocationCommand::Register {
                code,
                name,
                priority,
                channels,
            } => {
                if self.resolved(&code).is_some() {
                    return Err(DomainError::AlreadyExists {
                        what: format!("location {code}"),
                    });
                }
                check_registration(&name, priority, &channels)?;
                let priority = priority.unwrap_or(DEFAULT_PRIORITY);
                let mut channels = channels;
                channels.sort();
                channels.dedup();
                Ok(vec![LocationEvent::LocationRegistered {
                    code,
                    name: name.trim().to_owned(),
                    priority,
                    channels,
                }])
            }
            LocationCommand::Deactivate { code, reason } => {
                let site = self.resolved(&code).ok_or_else(|| DomainError::NotFound {
                    what: format!("location {code}"),
                })?;
                check_reason(&reason)?;
                if !site.active {
                    return Ok(vec![]);
                }
                Ok(vec![LocationEvent::LocationDeactivated { code, reason }])
            }
        }
    }

    fn evolve(self, event: &LocationEvent) -> Self {
        match event {
            LocationEvent::LocationRegistered {
                code,
                name,
                priority,
                channels,
            } => Self(Some(Site {
                code: code.clone(),
                name: name.clone(),
                priority: *priority,
                channels: channels.clone(),
                active: true,
            })),
            LocationEvent::LocationDeactivated { code, .. } => {
                Self(self.resolved(code).map(|site| Site {
                    active: false,
                    ..site
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> LocationCode {
        LocationCode::parse(raw).unwrap()
    }

    fn register(raw: &str) -> LocationCommand {
        LocationCommand::Register {
            code: code(raw),
            name: format!("Warehouse {raw}"),
            priority: None,
            channels: vec!["web".into(), "app".into(), "web".into()],
        }
    }

    #[test]
    fn given_nothing_when_registering_then_the_location_has_the_default_priority_and_sorted_channels(
    ) {
        let events = Location::default().decide(register("berlin")).unwrap();
        let state = Location::from_history(&events);
        let site = state.site().unwrap();
        assert_eq!(site.priority, DEFAULT_PRIORITY);
        assert_eq!(site.channels, vec!["app".to_owned(), "web".to_owned()]);
        assert!(site.active);
    }

    #[test]
    fn the_default_location_exists_without_registration() {
        let refused = Location::default().decide(register("default")).unwrap_err();
        assert!(matches!(refused, DomainError::AlreadyExists { .. }));
        let deactivated = Location::default()
            .decide(LocationCommand::Deactivate {
                code: code("default"),
                reason: "moved out".into(),
            })
            .unwrap();
        let state = Location::from_history(&deactivated);
        assert_eq!(state.site().map(|s| s.active), Some(false));
        assert_eq!(state.site().map(|s| s.name.as_str()), Some("Default"));
    }

    #[test]
    fn given_a_location_when_registering_it_again_then_it_already_exists() {
        let state = Location::from_history(&Location::default().decide(register("b")).unwrap());
        assert!(matches!(
            state.decide(register("b")),
            Err(DomainError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn deactivating_twice_records_once_and_an_unknown_location_is_not_found() {
        let deactivate = |raw: &str| LocationCommand::Deactivate {
            code: code(raw),
            reason: "closed".into(),
        };
        let mut history = Location::default().decide(register("b")).unwrap();
        let state = Location::from_history(&history);
        history.extend(state.decide(deactivate("b")).unwrap());
        let state = Location::from_history(&history);
        assert_eq!(state.decide(deactivate("b")).unwrap(), vec![]);
        assert!(matches!(
            Location::default().decide(deactivate("nowhere")),
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn an_inactive_location_serves_no_channel_and_a_restricted_one_only_its_own() {
        let mut site = Site::builtin_default();
        site.channels = vec!["web".into()];
        assert!(site.serves(Some("web")));
        assert!(!site.serves(Some("pos")));
        assert!(site.serves(None));
        site.active = false;
        assert!(!site.serves(Some("web")));
        assert!(!site.serves(None));
    }

    #[test]
    fn priorities_names_and_channels_are_bounded() {
        let mut command = register("c");
        if let LocationCommand::Register { priority, .. } = &mut command {
            *priority = Some(MAX_PRIORITY + 1);
        }
        assert!(matches!(
            Location::default().decide(command),
            Err(DomainError::InvalidField { field, .. }) if field == "priority"
        ));
        let blank = LocationCommand::Register {
            code: code("c"),
            name: "  ".into(),
            priority: None,
            channels: vec![],
        };
        assert!(Location::default().decide(blank).is_err());
        let spaced = LocationCommand::Register {
            code: code("c"),
            name: "C".into(),
            priority: None,
            channels: vec!["a b".into()],
        };
        assert!(matches!(
            Location::default().decide(spaced),
            Err(DomainError::InvalidField { field, .. }) if field == "channels[0]"
        ));
    }
}
