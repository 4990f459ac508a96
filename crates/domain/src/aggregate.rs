//! The shape every aggregate shares: decide on a command, evolve from events.

use serde::{de::DeserializeOwned, Serialize};

use crate::DomainError;

/// The kinds of stream Stockroom keeps; each maps to one Kafka topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamCategory {
    /// `product-{sku}`: the catalogue entry.
    Product,
    /// `stock-{sku}`: on-hand and reserved units of one SKU.
    Stock,
    /// `order-{uuid}`: one customer order.
    Order,
    /// `location-{code}`: one place that keeps stock.
    Location,
    /// `hold-{uuid}`: one cart hold.
    Hold,
}

impl StreamCategory {
    /// Every category, in a stable order.
    pub const ALL: [StreamCategory; 5] = [
        Self::Product,
        Self::Stock,
        Self::Order,
        Self::Location,
        Self::Hold,
    ];

    /// Every category's name, in the order of [`Self::ALL`].
    pub const NAMES: [&'static str; 5] = ["product", "stock", "order", "location", "hold"];

    /// The prefix of stream ids and the suffix of topic names.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The Kafka topic suffix (plural, as in `stockroom.orders`).
    pub fn topic_suffix(self) -> &'static str {
        match self {
            Self::Product => "products",
            Self::Stock => "stock",
            Self::Order => "orders",
            Self::Location => "locations",
            Self::Hold => "holds",
        }
    }

    /// Parses the stored category name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The stream id of one aggregate of this category.
    pub fn stream_id(self, aggregate_id: &str) -> String {
        format!("{}-{}", self.as_str(), aggregate_id)
    }
}

/// An event-sourced aggregate: its state is a left fold of its events, and a
/// command either yields new events or is rejected with a [`DomainError`].
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// What callers ask the aggregate to do.
    type Command: Send;
    /// What the aggregate records; serialized as `{event_type, data}`.
    type Event: Serialize + DeserializeOwned + Clone + Send + Sync + std::fmt::Debug;

    /// The stream category this aggregate lives in.
    const CATEGORY: StreamCategory;

    /// Decides which events a command produces, or why it is rejected.
    /// An empty vector means the command is already satisfied (idempotent no-op).
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, DomainError>;

    /// Applies one event to the state.
    fn evolve(self, event: &Self::Event) -> Self;

    /// Folds a history into a state.
    fn from_history<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}
