//! The webhooks process: one follower task per enabled endpoint, started
//! and stopped as endpoints are made, disabled or deleted. One process
//! delivers at a time (a lease, like every follower's); others stand by,
//! so no endpoint gets each batch twice from two senders.

use std::collections::HashMap;
use std::time::Duration;

use bus::horizon::LogHorizon;
use sqlx::PgPool;
use store::subscription::Lease;
use store::StoreError;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::delivery::Deliverer;
use crate::endpoint::Follower;
use crate::WebhooksConfig;

/// Why the webhooks process stopped (an endpoint that refuses is no reason:
/// it is retried for ever).
#[derive(Debug, Error)]
pub enum WebhooksError {
    /// The database failed.
    #[error("the webhooks' database failed")]
    Store(#[from] StoreError),
    /// A follower task panicked.
    #[error("a webhook follower panicked")]
    Panicked(#[from] tokio::task::JoinError),
    /// The lease's connection ended: a standby may deliver now.
    #[error("the webhooks' lease was lost")]
    LeaseLost,
}

/// The lease the delivering process holds.
const LEASE: &str = "webhooks";
/// How often a standby tries to take the lease over.
const STANDBY_RETRY: Duration = Duration::from_secs(1);

/// The lease, once this process may deliver; `None` when stopped first.
async fn take_lease(
    pool: &PgPool,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Lease>, StoreError> {
    let options = pool.connect_options().as_ref().clone();
    let mut announced = false;
    loop {
        if let Some(lease) = Lease::try_acquire(&options, LEASE).await? {
            return Ok(Some(lease));
        }
        if !announced {
            tracing::info!("another webhooks process delivers; standing by");
            announced = true;
        }
        tokio::select! {
            () = tokio::time::sleep(STANDBY_RETRY) => {}
            _ = stop.wait_for(|stopped| *stopped) => return Ok(None),
        }
    }
}

/// Delivers to every enabled endpoint until `stop`; the first follower
/// that fails stops the others and the process.
pub async fn run(
    pool: PgPool,
    config: WebhooksConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<(), WebhooksError> {
    {
        let mut conn = pool.acquire().await.map_err(StoreError::from)?;
        store::db::check_cluster_ids(&mut conn).await?;
    }
    let Some(mut lease) = take_lease(&pool, &mut stop).await? else {
        return Ok(());
    };
    // Deliveries read the primary's log: no replica to wait for.
    let horizon = LogHorizon::start(pool.clone(), None, stop.clone());
    let deliverer = Deliverer::new(config.timeout);
    let mut followers: HashMap<Uuid, watch::Sender<bool>> = HashMap::new();
    let mut tasks: JoinSet<(Uuid, Result<(), StoreError>)> = JoinSet::new();
    let outcome = loop {
        if !lease.held(config.reload).await {
            break Err(WebhooksError::LeaseLost);
        }
        let enabled = match store::webhooks::enabled_with_secrets(&pool).await {
            Ok(enabled) => enabled,
            Err(e) => break Err(e.into()),
        };
        followers.retain(|id, stop_one| {
            let keep = enabled.iter().any(|(e, _)| e.id == *id);
            if !keep {
                tracing::info!(endpoint = %id, "webhook endpoint disabled or deleted; stopping its deliveries");
                let _ = stop_one.send(true);
            }
            keep
        });
        for (endpoint, secret) in enabled {
            if followers.contains_key(&endpoint.id) {
                continue;
            }
            let (stop_one, stopped) = watch::channel(false);
            let id = endpoint.id;
            tracing::info!(endpoint = %id, url = %endpoint.url, position = endpoint.position, "delivering to a webhook endpoint");
            let follower = Follower {
                endpoint,
                secret,
                pool: pool.clone(),
                horizon: horizon.clone(),
                deliverer: deliverer.clone(),
                config: config.clone(),
            };
            tasks.spawn(async move { (id, follower.run(stopped).await) });
            followers.insert(id, stop_one);
        }
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
            () = tokio::time::sleep(config.reload) => {}
            Some(joined) = tasks.join_next() => match joined {
                Ok((id, Ok(()))) => { followers.remove(&id); }
                Ok((_, Err(e))) => break Err(e.into()),
                Err(e) => break Err(e.into()),
            },
        }
    };
    for stop_one in followers.values() {
        let _ = stop_one.send(true);
    }
    while tasks.join_next().await.is_some() {}
    lease.release().await;
    outcome
}
