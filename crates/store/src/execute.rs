//! Running a command against an aggregate: load its stream, decide, append.

use std::collections::HashMap;
use std::time::Duration;

use domain::{Aggregate, DomainError};
use sqlx::{PgConnection, PgPool, Row};
use thiserror::Error;
use uuid::Uuid;

use crate::catalogue::CatalogueVersion;
use crate::group_append::GroupAppend;
use crate::log::{insert_events, landed, StreamAppend};
use crate::read::{from_row, EVENT_COLUMNS};
use crate::state::{CurrentState, FoldOnly};
use crate::{append, encode, AppendResult, EventMetadata, StoreError};

/// An aggregate's state with the version and position it was read at.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The stream's version (0: no events).
    pub version: i64,
    /// Global position of the stream's last event (0: none).
    pub last_position: i64,
}

impl<A: Aggregate> Default for Loaded<A> {
    /// A stream without events.
    fn default() -> Self {
        Self {
            state: A::default(),
            version: 0,
            last_position: 0,
        }
    }
}

impl<A: Aggregate> Loaded<A> {
    /// Folds in the next event of the stream.
    fn apply(&mut self, event: &A::Event, recorded: &crate::RecordedEvent) {
        self.state = std::mem::take(&mut self.state).evolve(event);
        self.version = recorded.stream_version;
        self.last_position = recorded.position;
    }
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Outcome<A: Aggregate> {
    /// The events appended; empty if the command was already satisfied.
    pub events: Vec<A::Event>,
    /// The state after the command.
    pub state: A,
    /// The stream's version after the command.
    pub version: i64,
    /// Global position of the stream's last event after the command.
    pub position: i64,
}

/// Why a command did not append.
#[derive(Debug, Error)]
pub enum CommandError {
    /// The domain refused it.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// The caller's `If-Match` version is not the stream's.
    #[error("stream is at version {current}, not {expected}")]
    VersionMismatch {
        /// What the caller expected.
        expected: i64,
        /// What the stream is at.
        current: i64,
    },
    /// The store failed (a [`StoreError::Conflict`] is worth a retry).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CommandError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Loads an aggregate for reading only.
#[tracing::instrument(skip(conn), fields(category = A::CATEGORY.as_str()))]
pub async fn load<A: Aggregate>(
    conn: &mut PgConnection,
    aggregate_id: &str,
) -> Result<Loaded<A>, StoreError> {
    Ok(fold_stream::<A>(conn, aggregate_id, false).await?.0)
}

/// Loads several aggregates of one category for reading only, in one
/// statement; aggregates without events come back at version 0.
pub async fn load_many<A: Aggregate>(
    conn: &mut PgConnection,
    aggregate_ids: &[&str],
) -> Result<HashMap<String, Loaded<A>>, StoreError> {
    Ok(fold_streams::<A>(conn, aggregate_ids, false)
        .await?
        .into_iter()
        .map(|(id, (loaded, _))| (id, loaded))
        .collect())
}

/// Loads several aggregates to decide on, in one statement, each with the
/// commit-order check of [`execute_in`].
pub async fn load_many_to_decide<A: Aggregate>(
    conn: &mut PgConnection,
    aggregate_ids: &[&str],
) -> Result<HashMap<String, (Loaded<A>, bool)>, StoreError> {
    fold_streams::<A>(conn, aggregate_ids, true).await
}

#[tracing::instrument(skip(conn), fields(category = A::CATEGORY.as_str(), count = aggregate_ids.len()))]
async fn fold_streams<A: Aggregate>(
    conn: &mut PgConnection,
    aggregate_ids: &[&str],
    check_commit_order: bool,
) -> Result<HashMap<String, (Loaded<A>, bool)>, StoreError> {
    let stream_ids: Vec<String> = aggregate_ids
        .iter()
        .map(|id| A::CATEGORY.stream_id(id))
        .collect();
    let sql = format!(
        "SELECT {EVENT_COLUMNS}, {} AS in_commit_order FROM stream_events($1) \
         ORDER BY stream_id, stream_version",
        commit_order_check(check_commit_order)
    );
    let rows = sqlx::query(&sql).bind(&stream_ids).fetch_all(conn).await?;
    let mut loaded: HashMap<String, (Loaded<A>, bool)> = aggregate_ids
        .iter()
        .map(|id| ((*id).to_owned(), (Loaded::default(), true)))
        .collect();
    for row in &rows {
        let recorded = from_row(row)?;
        let event: A::Event = recorded.decode()?;
        if let Some((entry, in_commit_order)) = loaded.get_mut(&recorded.aggregate_id) {
            entry.apply(&event, &recorded);
            *in_commit_order = row.try_get("in_commit_order")?;
        }
    }
    Ok(loaded)
}

/// The SQL of the commit-order check (see [`fold_stream`]), or none.
fn commit_order_check(wanted: bool) -> &'static str {
    if wanted {
        "transaction_id <= pg_current_xact_id()"
    } else {
        "true"
    }
}

/// Folds a whole stream; with `check_commit_order`, also reports whether its
/// last event was written by a transaction older than (or equal to) ours.
///
/// Why: readers order the log by (transaction id, position). If our
/// transaction took its id before the writer of the stream's last event did,
/// our next version would sort before that event and a consumer could see
/// version N+1 before version N. Such a rare interleaving is treated as a
/// conflict, and the retry runs in a younger transaction.
pub(crate) async fn fold_stream<A: Aggregate>(
    conn: &mut PgConnection,
    aggregate_id: &str,
    check_commit_order: bool,
) -> Result<(Loaded<A>, bool), StoreError> {
    let mut folded = fold_streams::<A>(conn, &[aggregate_id], check_commit_order).await?;
    Ok(folded
        .remove(aggregate_id)
        .unwrap_or_else(|| (Loaded::default(), true)))
}

/// Runs one command inside the caller's transaction. The caller commits.
///
/// `expected_version` is the client's `If-Match`; without it the command is
/// decided on whatever version is current, and a concurrent writer still
/// surfaces as [`StoreError::Conflict`].
#[tracing::instrument(skip(conn, command, metadata), fields(category = A::CATEGORY.as_str()))]
pub async fn execute_in<A: CurrentState>(
    conn: &mut PgConnection,
    aggregate_id: &str,
    expected_version: Option<i64>,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<Outcome<A>, CommandError> {
    let (loaded, in_commit_order) = A::load_for(conn, aggregate_id, &command).await?;
    if let Some(expected) = expected_version {
        if expected != loaded.version {
            return Err(CommandError::VersionMismatch {
                expected,
                current: loaded.version,
            });
        }
    }
    let events = loaded.state.decide(command)?;
    if events.is_empty() {
        return Ok(Outcome {
            events,
            state: loaded.state,
            version: loaded.version,
            position: loaded.last_position,
        });
    }
    if !in_commit_order {
        return Err(StoreError::Conflict {
            stream_id: A::CATEGORY.stream_id(aggregate_id),
            expected: loaded.version,
        }
        .into());
    }
    let encoded = events.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
    let AppendResult {
        last_position,
        version,
    } = append(
        conn,
        A::CATEGORY,
        aggregate_id,
        loaded.version,
        &encoded,
        metadata,
    )
    .await?;
    let after = Loaded {
        state: events.iter().fold(loaded.state, |s, e| s.evolve(e)),
        version,
        last_position,
    };
    A::record(conn, aggregate_id, &after).await?;
    Ok(Outcome {
        events,
        state: after.state,
        version,
        position: last_position,
    })
}

/// Runs a command that starts a new stream (such as placing an order under a
/// freshly generated id) without reading it first: a stream that exists after
/// all is refused by the unique version constraint and reported as
/// [`DomainError::AlreadyExists`]. Saves the read on the hottest path.
#[tracing::instrument(skip(conn, command, metadata), fields(category = A::CATEGORY.as_str()))]
pub async fn execute_new<A: CurrentState>(
    conn: &mut PgConnection,
    aggregate_id: &str,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<Outcome<A>, CommandError> {
    let Outcome {
        events,
        state,
        version,
        position,
    } = landed(start_stream::<A>(conn, aggregate_id, command, metadata).await?)?;
    let after = Loaded {
        state,
        version,
        last_position: position,
    };
    A::record(conn, aggregate_id, &after).await?;
    Ok(Outcome {
        events,
        state: after.state,
        version,
        position,
    })
}

/// [`execute_new`] as one statement that needs no transaction around it: the
/// command was decided on products read earlier without a lock, at catalogue
/// version `catalogue`, and the append lands only if the catalogue is still
/// there. `Ok(None)` when it has moved on: read the products again and
/// decide again. The append shares its statement with whoever else appends
/// through `appends` at the same moment (group commit).
#[tracing::instrument(skip(appends, command, metadata), fields(category = A::CATEGORY.as_str()))]
pub async fn execute_new_priced_at<A: FoldOnly>(
    appends: &GroupAppend,
    aggregate_id: &str,
    command: A::Command,
    metadata: &EventMetadata,
    catalogue: CatalogueVersion,
) -> Result<Option<Outcome<A>>, CommandError> {
    let (events, stream) = first_events::<A>(aggregate_id, command, metadata)?;
    let appended = appends.append_priced_at(stream, catalogue).await;
    started(events, appended)
}

/// Decides `command` on an empty stream and appends its events as the
/// stream's first.
async fn start_stream<A: Aggregate>(
    conn: &mut PgConnection,
    aggregate_id: &str,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<Option<Outcome<A>>, CommandError> {
    let (events, stream) = first_events::<A>(aggregate_id, command, metadata)?;
    let appended = insert_events(conn, std::slice::from_ref(&stream), None).await;
    started(
        events,
        appended.map(|landed| landed.map(|results| results[0])),
    )
}

/// `command` decided on an empty stream: its events, and their append as the
/// stream's first.
fn first_events<A: Aggregate>(
    aggregate_id: &str,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<(Vec<A::Event>, StreamAppend), CommandError> {
    let events = A::default().decide(command)?;
    let encoded = events.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
    let stream = StreamAppend {
        category: A::CATEGORY,
        aggregate_id: aggregate_id.to_owned(),
        expected_version: 0,
        events: encoded.into_iter().map(|e| (e, metadata.clone())).collect(),
    };
    Ok((events, stream))
}

/// What starting a stream with `events` did, from how their append went; a
/// stream that existed after all is the domain's `AlreadyExists`.
fn started<A: Aggregate>(
    events: Vec<A::Event>,
    appended: Result<Option<AppendResult>, StoreError>,
) -> Result<Option<Outcome<A>>, CommandError> {
    let AppendResult {
        last_position,
        version,
    } = match appended {
        Ok(Some(result)) => result,
        Ok(None) => return Ok(None),
        Err(e) => match e.cause() {
            StoreError::Conflict { stream_id, .. } => {
                return Err(DomainError::AlreadyExists {
                    what: stream_id.clone(),
                }
                .into())
            }
            _ => return Err(e.into()),
        },
    };
    Ok(Some(Outcome {
        state: A::from_history(&events),
        events,
        version,
        position: last_position,
    }))
}

/// How often and how patiently to retry a command that lost a race.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Backoff before the second attempt; doubles each time, with jitter.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::with_attempts(Self::DEFAULT_ATTEMPTS)
    }
}

impl RetryPolicy {
    /// Attempts for a command that keeps losing races on its stream, unless
    /// configured otherwise (`STOCKROOM_CONFLICT_ATTEMPTS`).
    pub const DEFAULT_ATTEMPTS: u32 = 20;

    /// The default backoff with `attempts` attempts.
    pub fn with_attempts(attempts: u32) -> Self {
        Self {
            attempts: attempts.max(1),
            base_delay: Duration::from_millis(2),
        }
    }

    /// The pause before attempt `attempt` (1-based), capped at 200 ms.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay * 2u32.saturating_pow(attempt.min(10));
        let capped = exp.min(Duration::from_millis(200));
        // Full jitter, so racing writers spread out instead of colliding again.
        let nanos = capped.as_nanos() as u64;
        let jitter = (Uuid::new_v4().as_u128() as u64) % nanos.max(1);
        Duration::from_nanos(jitter)
    }
}

/// Runs a command in its own transaction, retrying version conflicts with
/// backoff. For processes (the expirer, tools); the HTTP API runs
/// [`execute_in`] inside its idempotency transaction, and the reservation
/// process decides a whole batch in its own.
#[tracing::instrument(skip(pool, command, metadata), fields(category = A::CATEGORY.as_str()))]
pub async fn execute<A: CurrentState>(
    pool: &PgPool,
    aggregate_id: &str,
    command: A::Command,
    metadata: &EventMetadata,
    policy: RetryPolicy,
) -> Result<Outcome<A>, CommandError>
where
    A::Command: Clone,
{
    let mut attempt = 1;
    loop {
        let mut tx = pool.begin().await?;
        match execute_in::<A>(&mut tx, aggregate_id, None, command.clone(), metadata).await {
            Ok(outcome) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Err(CommandError::Store(e)) if e.is_conflict() && attempt < policy.attempts => {
                drop(tx);
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
