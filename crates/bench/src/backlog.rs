//! Backlogs of realistic `OrderPlaced` events, written straight into the log.

use sqlx::PgPool;

/// The statement that appends `$1` orders named from the salt `$2`.
const ORDERS: &str = "INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, \
                             event_type, schema_version, data, correlation_id) \
         SELECT gen_random_uuid(), 'order-' || o.id, 'order', o.id::text, 1, 'OrderPlaced', 1, \
                jsonb_build_object('order_id', o.id, 'customer_id', gen_random_uuid(), \
                    'lines', jsonb_build_array(jsonb_build_object('sku', 'BENCH-' || (g % 50), \
                        'quantity', 1 + g % 3, 'unit_price', 250, 'line_total', 250 * (1 + g % 3))), \
                    'total', 250 * (1 + g % 3), 'currency', 'EUR'), \
                gen_random_uuid() \
         FROM generate_series(1, $1) g, LATERAL (SELECT md5($2 || g)::uuid AS id) o";

/// Appends one order in a transaction of its own; its position.
pub async fn one_order(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let sql = format!("{ORDERS} RETURNING position");
    sqlx::query_scalar(&sql)
        .bind(1_i64)
        .bind(uuid::Uuid::new_v4().to_string())
        .fetch_one(pool)
        .await
}

/// Appends `count` orders, each its own stream, in one statement.
pub async fn orders(pool: &PgPool, count: usize) -> Result<(), sqlx::Error> {
    let salt = uuid::Uuid::new_v4().to_string();
    sqlx::query(ORDERS)
        .bind(count as i64)
        .bind(salt)
        .execute(pool)
        .await?;
    Ok(())
}
