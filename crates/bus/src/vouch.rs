//! What a Kafka batch may act on. The topics are a copy anyone with produce
//! rights can write to, so a worker fed from Kafka acts on the log of
//! record's version of each event: a message whose event the log does not
//! hold at its position is parked as forged, never applied. Events the group
//! handled before a `stockroom republish` (at or before the partition's
//! handled cursor, in commit order) are dropped whatever their age.

use std::collections::HashMap;

use domain::StreamCategory;
use sqlx::{PgConnection, Row};
use store::CommitCursor;

use crate::handler::{Delivered, Malformed};
use crate::source::Batch;
use crate::{Envelope, KafkaConfig};

/// Replaces each message's envelope with the log's, parks what the log does
/// not hold (or holds on another topic than the one `kafka` gives its
/// category: a genuine event copied elsewhere, past the partition's handled
/// cursor there), and drops what `group` handled before; progress is
/// unchanged.
pub async fn against_log(
    conn: &mut PgConnection,
    kafka: &KafkaConfig,
    group: &str,
    mut batch: Batch,
) -> Result<Batch, store::StoreError> {
    if batch.messages.is_empty() {
        return Ok(batch);
    }
    let positions: Vec<i64> = batch
        .messages
        .iter()
        .map(|m| m.envelope.global_position)
        .collect();
    let logged: HashMap<i64, store::RecordedEvent> = store::read::events_at(conn, &positions)
        .await?
        .into_iter()
        .map(|e| (e.position, e))
        .collect();
    let handled: HashMap<(String, i32), CommitCursor> = sqlx::query(
        "SELECT topic, partition, handled_transaction::text::bigint AS transaction_id, \
                handled_position FROM consumer_offsets WHERE consumer_group = $1",
    )
    .bind(group)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            (r.try_get("topic")?, r.try_get("partition")?),
            CommitCursor {
                transaction_id: r.try_get::<i64, _>("transaction_id")? as u64,
                position: r.try_get("handled_position")?,
            },
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let mut vouched = Vec::with_capacity(batch.messages.len());
    for message in batch.messages {
        match logged.get(&message.envelope.global_position) {
            Some(event)
                if event.event_id == message.envelope.event_id
                    && StreamCategory::parse(&event.category)
                        .is_some_and(|c| kafka.topic(c) == message.topic) =>
            {
                let handled_before = handled
                    .get(&(message.topic.clone(), message.partition))
                    .is_some_and(|through| CommitCursor::after(event) <= *through);
                if !handled_before {
                    vouched.push(Delivered {
                        envelope: Envelope::from(event),
                        ..message
                    });
                }
            }
            _ => batch.malformed.push(forged(message)),
        }
    }
    batch.messages = vouched;
    Ok(batch)
}

fn forged(message: Delivered) -> Malformed {
    let error = format!(
        "not in the log of record: no event {} at position {} on {}",
        message.envelope.event_id, message.envelope.global_position, message.topic
    );
    Malformed {
        raw: serde_json::to_string(&message.envelope).unwrap_or_default(),
        topic: message.topic,
        partition: message.partition,
        offset: message.offset,
        error,
    }
}
