//! What a projection is, and the adapter that runs one on the consumer loop.

use std::future::Future;

use bus::consumer::{BatchHandler, Delivered, HandlerError};
use domain::StreamCategory;
use sqlx::PgConnection;

use crate::position;

/// A read model fed by events of some categories.
pub trait Projection: Send + Sync + 'static {
    /// Stable name: consumer group suffix, dedup scope, rebuild target.
    const NAME: &'static str;
    /// The stream categories it reads.
    const CATEGORIES: &'static [StreamCategory];

    /// Applies one event inside the batch's transaction.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a Delivered,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
}

/// Runs a [`Projection`] as a [`BatchHandler`]: applies the fresh events in
/// order, then advances the projection's position in the same transaction.
pub struct ProjectionHandler<P>(pub P);

impl<P: Projection> BatchHandler for ProjectionHandler<P> {
    fn consumer_name(&self) -> &str {
        P::NAME
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        for event in events {
            self.0.apply(conn, event).await?;
        }
        position::advance(conn, P::NAME, P::CATEGORIES).await?;
        Ok(())
    }
}

/// A decoding failure: the event will never apply, so it is poison.
pub fn poison(e: serde_json::Error) -> HandlerError {
    HandlerError::Poison(Box::new(e))
}
