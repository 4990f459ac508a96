//! People who sign in to the console, and their sessions. Password hashing
//! is the caller's (this stores PHC strings); session tokens are made and
//! hashed here, like API key secrets. Every change to who a person is (their
//! password, role, or being disabled) ends their live sessions in the same
//! transaction, so nobody keeps what was taken away.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgExecutor, PgPool, Postgres, Row};
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

/// A console user as `stockroom users list` shows them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    /// Who.
    pub user: ConsoleUser,
    /// When they were added.
    pub created_at: DateTime<Utc>,
    /// When they were disabled, if they are.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Whether their next sign-in shows only the password change form.
    pub must_change_password: bool,
    /// How many sessions they have that have not been deleted (some may
    /// have ended by time already and wait for the housekeeping sweep).
    pub sessions: i64,
}

/// A signed-in session, as a request finds it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is signed in.
    pub user: ConsoleUser,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// The person's password was generated or set by someone else: until
    /// they choose their own, only the change form is theirs to use.
    pub must_change_password: bool,
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

/// Adds a user who chose their password; `Ok(None)` when the e-mail
/// address is taken.
pub async fn create(
    pool: &PgPool,
    email: &str,
    role: &str,
    password_hash: &str,
) -> Result<Option<ConsoleUser>, StoreError> {
    insert(pool, email, role, password_hash, false).await
}

/// Adds a user whose password was generated for them: they must replace it
/// at their first sign-in. `Ok(None)` when the e-mail address is taken.
pub async fn create_one_time(
    pool: &PgPool,
    email: &str,
    role: &str,
    password_hash: &str,
) -> Result<Option<ConsoleUser>, StoreError> {
    insert(pool, email, role, password_hash, true).await
}

async fn insert(
    pool: &PgPool,
    email: &str,
    role: &str,
    password_hash: &str,
    must_change: bool,
) -> Result<Option<ConsoleUser>, StoreError> {
    let id = Uuid::now_v7();
    let email = email.trim().to_lowercase();
    let inserted = sqlx::query(
        "INSERT INTO console_users (id, email, role, password_hash, must_change_password) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(&email)
    .bind(role)
    .bind(password_hash)
    .bind(must_change)
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
    row.map(|r| Ok((user_of(&r)?, r.try_get("password_hash")?)))
        .transpose()
}

fn user_of(row: &PgRow) -> Result<ConsoleUser, StoreError> {
    Ok(ConsoleUser {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
    })
}

/// The user with `email`, enabled or not.
pub async fn find(pool: &PgPool, email: &str) -> Result<Option<ConsoleUser>, StoreError> {
    let row = sqlx::query("SELECT id, email, role FROM console_users WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(pool)
        .await?;
    row.map(|r| user_of(&r)).transpose()
}

/// The password hash of the enabled user `id`.
pub async fn password_hash(pool: &PgPool, id: Uuid) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT password_hash FROM console_users WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Every user, by e-mail address.
pub async fn list(pool: &PgPool) -> Result<Vec<UserSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.role, u.created_at, u.disabled_at, u.must_change_password, \
                (SELECT count(*) FROM console_sessions s WHERE s.user_id = u.id) AS sessions \
         FROM console_users u ORDER BY u.email",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UserSummary {
                user: user_of(r)?,
                created_at: r.try_get("created_at")?,
                disabled_at: r.try_get("disabled_at")?,
                must_change_password: r.try_get("must_change_password")?,
                sessions: r.try_get("sessions")?,
            })
        })
        .collect()
}

/// Runs `change` (an UPDATE of user `$1`) and ends that user's sessions,
/// in one transaction: `None` when no user changed, else how many sessions
/// ended.
async fn change_and_revoke(
    pool: &PgPool,
    id: Uuid,
    change: sqlx::query::Query<'_, Postgres, PgArguments>,
) -> Result<Option<u64>, StoreError> {
    let mut tx = pool.begin().await?;
    if change.execute(&mut *tx).await?.rows_affected() == 0 {
        return Ok(None);
    }
    let revoked = sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Some(revoked))
}

/// Replaces user `id`'s password hash (`must_change`: it was generated or
/// set for them) and ends their sessions; `None` when there is no such user,
/// else how many sessions ended.
pub async fn set_password(
    pool: &PgPool,
    id: Uuid,
    password_hash: &str,
    must_change: bool,
) -> Result<Option<u64>, StoreError> {
    let change = sqlx::query(
        "UPDATE console_users SET password_hash = $2, must_change_password = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .bind(must_change);
    change_and_revoke(pool, id, change).await
}

/// Gives user `id` another role and ends their sessions (a session's
/// permissions are its role's); `None` when there is no such user.
pub async fn set_role(pool: &PgPool, id: Uuid, role: &str) -> Result<Option<u64>, StoreError> {
    let change = sqlx::query("UPDATE console_users SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role);
    change_and_revoke(pool, id, change).await
}

/// Disables user `id` (they can no longer sign in) and ends their
/// sessions; `None` when there is no such user.
pub async fn disable(pool: &PgPool, id: Uuid) -> Result<Option<u64>, StoreError> {
    let change = sqlx::query(
        "UPDATE console_users SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1",
    )
    .bind(id);
    change_and_revoke(pool, id, change).await
}

/// Ends every session of user `id`; returns how many.
pub async fn revoke_sessions(pool: &PgPool, id: Uuid) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected(),
    )
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
         RETURNING u.id, u.email, u.role, u.must_change_password, s.csrf_token",
    )
    .bind(token_hash(token))
    .bind(lifetime.idle.as_secs_f64())
    .bind(lifetime.absolute.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(Session {
            user: user_of(&r)?,
            csrf_token: r.try_get("csrf_token")?,
            must_change_password: r.try_get("must_change_password")?,
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
