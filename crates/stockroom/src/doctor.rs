//! `stockroom doctor`: the health of a running installation in one screen,
//! and an exit status a cron job or a runbook can act on.

use std::time::Duration;

use anyhow::{bail, Context};
use bus::admin::BrokerProbe;
use chrono::Utc;
use store::health::{lags, oldest_transaction, parked};

use crate::config::Common;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Ok,
    Warn,
    Fail,
}

impl Severity {
    fn tag(self) -> &'static str {
        match self {
            Self::Ok => "[ok]  ",
            Self::Warn => "[warn]",
            Self::Fail => "[FAIL]",
        }
    }
}

/// A follower this far behind is worth a look; this far, a person.
const LAG_WARN_SECONDS: f64 = 5.0;
const LAG_FAIL_SECONDS: f64 = 60.0;

/// A transaction open this long holds the log back noticeably; this long,
/// it needs a person.
const BLOCKER_WARN_SECONDS: f64 = 5.0;
const BLOCKER_FAIL_SECONDS: f64 = 60.0;

/// How long the broker may take to answer.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

fn by_threshold(value: f64, warn: f64, fail: f64) -> Severity {
    if value >= fail {
        Severity::Fail
    } else if value >= warn {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// Checks the installation `common` points at and prints one line per
/// finding. Fails (exit status 1) when something needs a person; with
/// `strict`, warnings count too.
pub async fn run(common: Common, strict: bool, keys_within: Duration) -> anyhow::Result<()> {
    let pool = store::connect(&common.db())?;
    let mut conn = pool
        .acquire()
        .await
        .context("cannot connect to the database")?;
    let mut findings = Findings::new(strict);

    findings.push(match store::db::check_session(&mut conn).await {
        Ok(()) => (
            Severity::Ok,
            "sessions run READ COMMITTED with Stockroom's lock and idle bounds".to_owned(),
        ),
        Err(e @ store::StoreError::SessionNotPinned { .. }) => (Severity::Fail, e.to_string()),
        Err(e) => return Err(e).context("cannot read the session's settings"),
    });
    findings.push(match store::db::check_cluster_ids(&mut conn).await {
        Ok(()) => (
            Severity::Ok,
            "the log's transaction ids belong to this cluster".to_owned(),
        ),
        Err(e @ store::StoreError::RestoredCopy) => (Severity::Fail, e.to_string()),
        Err(e) => return Err(e).context("cannot check the log's transaction ids"),
    });
    // Through a session that is not what it seems, the other checks would
    // only fail in confusing ways (a transaction pooler's "prepared
    // statement already exists").
    if findings.failed {
        return findings.conclude();
    }

    for lag in lags(&mut conn)
        .await
        .context("cannot read the followers' positions")?
    {
        let severity = by_threshold(lag.seconds, LAG_WARN_SECONDS, LAG_FAIL_SECONDS);
        findings.push((
            severity,
            format!(
                "{}: settled at position {}, {} events behind (oldest {:.1} s)",
                lag.name, lag.settled, lag.events, lag.seconds
            ),
        ));
    }

    if let Some(replica) = common.replica_pool()? {
        findings.push(replica_finding(&pool, &replica).await);
    }

    // A refusing endpoint only falls behind (its lag is above); why it
    // refuses is for a person to see.
    for lag in store::webhooks::lags(&mut conn)
        .await
        .context("cannot read the webhook endpoints")?
    {
        let endpoint = &lag.endpoint;
        if let Some(since) = endpoint.failing_since {
            findings.push((
                Severity::Warn,
                format!(
                    "{} ({}) refuses deliveries since {}, {} attempts: {}",
                    lag.name(),
                    endpoint.url,
                    since.format("%Y-%m-%d %H:%M:%S UTC"),
                    endpoint.attempts,
                    endpoint.last_error.as_deref().unwrap_or("-")
                ),
            ));
        }
    }

    match oldest_transaction(&mut conn, BLOCKER_WARN_SECONDS)
        .await
        .context("cannot read the open transactions")?
    {
        Some(blocker) => findings.push((
            by_threshold(
                blocker.age_seconds,
                BLOCKER_WARN_SECONDS,
                BLOCKER_FAIL_SECONDS,
            ),
            format!("the log is held back by {blocker}"),
        )),
        None => findings.push((
            Severity::Ok,
            format!("no transaction has been open for {BLOCKER_WARN_SECONDS:.0} s or more"),
        )),
    }

    let parked = parked(&mut conn)
        .await
        .context("cannot count the parked events")?;
    if parked.is_empty() {
        findings.push((Severity::Ok, "no parked events".to_owned()));
    }
    for (consumer, count) in parked {
        findings.push((
            Severity::Fail,
            format!(
                "{consumer}: {count} parked events (stockroom parked list --consumer {consumer})"
            ),
        ));
    }

    let kafka = common.kafka();
    let reachable = BrokerProbe::new(&kafka)?.reachable(BROKER_TIMEOUT).await;
    findings.push(if reachable {
        (Severity::Ok, format!("broker {} answers", kafka.brokers))
    } else {
        // Orders do not wait for the broker; publication does, and the
        // relay's lag above says how much.
        (
            Severity::Warn,
            format!(
                "broker {} does not answer within {BROKER_TIMEOUT:?}",
                kafka.brokers
            ),
        )
    });

    let soon = Utc::now() + chrono::Duration::from_std(keys_within)?;
    let mut expiring = 0;
    for key in store::keys::list(&pool)
        .await
        .context("cannot list the API keys")?
    {
        let Some(expires_at) = key.expires_at else {
            continue;
        };
        if key.revoked_at.is_some() || expires_at > soon {
            continue;
        }
        expiring += 1;
        let (severity, when) = if expires_at <= Utc::now() {
            (Severity::Ok, "expired")
        } else {
            (Severity::Warn, "expires")
        };
        findings.push((
            severity,
            format!(
                "key {} ({}, {}) {when} {}",
                key.name,
                key.id,
                key.role,
                expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    if expiring == 0 {
        findings.push((
            Severity::Ok,
            format!(
                "no key expires within {}",
                humantime::format_duration(keys_within)
            ),
        ));
    }

    findings.conclude()
}

/// How far the replica the query API reads is behind: judged by seconds as
/// the followers are; one that does not answer fails every read.
async fn replica_finding(primary: &sqlx::PgPool, replica: &sqlx::PgPool) -> (Severity, String) {
    match store::replica::replayed_location(replica).await {
        Err(e) => {
            return (
                Severity::Fail,
                format!(
                    "the query replica does not answer: {}",
                    store::error_chain(&e)
                ),
            )
        }
        Ok(None) => {
            return (
                Severity::Warn,
                "STOCKROOM_QUERY_DATABASE_URL is not a standby (promoted, or another primary)"
                    .to_owned(),
            )
        }
        Ok(Some(_)) => {}
    }
    match store::replica::lag(primary, replica).await {
        Ok(lag) => (
            by_threshold(lag.seconds, LAG_WARN_SECONDS, LAG_FAIL_SECONDS),
            format!(
                "query replica: {} bytes of WAL behind ({:.1} s)",
                lag.bytes, lag.seconds
            ),
        ),
        Err(e) => (
            Severity::Fail,
            format!(
                "the query replica's lag cannot be measured: {}",
                store::error_chain(&e)
            ),
        ),
    }
}

/// The findings so far, each printed as it is made: a check that cannot run
/// (a query that fails, a connection refused) ends the report with its
/// error, after everything found before it.
struct Findings {
    threshold: Severity,
    needing_a_person: usize,
    failed: bool,
}

impl Findings {
    /// Counts failures, and warnings too when `strict`.
    fn new(strict: bool) -> Self {
        Self {
            threshold: if strict {
                Severity::Warn
            } else {
                Severity::Fail
            },
            needing_a_person: 0,
            failed: false,
        }
    }

    fn push(&mut self, (severity, text): (Severity, String)) {
        println!("{} {text}", severity.tag());
        self.failed |= severity == Severity::Fail;
        if severity >= self.threshold {
            self.needing_a_person += 1;
        }
    }

    /// Fails when any finding needs a person.
    fn conclude(self) -> anyhow::Result<()> {
        if self.needing_a_person > 0 {
            bail!("{} finding(s) need a person", self.needing_a_person);
        }
        Ok(())
    }
}
