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
