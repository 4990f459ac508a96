//! Stockroom needs direct sessions: its leases are session-level advisory
//! locks, its followers LISTEN, and its connections pin READ COMMITTED and
//! lock bounds as startup options. A transaction-mode PgBouncer told to
//! ignore those options (what one does to get past "unsupported startup
//! parameter: options") silently breaks all three: `doctor` says so, and a
//! worker refuses to follow the log through it. A real PgBouncer, started
//! for the test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::process::{as_postgres_user, is_root, run_tool};
use crate::support::system::env_for;
use crate::support::{Proc, TestDb};

/// A transaction-mode PgBouncer in front of one database, stopped on drop.
struct Pooler {
    child: Child,
    dir: std::path::PathBuf,
    url: String,
}

impl Pooler {
    fn start(db: &TestDb) -> Self {
        // postgres://user:password@host:port/database
        let rest = db.url.strip_prefix("postgres://").unwrap();
        let (credentials, address) = rest.split_once('@').unwrap();
        let (user, password) = credentials.split_once(':').unwrap();
        let (host_port, database) = address.split_once('/').unwrap();
        let (host, port) = host_port.split_once(':').unwrap();
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(crate::support::unique("stockroom-pooler-"));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\nshop = host={host} port={port} dbname={database} user={user} password={password}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
                 auth_type = any\npool_mode = transaction\n\
                 ignore_startup_parameters = options,extra_float_digits\n\
                 logfile = {log}\npidfile = {pid}\n",
                log = dir.join("pgbouncer.log").display(),
                pid = dir.join("pgbouncer.pid").display(),
            ),
        )
        .unwrap();
        if is_root() {
            // PgBouncer runs as postgres, and reads and writes its files.
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .unwrap();
        }
        let child = as_postgres_user("pgbouncer")
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            dir,
            url: format!("postgres://{user}:{password}@127.0.0.1:{listen}/shop"),
        }
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_and_the_workers_refuse_a_pooler_that_drops_session_settings() {
    let db = TestDb::create().await;
    let pooler = Pooler::start(&db);
    let mut env = env_for(&db, "unused", &[]);
    for (name, value) in env.iter_mut() {
        if name == "DATABASE_URL" {
            *value = pooler.url.clone();
        }
    }

    let (status, report) = run_tool(&["doctor"], &env).await;
    assert!(!status.success(), "doctor needs a person here:\n{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("[FAIL]") && l.contains("not the READ COMMITTED")),
        "{report}"
    );

    let mut reserver = Proc::spawn("reserver", &[], &env).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&reserver.log).unwrap_or_default();
        if log.contains("a pooler that ignores startup parameters") {
            assert!(
                !log.contains("active: following the log"),
                "it never takes a lease through the pooler:\n{log}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reserver did not refuse:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    reserver.terminate().await;

    // The same database, connected directly: all is well.
    let (status, report) = run_tool(&["doctor"], &env_for(&db, "unused", &[])).await;
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("[ok]") && l.contains("READ COMMITTED")),
        "{report} ({status})"
    );
}
