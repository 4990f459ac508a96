//! Passwords: what a person may choose (12 to 128 characters, not one of the
//! most common), Argon2id with the crate's recommended parameters, hashed
//! and checked off the async threads (each takes tens of milliseconds on
//! purpose), and one-time passwords for new users.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::LazyLock;

use argon2::Argon2;
use thiserror::Error;

/// Shortest password a person may choose.
pub const MIN_LENGTH: usize = 12;

/// Longest password a person may choose, in characters; also the most any
/// sign-in hands to Argon2 (a megabyte "password" costs more to hash).
pub const MAX_LENGTH: usize = 128;

/// Why a password could not be hashed.
#[derive(Debug, Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_LENGTH`].
    #[error("a password needs at least {MIN_LENGTH} characters")]
    TooShort,
    /// Longer than [`MAX_LENGTH`].
    #[error("a password has at most {MAX_LENGTH} characters")]
    TooLong,
    /// One of the most common passwords, which guessers try first.
    #[error("this password is one of the most common ones; choose another")]
    Common,
    /// The hasher failed (no randomness for a salt).
    #[error("hashing failed: {0}")]
    Hashing(String),
}

/// Whether a person may choose `password`.
pub fn check(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    if crate::common_passwords::is_common(password) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// The Argon2id PHC string of `password`, if a person may choose it.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    check(&password)?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

/// Whether `password` matches `phc`. With no stored hash (an unknown
/// address) a fixed hash is checked instead, so that both cases take as long
/// and the answer's timing does not tell which addresses exist. A password
/// longer than [`MAX_LENGTH`] matches nothing and is not hashed.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    if password.chars().count() > MAX_LENGTH {
        return false;
    }
    let checked = phc.is_some();
    let matched = tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| DECOY.clone());
        Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    checked && matched
}

/// A hash of a random password nobody knows, with the default parameters,
/// made once.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let secret = one_time().unwrap_or_else(|_| "decoy password never used".to_owned());
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Length of a one-time password.
const ONE_TIME_LENGTH: usize = 20;

/// A new random password: 20 characters from an alphabet without
/// look-alikes (about 115 bits), drawn without modulo bias.
pub fn one_time() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    // The largest multiple of the alphabet's size that fits in a byte.
    let limit = 256 - 256 % ALPHABET.len();
    let mut password = String::with_capacity(ONE_TIME_LENGTH);
    while password.len() < ONE_TIME_LENGTH {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        password.extend(
            bytes
                .iter()
                .map(|b| usize::from(*b))
                .filter(|b| *b < limit)
                .map(|b| char::from(ALPHABET[b % ALPHABET.len()]))
                .take(ONE_TIME_LENGTH - password.len()),
        );
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("correct horse batterY".into(), Some(phc)).await);
    }

    #[tokio::test]
    async fn short_passwords_are_refused_and_unknown_users_never_match() {
        assert!(matches!(
            hash("short".into()).await,
            Err(PasswordError::TooShort)
        ));
        assert!(!verify("anything at all".into(), None).await);
    }

    #[tokio::test]
    async fn long_and_common_passwords_are_refused_and_long_ones_never_match() {
        let longest = "x".repeat(MAX_LENGTH);
        assert!(check(&longest).is_ok());
        let phc = hash(longest.clone()).await.unwrap();
        assert!(verify(longest.clone(), Some(phc.clone())).await);
        assert!(matches!(
            check(&format!("{longest}x")),
            Err(PasswordError::TooLong)
        ));
        assert!(
            !verify(format!("{longest}x"), Some(phc)).await,
            "not even hashed"
        );
        assert!(matches!(
            hash("Qwerty123456".into()).await,
            Err(PasswordError::Common)
        ));
    }

    #[test]
    fn one_time_passwords_are_long_and_differ() {
        let (a, b) = (one_time().unwrap(), one_time().unwrap());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
