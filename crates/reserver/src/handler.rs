//! Reacting to order events, one at a time in log order.

use bus::handler::is_transient;
use bus::{BatchHandler, Delivered, HandlerError};
use domain::order::OrderEvent;
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use store::{CommandError, EventMetadata, RetryPolicy, StoreError};

use crate::deadlines;
use crate::reservations::{commit_order, release_order, reserve_order};

/// The reservation process's reactions to the orders topic.
pub struct ReservationHandler {
    /// The event store.
    pub pool: PgPool,
    /// How long a confirmed order may stay unpaid.
    pub payment_timeout: chrono::Duration,
    /// How stock and order commands that lose a race are retried.
    pub retry: RetryPolicy,
    /// Orders handled at once within a batch.
    pub in_flight: usize,
}

/// The name the reservation process records progress, processed events and
/// parked events under.
pub const CONSUMER: &str = "reserver";

/// The actor of every event the reservation process appends.
pub const ACTOR: &str = "system:reserver";

/// Transient when a retry may help (races, connection trouble), poison otherwise.
fn classify(e: CommandError) -> HandlerError {
    let transient = match &e {
        CommandError::Store(StoreError::Conflict { .. }) => true,
        CommandError::Store(StoreError::Database(db)) => is_transient(db),
        _ => false,
    };
    if transient {
        HandlerError::Transient(Box::new(e))
    } else {
        HandlerError::Poison(Box::new(e))
    }
}

/// What an order event asks of the payment deadlines, applied in the
/// batch's own transaction after the stock work, in log order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    Set(uuid::Uuid, chrono::DateTime<chrono::Utc>),
    Clear(uuid::Uuid),
}

impl ReservationHandler {
    /// The stock and order commands one event calls for (each in its own
    /// transaction on the pool), and what it asks of the deadlines.
    #[tracing::instrument(skip_all, fields(event_id = %delivered.envelope.event_id, position = delivered.envelope.global_position, event_type = %delivered.envelope.event_type))]
    async fn react(&self, delivered: &Delivered) -> Result<Option<Deadline>, HandlerError> {
        let envelope = &delivered.envelope;
        let event: OrderEvent = envelope
            .decode()
            .map_err(|e| HandlerError::Poison(Box::new(e)))?;
        let metadata = EventMetadata {
            correlation_id: envelope.correlation_id,
            causation_id: Some(envelope.event_id),
            actor: Some(ACTOR.to_owned()),
        };
        let deadline = match event {
            OrderEvent::OrderPlaced { order_id, .. } => {
                let outcome = reserve_order(&self.pool, order_id, &metadata, self.retry)
                    .await
                    .map_err(classify)?;
                tracing::debug!(%order_id, ?outcome, "reservation done");
                None
            }
            OrderEvent::OrderConfirmed { order_id } => Some(Deadline::Set(
                order_id.0,
                envelope.occurred_at + self.payment_timeout,
            )),
            OrderEvent::OrderPaid { order_id, .. } => Some(Deadline::Clear(order_id.0)),
            OrderEvent::OrderCancelled { order_id, .. } => {
                release_order(
                    &self.pool,
                    order_id,
                    "order cancelled",
                    &metadata,
                    self.retry,
                )
                .await
                .map_err(classify)?;
                Some(Deadline::Clear(order_id.0))
            }
            OrderEvent::OrderExpired { order_id } => {
                release_order(&self.pool, order_id, "order expired", &metadata, self.retry)
                    .await
                    .map_err(classify)?;
                Some(Deadline::Clear(order_id.0))
            }
            OrderEvent::OrderShipped { order_id, .. } => {
                commit_order(&self.pool, order_id, &metadata, self.retry)
                    .await
                    .map_err(classify)?;
                None
            }
            OrderEvent::OrderRejected { .. } => None,
        };
        Ok(deadline)
    }

    /// The events of one order, one after another, keeping their order.
    async fn react_in_order(
        &self,
        events: Vec<(usize, &Delivered)>,
    ) -> Result<Vec<(usize, Deadline)>, HandlerError> {
        let mut deadlines = Vec::new();
        for (index, delivered) in events {
            if let Some(deadline) = self.react(delivered).await? {
                deadlines.push((index, deadline));
            }
        }
        Ok(deadlines)
    }
}

impl BatchHandler for ReservationHandler {
    fn consumer_name(&self) -> &str {
        CONSUMER
    }

    /// Orders are independent: their events run concurrently (up to
    /// `in_flight` orders at once), each order's in log order; stock streams
    /// shared by several orders resolve their races by optimistic
    /// concurrency. Deadlines are then written in log order in the batch's
    /// transaction, with the checkpoint.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        let mut by_order: Vec<(String, Vec<(usize, &Delivered)>)> = Vec::new();
        for (index, delivered) in events.iter().enumerate() {
            let stream = &delivered.envelope.stream_id;
            match by_order.iter_mut().find(|(s, _)| s == stream) {
                Some((_, group)) => group.push((index, delivered)),
                None => by_order.push((stream.clone(), vec![(index, delivered)])),
            }
        }
        let mut orders = Vec::with_capacity(by_order.len());
        for (_, group) in by_order {
            orders.push(self.react_in_order(group));
        }
        let results: Vec<Result<Vec<(usize, Deadline)>, HandlerError>> =
            futures::stream::iter(orders)
                .buffer_unordered(self.in_flight.max(1))
                .collect()
                .await;
        let mut deadlines = Vec::new();
        for result in results {
            deadlines.extend(result?);
        }
        deadlines.sort_by_key(|(index, _)| *index);
        for (_, deadline) in deadlines {
            match deadline {
                Deadline::Set(order_id, due_at) => deadlines::set(conn, order_id, due_at).await?,
                Deadline::Clear(order_id) => deadlines::clear(conn, order_id).await?,
            }
        }
        Ok(())
    }
}
