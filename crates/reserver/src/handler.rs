//! The reservation process's reactions to order events.

use bus::{BatchHandler, Delivered, HandlerError};
use sqlx::PgConnection;

use crate::batch;

pub use crate::batch::{Policy, ACTOR};

/// The reservation process's reactions to the order events of the log.
pub struct ReservationHandler {
    /// Payment deadlines and allocation.
    pub policy: Policy,
    /// Announces the events each batch appended.
    pub notifier: store::Notifier,
}

/// The name the reservation process records progress, processed events and
/// parked events under.
pub const CONSUMER: &str = "reserver";

impl BatchHandler for ReservationHandler {
    fn consumer_name(&self) -> &str {
        CONSUMER
    }

    /// The whole batch in the batch's transaction (see [`batch`]): a lost
    /// race on a stream rolls it back and the batch is retried; an event
    /// that cannot be handled is isolated and parked by the run loop.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        batch::apply(conn, events, self.policy).await
    }

    fn committed(&self, _: Option<&bus::Progress>) {
        self.notifier.events_appended();
    }
}
