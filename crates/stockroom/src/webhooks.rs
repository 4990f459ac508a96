//! `stockroom webhooks create|list|disable|delete`: webhook endpoints are
//! managed here, with database access, like API keys.

use anyhow::bail;
use domain::schema::EVENT_TYPES;
use serde_json::json;
use store::webhooks::{self, Endpoint, Start};

use crate::cli::WebhooksAction;
use crate::keys::cli_actor;

fn endpoint_json(e: &Endpoint) -> serde_json::Value {
    json!({
        "id": e.id,
        "url": e.url,
        "types": e.types,
        "position": e.position,
        "created_at": e.created_at,
        "created_by": e.created_by,
        "disabled_at": e.disabled_at,
        "delivered_at": e.delivered_at,
        "failing_since": e.failing_since,
        "attempts": e.attempts,
        "last_error": e.last_error,
    })
}

/// Refuses what could never be delivered: another scheme, or a type no
/// event has (a typo would deliver nothing, silently).
fn check(url: &str, types: &[String]) -> anyhow::Result<()> {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.chars().any(char::is_whitespace)
    {
        bail!("--url must be an http:// or https:// URL");
    }
    if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        bail!(
            "unknown event type {unknown:?} (one of {})",
            EVENT_TYPES.join(", ")
        );
    }
    Ok(())
}

/// Runs a webhooks tool.
pub async fn run(action: WebhooksAction) -> anyhow::Result<()> {
    match action {
        WebhooksAction::Create {
            common,
            url,
            types,
            from_start,
            json,
        } => {
            check(&url, &types)?;
            let pool = store::connect(&common.db())?;
            let start = if from_start {
                Start::Beginning
            } else {
                Start::Now
            };
            let (endpoint, secret) =
                webhooks::create(&pool, &url, &types, start, &cli_actor()).await?;
            if json {
                let mut shown = endpoint_json(&endpoint);
                shown["secret"] = json!(secret);
                println!("{shown}");
            } else {
                println!("{secret}");
                eprintln!(
                    "webhook {} to {} after position {} — its signing secret is shown once: store it now",
                    endpoint.id, endpoint.url, endpoint.position
                );
            }
            Ok(())
        }
        WebhooksAction::List { common, json } => {
            let pool = store::connect(&common.db())?;
            let all = webhooks::list(&pool).await?;
            if json {
                let rows: Vec<_> = all.iter().map(endpoint_json).collect();
                println!("{}", serde_json::Value::Array(rows));
                return Ok(());
            }
            println!("id\turl\ttypes\tposition\tdelivered\tfailing since\tattempts\tdisabled");
            let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".to_owned())
            };
            for e in &all {
                let types = if e.types.is_empty() {
                    "*".to_owned()
                } else {
                    e.types.join(",")
                };
                println!(
                    "{}\t{}\t{types}\t{}\t{}\t{}\t{}\t{}",
                    e.id,
                    e.url,
                    e.position,
                    at(e.delivered_at),
                    at(e.failing_since),
                    e.attempts,
                    at(e.disabled_at),
                );
            }
            Ok(())
        }
        WebhooksAction::Disable { common, id } => {
            let pool = store::connect(&common.db())?;
            if !webhooks::disable(&pool, id).await? {
                bail!("no enabled webhook endpoint {id}");
            }
            println!("disabled {id}; deliveries to it stop within the webhooks process's reload interval");
            Ok(())
        }
        WebhooksAction::Delete { common, id } => {
            let pool = store::connect(&common.db())?;
            if !webhooks::delete(&pool, id).await? {
                bail!("no webhook endpoint {id}");
            }
            println!("deleted {id} with its checkpoint and secret");
            Ok(())
        }
    }
}
