//! Payment deadlines of confirmed orders.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Sets (or keeps) the deadlines of several confirmed orders in one statement.
pub async fn set_many(
    conn: &mut PgConnection,
    deadlines: &[(Uuid, DateTime<Utc>)],
) -> Result<(), sqlx::Error> {
    if deadlines.is_empty() {
        return Ok(());
    }
    let (orders, due): (Vec<Uuid>, Vec<DateTime<Utc>>) = deadlines.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO payment_deadlines (order_id, due_at) \
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(&orders)
    .bind(&due)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops the deadlines of orders that were expired.
pub async fn clear_many(conn: &mut PgConnection, order_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if order_ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM payment_deadlines WHERE order_id = ANY($1)")
        .bind(order_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` due deadlines for `lease`, in one statement that
/// commits at once: no transaction stays open while they are expired.
pub async fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE payment_deadlines AS d SET claimed_until = now() + make_interval(secs => $2) \
         WHERE d.order_id IN ( \
             SELECT order_id FROM payment_deadlines \
             WHERE due_at <= now() AND (claimed_until IS NULL OR claimed_until <= now()) \
             ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING d.order_id",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(conn)
    .await
}

/// Gives back claims whose orders could not be expired, so the next round
/// tries them again.
pub async fn release_claims(
    conn: &mut PgConnection,
    order_ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    if order_ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE payment_deadlines SET claimed_until = NULL WHERE order_id = ANY($1)")
        .bind(order_ids)
        .execute(conn)
        .await?;
    Ok(())
}
