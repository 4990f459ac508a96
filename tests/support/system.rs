//! The whole system for one test: a fresh database, its own topic
//! namespace, and every process.

use reqwest::{Client, Response};
use serde_json::Value;

use super::{unique, Proc, TestDb};

/// A running Stockroom.
pub struct System {
    /// The test's database.
    pub db: TestDb,
    /// Environment every process of this system gets.
    pub env: Vec<(String, String)>,
    /// Topic namespace.
    pub prefix: String,
    /// The command API.
    pub command: Proc,
    /// The query API.
    pub query: Proc,
    /// Workers, in the order started.
    pub workers: Vec<Proc>,
    /// HTTP client sending the admin key.
    pub http: Client,
    /// The admin key the client sends.
    pub admin_token: String,
}

/// The broker `scripts/test` started.
pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:59092".into())
}

/// Environment for processes on `db` in namespace `prefix`: they connect
/// as the runtime role, as deployed (README, "Database roles").
pub fn env_for(db: &TestDb, prefix: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("DATABASE_URL".to_owned(), db.app_url.clone()),
        ("KAFKA_BROKERS".to_owned(), brokers()),
        ("STOCKROOM_TOPIC_PREFIX".to_owned(), prefix.to_owned()),
        ("STOCKROOM_DB_POOL_SIZE".to_owned(), "8".to_owned()),
        // Each worker's metrics endpoint on a port of its own.
        (
            "STOCKROOM_METRICS_ADDR".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

impl System {
    /// Starts every process with default settings.
    pub async fn start() -> Self {
        Self::start_with(&[], &["relay", "projector", "reserver"]).await
    }

    /// Starts the APIs and `workers`, with extra environment.
    pub async fn start_with(extra: &[(&str, &str)], workers: &[&str]) -> Self {
        Self::start_on(TestDb::create().await, extra, workers).await
    }

    /// Starts the APIs and `workers` on an existing, migrated database.
    pub async fn start_on(db: TestDb, extra: &[(&str, &str)], workers: &[&str]) -> Self {
        let prefix = unique("t");
        let env = env_for(&db, &prefix, extra);
        let command = Proc::spawn("command-api", &["--addr", "127.0.0.1:0"], &env).await;
        let query = Proc::spawn("query-api", &["--addr", "127.0.0.1:0"], &env).await;
        let mut procs = Vec::new();
        for w in workers {
            procs.push(Proc::spawn(w, &[], &env).await);
        }
        let admin_token = db.create_key("admin", None).await;
        Self {
            db,
            env,
            prefix,
            command,
            query,
            workers: procs,
            http: client_with(&admin_token),
            admin_token,
        }
    }

    /// A fresh HTTP client (its own connection pool) sending the admin key.
    pub fn client(&self) -> Client {
        client_with(&self.admin_token)
    }

    /// Starts one more worker of this system, as a distinct group member.
    pub async fn spawn_worker(&mut self, name: &str) -> &mut Proc {
        let mut env = self.env.clone();
        env.push((
            "STOCKROOM_INSTANCE_ID".into(),
            format!("extra-{}", self.workers.len()),
        ));
        self.workers.push(Proc::spawn(name, &[], &env).await);
        self.workers.last_mut().unwrap()
    }

    /// The topic of a category suffix (`orders`, `stock`, `products`).
    pub fn topic(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// The `/metrics` text of the process at `base` (an API's URL).
    pub async fn metrics_text(&self, base: &str) -> String {
        self.http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `POST` JSON to the command API.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(format!("{}{path}", self.command_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `GET` from the query API.
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.query_url()))
            .send()
            .await
            .unwrap()
    }

    /// The command API's base URL.
    pub fn command_url(&self) -> &str {
        self.command.url.as_deref().unwrap()
    }

    /// The query API's base URL.
    pub fn query_url(&self) -> &str {
        self.query.url.as_deref().unwrap()
    }

    /// Registers a product and receives stock for it.
    pub async fn stock_product(&self, sku: &str, unit_price: i64, quantity: i64) {
        let r = self
            .post(
                "/v1/products",
                serde_json::json!({"sku": sku, "name": format!("Product {sku}"), "unit_price": unit_price, "currency": "EUR"}),
            )
            .await;
        assert_eq!(
            r.status(),
            201,
            "register {sku}: {}",
            r.text().await.unwrap()
        );
        if quantity > 0 {
            let r = self
                .post(
                    &format!("/v1/stock/{sku}/receipts"),
                    serde_json::json!({"quantity": quantity}),
                )
                .await;
            assert_eq!(
                r.status(),
                200,
                "receive {sku}: {}",
                r.text().await.unwrap()
            );
        }
    }
}

/// `POST`s `body` to `url` with an `Idempotency-Key`: the status and the
/// JSON answer.
pub async fn post_with_key(client: &Client, url: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = client
        .post(url)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json::<Value>().await.unwrap())
}

/// An HTTP client that sends `token` as its bearer credential (the bench's,
/// which drops idle connections before the servers close them).
pub fn client_with(token: &str) -> Client {
    bench::children::client_with(token).unwrap()
}
