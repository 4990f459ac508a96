//! Fault tests: crashes, a paused broker, failover and a Postgres restart,
//! against the real processes. They disturb shared infrastructure, so they
//! run one at a time (and cargo runs test binaries one after another).

#![allow(clippy::unwrap_used, missing_docs)]

// Helpers serve many tests; not every one is used by each.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod broker_pause;
mod infra;
mod pipeline_under_faults;
mod postgres_restart;
mod relay_crash;
mod relay_failover;
mod replica_faults;
mod restored_copy;
