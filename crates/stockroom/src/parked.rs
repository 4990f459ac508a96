//! `stockroom parked list|retry`.

use bus::parking;

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
            let policy = reserver.policy()?;
            let retried = operations::parked::retry(&pool, id, policy)
                .await
                .map_err(|e| anyhow::anyhow!(store::error_chain(&e)))?;
            println!("retried parked event {id} ({}): applied", retried.consumer);
            Ok(())
        }
    }
}
