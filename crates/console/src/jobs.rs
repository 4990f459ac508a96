//! Rebuilds and verifications an admin started from the console, with their
//! progress for the projections page. One job per projection at a time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use projector::rebuild::Progress;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Replays the log into a fresh copy and swaps it in.
    Rebuild,
    /// Recomputes the model and compares it with the live one.
    Verify,
}

impl JobKind {
    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rebuild => "rebuild",
            Self::Verify => "verification",
        }
    }
}

/// One job's state.
#[derive(Debug, Clone)]
pub struct Job {
    /// What it does.
    pub kind: JobKind,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Events replayed so far.
    pub done: u64,
    /// Events to replay (an estimate).
    pub total: u64,
    /// How it ended: what it found, or why it failed; `None` while running.
    pub outcome: Option<Result<String, String>>,
}

impl Job {
    /// Whether it is still running.
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Percent done, 0 to 100.
    pub fn percent(&self) -> u64 {
        (self.done * 100)
            .checked_div(self.total)
            .unwrap_or(0)
            .min(100)
    }
}

/// The jobs of this console process, by projection.
#[derive(Clone, Default)]
pub struct Jobs(Arc<Mutex<BTreeMap<String, Job>>>);

impl Jobs {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Job>) -> T) -> T {
        // A panic while holding the lock leaves plain data behind; keep going.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records a new job on `projection`; false when one is already running.
    pub fn start(&self, projection: &str, kind: JobKind) -> bool {
        self.with(|jobs| {
            if jobs.get(projection).is_some_and(Job::running) {
                return false;
            }
            let job = Job {
                kind,
                started_at: Utc::now(),
                done: 0,
                total: 0,
                outcome: None,
            };
            jobs.insert(projection.to_owned(), job);
            true
        })
    }

    /// Records how the job on `projection` ended.
    pub fn finish(&self, projection: &str, outcome: Result<String, String>) {
        self.with(|jobs| {
            if let Some(job) = jobs.get_mut(projection) {
                job.outcome = Some(outcome);
            }
        });
    }

    /// Every job, by projection.
    pub fn snapshot(&self) -> BTreeMap<String, Job> {
        self.with(|jobs| jobs.clone())
    }

    /// Reports a rebuild's progress into the job on `projection`.
    pub fn progress(&self, projection: &str) -> JobProgress {
        JobProgress {
            jobs: self.clone(),
            projection: projection.to_owned(),
        }
    }
}

/// A rebuild's progress, recorded for the page.
pub struct JobProgress {
    jobs: Jobs,
    projection: String,
}

impl Progress for JobProgress {
    fn start(&self, total: u64) {
        self.jobs.with(|jobs| {
            if let Some(job) = jobs.get_mut(&self.projection) {
                job.total = total;
            }
        });
    }

    fn advance(&self, done: u64) {
        self.jobs.with(|jobs| {
            if let Some(job) = jobs.get_mut(&self.projection) {
                job.done = done;
                job.total = job.total.max(done);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_projection_runs_at_a_time_and_reports_progress() {
        let jobs = Jobs::default();
        assert!(jobs.start("orders", JobKind::Rebuild));
        assert!(!jobs.start("orders", JobKind::Verify), "already running");
        let progress = jobs.progress("orders");
        progress.start(200);
        progress.advance(50);
        assert_eq!(jobs.snapshot()["orders"].percent(), 25);
        jobs.finish("orders", Ok("done".into()));
        assert!(!jobs.snapshot()["orders"].running());
        assert!(jobs.start("orders", JobKind::Verify), "the last one ended");
    }
}
