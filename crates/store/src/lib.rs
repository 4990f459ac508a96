//! The Postgres event store: the log of record, read and written in
//! transactions, plus the tables that ride along with appends (idempotency
//! keys) and the embedded migrations.

pub mod catalogue;
pub mod codec;
pub mod console_users;
pub mod db;
pub mod error;
pub mod execute;
pub mod feed;
pub mod follow;
pub mod group_append;
pub mod health;
pub mod hold_stock;
pub mod holds;
pub mod idempotency;
pub mod keys;
pub mod locations;
pub mod log;
pub mod migrations;
pub mod notify;
pub mod origin;
pub mod read;
pub mod replica;
pub mod retention;
pub mod returns;
pub mod state;
pub mod stock_levels;
pub mod subscription;
pub mod trace;
pub mod webhooks;

pub use catalogue::{catalogue_version, CatalogueVersion};
pub use codec::{decode, encode, EventMetadata, NewEvent, RecordedEvent};
pub use db::{connect, migrate, DbConfig};
pub use error::{error_chain, StoreError};
pub use execute::{
    execute, execute_in, execute_new, execute_new_priced_at, load, load_many, load_many_to_decide,
    CommandError, Loaded, Outcome, RetryPolicy,
};
pub use follow::{LogFollower, LogRead};
pub use group_append::GroupAppend;
pub use log::{append, append_streams, append_streams_priced_at, AppendResult, StreamAppend};
pub use notify::Notifier;
pub use read::{read_committed_after, read_stream, CommitCursor};
pub use state::{CurrentState, FoldOnly};
