//! A cart hold: units set aside while a shopper checks out, at the locations
//! allocation chose, until the hold is converted into an order, released,
//! or its `expires_at` passes. The hold's own stream (`hold-{uuid}`) says
//! what it holds and until when; the units themselves are held on each
//! SKU's stock stream (`StockHeld`), where the invariant is kept.
//!
//! Time arrives in the commands: a hold is over at `expires_at` whatever
//! its stream says, so every command compares with the `now` it is given.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Aggregate, DomainError, LocationCode, OrderId, Quantity, Sku, StreamCategory};

/// Units of one SKU a hold keeps at one location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct HeldLine {
    /// The SKU.
    pub sku: Sku,
    /// Units.
    pub quantity: Quantity,
    /// Where they are held.
    pub location: LocationCode,
}

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Holding its units until `expires_at`.
    Active,
    /// Turned into an order, which took the units over.
    Converted,
    /// Given back by the shopper or staff.
    Released,
    /// Its `expires_at` passed.
    Expired,
}

impl HoldStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Converted => "converted",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

/// Events of the `hold-{uuid}` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "data")]
pub enum HoldEvent {
    /// Units were set aside for a cart.
    HoldPlaced {
        /// The hold.
        hold_id: Uuid,
        /// The storefront channel it belongs to, if placed through one.
        channel: Option<String>,
        /// What it holds where, sorted by SKU then location.
        lines: Vec<HeldLine>,
        /// When it was placed; its lifetime counts from here.
        placed_at: DateTime<Utc>,
        /// When it stops holding anything.
        expires_at: DateTime<Utc>,
    },
    /// The cart changed: these lines replace the old ones.
    HoldChanged {
        /// The hold.
        hold_id: Uuid,
        /// What it holds now.
        lines: Vec<HeldLine>,
    },
    /// The shopper got more time.
    HoldExtended {
        /// The hold.
        hold_id: Uuid,
        /// The new end.
        expires_at: DateTime<Utc>,
    },
    /// The hold was given back.
    HoldReleased {
        /// The hold.
        hold_id: Uuid,
        /// Why, if the caller said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The hold's time ran out (written after `expires_at`; it held
    /// nothing from `expires_at` on).
    HoldExpired {
        /// The hold.
        hold_id: Uuid,
    },
    /// An order took the hold's units over.
    HoldConverted {
        /// The hold.
        hold_id: Uuid,
        /// The order.
        order_id: OrderId,
    },
}

/// Commands on a hold. `now` is the clock the decision is made at.
#[derive(Debug, Clone)]
pub enum HoldCommand {
    /// Set units aside until `now + ttl`.
    Place {
        /// The new hold's id.
        hold_id: Uuid,
        /// The channel of the storefront placing it.
        channel: Option<String>,
        /// What to hold where (allocation decided), at least one line.
        lines: Vec<HeldLine>,
        /// Now.
        now: DateTime<Utc>,
        /// How long it lasts.
        ttl: Duration,
        /// How long any hold may last from placement.
        max_lifetime: Duration,
    },
    /// Replace the lines.
    Change {
        /// The new lines, at least one.
        lines: Vec<HeldLine>,
        /// Now.
        now: DateTime<Utc>,
        /// The channel asking, if a storefront.
        channel: Option<String>,
    },
    /// Make it last until `now + ttl`.
    Extend {
        /// Extra time from now.
        ttl: Duration,
        /// Now.
        now: DateTime<Utc>,
        /// How long any hold may last from placement.
        max_lifetime: Duration,
        /// The channel asking, if a storefront.
        channel: Option<String>,
    },
    /// Give it back; a no-op once it ended.
    Release {
        /// Why, for the record (at most 500 characters).
        reason: Option<String>,
        /// Now.
        now: DateTime<Utc>,
        /// The channel asking, if a storefront.
        channel: Option<String>,
    },
    /// Record that its time ran out; a no-op unless it is active and due.
    Expire {
        /// Now.
        now: DateTime<Utc>,
    },
    /// Hand the units to an order.
    Convert {
        /// The order.
        order_id: OrderId,
        /// Now.
        now: DateTime<Utc>,
        /// The channel of the order.
        channel: Option<String>,
    },
}

/// The state of a hold: nothing before it is placed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hold {
    placed: Option<PlacedHold>,
}

/// A hold that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedHold {
    /// The hold.
    pub hold_id: Uuid,
    /// Its storefront channel.
    pub channel: Option<String>,
    /// What it holds (or held, once ended).
    pub lines: Vec<HeldLine>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When it stops (or stopped) holding.
    pub expires_at: DateTime<Utc>,
    /// How its stream says it stands (`Active` past `expires_at` is over
    /// all the same: see [`PlacedHold::status_at`]).
    pub status: HoldStatus,
    /// The order it became.
    pub order_id: Option<OrderId>,
}

impl PlacedHold {
    /// How it stands at `now`: an active hold past `expires_at` is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> HoldStatus {
        match self.status {
            HoldStatus::Active if now >= self.expires_at => HoldStatus::Expired,
            status => status,
        }
    }

    /// The SKUs it holds or held, in SKU order, once each.
    pub fn skus(&self) -> Vec<Sku> {
        let mut skus: Vec<Sku> = self.lines.iter().map(|l| l.sku.clone()).collect();
        skus.dedup();
        skus
    }
}

impl Hold {
    /// The hold, once placed.
    pub fn placed(&self) -> Option<&PlacedHold> {
        self.placed.as_ref()
    }

    /// The active hold `what` may act on at `now` for `channel`.
    fn active(
        &self,
        what: &'static str,
        now: DateTime<Utc>,
        channel: Option<&str>,
    ) -> Result<&PlacedHold, DomainError> {
        let hold = self.owned(channel)?;
        match hold.status_at(now) {
            HoldStatus::Active => Ok(hold),
            status => Err(DomainError::Forbidden {
                action: what,
                why: format!("hold {} is {}", hold.hold_id, status.as_str()),
            }),
        }
    }

    /// The hold, if it exists and `channel` (a storefront's) may see it.
    fn owned(&self, channel: Option<&str>) -> Result<&PlacedHold, DomainError> {
        match &self.placed {
            Some(hold) if channel.is_none() || hold.channel.as_deref() == channel => Ok(hold),
            _ => Err(DomainError::NotFound {
                what: "hold".to_owned(),
            }),
        }
    }
}

/// Sorts lines by SKU and location, refusing none and one (SKU, location)
/// twice.
fn checked_lines(mut lines: Vec<HeldLine>) -> Result<Vec<HeldLine>, DomainError> {
    if lines.is_empty() {
        return Err(DomainError::invalid("lines", "must hold at least one line"));
    }
    lines.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
    if lines
        .windows(2)
        .any(|w| w[0].sku == w[1].sku && w[0].location == w[1].location)
    {
        return Err(DomainError::invalid(
            "lines",
            "name each SKU at each location once",
        ));
    }
    Ok(lines)
}

/// The end of a hold lasting `ttl` from `now`, within its lifetime.
fn bounded_end(
    now: DateTime<Utc>,
    ttl: Duration,
    placed_at: DateTime<Utc>,
    max_lifetime: Duration,
) -> Result<DateTime<Utc>, DomainError> {
    if ttl <= Duration::zero() {
        return Err(DomainError::invalid("ttl_seconds", "must be at least 1"));
    }
    let end = now + ttl;
    if end > placed_at + max_lifetime {
        return Err(DomainError::invalid(
            "ttl_seconds",
            format!(
                "would end the hold after its maximum lifetime of {} s from placement ({})",
                max_lifetime.num_seconds(),
                (placed_at + max_lifetime).to_rfc3339()
            ),
        ));
    }
    Ok(end)
}

impl Aggregate for Hold {
    type Command = HoldCommand;
    type Event = HoldEvent;
    const CATEGORY: StreamCategory = StreamCategory::Hold;

    fn decide(&self, command: HoldCommand) -> Result<Vec<HoldEvent>, DomainError> {
        match command {
            HoldCommand::Place {
                hold_id,
                channel,
                lines,
                now,
                ttl,
                max_lifetime,
            } => {
                if self.placed.is_some() {
                    return Err(DomainError::AlreadyExists {
                        what: format!("hold {hold_id}"),
                    });
                }
                let expires_at = bounded_end(now, ttl, now, max_lifetime)?;
                Ok(vec![HoldEvent::HoldPlaced {
                    hold_id,
                    channel,
                    lines: checked_lines(lines)?,
                    placed_at: now,
                    expires_at,
                }])
            }
            HoldCommand::Change {
                lines,
                now,
                channel,
            } => {
                let hold = self.active("change the hold", now, channel.as_deref())?;
                let lines = checked_lines(lines)?;
                if lines == hold.lines {
                    return Ok(vec![]);
                }
                Ok(vec![HoldEvent::HoldChanged {
                    hold_id: hold.hold_id,
                    lines,
                }])
            }
            HoldCommand::Extend {
                ttl,
                now,
                max_lifetime,
                channel,
            } => {
                let hold = self.active("extend the hold", now, channel.as_deref())?;
                let expires_at = bounded_end(now, ttl, hold.placed_at, max_lifetime)?;
                if expires_at <= hold.expires_at {
                    return Ok(vec![]);
                }
                Ok(vec![HoldEvent::HoldExtended {
                    hold_id: hold.hold_id,
                    expires_at,
                }])
            }
            HoldCommand::Release {
                reason,
                now,
                channel,
            } => {
                if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
                    return Err(DomainError::invalid(
                        "reason",
                        "must be at most 500 characters",
                    ));
                }
                let hold = self.owned(channel.as_deref())?;
                Ok(match hold.status_at(now) {
                    HoldStatus::Active => vec![HoldEvent::HoldReleased {
                        hold_id: hold.hold_id,
                        reason,
                    }],
                    // Its time ran out before the release: it ends as expired.
                    HoldStatus::Expired if hold.status == HoldStatus::Active => {
                        vec![HoldEvent::HoldExpired {
                            hold_id: hold.hold_id,
                        }]
                    }
                    HoldStatus::Released | HoldStatus::Expired => vec![],
                    HoldStatus::Converted => {
                        return Err(DomainError::Forbidden {
                            action: "release the hold",
                            why: format!("hold {} became an order", hold.hold_id),
                        })
                    }
                })
            }
            HoldCommand::Expire { now } => Ok(match &self.placed {
                Some(hold)
                    if hold.status == HoldStatus::Active && hold.status_at(now) != hold.status =>
                {
                    vec![HoldEvent::HoldExpired {
                        hold_id: hold.hold_id,
                    }]
                }
                _ => vec![],
            }),
            HoldCommand::Convert {
                order_id,
                now,
                channel,
            } => {
                if let Some(hold) = &self.placed {
                    if hold.order_id == Some(order_id) {
                        return Ok(vec![]);
                    }
                }
                let hold = self.active("convert the hold", now, channel.as_deref())?;
                Ok(vec![HoldEvent::HoldConverted {
                    hold_id: hold.hold_id,
                    order_id,
                }])
            }
        }
    }

    fn evolve(mut self, event: &HoldEvent) -> Self {
        match event {
            HoldEvent::HoldPlaced {
                hold_id,
                channel,
                lines,
                placed_at,
                expires_at,
            } => {
                self.placed = Some(PlacedHold {
                    hold_id: *hold_id,
                    channel: channel.clone(),
                    lines: lines.clone(),
                    placed_at: *placed_at,
                    expires_at: *expires_at,
                    status: HoldStatus::Active,
                    order_id: None,
                })
            }
            HoldEvent::HoldChanged { lines, .. } => {
                if let Some(hold) = &mut self.placed {
                    hold.lines = lines.clone();
                }
            }
            HoldEvent::HoldExtended { expires_at, .. } => {
                if let Some(hold) = &mut self.placed {
                    hold.expires_at = *expires_at;
                }
            }
            HoldEvent::HoldReleased { .. } => self.end(HoldStatus::Released, None),
            HoldEvent::HoldExpired { .. } => self.end(HoldStatus::Expired, None),
            HoldEvent::HoldConverted { order_id, .. } => {
                self.end(HoldStatus::Converted, Some(*order_id))
            }
        }
        self
    }
}

impl Hold {
    fn end(&mut self, status: HoldStatus, order_id: Option<OrderId>) {
        if let Some(hold) = &mut self.placed {
            hold.status = status;
            hold.order_id = order_id;
        }
    }
}

impl HoldEvent {
    /// The hold the event is about.
    pub fn hold_id(&self) -> Uuid {
        match self {
            Self::HoldPlaced { hold_id, .. }
            | Self::HoldChanged { hold_id, .. }
            | Self::HoldExtended { hold_id, .. }
            | Self::HoldReleased { hold_id, .. }
            | Self::HoldExpired { hold_id }
            | Self::HoldConverted { hold_id, .. } => *hold_id,
        }
    }
}

#[cfg(test)]
mod tests;
