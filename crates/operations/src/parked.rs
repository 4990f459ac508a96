//! Retrying a parked event through the consumer that parked it, in one
//! transaction: it is unparked only if it applies.

use bus::parking::{self, Processed};
use bus::{BatchHandler, Delivered, HandlerError};
use projector::registry::{self, BoxFuture, Visitor};
use projector::{Projection, ProjectionHandler};
use reserver::handler::{ReservationHandler, CONSUMER};
use sqlx::PgPool;
use store::Notifier;
use thiserror::Error;

/// Why a retry did not apply.
#[derive(Debug, Error)]
pub enum RetryError {
    /// Nothing parked under that id (already retried, or not an envelope).
    #[error("no parked event {0} (already retried, or not an envelope)")]
    NotParked(i64),
    /// The consumer that parked it is not known to this build.
    #[error("unknown consumer {0}")]
    UnknownConsumer(String),
    /// The event failed again; it stays parked.
    #[error("event {event_id} failed again; it stays parked")]
    FailedAgain {
        /// The event's id.
        event_id: String,
        /// Why.
        #[source]
        cause: HandlerError,
    },
    /// The database failed.
    #[error("database failed")]
    Database(#[from] sqlx::Error),
}

/// What a successful retry applied.
#[derive(Debug, Clone)]
pub struct Retried {
    /// The consumer that applied it.
    pub consumer: String,
}

/// Retries parked event `id`. The reservation process's events are applied
/// with its `policy`.
pub async fn retry(
    pool: &PgPool,
    id: i64,
    policy: reserver::Policy,
) -> Result<Retried, RetryError> {
    let mut tx = pool.begin().await?;
    let Some((consumer, delivered)) = parking::unpark(&mut tx, id).await? else {
        return Err(RetryError::NotParked(id));
    };
    let one = std::slice::from_ref(&delivered);
    let applied = if consumer == CONSUMER {
        let handler = ReservationHandler {
            policy,
            notifier: Notifier::disabled(),
        };
        retry_with(&handler, &mut tx, one).await
    } else {
        let visitor = Retry {
            conn: &mut tx,
            event: one,
        };
        match registry::visit(&consumer, visitor) {
            Some(retried) => retried.await,
            None => return Err(RetryError::UnknownConsumer(consumer)),
        }
    };
    applied.map_err(|cause| RetryError::FailedAgain {
        event_id: delivered.envelope.event_id.to_string(),
        cause,
    })?;
    tx.commit().await?;
    Ok(Retried { consumer })
}

/// Retries one event through the projection it was parked by.
struct Retry<'a> {
    conn: &'a mut sqlx::PgConnection,
    event: &'a [Delivered],
}

impl<'a> Visitor for Retry<'a> {
    type Output = BoxFuture<'a, Result<(), HandlerError>>;

    fn visit<P: Projection>(self, projection: P) -> Self::Output {
        Box::pin(async move {
            // Alone with the projection: a live batch beside it could not
            // see what the retry writes (the row a late placement inserts,
            // the moves that waited for it) and would leave moves waiting
            // for good.
            sqlx::query(&projector::projection::swap_lock_sql(""))
                .bind(P::NAME)
                .execute(&mut *self.conn)
                .await?;
            retry_with(
                &ProjectionHandler::new(projection, Notifier::disabled()),
                self.conn,
                self.event,
            )
            .await
        })
    }
}

/// Claims and applies one unparked event through `handler`.
async fn retry_with<H: BatchHandler>(
    handler: &H,
    conn: &mut sqlx::PgConnection,
    event: &[Delivered],
) -> Result<(), HandlerError> {
    if let Some(preamble) = handler.preamble() {
        sqlx::Executor::execute(&mut *conn, preamble).await?;
    }
    let fresh = parking::claim(conn, handler.consumer_name(), event, Processed::ById).await?;
    handler.apply(conn, &fresh).await
}
