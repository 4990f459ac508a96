//! Kafka offsets kept in Postgres, written in the transaction of the effects
//! they account for.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use crate::handler::Delivered;

/// `(topic, partition) → next offset to read`.
pub type OffsetMap = HashMap<(String, i32), i64>;

/// The stored offsets of `group` for the given partitions.
pub async fn load(
    conn: &mut PgConnection,
    group: &str,
    partitions: &[(String, i32)],
) -> Result<OffsetMap, sqlx::Error> {
    let topics: Vec<&str> = partitions.iter().map(|(t, _)| t.as_str()).collect();
    let numbers: Vec<i32> = partitions.iter().map(|(_, p)| *p).collect();
    let rows = sqlx::query(
        "SELECT o.topic, o.partition, o.next_offset FROM consumer_offsets o \
         JOIN unnest($2::text[], $3::int[]) AS w(topic, partition) \
           ON w.topic = o.topic AND w.partition = o.partition \
         WHERE o.consumer_group = $1",
    )
    .bind(group)
    .bind(&topics)
    .bind(&numbers)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get("topic")?, r.try_get("partition")?),
                r.try_get("next_offset")?,
            ))
        })
        .collect()
}

/// Records that everything before `next_offset` is done, and the last event
/// in commit order `handled` from each partition. Never moves either
/// backwards, so a member still finishing a batch from a partition that was
/// just reassigned cannot undo its successor's progress.
pub async fn store(
    conn: &mut PgConnection,
    group: &str,
    next_offsets: &OffsetMap,
    handled: &[Delivered],
) -> Result<(), sqlx::Error> {
    if next_offsets.is_empty() {
        return Ok(());
    }
    let mut topics = Vec::with_capacity(next_offsets.len());
    let mut partitions = Vec::with_capacity(next_offsets.len());
    let mut offsets = Vec::with_capacity(next_offsets.len());
    for ((topic, partition), offset) in next_offsets {
        topics.push(topic.as_str());
        partitions.push(*partition);
        offsets.push(*offset);
    }
    let handled_topics: Vec<&str> = handled.iter().map(|m| m.topic.as_str()).collect();
    let handled_partitions: Vec<i32> = handled.iter().map(|m| m.partition).collect();
    let handled_positions: Vec<i64> = handled.iter().map(|m| m.envelope.global_position).collect();
    // Commit order comes from the log: positions alone are not in it.
    sqlx::query(
        "WITH handled AS ( \
             SELECT DISTINCT ON (h.t, h.p) h.t, h.p, e.transaction_id, e.position \
             FROM unnest($5::text[], $6::int[], $7::bigint[]) AS h(t, p, pos) \
             JOIN events e ON e.position = h.pos \
             ORDER BY h.t, h.p, e.transaction_id DESC, e.position DESC \
         ) \
         INSERT INTO consumer_offsets \
             (consumer_group, topic, partition, next_offset, handled_transaction, handled_position) \
         SELECT $1, x.t, x.p, x.o, coalesce(h.transaction_id, '0'), coalesce(h.position, 0) \
         FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o) \
         LEFT JOIN handled h ON h.t = x.t AND h.p = x.p \
         ON CONFLICT (consumer_group, topic, partition) DO UPDATE \
           SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset), \
               handled_transaction = CASE WHEN \
                   (EXCLUDED.handled_transaction, EXCLUDED.handled_position) \
                   > (consumer_offsets.handled_transaction, consumer_offsets.handled_position) \
                   THEN EXCLUDED.handled_transaction ELSE consumer_offsets.handled_transaction END, \
               handled_position = CASE WHEN \
                   (EXCLUDED.handled_transaction, EXCLUDED.handled_position) \
                   > (consumer_offsets.handled_transaction, consumer_offsets.handled_position) \
                   THEN EXCLUDED.handled_position ELSE consumer_offsets.handled_position END, \
               updated_at = now()",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .bind(&handled_topics)
    .bind(&handled_partitions)
    .bind(&handled_positions)
    .execute(conn)
    .await?;
    Ok(())
}
