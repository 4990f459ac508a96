//! `stockroom users create`: people who sign in to the console are added
//! only here, with database access.

use std::io::Read;

use anyhow::{bail, Context};
use web::access::Role;

use crate::cli::UsersAction;

/// The roles a person can have in the console.
const CONSOLE_ROLES: [Role; 3] = [Role::Staff, Role::Operator, Role::Admin];

/// Runs a users tool.
pub async fn run(action: UsersAction) -> anyhow::Result<()> {
    match action {
        UsersAction::Create {
            common,
            email,
            role,
            password_stdin,
        } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            if !CONSOLE_ROLES.contains(&role) {
                bail!("a console user is staff, operator or admin, not {role}");
            }
            let email = email.trim().to_lowercase();
            if !email.contains('@') || email.len() < 3 || email.len() > 254 {
                bail!("{email:?} is not an e-mail address");
            }
            let (password, generated) = if password_stdin {
                let mut typed = String::new();
                std::io::stdin()
                    .read_to_string(&mut typed)
                    .context("cannot read the password from standard input")?;
                (typed.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (
                    console::password::one_time().context("no randomness")?,
                    true,
                )
            };
            let hash = console::password::hash(password.clone()).await?;
            let pool = store::connect(&common.db())?;
            let Some(user) =
                store::console_users::create(&pool, &email, role.as_str(), &hash).await?
            else {
                bail!("there is already a console user {email}");
            };
            if generated {
                println!("{password}");
                eprintln!(
                    "user {} ({email}, role {role}) — the password above is shown once",
                    user.id
                );
            } else {
                eprintln!("user {} ({email}, role {role}) created", user.id);
            }
            Ok(())
        }
    }
}
