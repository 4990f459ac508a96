//! A fresh, migrated database per test.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// A database created for one test.
pub struct TestDb {
    /// Its connection string, as the owner (the role that migrated it).
    pub url: String,
    /// Its connection string as the runtime role the processes use
    /// (`stockroom_app`'s log-in role); the owner's where there is none.
    pub app_url: String,
    /// A pool for the test's own queries.
    pub pool: PgPool,
}

/// The admin URL `scripts/test` exports: the migration owner's.
pub fn admin_url() -> String {
    std::env::var("STOCKROOM_TEST_DATABASE_URL")
        .expect("STOCKROOM_TEST_DATABASE_URL is unset: run the tests with scripts/test")
}

/// The runtime role's URL `scripts/test` exports (on database `postgres`).
pub fn app_admin_url() -> String {
    std::env::var("STOCKROOM_TEST_APP_DATABASE_URL")
        .expect("STOCKROOM_TEST_APP_DATABASE_URL is unset: run the tests with scripts/test")
}

/// The analyst's log-in URL `scripts/test` exports (on database `postgres`).
pub fn analyst_admin_url() -> String {
    std::env::var("STOCKROOM_TEST_ANALYST_DATABASE_URL")
        .expect("STOCKROOM_TEST_ANALYST_DATABASE_URL is unset: run the tests with scripts/test")
}

/// The URL a process started as `stockroom <subcommand>` with `url` connects
/// with: where `url` is the runtime role's and `scripts/test` exports a role
/// of that process's own (`STOCKROOM_TEST_DATABASE_URL_COMMAND_API`, …), that
/// role's on the same database; `url` itself otherwise (the owner's, or a
/// test's own choice).
pub fn url_for_process(url: &str, subcommand: &str) -> String {
    let var = format!(
        "STOCKROOM_TEST_DATABASE_URL_{}",
        subcommand.to_uppercase().replace('-', "_")
    );
    let (Ok(own), Some((base, name))) = (std::env::var(var), url.rsplit_once('/')) else {
        return url.to_owned();
    };
    let runtime = app_admin_url();
    if runtime.rsplit_once('/').map(|(b, _)| b) == Some(base) {
        with_database(&own, name)
    } else {
        url.to_owned()
    }
}

/// `url` pointed at database `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("url has a database");
    format!("{base}/{name}")
}

impl TestDb {
    /// Creates and migrates a new database.
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = super::unique("t_");
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("connect as admin");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let url = with_database(&admin, &name);
        let app_url = with_database(&app_admin_url(), &name);
        // With the settings every Stockroom connection pins, so the tests'
        // own leases and followers pass the session check.
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(store::db::connect_options(&url).expect("a database URL"))
            .await
            .expect("connect to test database");
        store::migrate(&pool).await.expect("migrate");
        Self { url, app_url, pool }
    }

    /// Its connection string as an analyst's log-in (in `stockroom_analyst`,
    /// made by `scripts/test`: the owner may not make roles).
    pub fn analyst_url(&self) -> String {
        let (_, name) = self.url.rsplit_once('/').expect("url has a database");
        with_database(&analyst_admin_url(), name)
    }

    /// A database that exists already, as it is (not migrated).
    pub async fn existing(url: &str) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(store::db::connect_options(url).expect("a database URL"))
            .await
            .expect("connect to the database");
        Self {
            url: url.to_owned(),
            app_url: url.to_owned(),
            pool,
        }
    }

    /// Creates an API key of `role` (with `channel` for storefronts), its
    /// rate limit out of the tests' way; returns the token.
    pub async fn create_key(&self, role: &str, channel: Option<&str>) -> String {
        self.create_key_with(role, channel, Some(1_000_000)).await.1
    }

    /// Creates an API key with a chosen rate; returns its id and token.
    pub async fn create_key_with(
        &self,
        role: &str,
        channel: Option<&str>,
        rate: Option<i32>,
    ) -> (uuid::Uuid, String) {
        let key = store::keys::NewKey {
            name: format!("test {role}"),
            role: role.to_owned(),
            channel: channel.map(str::to_owned),
            expires_at: None,
            rate_per_second: rate,
        };
        let (key, token) = store::keys::create(&self.pool, &key, "system:test")
            .await
            .expect("create key");
        (key.id, token)
    }

    /// Appends `count` `ProductDiscontinued` events to product `sku`'s
    /// stream, expected at `from_version`, in one transaction.
    pub async fn append_product_events(&self, sku: &str, from_version: i64, count: usize) {
        let events: Vec<_> = (0..count)
            .map(|_| {
                store::encode(&domain::product::ProductEvent::ProductDiscontinued {
                    sku: domain::Sku::parse(sku).unwrap(),
                })
                .unwrap()
            })
            .collect();
        let mut tx = self.pool.begin().await.unwrap();
        store::append(
            &mut tx,
            domain::StreamCategory::Product,
            sku,
            from_version,
            &events,
            &store::EventMetadata::new_correlation(None),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// Decides `commands` on order `order_id` one after another, in process
    /// (no API), as `system:test`.
    pub async fn run_order_commands(
        &self,
        order_id: domain::OrderId,
        commands: Vec<domain::order::OrderCommand>,
    ) {
        let metadata = store::EventMetadata::new_correlation(Some("system:test".into()));
        for command in commands {
            store::execute::<domain::order::Order>(
                &self.pool,
                &order_id.to_string(),
                command,
                &metadata,
                store::RetryPolicy::default(),
            )
            .await
            .unwrap();
        }
    }

    /// Waits until every event in the log is below the cluster's horizon
    /// (the oldest transaction still open anywhere, as Postgres reports it).
    /// Other tests share the cluster, so an old transaction of theirs can
    /// hold the horizon back for a while; what this database wrote is
    /// settled once it has passed.
    pub async fn wait_below_horizon(&self) {
        super::eventually("the log below the horizon", std::time::Duration::from_secs(60), || async {
            let settled: bool = sqlx::query_scalar(
                "SELECT coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), true) \
                 FROM events",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            settled.then_some(())
        })
        .await;
    }

    /// Number of events in the log.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Whole-table and index reads of `schema`'s `tables`, summed, that this
/// backend has made in its open transaction.
pub async fn table_scans(conn: &mut PgConnection, schema: &str, tables: &[&str]) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(sum(seq_scan), 0)::bigint, coalesce(sum(idx_scan), 0)::bigint \
         FROM pg_stat_xact_user_tables WHERE schemaname = $1 AND relname = ANY($2)",
    )
    .bind(schema)
    .bind(tables)
    .fetch_one(conn)
    .await
    .expect("read this transaction's table scans")
}
