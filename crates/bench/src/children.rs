//! The system under test: a fresh database and `stockroom` processes.

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, Context};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::BenchConfig;

/// Every database this run created, dropped when it ends.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Drops every database this run created (a full run makes dozens, some of
/// them gigabytes); connections still open to them are ended.
pub async fn drop_databases(config: &BenchConfig) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&config.admin_database_url).await?;
    drop_created(&mut admin).await
}

/// [`drop_databases`] over a connection the caller already holds.
async fn drop_created(admin: &mut PgConnection) -> anyhow::Result<()> {
    let names = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    for name in names {
        drop_database(admin, &name).await?;
    }
    Ok(())
}

/// Drops `name`, ending the connections still open to it.
///
/// `WITH (FORCE)` refuses the whole drop when an autovacuum worker is in the
/// database: Postgres 15 asks for the right to signal it as for a session of
/// another role (`pg_signal_backend`), which the bench's role need not have.
/// A plain `DROP DATABASE` stops autovacuum workers itself, so then this
/// role's own sessions are ended and the drop runs without `FORCE`.
async fn drop_database(admin: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    let forced = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut *admin)
        .await;
    match forced {
        Ok(_) => return Ok(()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(INSUFFICIENT_PRIVILEGE) => {}
        Err(e) => return Err(e).with_context(|| format!("dropping {name}")),
    }
    sqlx::query(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(&mut *admin)
    .await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut *admin)
        .await
        .with_context(|| format!("dropping {name} after ending its sessions"))?;
    Ok(())
}

/// SQLSTATE `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Drops the databases of the stages run so far and checkpoints, so that the
/// next stage measures Stockroom and not the clean-up of the stages before
/// it: autovacuum of a million fresh rows, and gigabytes of their dirty
/// pages written back while the stage's commits wait on the disk.
pub async fn settle(config: &BenchConfig) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&config.admin_database_url).await?;
    drop_created(&mut admin).await?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut admin).await {
        // A server the bench may not checkpoint still gets measured.
        eprintln!("could not checkpoint between stages (needs pg_checkpoint): {e}");
    }
    Ok(())
}

/// A database created for one stage.
pub struct BenchDb {
    /// Its URL.
    pub url: String,
    /// A pool for the bench's own queries.
    pub pool: PgPool,
    /// Topic namespace of the stage.
    pub prefix: String,
    /// An admin API key for the bench's requests, its rate limit out of the way.
    pub token: String,
}

impl BenchDb {
    /// Creates and migrates a database on the admin URL's server.
    pub async fn create(config: &BenchConfig) -> anyhow::Result<Self> {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&config.admin_database_url)
            .await
            .context("connecting with the admin database URL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        CREATED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        let (base, _) = config
            .admin_database_url
            .rsplit_once('/')
            .ok_or_else(|| anyhow!("the admin database URL names no database"))?;
        let url = format!("{base}/{name}");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(32)
            .connect(&url)
            .await?;
        store::migrate(&pool).await?;
        let key = store::keys::NewKey {
            name: "bench".to_owned(),
            role: "admin".to_owned(),
            channel: None,
            expires_at: None,
            rate_per_second: Some(i32::MAX),
        };
        let (_, token) = store::keys::create(&pool, &key, "system:bench").await?;
        Ok(Self {
            url,
            pool,
            prefix: format!("b{}", uuid::Uuid::new_v4().simple()),
            token,
        })
    }

    /// This database's URL on the replica whose admin URL is `admin`, once
    /// the replica has replayed its creation, migrations and key.
    pub async fn on_replica(&self, admin: &str) -> anyhow::Result<String> {
        let (base, _) = admin
            .rsplit_once('/')
            .ok_or_else(|| anyhow!("the replica's URL names no database"))?;
        let (_, name) = self.url.rsplit_once('/').unwrap_or_default();
        let url = format!("{base}/{name}");
        let written = store::replica::wal_insert_location(&self.pool).await?;
        let replica = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy(admin)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let replayed = store::replica::replayed_location(&replica).await?;
            if replayed.is_none_or(|at| at >= written) {
                return Ok(url);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the replica did not replay the bench's database within a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// An HTTP client that sends the bench's key with every request.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        client_with(&self.token)
    }

    /// A fresh topic namespace (and consumer groups) for another round.
    pub fn renew_prefix(&mut self) {
        self.prefix = format!("b{}", uuid::Uuid::new_v4().simple());
    }
}

/// A running `stockroom` process, killed on drop.
pub struct Running {
    child: Child,
    /// `http://…` for APIs.
    pub url: Option<String>,
}

/// Starts `stockroom <what>` against `db`.
pub async fn start(
    config: &BenchConfig,
    db: &BenchDb,
    what: &str,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Running> {
    let mut command = Command::new(&config.exe);
    command.arg(what);
    if what.ends_with("-api") {
        command.args(["--addr", "127.0.0.1:0"]);
    }
    let mut child = command
        .env("DATABASE_URL", &db.url)
        .env("KAFKA_BROKERS", &config.kafka_brokers)
        .env("STOCKROOM_TOPIC_PREFIX", &db.prefix)
        .env(
            "STOCKROOM_INSTANCE_ID",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        )
        .env("RUST_LOG", "warn")
        // Several runs of a worker may overlap while one is stopping.
        .env("STOCKROOM_METRICS_ADDR", "127.0.0.1:0")
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", config.exe.display()))?;
    let mut url = None;
    if what.ends_with("-api") {
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(u) = line.split("listening on ").nth(1) {
                    return Some(u.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        url = Some(found.ok_or_else(|| anyhow!("{what} did not start"))?);
        // Keep draining so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }
    Ok(Running { child, url })
}

impl Running {
    /// The API's base URL.
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or_default()
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// An HTTP client sending `token` as its bearer credential.
pub fn client_with(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        // Idle connections are dropped well before the servers close them
        // (their keep-alive timeout), as a client should: a request sent on
        // a connection the server is closing just then fails unsent.
        .pool_idle_timeout(web::layers::HttpLimits::default().keep_alive_timeout / 2)
        .build()?)
}
