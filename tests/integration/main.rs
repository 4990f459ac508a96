//! Integration tests: real Postgres, the real broker, the real `stockroom`
//! processes on port 0, a fresh database and topic namespace per test.
//! Run them with `scripts/test`, which starts the infrastructure.

#![allow(clippy::unwrap_used, missing_docs)]

// Helpers serve many tests; not every one is used by each.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod abuse;
mod access;
mod analytics_bounds;
mod api_fuzzing;
mod bad_input;
mod bench_smoke;
mod bookkeeping;
mod broker_batches;
mod broker_off_path;
mod cached_plans;
mod catalogue;
mod channel_limits;
mod command_instances;
mod compensation;
mod concurrency;
mod console;
mod console_router;
mod dedup;
mod docs_page;
mod doctor;
mod end_to_end;
mod event_feed;
mod event_streams;
mod gap_safety;
mod group_append;
mod history;
mod holds;
mod idempotency;
mod late_events;
mod least_privilege;
mod lifecycle;
mod locations;
mod log_reader;
mod metrics;
mod openapi;
mod operator_tools;
mod oversell;
mod parking;
mod pooler;
mod queries;
mod read_models;
mod read_your_writes;
mod readiness;
mod replica;
mod republish;
mod reservation_batch;
mod returns_refunds;
mod router;
mod sessions;
mod settled_positions;
mod slow_clients;
mod stock_levels;
mod trace_context;
mod unknown_keys;
mod users;
mod wake;
mod webhooks;
mod workers_db;
