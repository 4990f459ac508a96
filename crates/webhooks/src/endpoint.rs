//! One endpoint's follower: reads the feed after its checkpoint, below the
//! settled horizon, POSTs each batch until the endpoint accepts it, then
//! moves the checkpoint. Delivery is at least once (a batch accepted but
//! not yet checkpointed when the process stops is sent again); receivers
//! deduplicate by `event_id`.

use std::time::Duration;

use bus::horizon::LogHorizon;
use sqlx::PgPool;
use store::feed::{page_below, FeedFilter};
use store::webhooks::{self, Endpoint};
use store::{RecordedEvent, StoreError};
use tokio::sync::watch;

use crate::backoff::wait_after;
use crate::delivery::Deliverer;
use crate::WebhooksConfig;

/// How long an idle endpoint waits for the horizon before looking again.
const IDLE_WAIT: Duration = Duration::from_secs(15);

/// What an endpoint's follower needs.
pub struct Follower {
    /// The endpoint, as loaded.
    pub endpoint: Endpoint,
    /// Its signing secret.
    pub secret: String,
    /// The log.
    pub pool: PgPool,
    /// The log's settled position.
    pub horizon: LogHorizon,
    /// Sends the batches.
    pub deliverer: Deliverer,
    /// Batch size and backoff.
    pub config: WebhooksConfig,
}

impl Follower {
    /// Delivers until `stop` turns true; fails only when the database does.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let id = self.endpoint.id;
        let filter = FeedFilter {
            types: self.endpoint.types.clone(),
            ..FeedFilter::default()
        };
        let mut position = self.endpoint.position;
        let mut failures = 0u32;
        while !*stop.borrow() {
            let settled = self.horizon.settled();
            let page = page_below(
                &self.pool,
                &filter,
                position,
                settled,
                self.config.batch_size,
            )
            .await?;
            let next = page.next_after(self.config.batch_size);
            let (Some(first), Some(last)) = (page.events.first(), page.events.last()) else {
                if next > position {
                    // Nothing of its types there: the checkpoint still moves,
                    // so the lag it shows is true and no restart looks again.
                    webhooks::delivered(&self.pool, id, next, false).await?;
                    position = next;
                    continue;
                }
                tokio::select! {
                    _ = self.horizon.past(position, IDLE_WAIT) => {}
                    _ = stop.wait_for(|stopped| *stopped) => {}
                }
                continue;
            };
            let (first, last) = (first.position, last.position);
            let body = batch_body(&page.events, next)?;
            match self
                .deliverer
                .post(&self.endpoint.url, &self.secret, body, first, last)
                .await
            {
                Ok(()) => {
                    webhooks::delivered(&self.pool, id, next, true).await?;
                    metrics::counter!("stockroom_webhook_events_delivered_total")
                        .increment(page.events.len() as u64);
                    position = next;
                    failures = 0;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let error = store::error_chain(&e);
                    tracing::warn!(endpoint = %id, %error, failures, "a webhook delivery failed; retrying");
                    metrics::counter!("stockroom_webhook_failures_total").increment(1);
                    webhooks::failed(&self.pool, id, &error).await?;
                    let wait = wait_after(
                        failures,
                        self.config.backoff_initial,
                        self.config.backoff_max,
                    );
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|stopped| *stopped) => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// A batch's JSON: `{"events":[…],"next_after":P}`.
fn batch_body(events: &[RecordedEvent], next_after: i64) -> Result<String, StoreError> {
    bus::Envelope::page_json(events, &format!("\"next_after\":{next_after}"))
        .map_err(StoreError::Encode)
}
