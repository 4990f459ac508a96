//! A fresh, migrated database per test.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// A database created for one test.
pub struct TestDb {
    /// Its connection string.
    pub url: String,
    /// A pool for the test's own queries.
    pub pool: PgPool,
}

/// The admin URL `scripts/test` exports.
pub fn admin_url() -> String {
    std::env::var("STOCKROOM_TEST_DATABASE_URL")
        .expect("STOCKROOM_TEST_DATABASE_URL is unset: run the tests with scripts/test")
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
        let (base, _) = admin.rsplit_once('/').expect("admin url has a database");
        let url = format!("{base}/{name}");
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect(&url)
            .await
            .expect("connect to test database");
        store::migrate(&pool).await.expect("migrate");
        Self { url, pool }
    }

    /// Number of events in the log.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}
