//! `stockroom users`: people who sign in to the console are added, changed
//! and disabled only here, with database access. Every change to a person
//! ends their live sessions (in the store, in the same transaction).

use anyhow::{bail, Context};
use sqlx::PgPool;
use store::console_users::{self, ConsoleUser};
use web::access::Role;

use crate::cli::{SessionsAction, UsersAction};
use crate::config::Common;
use crate::one_time::NewPassword;

/// The roles a person can have in the console.
const CONSOLE_ROLES: [Role; 4] = [Role::Staff, Role::Warehouse, Role::Operator, Role::Admin];

/// Runs a users tool.
pub async fn run(action: UsersAction) -> anyhow::Result<()> {
    match action {
        UsersAction::Create {
            common,
            email,
            role,
            password,
        } => {
            let role = console_role(&role)?;
            let email = email.trim().to_lowercase();
            if !email.contains('@') || email.len() < 3 || email.len() > 254 {
                bail!("{email:?} is not an e-mail address");
            }
            let new = NewPassword::from(&password)?;
            let created = async {
                let hash = console::password::hash(new.password.clone()).await?;
                let pool = store::connect(&common.db())?;
                let created = if new.generated {
                    console_users::create_one_time(&pool, &email, role.as_str(), &hash).await?
                } else {
                    console_users::create(&pool, &email, role.as_str(), &hash).await?
                };
                match created {
                    Some(user) => Ok(user),
                    None => bail!("there is already a console user {email}"),
                }
            }
            .await;
            let user = match created {
                Ok(user) => user,
                Err(e) => {
                    new.discard();
                    return Err(e);
                }
            };
            eprintln!("user {} ({email}, role {role}) created", user.id);
            new.show(&email)
        }
        UsersAction::Passwd {
            common,
            email,
            password,
        } => {
            let (pool, user) = person(&common, &email).await?;
            let new = NewPassword::from(&password)?;
            let set = async {
                let hash = console::password::hash(new.password.clone()).await?;
                console_users::set_password(&pool, user.id, &hash, new.generated)
                    .await?
                    .context("the user was deleted meanwhile")
            }
            .await;
            match set {
                Ok(ended) => {
                    eprintln!("{}: password changed, {ended} session(s) ended", user.email);
                    new.show(&user.email)
                }
                Err(e) => {
                    new.discard();
                    Err(e)
                }
            }
        }
        UsersAction::Disable { common, email } => {
            let (pool, user) = person(&common, &email).await?;
            let ended = console_users::disable(&pool, user.id).await?.unwrap_or(0);
            eprintln!("{}: disabled, {ended} session(s) ended", user.email);
            Ok(())
        }
        UsersAction::Role {
            common,
            email,
            role,
        } => {
            let role = console_role(&role)?;
            let (pool, user) = person(&common, &email).await?;
            let ended = console_users::set_role(&pool, user.id, role.as_str())
                .await?
                .unwrap_or(0);
            eprintln!("{}: role {role}, {ended} session(s) ended", user.email);
            Ok(())
        }
        UsersAction::List { common, json } => {
            let pool = store::connect(&common.db())?;
            print_list(&console_users::list(&pool).await?, json);
            Ok(())
        }
        UsersAction::Sessions {
            action: SessionsAction::Revoke { common, email },
        } => {
            let (pool, user) = person(&common, &email).await?;
            let ended = console_users::revoke_sessions(&pool, user.id).await?;
            eprintln!("{}: {ended} session(s) ended", user.email);
            Ok(())
        }
    }
}

/// `role` if a person may have it.
fn console_role(role: &str) -> anyhow::Result<Role> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    if !CONSOLE_ROLES.contains(&role) {
        bail!("a console user is staff, operator or admin, not {role}");
    }
    Ok(role)
}

/// The database and the user with `email`.
async fn person(common: &Common, email: &str) -> anyhow::Result<(PgPool, ConsoleUser)> {
    let pool = store::connect(&common.db())?;
    match console_users::find(&pool, email).await? {
        Some(user) => Ok((pool, user)),
        None => bail!("there is no console user {}", email.trim().to_lowercase()),
    }
}

fn print_list(users: &[console_users::UserSummary], json: bool) {
    if json {
        let rows: Vec<_> = users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "id": u.user.id,
                    "email": u.user.email,
                    "role": u.user.role,
                    "created_at": u.created_at,
                    "disabled_at": u.disabled_at,
                    "must_change_password": u.must_change_password,
                    "sessions": u.sessions,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return;
    }
    println!(
        "{:<36}  {:<32}  {:<8}  {:<22}  sessions",
        "id", "email", "role", "state"
    );
    for u in users {
        let state = match (u.disabled_at, u.must_change_password) {
            (Some(_), _) => "disabled",
            (None, true) => "must change password",
            (None, false) => "active",
        };
        println!(
            "{:<36}  {:<32}  {:<8}  {:<22}  {}",
            u.user.id, u.user.email, u.user.role, state, u.sessions
        );
    }
}
