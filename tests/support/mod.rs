//! The test harness: fresh databases, spawned processes, HTTP and Kafka clients.

pub mod db;
pub mod kafka;
pub mod process;
pub mod proxy;
pub mod shop;
pub mod standby;
pub mod system;

pub use db::TestDb;
pub use process::Proc;
pub use system::System;

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_saying(what, timeout, || {
        let polled = check();
        async move { polled.await.ok_or_else(String::new) }
    })
    .await
}

/// [`eventually`] for a `check` that says why it is not there yet: the last
/// such answer is in the panic.
pub async fn eventually_saying<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let not_yet = match check().await {
            Ok(value) => return value,
            Err(not_yet) => not_yet,
        };
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}{not_yet}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique, topic-safe name for this test's namespace.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}
