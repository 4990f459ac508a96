//! `stockroom keys create|list|revoke|rotate`: API keys are managed only
//! here, with database access, never over HTTP.

use anyhow::{bail, Context};
use serde_json::json;
use store::keys::{self, ApiKey, NewKey};
use web::access::Role;

use crate::cli::KeysAction;

/// Who the audit trail names for a command-line action.
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

fn key_json(key: &ApiKey) -> serde_json::Value {
    json!({
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "channel": key.channel,
        "rate_per_second": key.rate_per_second,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    })
}

fn print_new(key: &ApiKey, token: &str, as_json: bool) {
    if as_json {
        println!(
            "{}",
            json!({
                "id": key.id, "key": token, "name": key.name, "role": key.role,
                "channel": key.channel, "expires_at": key.expires_at,
            })
        );
    } else {
        println!("{token}");
        eprintln!(
            "key {} ({}, role {}{}) — shown once: store it now; only its hash is kept",
            key.id,
            key.name,
            key.role,
            key.channel
                .as_deref()
                .map(|c| format!(", channel {c}"))
                .unwrap_or_default()
        );
    }
}

/// Runs a keys tool.
pub async fn run(action: KeysAction) -> anyhow::Result<()> {
    match action {
        KeysAction::Create {
            common,
            name,
            role,
            channel,
            expires_in,
            rate,
            json,
        } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            match (role.needs_channel(), &channel) {
                (true, None) => bail!("a {role} key needs --channel"),
                (false, Some(_)) => bail!("only storefront keys have a channel"),
                _ => {}
            }
            let expires_at = expires_in
                .map(|d| chrono::Duration::from_std(d.into()).map(|d| chrono::Utc::now() + d))
                .transpose()
                .context("--expires-in is too long")?;
            let pool = store::connect(&common.db())?;
            let new = NewKey {
                name,
                role: role.as_str().to_owned(),
                channel,
                expires_at,
                rate_per_second: rate
                    .map(i32::try_from)
                    .transpose()
                    .context("--rate is too large")?,
            };
            let (key, token) = keys::create(&pool, &new, &cli_actor()).await?;
            print_new(&key, &token, json);
            Ok(())
        }
        KeysAction::List { common, json } => {
            let pool = store::connect(&common.db())?;
            let all = keys::list(&pool).await?;
            if json {
                let rows: Vec<_> = all.iter().map(key_json).collect();
                println!("{}", serde_json::Value::Array(rows));
                return Ok(());
            }
            println!("id\tname\trole\tchannel\tcreated\texpires\tlast used\trevoked");
            let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".to_owned())
            };
            for k in &all {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.role,
                    k.channel.as_deref().unwrap_or("-"),
                    k.created_at.to_rfc3339(),
                    at(k.expires_at),
                    at(k.last_used_at),
                    at(k.revoked_at),
                );
            }
            Ok(())
        }
        KeysAction::Roles => {
            for role in Role::ALL {
                println!("{role}");
            }
            Ok(())
        }
        KeysAction::Revoke { common, id } => {
            let pool = store::connect(&common.db())?;
            if !keys::revoke(&pool, id, &cli_actor()).await? {
                bail!("no active key {id}");
            }
            println!("revoked {id}; every running process refuses it within a second");
            Ok(())
        }
        KeysAction::Rotate {
            common,
            id,
            overlap,
            json,
        } => {
            let pool = store::connect(&common.db())?;
            let Some((key, token)) = keys::rotate(&pool, id, overlap.into(), &cli_actor()).await?
            else {
                bail!("no active key {id}");
            };
            print_new(&key, &token, json);
            eprintln!("the old key {id} stops working in {overlap}");
            Ok(())
        }
    }
}
