//! `stockroom users`: changing, disabling, listing people and ending their
//! sessions from the command line, and where a generated password goes (to
//! standard output or a private file, never the log).

use std::process::Stdio;

use store::console_users;

use crate::support::process::{run_tool, run_tool_with_input};
use crate::support::TestDb;

const PASSWORD: &str = "a long enough password";

fn env(db: &TestDb) -> Vec<(String, String)> {
    vec![("DATABASE_URL".to_owned(), db.url.clone())]
}

/// Whether the enabled user `email` signs in with `password`.
pub(crate) async fn has_password(pool: &sqlx::PgPool, email: &str, password: &str) -> bool {
    let Some((_, hash)) = console_users::find_for_sign_in(pool, email).await.unwrap() else {
        return false;
    };
    console::password::verify(password.into(), Some(hash)).await
}

async fn sessions_of(db: &TestDb, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM console_sessions s JOIN console_users u ON u.id = s.user_id \
         WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Given a person with live sessions, each of `role`, `passwd`, `sessions
/// revoke` and `disable` does its change and ends their sessions; `list`
/// shows them; an unknown address is an error.
#[tokio::test(flavor = "multi_thread")]
async fn people_are_changed_listed_and_disabled_and_lose_their_sessions() {
    let db = TestDb::create().await;
    let env = env(&db);
    let email = "ada@example.com";
    let hash = console::password::hash(PASSWORD.into()).await.unwrap();
    let user = console_users::create(&db.pool, email, "staff", &hash)
        .await
        .unwrap()
        .unwrap();
    let start = || console_users::start_session(&db.pool, user.id);

    start().await.unwrap();
    start().await.unwrap();
    let (status, _) = run_tool(
        &[
            "users",
            "role",
            "--email",
            "Ada@Example.com",
            "--role",
            "operator",
        ],
        &env,
    )
    .await;
    assert!(status.success());
    assert_eq!(
        sessions_of(&db, email).await,
        0,
        "a new role ends the sessions"
    );
    let found = console_users::find(&db.pool, email).await.unwrap().unwrap();
    assert_eq!(found.role, "operator");
    let (status, _) = run_tool(
        &["users", "role", "--email", email, "--role", "storefront"],
        &env,
    )
    .await;
    assert!(!status.success(), "not a role for people");

    start().await.unwrap();
    let typed = "another long passphrase\n";
    let (status, printed) = run_tool_with_input(
        &["users", "passwd", "--email", email, "--password-stdin"],
        &env,
        typed,
    )
    .await;
    assert!(status.success());
    assert!(printed.is_empty(), "a typed password is not printed back");
    assert_eq!(
        sessions_of(&db, email).await,
        0,
        "a new password ends the sessions"
    );
    assert!(has_password(&db.pool, email, "another long passphrase").await);
    let (status, _) = run_tool_with_input(
        &["users", "passwd", "--email", email, "--password-stdin"],
        &env,
        "password1234\n",
    )
    .await;
    assert!(!status.success(), "one of the most common passwords");

    start().await.unwrap();
    start().await.unwrap();
    let (status, _) = run_tool(&["users", "sessions", "revoke", "--email", email], &env).await;
    assert!(status.success());
    assert_eq!(sessions_of(&db, email).await, 0);

    start().await.unwrap();
    let (status, listed) = run_tool(&["users", "list", "--json"], &env).await;
    assert!(status.success());
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["email"], email);
    assert_eq!(listed[0]["role"], "operator");
    assert_eq!(listed[0]["sessions"], 1);
    assert_eq!(listed[0]["disabled_at"], serde_json::Value::Null);
    assert!(listed[0].get("password_hash").is_none());
    let (status, table) = run_tool(&["users", "list"], &env).await;
    assert!(status.success());
    assert!(table.contains(email) && table.contains("active"), "{table}");

    let (status, _) = run_tool(&["users", "disable", "--email", email], &env).await;
    assert!(status.success());
    assert_eq!(
        sessions_of(&db, email).await,
        0,
        "disabling ends the sessions"
    );
    assert!(console_users::find_for_sign_in(&db.pool, email)
        .await
        .unwrap()
        .is_none());
    let (_, table) = run_tool(&["users", "list"], &env).await;
    assert!(table.contains("disabled"), "{table}");

    for args in [
        &["users", "disable", "--email", "nobody@example.com"][..],
        &[
            "users",
            "sessions",
            "revoke",
            "--email",
            "nobody@example.com",
        ][..],
    ] {
        let (status, _) = run_tool(args, &env).await;
        assert!(!status.success(), "{args:?}");
    }
}

/// `stockroom users …` with the most verbose log: (exit status, stdout,
/// stderr).
async fn run_logged(args: &[&str], env: &[(String, String)]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_stockroom"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Given no password on standard input, the generated one appears on
/// standard output only, or only in a new file readable by its owner; it is
/// never in the log, and it must be changed at the first sign-in.
#[tokio::test(flavor = "multi_thread")]
async fn a_generated_password_is_shown_once_outside_the_log_and_must_be_changed() {
    let db = TestDb::create().await;
    let env = env(&db);
    let (ok, stdout, stderr) = run_logged(
        &[
            "users",
            "create",
            "--email",
            "a@example.com",
            "--role",
            "admin",
        ],
        &env,
    )
    .await;
    assert!(ok, "{stderr}");
    let password = stdout.trim();
    assert_eq!(password.len(), 20);
    assert!(!stderr.contains(password), "not in the log: {stderr}");
    assert!(has_password(&db.pool, "a@example.com", password).await);

    let dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(crate::support::unique("users"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("admin.txt");
    let path = file.to_str().unwrap();
    let (ok, stdout, stderr) = run_logged(
        &[
            "users",
            "passwd",
            "--email",
            "a@example.com",
            "--password-file",
            path,
        ],
        &env,
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    let written = std::fs::read_to_string(&file).unwrap();
    let password = written
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap();
    assert!(!stderr.contains(password), "not in the log");
    assert!(has_password(&db.pool, "a@example.com", password).await);
    let listed = console_users::list(&db.pool).await.unwrap();
    assert!(
        listed[0].must_change_password,
        "a generated password must be changed"
    );

    let (ok, _, _) = run_logged(
        &[
            "users",
            "create",
            "--email",
            "b@example.com",
            "--role",
            "staff",
            "--password-file",
            path,
        ],
        &env,
    )
    .await;
    assert!(!ok, "an existing file is not overwritten");
    assert!(
        console_users::find(&db.pool, "b@example.com")
            .await
            .unwrap()
            .is_none(),
        "and nobody was added"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    let (ok, _, _) = run_logged(
        &[
            "users",
            "create",
            "--email",
            "a@example.com",
            "--role",
            "staff",
            "--password-file",
            &format!("{path}.2"),
        ],
        &env,
    )
    .await;
    assert!(!ok, "the address is taken");
    assert!(
        !dir.join("admin.txt.2").exists(),
        "the unused file is removed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
