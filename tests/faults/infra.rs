//! Serialising fault tests and reaching the infrastructure scripts/test started.

use tokio::sync::{Mutex, MutexGuard};

use crate::support::process::as_postgres_user;

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
    pg_ctl(&["-m", "fast", "-w", "restart"]);
}

/// `pg_ctl stop -m immediate` (a crash, as far as clients can tell), then
/// start again.
pub fn crash_and_start_postgres() {
    pg_ctl(&["-m", "immediate", "-w", "stop"]);
    pg_ctl(&["-w", "start"]);
}

/// `pg_ctl stop -m fast`: Postgres is down until [`start_postgres`].
pub fn stop_postgres() {
    pg_ctl(&["-m", "fast", "-w", "stop"]);
}

/// `pg_ctl start` after [`stop_postgres`].
pub fn start_postgres() {
    pg_ctl(&["-w", "start"]);
}

fn pg_ctl(action: &[&str]) {
    let pg_ctl = var("STOCKROOM_TEST_PG_CTL");
    let (data, log) = (var("STOCKROOM_TEST_PG_DATA"), var("STOCKROOM_TEST_PG_LOG"));
    let mut args = vec!["-D", data.as_str(), "-l", log.as_str()];
    args.extend_from_slice(action);
    let status = as_postgres_user(&pg_ctl).args(&args).status().unwrap();
    assert!(status.success(), "pg_ctl {action:?} failed");
}
