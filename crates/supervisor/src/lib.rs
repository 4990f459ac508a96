//! Supervision for a process's long-running tasks, in the manner of a
//! cancellation tree: every task watches one stop signal; the first task that
//! fails, panics or ends while the others still run trips it, the others get
//! a grace period to finish in-flight work, and the process reports the
//! failure so it can exit non-zero and be restarted by its own supervisor.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A boxed error from a supervised task.
pub type TaskError = Box<dyn std::error::Error + Send + Sync>;

/// Why a supervised group of tasks stopped.
#[derive(Debug, Error)]
pub enum Stopped {
    /// A task returned an error.
    #[error("task {task} failed")]
    Failed {
        /// The task's name.
        task: String,
        /// Its error.
        #[source]
        source: TaskError,
    },
    /// A task panicked.
    #[error("task {task} panicked")]
    Panicked {
        /// The task's name.
        task: String,
    },
    /// A task ended before anyone asked it to stop.
    #[error("task {task} ended unexpectedly")]
    EndedEarly {
        /// The task's name.
        task: String,
    },
    /// Tasks did not stop within the grace period and were aborted.
    #[error("{count} task(s) did not stop within {grace:?} and were aborted")]
    GraceExceeded {
        /// How many.
        count: usize,
        /// The grace period.
        grace: Duration,
    },
}

/// A set of tasks sharing one stop signal.
pub struct Supervisor {
    tasks: JoinSet<(String, Result<(), TaskError>)>,
    names: Vec<(tokio::task::Id, String)>,
    stop: watch::Sender<bool>,
    grace: Duration,
}

/// How long tasks get to finish once the stop signal is given.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

impl Supervisor {
    /// A supervisor whose tasks also stop when `outer` turns true (a signal
    /// handler, or a parent supervisor's stop).
    pub fn new(mut outer: watch::Receiver<bool>) -> Self {
        let (stop, _) = watch::channel(false);
        let forward = stop.clone();
        tokio::spawn(async move {
            let _ = outer.wait_for(|stopped| *stopped).await;
            let _ = forward.send(true);
        });
        Self {
            tasks: JoinSet::new(),
            names: Vec::new(),
            stop,
            grace: DEFAULT_GRACE,
        }
    }

    /// Sets the grace period.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The stop signal to hand to tasks.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs `task` under supervision; it must watch [`Supervisor::stop_signal`].
    pub fn spawn<F, E>(&mut self, name: impl Into<String>, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<TaskError>,
    {
        let name = name.into();
        let label = name.clone();
        let handle = self
            .tasks
            .spawn(async move { (label, task.await.map_err(Into::into)) });
        self.names.push((handle.id(), name));
    }

    /// Waits until every task ended. Returns the first failure, if any; the
    /// rest are logged.
    pub async fn wait(mut self) -> Result<(), Stopped> {
        let mut first: Option<Stopped> = None;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut stop = self.stop.subscribe();
        loop {
            let next = match deadline {
                // The grace period starts when the stop is given, whether a
                // task ended (a failure) or a signal arrived with every task
                // still running.
                None => tokio::select! {
                    next = self.tasks.join_next_with_id() => next,
                    _ = stop.wait_for(|stopped| *stopped) => {
                        deadline = Some(tokio::time::Instant::now() + self.grace);
                        continue;
                    }
                },
                Some(at) => match tokio::time::timeout_at(at, self.tasks.join_next_with_id()).await
                {
                    Ok(next) => next,
                    Err(_) => {
                        let count = self.tasks.len();
                        tracing::error!(count, grace = ?self.grace, "tasks did not stop in time; aborting them");
                        self.tasks.abort_all();
                        while self.tasks.join_next().await.is_some() {}
                        first.get_or_insert(Stopped::GraceExceeded {
                            count,
                            grace: self.grace,
                        });
                        break;
                    }
                },
            };
            let Some(joined) = next else { break };
            let stopping = *self.stop.borrow();
            let outcome = match joined {
                Ok((_, (task, Ok(())))) if stopping => {
                    tracing::debug!(%task, "task stopped");
                    None
                }
                Ok((_, (task, Ok(())))) => Some(Stopped::EndedEarly { task }),
                Ok((_, (task, Err(source)))) => Some(Stopped::Failed { task, source }),
                Err(e) => {
                    let task = self
                        .names
                        .iter()
                        .find(|(id, _)| *id == e.id())
                        .map_or_else(|| "unknown".to_owned(), |(_, n)| n.clone());
                    Some(Stopped::Panicked { task })
                }
            };
            if let Some(stopped) = outcome {
                tracing::error!(error = %chain(&stopped), "stopping every task");
                if first.is_none() {
                    first = Some(stopped);
                }
            }
            if deadline.is_none() && (*self.stop.borrow() || first.is_some()) {
                let _ = self.stop.send(true);
                deadline = Some(tokio::time::Instant::now() + self.grace);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn until_stopped(mut stop: watch::Receiver<bool>) -> Result<(), TaskError> {
        let _ = stop.wait_for(|s| *s).await;
        Ok(())
    }

    #[tokio::test]
    async fn the_first_failure_stops_its_siblings() {
        let (_outer_tx, outer) = watch::channel(false);
        let mut supervisor = Supervisor::new(outer);
        supervisor.spawn("waits", until_stopped(supervisor.stop_signal()));
        supervisor.spawn("fails", async { Err::<(), TaskError>("boom".into()) });
        let result = tokio::time::timeout(Duration::from_secs(5), supervisor.wait()).await;
        assert!(matches!(result, Ok(Err(Stopped::Failed { ref task, .. })) if task == "fails"));
    }

    #[tokio::test]
    async fn a_panic_is_a_failure() {
        let (_outer_tx, outer) = watch::channel(false);
        let mut supervisor = Supervisor::new(outer);
        supervisor.spawn("waits", until_stopped(supervisor.stop_signal()));
        supervisor.spawn("panics", async {
            if true {
                panic!("bug");
            }
            Ok::<(), TaskError>(())
        });
        let result = tokio::time::timeout(Duration::from_secs(5), supervisor.wait()).await;
        assert!(matches!(result, Ok(Err(Stopped::Panicked { ref task })) if task == "panics"));
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_stop_is_aborted_after_the_grace() {
        let (outer_tx, outer) = watch::channel(false);
        let mut supervisor = Supervisor::new(outer).with_grace(Duration::from_millis(100));
        supervisor.spawn("stubborn", async {
            std::future::pending::<()>().await;
            Ok::<(), TaskError>(())
        });
        outer_tx.send(true).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), supervisor.wait()).await;
        assert!(matches!(
            result,
            Ok(Err(Stopped::GraceExceeded { count: 1, .. }))
        ));
    }

    #[tokio::test]
    async fn an_outer_stop_ends_everything_cleanly() {
        let (outer_tx, outer) = watch::channel(false);
        let mut supervisor = Supervisor::new(outer);
        supervisor.spawn("a", until_stopped(supervisor.stop_signal()));
        supervisor.spawn("b", until_stopped(supervisor.stop_signal()));
        outer_tx.send(true).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), supervisor.wait()).await;
        assert!(matches!(result, Ok(Ok(()))));
    }
}
