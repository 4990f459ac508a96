//! Runs one HTTP command: idempotency lock, decide, append, remember the
//! response, all in one transaction; retries lost races on the stream.

use std::future::Future;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::Aggregate;
use serde_json::Value;
use sqlx::PgConnection;
use store::idempotency::{self, Claim};
use store::{execute_in, execute_new, CurrentState, Outcome};

use crate::error::ApiError;
use crate::extract::CommandHeaders;
use crate::state::AppState;

/// One command endpoint's specifics.
pub trait HttpCommand: Send + Sync {
    /// The aggregate the command addresses.
    type Aggregate: CurrentState;

    /// The aggregate's id (SKU or order id).
    fn aggregate_id(&self) -> String;

    /// Builds the domain command; may read other aggregates (the catalogue).
    fn prepare<'a>(
        &'a self,
        conn: &'a mut PgConnection,
    ) -> impl Future<Output = Result<<Self::Aggregate as Aggregate>::Command, ApiError>> + Send + 'a;

    /// Whether the command starts a stream under an id nobody else can know
    /// yet, so there is nothing to read before deciding.
    fn creates_stream(&self) -> bool {
        false
    }

    /// What else the command appends, in its transaction, once its own
    /// events are in (a return receipt restocks units on their stock
    /// streams); the global position of the last event it appended.
    fn follow_up<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        outcome: &'a Outcome<Self::Aggregate>,
    ) -> impl Future<Output = Result<Option<i64>, ApiError>> + Send + 'a {
        let _ = (conn, outcome);
        std::future::ready(Ok(None))
    }

    /// The success status and body.
    fn respond(&self, outcome: &Outcome<Self::Aggregate>) -> (StatusCode, Value);
}

/// A command's success: its status and body, or the stored first answer of
/// an idempotent retry.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// Whether this replays the first answer to the same `Idempotency-Key`.
    pub replayed: bool,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        if self.replayed {
            return replay(self.status, self.body);
        }
        (self.status, Json(self.body)).into_response()
    }
}

/// Runs `command` with the request's headers and body fingerprint.
pub async fn run<C: HttpCommand>(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    command: C,
) -> Result<Answer, ApiError> {
    state.origin.check(&state.pool).await?;
    let policy = state.retry;
    let scope = headers.principal.idempotency_scope();
    let aggregate_id = command.aggregate_id();
    let mut attempt = 1;
    loop {
        let mut tx = state.pool.begin().await?;
        if let Some(key) = &headers.idempotency_key {
            match idempotency::lock(&mut tx, &scope, key, fingerprint).await? {
                Claim::Fresh => {}
                Claim::Replay { status, body } => {
                    return Ok(Answer {
                        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                        body,
                        replayed: true,
                    })
                }
                Claim::Mismatch => return Err(ApiError::IdempotencyMismatch),
            }
        }
        let result = async {
            let domain_command = command.prepare(&mut tx).await?;
            let mut outcome = if command.creates_stream() && headers.if_match.is_none() {
                execute_new::<C::Aggregate>(
                    &mut tx,
                    &aggregate_id,
                    domain_command,
                    &headers.metadata,
                )
                .await?
            } else {
                execute_in::<C::Aggregate>(
                    &mut tx,
                    &aggregate_id,
                    headers.if_match,
                    domain_command,
                    &headers.metadata,
                )
                .await?
            };
            if let Some(position) = command.follow_up(&mut tx, &outcome).await? {
                outcome.position = outcome.position.max(position);
            }
            Ok::<_, ApiError>(outcome)
        }
        .await;
        match result {
            Ok(outcome) => {
                let (status, body) = command.respond(&outcome);
                if let Some(key) = &headers.idempotency_key {
                    idempotency::remember(
                        &mut tx,
                        &scope,
                        key,
                        fingerprint,
                        status.as_u16(),
                        &body,
                    )
                    .await?;
                }
                tx.commit().await?;
                state.notifier.events_appended();
                return Ok(Answer {
                    status,
                    body,
                    replayed: false,
                });
            }
            Err(ApiError::Contended) if attempt < policy.attempts => {
                drop(tx);
                metrics::counter!("stockroom_command_conflicts_retried_total").increment(1);
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) if e.is_decided() => {
                if let Some(key) = &headers.idempotency_key {
                    let problem = e.to_problem();
                    idempotency::remember(
                        &mut tx,
                        &scope,
                        key,
                        fingerprint,
                        problem.status,
                        &problem.to_json(),
                    )
                    .await?;
                    tx.commit().await?;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The stored first response, marked as a replay.
fn replay(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if status.is_client_error() {
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(web::problem::PROBLEM_JSON),
        );
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
