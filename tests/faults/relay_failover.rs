//! Two relays: only one publishes; killing it hands over to the other.

use std::collections::HashMap;
use std::time::Duration;

use crate::infra::exclusive;
use crate::support::kafka::read_until;
use crate::support::system::env_for;
use crate::support::{eventually, unique, Proc, TestDb};

async fn caught_up(db: &TestDb) -> bool {
    sqlx::query_scalar(
        "SELECT settled >= (SELECT max(position) FROM events) FROM subscriptions WHERE name = 'relay'",
    )
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn is_active(relay: &Proc) -> bool {
    std::fs::read_to_string(&relay.log)
        .unwrap_or_default()
        .contains("active: following the log")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_one_relay_publishes_and_a_standby_takes_over_when_it_dies() {
    let _serial = exclusive().await;
    let db = TestDb::create().await;
    let prefix = unique("t");
    let env = env_for(&db, &prefix, &[]);
    let mut relays = [
        Proc::spawn("relay", &[], &env).await,
        Proc::spawn("relay", &[], &env).await,
    ];

    let mut version = 0;
    for _ in 0..20 {
        db.append_product_events("FAIL-1", version, 10).await;
        version += 10;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(
        "the first 200 events to be published",
        Duration::from_secs(30),
        || async { caught_up(&db).await.then_some(()) },
    )
    .await;
    let holders: i64 = sqlx::query_scalar("SELECT subscription_lease_holders($1)")
        .bind(bus::relay::RELAY_SUBSCRIPTION)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(holders, 1, "exactly one relay holds the lease");
    let active: Vec<usize> = (0..2).filter(|i| is_active(&relays[*i])).collect();
    assert_eq!(active.len(), 1, "exactly one relay became active");

    let messages = read_until(
        &[format!("{prefix}.products")],
        Duration::from_secs(20),
        |got| got.len() >= 200,
    )
    .await;
    let extra = read_until(
        &[format!("{prefix}.products")],
        Duration::from_secs(2),
        |got| got.len() > 200,
    )
    .await;
    assert_eq!(
        (messages.len(), extra.len()),
        (200, 200),
        "nothing published twice while both run"
    );

    // Kill the active one; the standby takes over within a few seconds.
    let (dead, standby) = (active[0], 1 - active[0]);
    relays[dead].kill_hard().await;
    let killed_at = tokio::time::Instant::now();
    db.append_product_events("FAIL-1", version, 10).await;
    eventually(
        "the standby to publish",
        Duration::from_secs(15),
        || async { caught_up(&db).await.then_some(()) },
    )
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "handover took {:?}",
        killed_at.elapsed()
    );
    assert!(is_active(&relays[standby]));

    let all = read_until(
        &[format!("{prefix}.products")],
        Duration::from_secs(20),
        |got| got.len() >= 210,
    )
    .await;
    let mut per_version: HashMap<i64, usize> = HashMap::new();
    for m in &all {
        *per_version
            .entry(m.value["stream_version"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_version.len(), 210, "every event published");
}
