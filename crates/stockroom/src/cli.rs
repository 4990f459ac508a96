//! The command line: one subcommand per process.

use clap::{Args, Parser, Subcommand};

use crate::config::{
    ApiArgs, Common, ConsoleArgs, ListenerArgs, MetricsArgs, ProjectorArgs, RelayArgs,
    ReserverArgs, WebhooksArgs, WorkerArgs,
};

/// Where the command API listens unless told otherwise.
pub const COMMAND_ADDR: &str = "127.0.0.1:8080";

/// Where the query API listens unless told otherwise.
pub const QUERY_ADDR: &str = "127.0.0.1:8081";

/// Stockroom: an event-driven order and inventory backend.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "STOCKROOM_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Task,
}

/// The processes and tools.
#[derive(Debug, Subcommand)]
pub enum Task {
    /// Apply database migrations and exit.
    Migrate(Common),
    /// Serve the command API.
    CommandApi(ApiProcess),
    /// Serve the query API.
    QueryApi(ApiProcess),
    /// Publish committed events to Kafka.
    Relay(RelayProcess),
    /// Maintain the read models.
    Projector(ProjectorProcess),
    /// Reserve stock for orders and expire unpaid ones.
    Reserver(ReserverProcess),
    /// Serve the management console (sign in with `stockroom users create`).
    Console(ConsoleProcess),
    /// Without an action, deliver the feed to every webhook endpoint;
    /// with one, manage the endpoints.
    Webhooks(Box<WebhooksCommand>),
    /// Publish the log again after the broker lost its data (an empty
    /// in-memory broker, a recreated cluster). Stockroom's own workers follow
    /// the log and are not affected; Kafka consumers skip what they already
    /// processed, by event id.
    Republish {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Only the last N events in commit order (default: the whole log).
        #[arg(long)]
        tail: Option<i64>,
    },
    /// Run every process in one (for local use).
    All(Box<AllInOne>),
    /// Measure every stage beside a raw baseline and write the report.
    /// `DATABASE_URL` must be allowed to create databases.
    Bench(Box<BenchArgs>),
    /// Write the JSON Schema of every event type to a directory.
    Schemas {
        /// Where to write them.
        #[arg(long, default_value = "docs/schemas")]
        out: std::path::PathBuf,
    },
    /// Rebuild or verify read models from the event store.
    Projections {
        /// What to do.
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Inspect and retry parked events.
    Parked {
        /// What to do.
        #[command(subcommand)]
        action: ParkedAction,
    },
    /// Print the health of a running installation: each follower's lag,
    /// transactions holding the log back, parked events, the broker, keys
    /// expiring soon. Exit status 1 when something needs a person.
    Doctor {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Count warnings as needing a person too.
        #[arg(long)]
        strict: bool,
        /// Report keys that expire within this.
        #[arg(long, default_value = "7d")]
        keys_expiring_within: humantime::Duration,
    },
    /// Manage API keys (only here, never over HTTP).
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage the people who sign in to the console.
    Users {
        /// What to do.
        #[command(subcommand)]
        action: UsersAction,
    },
}

/// Where a console password comes from, and where a generated one goes.
#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from standard input instead of making one.
    #[arg(long, conflicts_with = "password_file")]
    pub password_stdin: bool,
    /// Write the generated one-time password to this new file, readable by
    /// its owner only, instead of printing it on standard output.
    #[arg(long)]
    pub password_file: Option<std::path::PathBuf>,
}

/// Console user tools. A generated password is shown once and must be
/// replaced at the next sign-in; every change to a person ends their
/// sessions.
#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Add a person; prints a one-time password, or reads theirs from
    /// standard input with `--password-stdin`.
    Create {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Their e-mail address (how they sign in).
        #[arg(long)]
        email: String,
        /// `staff`, `operator` or `admin` (what api.md allows each).
        #[arg(long)]
        role: String,
        /// The password.
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Give a person a new password (a one-time one unless read from
    /// standard input) and end their sessions.
    Passwd {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Their e-mail address.
        #[arg(long)]
        email: String,
        /// The password.
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Stop a person signing in and end their sessions.
    Disable {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Their e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Give a person another role and end their sessions.
    Role {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Their e-mail address.
        #[arg(long)]
        email: String,
        /// `staff`, `operator` or `admin`.
        #[arg(long)]
        role: String,
    },
    /// Every person, with their role, state and sessions.
    List {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A person's sessions.
    Sessions {
        /// What to do.
        #[command(subcommand)]
        action: SessionsAction,
    },
}

/// Console session tools.
#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// End every session of a person (they must sign in again).
    Revoke {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Their e-mail address.
        #[arg(long)]
        email: String,
    },
}

/// The console process.
#[derive(Debug, Args)]
pub struct ConsoleProcess {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Console settings.
    #[command(flatten)]
    pub console: ConsoleArgs,
    /// Reserver settings (retried parked reservations need them).
    #[command(flatten)]
    pub reserver: ReserverArgs,
    /// Listener limits.
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Address to listen on.
    #[arg(long, env = "STOCKROOM_CONSOLE_ADDR", default_value = console::DEFAULT_ADDR)]
    pub addr: String,
}

/// API key tools.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print it, once.
    Create {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// One of the roles `stockroom keys roles` lists.
        #[arg(long)]
        role: String,
        /// The sales channel (storefront keys only, and required for them).
        #[arg(long)]
        channel: Option<String>,
        /// Lifetime, such as `90d` (default: until revoked).
        #[arg(long)]
        expires_in: Option<humantime::Duration>,
        /// Requests per second, instead of the role's default.
        #[arg(long)]
        rate: Option<u32>,
        /// Print `{id, key, name, role, channel, expires_at}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys; never shows a secret.
    List {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print every role a key may have, one a line (no database needed).
    Roles,
    /// Revoke a key; every running process refuses it within a second.
    Revoke {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// The key's id.
        id: uuid::Uuid,
    },
    /// A new key with the same grants; the old one stops after the overlap.
    Rotate {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// The key's id.
        id: uuid::Uuid,
        /// How long the old key keeps working.
        #[arg(long, default_value = "24h")]
        overlap: humantime::Duration,
        /// Print the new key as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `stockroom webhooks`: the process, or a tool.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WebhooksCommand {
    /// A tool to run instead of the process.
    #[command(subcommand)]
    pub action: Option<WebhooksAction>,
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Delivery settings.
    #[command(flatten)]
    pub webhooks: WebhooksArgs,
}

/// Webhook endpoint tools.
#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Add an endpoint; prints its signing secret, once.
    Create {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Where batches are POSTed (http or https).
        #[arg(long)]
        url: String,
        /// Only these event types, comma-separated (default: every event).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Deliver the whole log from its first event, not only what
        /// comes after now.
        #[arg(long)]
        from_start: bool,
        /// Print `{id, url, types, position, secret}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every endpoint, with how far it has accepted the feed; never a secret.
    List {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop delivering to an endpoint (its checkpoint is kept).
    Disable {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// The endpoint's id.
        id: uuid::Uuid,
    },
    /// Delete an endpoint with its checkpoint and secret.
    Delete {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// The endpoint's id.
        id: uuid::Uuid,
    },
}

/// An API process.
#[derive(Debug, Args)]
pub struct ApiProcess {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// HTTP settings.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Address to listen on (defaults: command 127.0.0.1:8080, query 127.0.0.1:8081).
    #[arg(long)]
    pub addr: Option<String>,
}

/// The relay process.
#[derive(Debug, Args)]
pub struct RelayProcess {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Relay settings.
    #[command(flatten)]
    pub relay: RelayArgs,
}

/// The projector process.
#[derive(Debug, Args)]
pub struct ProjectorProcess {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Projector settings.
    #[command(flatten)]
    pub projector: ProjectorArgs,
}

/// The reserver process.
#[derive(Debug, Args)]
pub struct ReserverProcess {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Reserver settings.
    #[command(flatten)]
    pub reserver: ReserverArgs,
}

/// Everything in one process.
#[derive(Debug, Args)]
pub struct AllInOne {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// HTTP settings.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Relay settings.
    #[command(flatten)]
    pub relay: RelayArgs,
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Projector settings.
    #[command(flatten)]
    pub projector: ProjectorArgs,
    /// Reserver settings.
    #[command(flatten)]
    pub reserver: ReserverArgs,
    /// Command API address.
    #[arg(long, env = "STOCKROOM_COMMAND_ADDR", default_value = COMMAND_ADDR)]
    pub command_addr: String,
    /// Query API address.
    #[arg(long, env = "STOCKROOM_QUERY_ADDR", default_value = QUERY_ADDR)]
    pub query_addr: String,
    /// Console settings.
    #[command(flatten)]
    pub console: ConsoleArgs,
    /// Console address.
    #[arg(long, env = "STOCKROOM_CONSOLE_ADDR", default_value = console::DEFAULT_ADDR)]
    pub console_addr: String,
}

/// Parked-event tools.
#[derive(Debug, Subcommand)]
pub enum ParkedAction {
    /// List parked events.
    List {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Only this consumer's (`orders`, `catalogue`, `reserver`).
        #[arg(long)]
        consumer: Option<String>,
    },
    /// Retry one parked event through its consumer's handler.
    Retry {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Reserver settings (the reserver's handler needs them).
        #[command(flatten)]
        reserver: ReserverArgs,
        /// The id shown by `parked list`.
        id: i64,
    },
}

/// Read-model tools.
#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Replay the event store into a fresh copy of a read model and swap it
    /// in while the live projector keeps running.
    Rebuild {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// `orders`, `catalogue` or `sales`.
        name: String,
    },
    /// Recompute read models from the event store and report differences
    /// (exit status 1 if any).
    Verify {
        /// Shared settings.
        #[command(flatten)]
        common: Common,
        /// Only this projection (default: all).
        name: Option<String>,
    },
}

/// What `stockroom bench` measures and where it writes the report.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// A few seconds instead of minutes (what the test suite runs).
    #[arg(long)]
    pub smoke: bool,
    /// Only the placement stage (HTTP beside pgbench at each client count).
    #[arg(long, group = "only")]
    pub only_placement: bool,
    /// Only the end-to-end stage, to iterate on it (its comparison then
    /// lacks the other stages' figures).
    #[arg(long, group = "only")]
    pub only_end_to_end: bool,
    /// Only the large-log stage: the rebuild from 1,000,000 events and
    /// the list queries.
    #[arg(long, group = "only")]
    pub only_scale: bool,
    /// Only the long-history stage: reservations on a SKU with a long
    /// stream beside a fresh one.
    #[arg(long, group = "only")]
    pub only_history: bool,
    /// Only the locations stage: reservations on a SKU stocked at eight
    /// locations beside one stocked at one.
    #[arg(long, group = "only")]
    pub only_locations: bool,
    /// Only the holds stage: cart holds placed and converted into orders
    /// beside plain orders, at the first end-to-end rate (200/s).
    #[arg(long, group = "only")]
    pub only_holds: bool,
    /// Only what one primary carries: the highest rate on one database,
    /// the same with the query API on a replica, and pgbench's placement
    /// rate (needs `--replica-database-url`).
    #[arg(long, group = "only", requires = "replica_database_url")]
    pub only_replica: bool,
    /// The admin database URL's twin on a streaming replica of the same
    /// server (`scripts/bench --only-replica` starts one).
    #[arg(long, env = "STOCKROOM_BENCH_REPLICA_DATABASE_URL")]
    pub replica_database_url: Option<String>,
    /// Only the event feed's stage: the large log read from position 0,
    /// and long-poll delivery at 500 commits/s.
    #[arg(long, group = "only")]
    pub only_feed: bool,
    /// Offer only this many orders per second end to end (default: 200
    /// for 30 s, then 500 for 60 s).
    #[arg(long)]
    pub e2e_rate: Option<u32>,
    /// Seconds per round at `--e2e-rate` (default 30).
    #[arg(long, requires = "e2e_rate")]
    pub e2e_seconds: Option<u64>,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub out: std::path::PathBuf,
}
