//! A command whose domain command is fully known from the request.

use std::future::Future;

use axum::http::StatusCode;
use serde_json::Value;
use sqlx::PgConnection;
use store::{CurrentState, Outcome};

use crate::error::ApiError;
use crate::runner::HttpCommand;

/// A ready domain command plus how to answer when it succeeds.
pub struct Simple<A: CurrentState> {
    /// SKU or order id.
    pub id: String,
    /// The domain command.
    pub command: A::Command,
    /// The success answer.
    pub respond: fn(&str, &Outcome<A>) -> (StatusCode, Value),
}

impl<A> HttpCommand for Simple<A>
where
    A: CurrentState,
    A::Command: Clone + Sync,
{
    type Aggregate = A;

    fn aggregate_id(&self) -> String {
        self.id.clone()
    }

    fn prepare<'a>(
        &'a self,
        _: &'a mut PgConnection,
    ) -> impl Future<Output = Result<A::Command, ApiError>> + Send + 'a {
        std::future::ready(Ok(self.command.clone()))
    }

    fn respond(&self, outcome: &Outcome<A>) -> (StatusCode, Value) {
        (self.respond)(&self.id, outcome)
    }
}
