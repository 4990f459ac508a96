//! Kafka offsets kept in Postgres, written in the transaction of the effects
//! they account for.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

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

/// Records that everything before `next_offset` is done. Never moves an
/// offset backwards, so a member still finishing a batch from a partition
/// that was just reassigned cannot undo its successor's progress.
pub async fn store(
    conn: &mut PgConnection,
    group: &str,
    next_offsets: &OffsetMap,
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
    sqlx::query(
        "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) \
         SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o) \
         ON CONFLICT (consumer_group, topic, partition) DO UPDATE \
           SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset), \
               updated_at = now()",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(conn)
    .await?;
    Ok(())
}
