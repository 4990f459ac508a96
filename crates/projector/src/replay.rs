//! Feeding events from the log (not Kafka) to a projection: the engine of
//! rebuilds and verification.

use bus::{Delivered, HandlerError};
use sqlx::{Acquire, PgConnection};
use store::RecordedEvent;

use crate::Projection;

/// Applies recorded events to `projection` in the caller's transaction,
/// as one batch. Events the projection cannot decode are skipped (the live
/// projector parks them) and counted: a batch refused for one is undone and
/// applied again one event at a time.
pub async fn apply_recorded<P: Projection>(
    projection: &P,
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<u64, HandlerError> {
    let delivered: Vec<Delivered> = events.iter().map(Delivered::from_log).collect();
    let mut batch = conn.begin().await?;
    match projection.apply_batch(&mut batch, &delivered).await {
        Ok(()) => {
            batch.commit().await?;
            return Ok(0);
        }
        Err(HandlerError::Poison(e)) if e.is::<serde_json::Error>() => batch.rollback().await?,
        Err(e) => return Err(e),
    }
    let mut skipped = 0;
    for event in &delivered {
        let mut one = conn.begin().await?;
        match projection.apply(&mut one, event).await {
            Ok(()) => one.commit().await?,
            Err(HandlerError::Poison(e)) if e.is::<serde_json::Error>() => {
                one.rollback().await?;
                let envelope = &event.envelope;
                tracing::warn!(event_id = %envelope.event_id, position = envelope.global_position, error = %e, "skipping an event the projection cannot decode");
                skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(skipped)
}
