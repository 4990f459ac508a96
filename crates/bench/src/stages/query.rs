//! Reading one order through the query API against a minimal handler.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::children::{start, BenchDb};
use crate::load::{closed_loop, get_succeeds};
use crate::stats::median;
use crate::{BenchConfig, Report};

const ORDER_SELECT: &str =
    "SELECT order_id, customer_id, status, lines, total, currency, placed_at, \
     updated_at, version, rejection FROM read_models.orders WHERE order_id = $1";

/// `GET /v1/orders/{id}` against a minimal axum handler running the same SQL.
pub async fn query(config: &BenchConfig, db: &BenchDb, report: &mut Report) -> anyhow::Result<()> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT order_id FROM read_models.orders LIMIT 1000")
            .fetch_all(&db.pool)
            .await?;
    anyhow::ensure!(!ids.is_empty(), "no orders to read");
    let api = start(config, db, "query-api", &[]).await?;
    let minimal = minimal_server(&db.url).await?;
    let clients = 8;
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        for (base, into) in [
            (api.url().to_owned(), &mut ours),
            (minimal.clone(), &mut raw),
        ] {
            let ids = ids.clone();
            let (summary, failures) = closed_loop(
                &db.token,
                clients,
                config.warmup,
                config.duration,
                move |client, i| {
                    let url = format!("{base}/v1/orders/{}", ids[i as usize % ids.len()]);
                    get_succeeds(client, url)
                },
            )
            .await;
            anyhow::ensure!(failures == 0, "{failures} reads failed");
            into.push(summary);
        }
    }
    api.stop().await;
    report.remember("query", median(&ours));
    report.throughput(
        &format!(
            "query GET /v1/orders/{{id}}, {clients} clients vs minimal axum handler, same SQL"
        ),
        "requests",
        median(&ours),
        median(&raw),
        Some(0.7),
    );
    Ok(())
}

async fn minimal_server(url: &str) -> anyhow::Result<String> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await?;
    async fn one(
        State(pool): State<PgPool>,
        Path(id): Path<uuid::Uuid>,
    ) -> Result<Json<Value>, axum::http::StatusCode> {
        let row = sqlx::query(ORDER_SELECT)
            .bind(id)
            .fetch_optional(&pool)
            .await
            .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?
            .ok_or(axum::http::StatusCode::NOT_FOUND)?;
        let get = |c: &str| -> Value {
            row.try_get::<Value, _>(c)
                .or_else(|_| row.try_get::<String, _>(c).map(Value::from))
                .or_else(|_| row.try_get::<i64, _>(c).map(Value::from))
                .or_else(|_| {
                    row.try_get::<uuid::Uuid, _>(c)
                        .map(|u| Value::from(u.to_string()))
                })
                .or_else(|_| {
                    row.try_get::<chrono::DateTime<chrono::Utc>, _>(c)
                        .map(|t| Value::from(t.to_rfc3339()))
                })
                .unwrap_or(Value::Null)
        };
        let columns = [
            "order_id",
            "customer_id",
            "status",
            "lines",
            "total",
            "currency",
            "placed_at",
            "updated_at",
            "version",
            "rejection",
        ];
        Ok(Json(Value::Object(
            columns.iter().map(|c| (c.to_string(), get(c))).collect(),
        )))
    }
    let app = axum::Router::new()
        .route("/v1/orders/{id}", get(one))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
