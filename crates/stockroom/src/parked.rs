//! `stockroom parked list|retry`.

use anyhow::{bail, Context};
use bus::{parking, BatchHandler, Delivered, HandlerError};
use projector::registry::{self, BoxFuture, Visitor};
use projector::{Projection, ProjectionHandler};
use reserver::handler::{ReservationHandler, CONSUMER};

use crate::cli::ParkedAction;

/// Runs a parked-events tool.
pub async fn run(action: ParkedAction) -> anyhow::Result<()> {
    match action {
        ParkedAction::List { common, consumer } => {
            let pool = store::connect(&common.db())?;
            let parked = parking::list(&pool, consumer.as_deref()).await?;
            if parked.is_empty() {
                println!("no parked events");
            }
            for p in parked {
                println!(
                    "{id}\t{consumer}\t{event_id}\tposition {position}\t{topic}\t{attempts} attempts\t{at}\t{error}",
                    id = p.id,
                    consumer = p.consumer,
                    event_id = p.event_id,
                    position = p.position,
                    topic = p.topic,
                    attempts = p.attempts,
                    at = p.parked_at.to_rfc3339(),
                    error = p.error,
                );
            }
            Ok(())
        }
        ParkedAction::Retry {
            common,
            reserver,
            id,
        } => {
            let pool = store::connect(&common.db())?;
            let mut tx = pool.begin().await?;
            let Some((consumer, delivered)) = parking::unpark(&mut tx, id).await? else {
                bail!("no parked event {id} (already retried, or not an envelope)");
            };
            let one = std::slice::from_ref(&delivered);
            let applied = if consumer == CONSUMER {
                let handler = ReservationHandler {
                    payment_timeout: chrono::Duration::from_std(reserver.payment_timeout.into())?,
                };
                retry_with(&handler, &mut tx, one).await
            } else {
                match registry::visit(
                    &consumer,
                    Retry {
                        conn: &mut tx,
                        event: one,
                    },
                ) {
                    Some(retried) => retried.await,
                    None => bail!("unknown consumer {consumer}"),
                }
            };
            applied.with_context(|| {
                format!(
                    "event {} failed again; it stays parked",
                    delivered.envelope.event_id
                )
            })?;
            tx.commit().await?;
            println!("retried parked event {id} ({consumer}): applied");
            Ok(())
        }
    }
}

/// Retries one event through the projection it was parked by.
struct Retry<'a> {
    conn: &'a mut sqlx::PgConnection,
    event: &'a [Delivered],
}

impl<'a> Visitor for Retry<'a> {
    type Output = BoxFuture<'a, Result<(), HandlerError>>;

    fn visit<P: Projection>(self, projection: P) -> Self::Output {
        Box::pin(
            async move { retry_with(&ProjectionHandler(projection), self.conn, self.event).await },
        )
    }
}

/// Claims and applies one unparked event through `handler`.
async fn retry_with<H: BatchHandler>(
    handler: &H,
    conn: &mut sqlx::PgConnection,
    event: &[Delivered],
) -> Result<(), HandlerError> {
    handler.before_batch(conn).await?;
    let fresh = parking::claim(conn, handler.consumer_name(), event).await?;
    handler.apply(conn, &fresh).await
}
