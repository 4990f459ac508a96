//! A console password for `stockroom users create` and `passwd`: typed on
//! standard input, or generated and shown once, on standard output or in a
//! new file only its owner can read. Never through the log: container logs
//! and log collectors keep what they are given.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::PasswordSource;

/// A password to set, and where to show it once it is set.
pub struct NewPassword {
    /// The password.
    pub password: String,
    /// Whether it was generated (the person must replace it).
    pub generated: bool,
    /// The file to write a generated one to, already created (so a taken
    /// path fails before anything changes).
    file: Option<(PathBuf, File)>,
}

impl NewPassword {
    /// Reads or generates the password `source` asks for.
    pub fn from(source: &PasswordSource) -> anyhow::Result<Self> {
        if source.password_stdin {
            let mut typed = String::new();
            std::io::stdin()
                .read_to_string(&mut typed)
                .context("cannot read the password from standard input")?;
            return Ok(Self {
                password: typed.trim_end_matches(['\r', '\n']).to_owned(),
                generated: false,
                file: None,
            });
        }
        let file = match &source.password_file {
            Some(path) => Some((path.clone(), create_private(path)?)),
            None => None,
        };
        Ok(Self {
            password: console::password::one_time().context("no randomness")?,
            generated: true,
            file,
        })
    }

    /// Shows a generated password once, after it was set; says on standard
    /// error where it went. A typed one is not shown back.
    pub fn show(self, email: &str) -> anyhow::Result<()> {
        if !self.generated {
            return Ok(());
        }
        match self.file {
            Some((path, mut file)) => {
                writeln!(file, "e-mail:   {email}\npassword: {}", self.password)
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!(
                    "the one-time password is in {} (readable by you only); it must be changed at the first sign-in",
                    path.display()
                );
            }
            None => {
                println!("{}", self.password);
                eprintln!(
                    "the password above is shown once; it must be changed at the first sign-in"
                );
            }
        }
        Ok(())
    }

    /// Removes the file made for a password that was not set after all.
    pub fn discard(self) {
        if let Some((path, _)) = self.file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A new file at `path` that only its owner can read or write.
fn create_private(path: &Path) -> anyhow::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))
}
