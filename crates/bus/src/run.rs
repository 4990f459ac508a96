//! The loop every worker runs on its source: deduplicate by event id (unless
//! the source vouches that the batch is new), apply a batch in one
//! transaction together with its progress, and isolate and park an event that
//! keeps failing so the rest go through.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::handler::{BatchHandler, HandlerError};
use crate::parking::{self, Processed};
use crate::source::{Batch, EventSource};
use crate::BusError;

/// Retry limits of [`run`].
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// Failures of one event before it is parked.
    pub max_attempts: u32,
    /// Pause after a failure, doubled up to 30 s for transient ones.
    pub backoff: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_millis(100),
        }
    }
}

/// The connection a worker's batches run on, kept between them: a pooled one
/// would cost a round trip more per batch, for the pool's check on return.
/// Dropped after any failure, since it may be what failed.
struct BatchConnection<'p> {
    pool: &'p PgPool,
    kept: Option<PgConnection>,
}

impl<'p> BatchConnection<'p> {
    fn new(pool: &'p PgPool) -> Self {
        Self { pool, kept: None }
    }

    /// Opens a batch's transaction, with the handler's preamble in the same
    /// round trip as its `BEGIN`.
    async fn begin<H: BatchHandler>(
        &mut self,
        handler: &H,
    ) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        let conn = match self.kept.take() {
            Some(conn) => self.kept.insert(conn),
            None => self.kept.insert(self.pool.acquire().await?.detach()),
        };
        match handler.preamble() {
            Some(preamble) => conn.begin_with(format!("BEGIN; {preamble}")).await,
            None => conn.begin().await,
        }
    }

    fn discard(&mut self) {
        self.kept = None;
    }
}

/// Sleeps for `pause` unless `shutdown` turns true first; `false` then.
pub async fn pause_unless_stopped(pause: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(pause) => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}

/// Lost races a batch retries at once before it backs off like a failure.
const IMMEDIATE_RACE_RETRIES: u32 = 20;

/// Consumes `source` until `shutdown` turns true. Each batch runs in one
/// transaction: drop already-processed events, apply the rest, record the
/// progress, commit. If that fails for a reason other than infrastructure,
/// the batch is replayed one event per transaction, so one poison event is
/// parked after `max_attempts` and the others go through. Infrastructure
/// failures are retried with backoff for as long as it takes; every wait
/// ends at once on shutdown.
pub async fn run<S: EventSource, H: BatchHandler>(
    source: &mut S,
    pool: &PgPool,
    handler: &H,
    settings: RunSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    // On /metrics from the start, at 0 until it happens.
    for name in [
        "stockroom_consumer_events_total",
        "stockroom_parked_events_total",
        "stockroom_batch_retries_total",
        "stockroom_batch_races_total",
    ] {
        metrics::counter!(name, "consumer" => handler.consumer_name().to_owned()).increment(0);
    }
    let mut conn = BatchConnection::new(pool);
    let mut failures_in_a_row = 0u32;
    let mut races_in_a_row = 0u32;
    let backoff =
        |failures: u32| (settings.backoff * 2u32.pow(failures.min(8))).min(Duration::from_secs(30));
    'batches: loop {
        // Every wait ends at once on shutdown, a database that does not
        // answer included; nothing read is lost, it is read again next time.
        let mut stop = shutdown.clone();
        let next = tokio::select! {
            next = source.next_batch(&mut shutdown) => next,
            _ = stop.wait_for(|stopped| *stopped) => Ok(None),
        };
        let batch = match next {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(e) => {
                failures_in_a_row += 1;
                tracing::warn!(consumer = handler.consumer_name(), error = %store::error_chain(&e), failures_in_a_row, "reading failed; retrying");
                if !pause_unless_stopped(backoff(failures_in_a_row), &mut shutdown).await {
                    break;
                }
                continue;
            }
        };
        loop {
            let mut stop = shutdown.clone();
            let applied = tokio::select! {
                applied = apply_batch(source, &mut conn, handler, &batch) => applied,
                // The transaction is dropped, so rolled back: the batch is
                // read again by whoever continues.
                _ = stop.wait_for(|stopped| *stopped) => break 'batches,
            };
            if applied.is_err() {
                conn.discard();
            }
            match applied {
                Ok(()) => {
                    failures_in_a_row = 0;
                    races_in_a_row = 0;
                    source.committed(&batch);
                    break;
                }
                Err(HandlerError::Fenced(_)) => {
                    source.fenced();
                    break;
                }
                // Another writer appended first: the batch is decided again
                // on fresh state at once, a few times, before it counts as
                // a failure.
                Err(HandlerError::Raced(e)) if races_in_a_row < IMMEDIATE_RACE_RETRIES => {
                    races_in_a_row += 1;
                    metrics::counter!("stockroom_batch_races_total", "consumer" => handler.consumer_name().to_owned())
                        .increment(1);
                    tracing::debug!(consumer = handler.consumer_name(), error = %store::error_chain(&*e), "batch lost a race; retrying at once");
                }
                Err(HandlerError::Transient(e) | HandlerError::Raced(e)) => {
                    failures_in_a_row += 1;
                    metrics::counter!("stockroom_batch_retries_total", "consumer" => handler.consumer_name().to_owned())
                        .increment(1);
                    tracing::warn!(consumer = handler.consumer_name(), error = %store::error_chain(&*e), failures_in_a_row, "batch failed; retrying");
                    if !pause_unless_stopped(backoff(failures_in_a_row), &mut shutdown).await {
                        break 'batches;
                    }
                }
                Err(HandlerError::Poison(e)) => {
                    tracing::warn!(consumer = handler.consumer_name(), error = %store::error_chain(&*e), "batch failed; isolating events");
                    match isolate(source, &mut conn, handler, &batch, settings, &mut shutdown).await
                    {
                        Ok(true) => source.committed(&batch),
                        Ok(false) => break 'batches,
                        Err(HandlerError::Fenced(_)) => source.fenced(),
                        Err(e) => return Err(BusError::Handler(e)),
                    }
                    break;
                }
            }
        }
    }
    source.close().await;
    Ok(())
}

async fn apply_batch<S: EventSource, H: BatchHandler>(
    source: &S,
    conn: &mut BatchConnection<'_>,
    handler: &H,
    batch: &Batch,
) -> Result<(), HandlerError> {
    let mut tx = conn.begin(handler).await?;
    let unseen = source.hold(&mut tx, handler.consumer_name(), batch).await?;
    let fresh = if unseen {
        Cow::Borrowed(batch.messages.as_slice())
    } else {
        Cow::Owned(
            parking::claim(
                &mut tx,
                handler.consumer_name(),
                &batch.messages,
                Processed::ByIdOrCheckpoint,
            )
            .await?,
        )
    };
    for event in fresh.iter() {
        let envelope = &event.envelope;
        tracing::debug!(
            consumer = handler.consumer_name(),
            event_id = %envelope.event_id,
            event_type = %envelope.event_type,
            stream_id = %envelope.stream_id,
            trace_id = envelope.trace_id().unwrap_or_default(),
            "handling"
        );
    }
    handler.apply(&mut tx, &fresh).await?;
    handler.after_batch(&mut tx, &batch.progress).await?;
    source
        .record(&mut tx, handler.consumer_name(), batch)
        .await?;
    tx.commit().await?;
    handler.committed(Some(&batch.progress));
    metrics::counter!("stockroom_consumer_events_total", "consumer" => handler.consumer_name().to_owned())
        .increment(fresh.len() as u64);
    Ok(())
}

/// Replays a failed batch one event per transaction, parking what keeps
/// failing, then records the batch's progress. `Ok(false)` if shutdown
/// interrupted it (nothing recorded; the batch is read again next time).
async fn isolate<S: EventSource, H: BatchHandler>(
    source: &S,
    conn: &mut BatchConnection<'_>,
    handler: &H,
    batch: &Batch,
    settings: RunSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<bool, HandlerError> {
    let mut attempts: HashMap<Uuid, u32> = HashMap::new();
    for event in &batch.messages {
        let mut races = 0u32;
        loop {
            let result: Result<(), HandlerError> = async {
                let mut tx = conn.begin(handler).await?;
                // A standby that took over meanwhile fences this instance
                // off before it applies anything more.
                source.hold(&mut tx, handler.consumer_name(), batch).await?;
                let fresh = parking::claim(
                    &mut tx,
                    handler.consumer_name(),
                    std::slice::from_ref(event),
                    Processed::ByIdOrCheckpoint,
                )
                .await?;
                handler.apply(&mut tx, &fresh).await?;
                tx.commit().await?;
                handler.committed(None);
                Ok(())
            }
            .await;
            if result.is_err() {
                conn.discard();
            }
            match result {
                Ok(()) => break,
                // As in a batch: retried at once a few times, then paced.
                Err(HandlerError::Raced(_)) if races < IMMEDIATE_RACE_RETRIES => {
                    races += 1;
                    continue;
                }
                Err(HandlerError::Transient(e) | HandlerError::Raced(e)) => {
                    tracing::warn!(error = %store::error_chain(&*e), "event failed transiently; retrying");
                }
                Err(HandlerError::Poison(e)) => {
                    let n = attempts.entry(event.envelope.event_id).or_default();
                    *n += 1;
                    if *n >= settings.max_attempts {
                        let error = store::error_chain(&*e);
                        tracing::error!(consumer = handler.consumer_name(), event_id = %event.envelope.event_id, position = event.envelope.global_position, %error, "parking event");
                        let mut tx = conn.pool.begin().await?;
                        parking::park(&mut tx, handler.consumer_name(), event, &error, *n as i32)
                            .await?;
                        tx.commit().await?;
                        metrics::counter!("stockroom_parked_events_total", "consumer" => handler.consumer_name().to_owned()).increment(1);
                        break;
                    }
                }
                Err(fenced @ HandlerError::Fenced(_)) => return Err(fenced),
            }
            if !pause_unless_stopped(settings.backoff, shutdown).await {
                return Ok(false);
            }
        }
    }
    loop {
        let result: Result<(), HandlerError> = async {
            let mut tx = conn.begin(handler).await?;
            source.hold(&mut tx, handler.consumer_name(), batch).await?;
            handler.after_batch(&mut tx, &batch.progress).await?;
            source
                .record(&mut tx, handler.consumer_name(), batch)
                .await?;
            tx.commit().await?;
            handler.committed(Some(&batch.progress));
            Ok(())
        }
        .await;
        if result.is_err() {
            conn.discard();
        }
        match result {
            Ok(()) => return Ok(true),
            Err(HandlerError::Transient(e) | HandlerError::Raced(e)) => {
                tracing::warn!(error = %store::error_chain(&*e), "recording progress failed; retrying");
                if !pause_unless_stopped(settings.backoff, shutdown).await {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
}
