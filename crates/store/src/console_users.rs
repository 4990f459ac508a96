//! People who sign in to the console, and their sessions. Password hashing
//! is the caller's (this stores PHC strings); session tokens are made and
//! hashed here, like API key secrets.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool, Row};
use uuid::Uuid;

use crate::StoreError;

/// Bytes of randomness in a session token and in a CSRF token.
const TOKEN_BYTES: usize = 32;

/// A console user as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    /// The user's id; events they cause record `user:<id>`.
    pub id: Uuid,
    /// Lower-case e-mail address, unique.
    pub email: String,
    /// `staff`, `operator` or `admin`.
    pub role: String,
}

/// A signed-in session, as a request finds it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is signed in.
    pub user: ConsoleUser,
    /// The token every form of this session must carry.
    pub csrf_token: String,
}

/// When sessions end without signing out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    /// Unused this long.
    pub idle: Duration,
    /// This long after signing in, however busy.
    pub absolute: Duration,
}

/// Hex of `TOKEN_BYTES` random bytes.
pub fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Randomness(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Adds a user; `Ok(None)` when the e-mail address is taken.
pub async fn create(
    pool: &PgPool,
    email: &str,
    role: &str,
    password_hash: &str,
) -> Result<Option<ConsoleUser>, StoreError> {
    let id = Uuid::now_v7();
    let email = email.trim().to_lowercase();
    let inserted = sqlx::query(
        "INSERT INTO console_users (id, email, role, password_hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(&email)
    .bind(role)
    .bind(password_hash)
    .execute(pool)
    .await?
    .rows_affected();
    Ok((inserted == 1).then(|| ConsoleUser {
        id,
        email,
        role: role.to_owned(),
    }))
}

/// The enabled user with `email` and their password hash, if any.
pub async fn find_for_sign_in(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(ConsoleUser, String)>, StoreError> {
    let row = sqlx::query(
        "SELECT id, email, role, password_hash FROM console_users \
         WHERE email = $1 AND disabled_at IS NULL",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok((
            ConsoleUser {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                role: r.try_get("role")?,
            },
            r.try_get("password_hash")?,
        ))
    })
    .transpose()
}

/// Starts a session for `user`; returns the cookie's token (shown once,
/// stored only as a hash).
pub async fn start_session(pool: &PgPool, user: Uuid) -> Result<String, StoreError> {
    let token = random_token()?;
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, user_id, csrf_token) VALUES ($1, $2, $3)",
    )
    .bind(token_hash(&token))
    .bind(user)
    .bind(random_token()?)
    .execute(pool)
    .await?;
    Ok(token)
}

/// The live session of `token`, touched so its idle clock restarts; `None`
/// when unknown, ended, idle longer than `lifetime.idle`, started longer
/// than `lifetime.absolute` ago, or its user is disabled.
pub async fn touch_session(
    pool: &PgPool,
    token: &str,
    lifetime: SessionLifetime,
) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query(
        "UPDATE console_sessions s SET last_seen_at = now() FROM console_users u \
         WHERE s.token_hash = $1 AND u.id = s.user_id AND u.disabled_at IS NULL \
           AND s.last_seen_at > now() - make_interval(secs => $2) \
           AND s.created_at > now() - make_interval(secs => $3) \
         RETURNING u.id, u.email, u.role, s.csrf_token",
    )
    .bind(token_hash(token))
    .bind(lifetime.idle.as_secs_f64())
    .bind(lifetime.absolute.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(Session {
            user: ConsoleUser {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                role: r.try_get("role")?,
            },
            csrf_token: r.try_get("csrf_token")?,
        })
    })
    .transpose()
}

/// Ends the session of `token` (signing out).
pub async fn end_session<'e>(db: impl PgExecutor<'e>, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes sessions that ended by time (idle, or past their absolute
/// lifetime); returns how many.
pub async fn purge_ended(pool: &PgPool, lifetime: SessionLifetime) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM console_sessions WHERE last_seen_at <= now() - make_interval(secs => $1) \
            OR created_at <= now() - make_interval(secs => $2)",
    )
    .bind(lifetime.idle.as_secs_f64())
    .bind(lifetime.absolute.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}
