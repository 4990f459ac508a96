//! Where a command's starting state comes from, and what is kept beside the
//! events after it: the full fold by default, a current-state row where a
//! stream's history grows without bound (see [`crate::stock_levels`]).

use std::future::Future;

use domain::order::Order;
use domain::product::Product;
use domain::Aggregate;
use sqlx::PgConnection;

use crate::execute::{fold_stream, Loaded};
use crate::StoreError;

/// How the store reads the state a command is decided on and keeps it
/// current; both run inside the command's transaction.
pub trait CurrentState: Aggregate {
    /// The state `command` is decided on, and whether the stream's last
    /// event was written by a transaction no younger than ours (see
    /// [`crate::execute_in`] for why that matters).
    fn load_for<'a>(
        conn: &'a mut PgConnection,
        aggregate_id: &'a str,
        command: &'a Self::Command,
    ) -> impl Future<Output = Result<(Loaded<Self>, bool), StoreError>> + Send + 'a {
        let _ = command;
        fold_stream::<Self>(conn, aggregate_id, true)
    }

    /// Records the state after an append, in the append's transaction.
    fn record<'a>(
        conn: &'a mut PgConnection,
        aggregate_id: &'a str,
        after: &'a Loaded<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        let _ = (conn, aggregate_id, after);
        async { Ok(()) }
    }
}

/// Orders are short streams: placed, decided, paid, shipped.
impl CurrentState for Order {}

/// Products change rarely (a price, a discontinuation); each change bumps the
/// catalogue's version by trigger (see [`crate::catalogue`]).
impl CurrentState for Product {}

/// Aggregates whose current state is their fold alone: [`CurrentState::record`]
/// writes nothing, so an append of theirs needs no transaction around it
/// (see [`crate::execute_new_priced_at`]).
pub trait FoldOnly: CurrentState {}

impl FoldOnly for Order {}
