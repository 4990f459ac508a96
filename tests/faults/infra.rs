//! Serialising fault tests and reaching the infrastructure scripts/test started.

use std::process::Command;

use tokio::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::const_new(());

/// Held for the whole of a fault test.
pub async fn exclusive() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is unset: run the tests with scripts/test"))
}

/// The broker's OS process id.
pub fn broker_pid() -> u32 {
    std::fs::read_to_string(var("STOCKROOM_TEST_BROKER_PID_FILE"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `pg_ctl restart -m fast` on the test cluster (as its owner when root).
pub fn restart_postgres() {
    let pg_ctl = var("STOCKROOM_TEST_PG_CTL");
    let args = [
        "-D",
        &var("STOCKROOM_TEST_PG_DATA"),
        "-l",
        &var("STOCKROOM_TEST_PG_LOG"),
        "-m",
        "fast",
        "-w",
        "restart",
    ];
    let is_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let status = if is_root {
        Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_ctl])
            .args(args)
            .status()
    } else {
        Command::new(&pg_ctl).args(args).status()
    }
    .unwrap();
    assert!(status.success(), "pg_ctl restart failed");
}
