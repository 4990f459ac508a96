//! A batch of order events decided in memory and written in the batch's own
//! transaction, beside its checkpoint: the orders and stock rows it touches
//! are read in two statements (the stock rows locked), every decision is
//! made on those states in log order, and all resulting events go out in one
//! append. A hundred orders cost about as many statements as one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bus::handler::is_transient;
use bus::{Delivered, HandlerError};
use chrono::{DateTime, Utc};
use domain::allocation::{allocate, Request, Strategy};
use domain::location::Site;
use domain::order::{Order, OrderCommand, OrderEvent, OrderStatus, PlacedOrder};
use domain::stock::{StockCommand, StockItem};
use domain::{Aggregate, DomainError, LocationCode, OrderId, Quantity, Sku, StreamCategory};
use sqlx::PgConnection;
use store::stock_levels::{lock_many, record_many};
use store::trace::TraceParent;
use store::{
    append_streams, encode, load_many_to_decide, EventMetadata, Loaded, StoreError, StreamAppend,
};
use uuid::Uuid;

use crate::deadlines;

/// The actor of every event the reservation process appends.
pub const ACTOR: &str = "system:reserver";

/// What the reservation process decides with.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a confirmed order may stay unpaid.
    pub payment_timeout: chrono::Duration,
    /// How an order's lines are spread over locations.
    pub allocation: Strategy,
}

/// Decides and writes one batch.
pub async fn apply(
    conn: &mut PgConnection,
    events: &[Delivered],
    policy: Policy,
) -> Result<(), HandlerError> {
    let decoded = events
        .iter()
        .map(|d| Ok((d, d.envelope.decode::<OrderEvent>()?)))
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(poison)?;
    let mut work = Work::load(conn, &decoded, policy.allocation).await?;
    for (delivered, event) in &decoded {
        work.react(delivered, event, policy.payment_timeout)?;
    }
    work.write(conn).await
}

/// What the batch read, decided and still has to write.
struct Work {
    orders: HashMap<OrderId, Stream<Order>>,
    stock: HashMap<Sku, Stream<StockItem>>,
    /// Each order's last deadline instruction: `Some` sets, `None` clears.
    deadlines: HashMap<Uuid, Option<DateTime<Utc>>>,
    /// The locations, read once for the batch's placements.
    sites: Vec<Site>,
    allocation: Strategy,
}

/// One stream's state and the events decided on it, not yet written.
struct Stream<A: Aggregate> {
    loaded: Loaded<A>,
    in_commit_order: bool,
    pending: Vec<(A::Event, EventMetadata)>,
}

impl<A: Aggregate> Stream<A> {
    fn new((loaded, in_commit_order): (Loaded<A>, bool)) -> Self {
        Self {
            loaded,
            in_commit_order,
            pending: Vec::new(),
        }
    }

    /// Decides `command` on the current state, keeps the events and moves
    /// the state on.
    fn decide(&mut self, command: A::Command, metadata: &EventMetadata) -> Result<(), DomainError> {
        let events = self.loaded.state.decide(command)?;
        self.keep(events, metadata);
        Ok(())
    }

    /// Moves the state on by `events` and keeps them for the append.
    fn keep(&mut self, events: Vec<A::Event>, metadata: &EventMetadata) {
        for event in events {
            self.loaded.state = std::mem::take(&mut self.loaded.state).evolve(&event);
            self.pending.push((event, metadata.clone()));
        }
    }
}

impl Work {
    /// Reads the orders the batch reacts to and locks their SKUs' rows.
    async fn load(
        conn: &mut PgConnection,
        decoded: &[(&Delivered, OrderEvent)],
        allocation: Strategy,
    ) -> Result<Self, HandlerError> {
        let wanted: BTreeSet<String> = decoded
            .iter()
            .filter(|(_, e)| needs_stock(e))
            .map(|(_, e)| e.order_id().to_string())
            .collect();
        let ids: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let mut orders = HashMap::with_capacity(ids.len());
        let mut pairs = Vec::new();
        for (id, loaded) in load_many_to_decide::<Order>(conn, &ids)
            .await
            .map_err(store_error)?
        {
            let order = placed(&loaded.0, &id)?;
            pairs.extend(
                order
                    .skus()
                    .into_iter()
                    .map(|sku| (sku.to_string(), Some(order.order_id))),
            );
            orders.insert(order.order_id, Stream::new(loaded));
        }
        let mut stock = HashMap::new();
        if !pairs.is_empty() {
            for (sku, locked) in lock_many(conn, &pairs).await.map_err(store_error)? {
                let sku = Sku::parse(&sku)
                    .map_err(|e| poison(StoreError::InvalidState(e.to_string())))?;
                stock.insert(sku, Stream::new(locked));
            }
        }
        let places = decoded
            .iter()
            .any(|(_, e)| matches!(e, OrderEvent::OrderPlaced { .. }));
        let sites = if places {
            store::locations::all_for_allocation(conn)
                .await
                .map_err(store_error)?
        } else {
            Vec::new()
        };
        Ok(Self {
            orders,
            stock,
            deadlines: HashMap::new(),
            sites,
            allocation,
        })
    }

    /// Decides what one event asks for.
    fn react(
        &mut self,
        delivered: &Delivered,
        event: &OrderEvent,
        payment_timeout: chrono::Duration,
    ) -> Result<(), HandlerError> {
        let envelope = &delivered.envelope;
        let metadata = EventMetadata {
            correlation_id: envelope.correlation_id,
            causation_id: Some(envelope.event_id),
            actor: Some(ACTOR.to_owned()),
            // The reaction continues the trace of what it reacts to.
            trace_parent: envelope
                .traceparent
                .as_deref()
                .and_then(TraceParent::parse)
                .map(|t| t.child()),
        };
        match event {
            OrderEvent::OrderPlaced { order_id, .. } => self.reserve(*order_id, &metadata),
            OrderEvent::OrderConfirmed { order_id, .. } => {
                let due = envelope.occurred_at + payment_timeout;
                self.deadlines.insert(order_id.0, Some(due));
                Ok(())
            }
            OrderEvent::OrderPaid { order_id, .. } => {
                self.deadlines.insert(order_id.0, None);
                Ok(())
            }
            OrderEvent::OrderCancelled { order_id, .. } => {
                self.deadlines.insert(order_id.0, None);
                self.on_every_line(*order_id, &metadata, |sku, order_id| {
                    StockCommand::Release {
                        sku,
                        order_id,
                        reason: "order cancelled".to_owned(),
                    }
                })
            }
            OrderEvent::OrderExpired { order_id } => {
                self.deadlines.insert(order_id.0, None);
                self.on_every_line(*order_id, &metadata, |sku, order_id| {
                    StockCommand::Release {
                        sku,
                        order_id,
                        reason: "order expired".to_owned(),
                    }
                })
            }
            OrderEvent::OrderShipped {
                order_id,
                lines,
                shipment_id,
                ..
            } if !lines.is_empty() => {
                for line in lines {
                    let stream = self
                        .stock
                        .get_mut(&line.sku)
                        .ok_or_else(|| missing_stock(&line.sku))?;
                    let command = StockCommand::Commit {
                        sku: line.sku.clone(),
                        order_id: *order_id,
                        units: Some((line.location.clone(), line.quantity)),
                        shipment_id: *shipment_id,
                    };
                    stream.decide(command, &metadata).map_err(poison)?;
                }
                Ok(())
            }
            // From before partial shipments: the whole order left.
            OrderEvent::OrderShipped {
                order_id,
                shipment_id,
                ..
            } => self.on_every_line(*order_id, &metadata, |sku, order_id| StockCommand::Commit {
                sku,
                order_id,
                units: None,
                shipment_id: *shipment_id,
            }),
            OrderEvent::OrderRejected { .. } => Ok(()),
            // Restocked returns go on hand in the receipt's own transaction;
            // refunds move no stock.
            OrderEvent::ReturnRequested { .. }
            | OrderEvent::ReturnReceived { .. }
            | OrderEvent::OrderRefunded { .. } => Ok(()),
        }
    }

    /// Reserves every line of a placed order and confirms it, or reserves
    /// nothing and rejects it naming the first line that was short. An order
    /// that already moved on (a redelivery, a cancellation) is left alone.
    fn reserve(&mut self, order_id: OrderId, metadata: &EventMetadata) -> Result<(), HandlerError> {
        let order = self.placed_order(order_id)?;
        if order.status != OrderStatus::Placed {
            tracing::debug!(%order_id, status = ?order.status, "order already decided");
            return Ok(());
        }
        let decision = match order.units_by_sku() {
            // Placed before placement refused it: reject, never confirm short.
            Err(overflow) => OrderCommand::Reject {
                reason: format!(
                    "the order's lines add up to {} units of {}, more than one reservation may hold",
                    overflow.units, overflow.sku
                ),
                sku: overflow.sku,
            },
            Ok(_) => match self.try_reserve(&order, metadata)? {
                Ok(allocations) => OrderCommand::Confirm { allocations },
                Err((sku, why)) => {
                    tracing::info!(%order_id, %sku, reason = %why, "line cannot be reserved; rejecting order");
                    OrderCommand::Reject {
                        sku,
                        reason: why.to_string(),
                    }
                }
            },
        };
        self.order(order_id)?
            .decide(decision, metadata)
            .map_err(poison)
    }

    /// Allocates the order over the locations, decides the reservation of
    /// every SKU where allocation put it, and keeps the events only if every
    /// one fits; otherwise returns the first refused SKU, and no state has
    /// moved.
    fn try_reserve(
        &mut self,
        order: &PlacedOrder,
        metadata: &EventMetadata,
    ) -> Result<Result<Vec<domain::allocation::Allocation>, (Sku, DomainError)>, HandlerError> {
        for sku in order.skus() {
            if !self.stock.contains_key(&sku) {
                return Err(missing_stock(&sku));
            }
        }
        let demands = order.demands();
        let request = Request {
            lines: &demands,
            pickup: order.pickup_location.as_ref(),
            channel: order.channel.as_deref(),
        };
        let stock = &self.stock;
        let allocations = match allocate(self.allocation, &request, &self.sites, |sku, at| {
            stock.get(sku).map_or(0, |s| s.loaded.state.obtainable(at))
        }) {
            Ok(allocations) => allocations,
            Err(short) => {
                let why = DomainError::InsufficientStock {
                    sku: short.sku.clone(),
                    requested: short.requested,
                    available: short.available,
                };
                return Ok(Err((short.sku, why)));
            }
        };
        let mut per_sku: BTreeMap<&Sku, Vec<(LocationCode, Quantity)>> = BTreeMap::new();
        for a in &allocations {
            per_sku
                .entry(&a.sku)
                .or_default()
                .push((a.location.clone(), a.quantity));
        }
        let mut decided = Vec::with_capacity(per_sku.len());
        for (sku, at) in per_sku {
            let stream = self.stock.get(sku).ok_or_else(|| missing_stock(sku))?;
            let command = StockCommand::Reserve {
                sku: sku.clone(),
                order_id: order.order_id,
                at,
            };
            match stream.loaded.state.decide(command) {
                Ok(events) => decided.push((sku.clone(), events)),
                Err(why) => return Ok(Err((sku.clone(), why))),
            }
        }
        for (sku, events) in decided {
            let stream = self
                .stock
                .get_mut(&sku)
                .ok_or_else(|| missing_stock(&sku))?;
            stream.keep(events, metadata);
        }
        Ok(Ok(allocations))
    }

    /// Runs a stock command on every SKU of an order.
    fn on_every_line(
        &mut self,
        order_id: OrderId,
        metadata: &EventMetadata,
        command: impl Fn(Sku, OrderId) -> StockCommand,
    ) -> Result<(), HandlerError> {
        for sku in self.placed_order(order_id)?.skus() {
            let stream = self
                .stock
                .get_mut(&sku)
                .ok_or_else(|| missing_stock(&sku))?;
            stream
                .decide(command(sku.clone(), order_id), metadata)
                .map_err(poison)?;
        }
        Ok(())
    }

    fn order(&mut self, order_id: OrderId) -> Result<&mut Stream<Order>, HandlerError> {
        self.orders.get_mut(&order_id).ok_or_else(|| {
            poison(DomainError::NotFound {
                what: format!("order {order_id}"),
            })
        })
    }

    fn placed_order(&mut self, order_id: OrderId) -> Result<PlacedOrder, HandlerError> {
        let stream = self.order(order_id)?;
        placed(&stream.loaded, &order_id.to_string()).cloned()
    }

    /// Appends every decided event in one statement, then writes the stock
    /// rows and the deadlines.
    async fn write(self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        let mut appends = Vec::new();
        let mut touched = Vec::new();
        for (sku, stream) in self.stock {
            if let Some(append) = to_append(StreamCategory::Stock, sku.as_str(), &stream)? {
                appends.push(append);
                touched.push((sku, stream.loaded));
            }
        }
        // Stock first: a reader sees an order's reservations before it sees
        // the order confirmed.
        for (order_id, stream) in &self.orders {
            if let Some(append) = to_append(StreamCategory::Order, &order_id.to_string(), stream)? {
                appends.push(append);
            }
        }
        if !appends.is_empty() {
            let results = append_streams(conn, &appends).await.map_err(store_error)?;
            for ((_, loaded), result) in touched.iter_mut().zip(&results) {
                loaded.version = result.version;
                loaded.last_position = result.last_position;
            }
            let rows: Vec<(&str, &Loaded<StockItem>)> = touched
                .iter()
                .map(|(sku, loaded)| (sku.as_str(), loaded))
                .collect();
            if !rows.is_empty() {
                record_many(conn, &rows).await.map_err(store_error)?;
            }
        }
        let (mut set, mut clear) = (Vec::new(), Vec::new());
        for (order_id, due) in self.deadlines {
            match due {
                Some(due) => set.push((order_id, due)),
                None => clear.push(order_id),
            }
        }
        deadlines::set_many(conn, &set).await?;
        deadlines::clear_many(conn, &clear).await?;
        Ok(())
    }
}

/// The stream's pending events as an append, if it has any. A stream whose
/// last event was written by a younger transaction is a conflict: our
/// events would sort before it (see `store::execute_in`).
fn to_append<A: Aggregate>(
    category: StreamCategory,
    aggregate_id: &str,
    stream: &Stream<A>,
) -> Result<Option<StreamAppend>, HandlerError> {
    if stream.pending.is_empty() {
        return Ok(None);
    }
    if !stream.in_commit_order {
        return Err(store_error(StoreError::Conflict {
            stream_id: category.stream_id(aggregate_id),
            expected: stream.loaded.version - stream.pending.len() as i64,
        }));
    }
    let events = stream
        .pending
        .iter()
        .map(|(event, metadata)| Ok((encode(event)?, metadata.clone())))
        .collect::<Result<Vec<_>, StoreError>>()
        .map_err(poison)?;
    Ok(Some(StreamAppend {
        category,
        aggregate_id: aggregate_id.to_owned(),
        expected_version: stream.loaded.version,
        events,
    }))
}

/// Whether the reaction to `event` reads the order and its stock.
fn needs_stock(event: &OrderEvent) -> bool {
    matches!(
        event,
        OrderEvent::OrderPlaced { .. }
            | OrderEvent::OrderCancelled { .. }
            | OrderEvent::OrderExpired { .. }
            | OrderEvent::OrderShipped { .. }
    )
}

fn placed<'a>(loaded: &'a Loaded<Order>, id: &str) -> Result<&'a PlacedOrder, HandlerError> {
    loaded.state.placed().ok_or_else(|| {
        poison(DomainError::NotFound {
            what: format!("order {id}"),
        })
    })
}

fn missing_stock(sku: &Sku) -> HandlerError {
    poison(StoreError::InvalidState(format!(
        "the stock of {sku} was not loaded"
    )))
}

fn poison(e: impl std::error::Error + Send + Sync + 'static) -> HandlerError {
    HandlerError::Poison(Box::new(e))
}

/// A lost race is retried at once, connection trouble after a pause; the
/// rest is not worth a retry.
fn store_error(e: StoreError) -> HandlerError {
    let transient = match &e {
        StoreError::Conflict { .. } => return HandlerError::Raced(Box::new(e)),
        StoreError::Database(db) => is_transient(db),
        _ => false,
    };
    if transient {
        HandlerError::Transient(Box::new(e))
    } else {
        HandlerError::Poison(Box::new(e))
    }
}
