//! Reacting to order events, one at a time in log order.

use bus::handler::is_transient;
use bus::{BatchHandler, Delivered, HandlerError};
use domain::order::OrderEvent;
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

impl ReservationHandler {
    #[tracing::instrument(skip_all, fields(event_id = %delivered.envelope.event_id, position = delivered.envelope.global_position, event_type = %delivered.envelope.event_type))]
    async fn react(
        &self,
        conn: &mut PgConnection,
        delivered: &Delivered,
    ) -> Result<(), HandlerError> {
        let envelope = &delivered.envelope;
        let event: OrderEvent = envelope
            .decode()
            .map_err(|e| HandlerError::Poison(Box::new(e)))?;
        let metadata = EventMetadata {
            correlation_id: envelope.correlation_id,
            causation_id: Some(envelope.event_id),
            actor: Some(ACTOR.to_owned()),
        };
        match event {
            OrderEvent::OrderPlaced { order_id, .. } => {
                let outcome = reserve_order(&self.pool, order_id, &metadata, self.retry)
                    .await
                    .map_err(classify)?;
                tracing::debug!(%order_id, ?outcome, "reservation done");
            }
            OrderEvent::OrderConfirmed { order_id } => {
                deadlines::set(
                    conn,
                    order_id.0,
                    envelope.occurred_at + self.payment_timeout,
                )
                .await?;
            }
            OrderEvent::OrderPaid { order_id, .. } => deadlines::clear(conn, order_id.0).await?,
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
                deadlines::clear(conn, order_id.0).await?;
            }
            OrderEvent::OrderExpired { order_id } => {
                release_order(&self.pool, order_id, "order expired", &metadata, self.retry)
                    .await
                    .map_err(classify)?;
                deadlines::clear(conn, order_id.0).await?;
            }
            OrderEvent::OrderShipped { order_id, .. } => {
                commit_order(&self.pool, order_id, &metadata, self.retry)
                    .await
                    .map_err(classify)?;
            }
            OrderEvent::OrderRejected { .. } => {}
        }
        Ok(())
    }
}

impl BatchHandler for ReservationHandler {
    fn consumer_name(&self) -> &str {
        CONSUMER
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        for delivered in events {
            self.react(conn, delivered).await?;
        }
        Ok(())
    }
}
