//! Feeding events from the log (not Kafka) to a projection: the engine of
//! rebuilds and verification.

use bus::Envelope;
use bus::{Delivered, HandlerError};
use sqlx::PgConnection;
use store::RecordedEvent;

use crate::Projection;

/// Applies recorded events to `projection` in the caller's transaction.
/// Events the projection cannot decode are skipped (the live projector
/// parks them) and counted.
pub async fn apply_recorded<P: Projection>(
    projection: &P,
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<u64, HandlerError> {
    let mut skipped = 0;
    for event in events {
        let delivered = Delivered {
            topic: String::new(),
            partition: -1,
            offset: -1,
            envelope: Envelope::from(event),
        };
        match projection.apply(conn, &delivered).await {
            Ok(()) => {}
            // Decoding fails before any SQL, so the transaction is intact.
            Err(HandlerError::Poison(e)) if e.is::<serde_json::Error>() => {
                tracing::warn!(event_id = %event.event_id, position = event.position, error = %e, "skipping an event the projection cannot decode");
                skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(skipped)
}
