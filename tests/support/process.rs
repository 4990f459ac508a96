//! Spawning the real `stockroom` binary.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `stockroom` process; killed when dropped.
pub struct Proc {
    /// The subcommand.
    pub name: String,
    child: Child,
    /// `http://host:port` of an API, or of a worker's metrics endpoint.
    pub url: Option<String>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

/// The worker processes.
const WORKERS: [&str; 3] = ["relay", "projector", "reserver"];

impl Proc {
    /// Starts `stockroom <subcommand> <args>` with `env`; for APIs, waits
    /// until it prints where it listens.
    pub async fn spawn(subcommand: &str, args: &[&str], env: &[(String, String)]) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("logs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{}-{subcommand}.log", super::unique("")));
        let mut child = Command::new(env!("CARGO_BIN_EXE_stockroom"))
            .arg(subcommand)
            .args(args)
            // Each process as its own database role, as deployed.
            .envs(env.iter().map(|(k, v)| match k.as_str() {
                "DATABASE_URL" => (k.clone(), super::db::url_for_process(v, subcommand)),
                "STOCKROOM_QUERY_DATABASE_URL" => {
                    (k.clone(), super::standby::url_for_process(v, subcommand))
                }
                _ => (k.clone(), v.clone()),
            }))
            .env(
                "RUST_LOG",
                std::env::var("STOCKROOM_TEST_PROCESS_LOG")
                    .unwrap_or_else(|_| "info,sqlx=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn stockroom");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.split("listening on ").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        // APIs print where they listen, and so do workers for their metrics
        // endpoint (tests always give them one).
        let url = if subcommand.ends_with("-api")
            || subcommand == "console"
            || WORKERS.contains(&subcommand)
        {
            let url = tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .unwrap_or_else(|_| panic!("{subcommand} did not start; see {}", log.display()))
                .unwrap_or_else(|_| panic!("{subcommand} exited; see {}", log.display()));
            Some(url)
        } else {
            None
        };
        Self {
            name: subcommand.to_owned(),
            child,
            url,
            log,
        }
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("process is running")
    }

    /// `kill -9`: no cleanup, no goodbye.
    pub async fn kill_hard(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("process did not stop after SIGTERM")
            .unwrap()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Sends a signal by name with `kill`.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Runs a `stockroom` tool to completion: its exit status and stdout.
pub async fn run_tool(
    args: &[&str],
    env: &[(String, String)],
) -> (std::process::ExitStatus, String) {
    run_tool_with_input(args, env, "").await
}

/// Runs a `stockroom` tool with `input` on its standard input.
pub async fn run_tool_with_input(
    args: &[&str],
    env: &[(String, String)],
    input: &str,
) -> (std::process::ExitStatus, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockroom"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        // An error's backtrace would bury what it says in a failed test's
        // output (a panic's backtrace follows RUST_BACKTRACE still).
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stockroom");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.expect("run stockroom");
    // Shown with the test's output if it fails.
    eprintln!(
        "stockroom {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        == b"0\n"
}

/// A command running `program` as the `postgres` user when the tests run
/// as root (Postgres's server programs and PgBouncer refuse root).
pub fn as_postgres_user(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    if is_root() {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        std::process::Command::new(program)
    }
}
