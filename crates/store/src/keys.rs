//! API keys: the token format, and creating, finding, listing, revoking and
//! rotating keys, with an append-only audit trail.
//!
//! A token is `stockroom_<id>_<secret>`: the recognisable prefix lets secret
//! scanners find leaked keys, the id (32 hex digits) is public and finds the
//! row, the secret (64 hex digits, 256 random bits) is checked against its
//! SHA-256 in constant time. Only the hash is stored.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Row};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::StoreError;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "stockroom_";

/// Bytes of secret in a token.
const SECRET_BYTES: usize = 32;

/// A token split into its parts; says nothing yet about validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken {
    /// The key id.
    pub id: Uuid,
    secret: Vec<u8>,
}

impl ParsedToken {
    /// Parses `stockroom_<32 hex>_<64 hex>`; anything else is `None`.
    pub fn parse(token: &str) -> Option<Self> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 32 || secret.len() != SECRET_BYTES * 2 {
            return None;
        }
        Some(Self {
            id: Uuid::try_parse(id).ok()?,
            secret: from_hex(secret)?,
        })
    }

    /// Whether the secret hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        let hash = Sha256::digest(&self.secret);
        hash.as_slice().ct_eq(stored).into()
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token for `id` and the hash to store.
fn mint(id: Uuid) -> Result<(String, Vec<u8>), StoreError> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| StoreError::Randomness(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}_{}", id.simple(), to_hex(&secret));
    Ok((token, Sha256::digest(secret).to_vec()))
}

/// A key as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id.
    pub id: Uuid,
    /// What it is for, for people.
    pub name: String,
    /// Its role (see api.md, Access).
    pub role: String,
    /// The sales channel a storefront key is bound to.
    pub channel: Option<String>,
    /// Requests per second allowed, when not the role's default.
    pub rate_per_second: Option<i32>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last authenticated use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether it may authenticate at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A key with the hash its secret must match.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The key.
    pub key: ApiKey,
    /// SHA-256 of its secret.
    pub secret_hash: Vec<u8>,
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Channel (storefront keys).
    pub channel: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rate override.
    pub rate_per_second: Option<i32>,
}

const COLUMNS: &str = "id, name, role, channel, rate_per_second, created_at, expires_at, \
                       last_used_at, revoked_at, secret_hash";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<StoredKey, sqlx::Error> {
    Ok(StoredKey {
        key: ApiKey {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            channel: row.try_get("channel")?,
            rate_per_second: row.try_get("rate_per_second")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        },
        secret_hash: row.try_get("secret_hash")?,
    })
}

async fn insert(
    conn: &mut PgConnection,
    new: &NewKey,
    rotated_from: Option<Uuid>,
) -> Result<(ApiKey, String), StoreError> {
    let id = Uuid::new_v4();
    let (token, hash) = mint(id)?;
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (id, name, role, channel, secret_hash, rate_per_second, expires_at, rotated_from) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&new.name)
    .bind(&new.role)
    .bind(&new.channel)
    .bind(hash)
    .bind(new.rate_per_second)
    .bind(new.expires_at)
    .bind(rotated_from)
    .fetch_one(conn)
    .await?;
    Ok((from_row(&row)?.key, token))
}

async fn audit(
    conn: &mut PgConnection,
    key_id: Uuid,
    action: &str,
    actor: &str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_key_audit (key_id, action, actor, details) VALUES ($1, $2, $3, $4)",
    )
    .bind(key_id)
    .bind(action)
    .bind(actor)
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates a key; returns it and its token, which is shown once and never
/// stored.
pub async fn create(
    pool: &PgPool,
    new: &NewKey,
    actor: &str,
) -> Result<(ApiKey, String), StoreError> {
    let mut tx = pool.begin().await?;
    let (key, token) = insert(&mut tx, new, None).await?;
    audit(
        &mut tx,
        key.id,
        "created",
        actor,
        serde_json::json!({"name": key.name, "role": key.role, "channel": key.channel}),
    )
    .await?;
    tx.commit().await?;
    Ok((key, token))
}

/// The key with `id`, if any.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<StoredKey>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Every key, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ApiKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| from_row(r).map(|k| k.key))
        .collect::<Result<_, _>>()?)
}

/// Revokes a key at once; `false` if there is no such active key.
pub async fn revoke(pool: &PgPool, id: Uuid, actor: &str) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let revoked =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
    if revoked {
        audit(&mut tx, id, "revoked", actor, serde_json::json!({})).await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// A new key with the grants of `id`; the old one keeps working for
/// `overlap` and then expires. `None` if there is no such active key.
pub async fn rotate(
    pool: &PgPool,
    id: Uuid,
    overlap: std::time::Duration,
    actor: &str,
) -> Result<Option<(ApiKey, String)>, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND revoked_at IS NULL \
           AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(old) = row.as_ref().map(from_row).transpose()? else {
        return Ok(None);
    };
    let new = NewKey {
        name: old.key.name.clone(),
        role: old.key.role.clone(),
        channel: old.key.channel.clone(),
        expires_at: old.key.expires_at,
        rate_per_second: old.key.rate_per_second,
    };
    let (key, token) = insert(&mut tx, &new, Some(id)).await?;
    sqlx::query(
        "UPDATE api_keys SET expires_at = LEAST(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2)) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(overlap.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        id,
        "rotated",
        actor,
        serde_json::json!({"successor": key.id, "overlap_seconds": overlap.as_secs()}),
    )
    .await?;
    audit(
        &mut tx,
        key.id,
        "created",
        actor,
        serde_json::json!({"rotated_from": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some((key, token)))
}

/// Records a use, at most once a minute per key.
pub async fn touch(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now() WHERE id = $1 \
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_parses_and_matches_only_its_own_hash() {
        let id = Uuid::new_v4();
        let (token, hash) = mint(id).unwrap();
        assert!(token.starts_with("stockroom_"));
        let parsed = ParsedToken::parse(&token).unwrap();
        assert_eq!(parsed.id, id);
        assert!(parsed.matches(&hash));
        let (_, other) = mint(id).unwrap();
        assert!(!parsed.matches(&other));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let id = Uuid::new_v4().simple().to_string();
        let secret = "ab".repeat(32);
        for bad in [
            String::new(),
            format!("stockroom_{id}"),
            format!("other_{id}_{secret}"),
            format!("stockroom_{id}_{}", &secret[1..]),
            format!("stockroom_{id}_{}zz", &secret[2..]),
            format!("stockroom_{}_{secret}", &id[1..]),
            format!("stockroom_{id}_{secret}_"),
            "x".repeat(10_000),
        ] {
            assert!(ParsedToken::parse(&bad).is_none(), "{bad}");
        }
    }
}
