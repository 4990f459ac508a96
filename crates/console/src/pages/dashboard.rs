//! The dashboard: today's orders and revenue and orders per hour for those
//! who read orders; the pipeline's lag and parked events for operators.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Utc};
use domain::order::OrderStatus;
use query_api::reads::summarize;
use sqlx::Row;
use store::health::Lag;
use store::replica::ReplicaLag;
use web::access::Permission;

use super::render;
use crate::chart;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::state::Console;
use crate::view::{money, Layout};

/// Today's orders.
struct OrderFigures {
    total: i64,
    by_status: Vec<(String, i64)>,
    revenue: Vec<String>,
    chart: String,
}

/// The pipeline's health (the projections page has each projection's
/// status).
struct Pipeline {
    lags: Vec<Lag>,
    parked: i64,
    replica: Option<ReplicaState>,
}

/// The replica the console reads, as the dashboard shows it.
enum ReplicaState {
    /// It answered: this far behind.
    Behind(ReplicaLag),
    /// It did not answer (reads fail until it does).
    Unreachable,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    orders: Option<OrderFigures>,
    pipeline: Option<Pipeline>,
}

/// `GET /`.
pub async fn show(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
) -> Result<Response, ConsoleError> {
    let orders = if who.role.allows(Permission::OrdersRead) {
        Some(order_figures(&console).await?)
    } else {
        None
    };
    let pipeline = if who.role.allows(Permission::OperationsRead) {
        let mut conn = console.pool.acquire().await?;
        let lags = store::health::lags(&mut conn).await?;
        let parked = store::health::parked(&mut conn)
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum();
        let replica = match &console.replica {
            None => None,
            Some(replica) => Some(match store::replica::lag(&console.pool, replica).await {
                Ok(lag) => ReplicaState::Behind(lag),
                Err(e) => {
                    tracing::warn!(error = %store::error_chain(&e), "the replica's lag cannot be measured");
                    ReplicaState::Unreachable
                }
            }),
        };
        Some(Pipeline {
            lags,
            parked,
            replica,
        })
    } else {
        None
    };
    let page = DashboardPage {
        layout: Layout::new(&who, "/", "Dashboard"),
        orders,
        pipeline,
    };
    render(StatusCode::OK, &page)
}

async fn order_figures(console: &Console) -> Result<OrderFigures, ConsoleError> {
    let today = Utc::now().date_naive();
    let summary = summarize(&console.reads, today, today).await?;
    // In lifecycle order, as people read it.
    let by_status = OrderStatus::NAMES
        .iter()
        .map(|status| {
            let n = summary
                .orders_by_status
                .get(*status)
                .and_then(|n| n.as_i64());
            ((*status).to_owned(), n.unwrap_or(0))
        })
        .collect();
    let revenue = summary
        .revenue
        .iter()
        .map(|r| {
            format!(
                "{} from {} orders",
                money(r.paid_revenue, &r.currency),
                r.paid_orders
            )
        })
        .collect();
    let hours: Vec<(DateTime<Utc>, i64)> = sqlx::query(
        "SELECT date_trunc('hour', placed_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, count(*) AS n \
         FROM read_models.orders WHERE placed_at > now() - interval '24 hours' GROUP BY 1",
    )
    .fetch_all(&console.reads)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("hour")?, r.try_get("n")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(OrderFigures {
        total: summary.orders,
        by_status,
        revenue,
        chart: chart::orders_per_hour(&hours, Utc::now()),
    })
}
