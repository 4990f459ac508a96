//! Reading the log in position order below a settled position: the one
//! reader of the event feed (`GET /v1/events`, its server-sent stream) and
//! of the webhooks built on it. Every position at or below a settled one is
//! committed or rolled back for good (see [`crate::follow`]), so a page read
//! below it is final and a cursor handed out never skips a late commit.

use std::sync::LazyLock;

use sqlx::{PgExecutor, Row};

use crate::read::{from_row, EVENT_COLUMNS};
use crate::{RecordedEvent, StoreError};

/// Most positions one page looks at: with selective filters, a page that
/// matched nothing still ends, and its end says how far it looked.
pub const SCAN_WINDOW: i64 = 10_000;

/// Which events of the log a reader sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Only these event types (all when empty).
    pub types: Vec<String>,
    /// Only these stream categories (all when empty).
    pub categories: Vec<String>,
    /// Only this sales channel's orders, with every product and stock
    /// event and nothing of another category: a storefront key's view
    /// (deny by default, so a category added later stays out of it).
    /// `None` sees everything.
    pub channel: Option<String>,
}

impl FeedFilter {
    /// Whether this view admits an event of `category` and `event_type`
    /// whose order (for an order event) was placed through `order_channel`:
    /// the rule [`page_below`]'s query applies, for readers that filter a
    /// shared tail ([`tail_below`]) in memory.
    pub fn admits(&self, category: &str, event_type: &str, order_channel: Option<&str>) -> bool {
        let listed =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        listed(&self.types, event_type)
            && listed(&self.categories, category)
            && match &self.channel {
                None => true,
                Some(own) => {
                    matches!(category, "product" | "stock")
                        || (category == "order" && order_channel == Some(own.as_str()))
                }
            }
    }
}

/// An event of the whole log, with what a view needs to judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct TailEvent {
    /// The event.
    pub event: RecordedEvent,
    /// For an order event, the channel its `OrderPlaced` names.
    pub order_channel: Option<String>,
}

/// A page of the feed and how far it looked.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// Matching events, in position order.
    pub events: Vec<RecordedEvent>,
    /// Every position up to this was looked at: pass it (or the last
    /// event's position, when the page is full) as the next `after`.
    pub looked_to: i64,
}

impl FeedPage {
    /// Where the next page starts: past the last event, or past everything
    /// looked at when the page ended short of its limit.
    pub fn next_after(&self, limit: i64) -> i64 {
        match self.events.last() {
            Some(last) if self.events.len() as i64 >= limit => last.position,
            _ => self.looked_to,
        }
    }
}

/// The channel order event `e`'s order was placed through. An order's
/// channel is the one its first event, `OrderPlaced`, names: a fact of the
/// log, so a scoped page is as final as any other (a read model could lag
/// behind the page and hide an order's events for good).
const ORDER_CHANNEL: &str = "(SELECT placed.data->>'channel' FROM events placed \
     WHERE placed.stream_id = e.stream_id AND placed.stream_version = 1)";

static PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events e \
         WHERE e.position > $1 AND e.position <= $2 \
           AND (cardinality($3::text[]) = 0 OR e.event_type = ANY($3)) \
           AND (cardinality($4::text[]) = 0 OR e.category = ANY($4)) \
           AND ($6::text IS NULL OR e.category IN ('product', 'stock') \
                OR (e.category = 'order' AND {ORDER_CHANNEL} = $6)) \
         ORDER BY e.position LIMIT $5"
    )
});

/// Up to `limit` events matching `filter` after position `after` and at or
/// below `settled`, looking at most [`SCAN_WINDOW`] positions. `settled`
/// must be a settled position (a [`crate::LogFollower`]'s), or the page may
/// miss a late commit.
pub async fn page_below<'c>(
    db: impl PgExecutor<'c>,
    filter: &FeedFilter,
    after: i64,
    settled: i64,
    limit: i64,
) -> Result<FeedPage, StoreError> {
    let looked_to = settled.min(after.saturating_add(SCAN_WINDOW));
    if looked_to <= after {
        return Ok(FeedPage {
            events: Vec::new(),
            looked_to: after,
        });
    }
    let rows = sqlx::query(&PAGE)
        .bind(after)
        .bind(looked_to)
        .bind(&filter.types)
        .bind(&filter.categories)
        .bind(limit)
        .bind(&filter.channel)
        .fetch_all(db)
        .await?;
    let events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(FeedPage { events, looked_to })
}

static TAIL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS}, \
           CASE WHEN e.category = 'order' THEN {ORDER_CHANNEL} END AS order_channel \
         FROM events e WHERE e.position > $1 AND e.position <= $2 \
         ORDER BY e.position LIMIT $3"
    )
});

/// Up to `limit` events of the whole log after `after` and at or below
/// `settled`, each with its order's channel: one read that many views
/// share, each filtering it with [`FeedFilter::admits`]. `settled` must be
/// a settled position, as for [`page_below`].
pub async fn tail_below<'c>(
    db: impl PgExecutor<'c>,
    after: i64,
    settled: i64,
    limit: i64,
) -> Result<Vec<TailEvent>, StoreError> {
    if settled <= after {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&TAIL)
        .bind(after)
        .bind(settled)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| -> Result<TailEvent, StoreError> {
            Ok(TailEvent {
                event: from_row(row)?,
                order_channel: row.try_get("order_channel")?,
            })
        })
        .collect()
}

/// The channel order stream `stream_id` was placed through, if it names one.
pub async fn order_channel<'c>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
) -> Result<Option<String>, StoreError> {
    let channel = sqlx::query_scalar(
        "SELECT data->>'channel' FROM events WHERE stream_id = $1 AND stream_version = 1",
    )
    .bind(stream_id)
    .fetch_optional(db)
    .await?;
    Ok(channel.flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(positions: &[i64], looked_to: i64) -> FeedPage {
        let events = positions
            .iter()
            .map(|&position| RecordedEvent {
                position,
                transaction_id: 1,
                event_id: uuid::Uuid::nil(),
                stream_id: "product-A".into(),
                category: "product".into(),
                aggregate_id: "A".into(),
                stream_version: 1,
                event_type: "ProductDiscontinued".into(),
                schema_version: 1,
                data: serde_json::json!({}),
                correlation_id: uuid::Uuid::nil(),
                causation_id: None,
                actor: None,
                trace_parent: None,
                occurred_at: chrono::Utc::now(),
            })
            .collect();
        FeedPage { events, looked_to }
    }

    #[test]
    fn a_full_page_resumes_after_its_last_event_a_short_one_after_all_it_looked_at() {
        assert_eq!(
            page(&[3, 5], 90).next_after(2),
            5,
            "more may match before 90"
        );
        assert_eq!(
            page(&[3, 5], 90).next_after(3),
            90,
            "nothing else matched up to 90"
        );
        assert_eq!(
            page(&[], 90).next_after(3),
            90,
            "filters skip, the cursor moves"
        );
    }
}
