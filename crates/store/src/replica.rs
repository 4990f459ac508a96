//! Reading from a streaming replica (a hot standby): how far it has replayed
//! the primary's write-ahead log, how far behind that is, and which settled
//! position of the primary's log it can already serve.
//!
//! WAL locations are compared as byte offsets (`pg_lsn - '0/0'`), so a
//! location read on the primary and one read on the standby are comparable.

use std::collections::VecDeque;

use sqlx::PgPool;

/// The primary's WAL insert location: every record inserted so far (every
/// commit already visible there, too) ends at or before it.
pub async fn wal_insert_location(primary: &PgPool) -> Result<u64, sqlx::Error> {
    let location: i64 =
        sqlx::query_scalar("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(primary)
            .await?;
    Ok(location as u64)
}

/// How far a standby has replayed the primary's WAL; `None` on a server that
/// is not in recovery (a primary: it has everything).
pub async fn replayed_location(replica: &PgPool) -> Result<Option<u64>, sqlx::Error> {
    let location: Option<i64> = sqlx::query_scalar(
        "SELECT CASE WHEN pg_is_in_recovery() \
                THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END",
    )
    .fetch_one(replica)
    .await?;
    Ok(location.map(|l| l as u64))
}

/// How far a replica is behind its primary.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReplicaLag {
    /// WAL the primary has written that the replica has not replayed.
    pub bytes: u64,
    /// Age of the newest transaction the replica replayed while it has
    /// something left to replay; 0 when it has replayed everything.
    pub seconds: f64,
}

/// How far `replica` is behind `primary` now (nothing when `replica` is not
/// a standby).
pub async fn lag(primary: &PgPool, replica: &PgPool) -> Result<ReplicaLag, sqlx::Error> {
    let written = wal_insert_location(primary).await?;
    let (replayed, age): (Option<i64>, Option<f64>) = sqlx::query_as(
        "SELECT CASE WHEN pg_is_in_recovery() \
                THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END, \
                extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
    )
    .fetch_one(replica)
    .await?;
    let Some(replayed) = replayed else {
        return Ok(ReplicaLag::default());
    };
    let bytes = written.saturating_sub(replayed as u64);
    Ok(ReplicaLag {
        bytes,
        // An idle primary writes nothing new: then the last replayed
        // transaction's age says nothing about lag.
        seconds: if bytes == 0 {
            0.0
        } else {
            age.unwrap_or(0.0).max(0.0)
        },
    })
}

/// Samples kept at most; when full the oldest goes (a later sample settles
/// a higher position, so dropping one only delays, never lies).
const MAX_SAMPLES: usize = 4096;

/// The primary's settled positions, each with the WAL location that holds
/// every transaction it settles: a replica that has replayed that location
/// holds every event up to that position, as the primary does.
#[derive(Debug, Clone, Default)]
pub struct ReplayedHorizon {
    /// `(settled, location)`, both ascending, oldest first.
    samples: VecDeque<(i64, u64)>,
    /// The highest settled position the replica is known to hold.
    replayed: i64,
}

impl ReplayedHorizon {
    /// Records that `settled` was settled on the primary before its WAL
    /// insert location was `location`.
    pub fn record(&mut self, settled: i64, location: u64) {
        if settled <= self.replayed
            || self
                .samples
                .back()
                .is_some_and(|(known, _)| *known >= settled)
        {
            return;
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((settled, location));
    }

    /// The replica has replayed up to `location`: returns the highest
    /// settled position it now holds.
    pub fn replayed_to(&mut self, location: u64) -> i64 {
        while let Some((settled, _)) = self
            .samples
            .front()
            .filter(|(_, needs)| *needs <= location)
            .copied()
        {
            self.replayed = settled;
            self.samples.pop_front();
        }
        self.replayed
    }

    /// The highest settled position the replica is known to hold.
    pub fn replayed(&self) -> i64 {
        self.replayed
    }

    /// Whether settled positions wait for the replica.
    pub fn waiting(&self) -> bool {
        !self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::ReplayedHorizon;

    #[test]
    fn a_position_is_served_only_once_its_location_is_replayed() {
        let mut horizon = ReplayedHorizon::default();
        horizon.record(10, 1_000);
        horizon.record(20, 2_000);
        assert_eq!(horizon.replayed_to(999), 0);
        assert_eq!(horizon.replayed_to(1_000), 10);
        assert!(horizon.waiting());
        assert_eq!(horizon.replayed_to(1_999), 10);
        assert_eq!(horizon.replayed_to(5_000), 20);
        assert!(!horizon.waiting());
    }

    #[test]
    fn samples_that_settle_nothing_new_are_ignored() {
        let mut horizon = ReplayedHorizon::default();
        horizon.record(10, 1_000);
        horizon.record(10, 1_500);
        horizon.record(5, 1_600);
        assert_eq!(horizon.replayed_to(1_000), 10);
        assert!(!horizon.waiting());
        horizon.record(10, 3_000);
        assert!(!horizon.waiting());
    }

    #[test]
    fn a_full_queue_drops_its_oldest_sample_and_never_serves_early() {
        let mut horizon = ReplayedHorizon::default();
        for i in 1..=(super::MAX_SAMPLES as i64 + 10) {
            horizon.record(i, i as u64 * 10);
        }
        // Positions 1..=10 were dropped: the first served is 11, at its own
        // location, never earlier.
        assert_eq!(horizon.replayed_to(105), 0);
        assert_eq!(horizon.replayed_to(110), 11);
        assert_eq!(horizon.replayed_to(0), 11);
    }
}
