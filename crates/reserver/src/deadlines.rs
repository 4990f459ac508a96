//! Payment deadlines of confirmed orders.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Sets (or keeps) the deadline of a confirmed order.
pub async fn set(
    conn: &mut PgConnection,
    order_id: Uuid,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_deadlines (order_id, due_at) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(due_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops the deadline of an order that was paid, cancelled or expired.
pub async fn clear(conn: &mut PgConnection, order_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM payment_deadlines WHERE order_id = $1")
        .bind(order_id)
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
