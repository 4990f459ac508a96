//! The most common passwords (data/common-passwords.txt, compiled in), which
//! nobody may choose whatever their case.

use std::collections::HashSet;
use std::sync::LazyLock;

/// The list, lower case, one a line; `#` lines are comments.
static LIST: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Whether `password` is on the list, ignoring case.
pub fn is_common(password: &str) -> bool {
    LIST.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_passwords_are_found_in_any_case_and_others_are_not() {
        assert!(LIST.len() > 5000);
        assert!(is_common("password"));
        assert!(is_common("QWERTY123456"));
        assert!(is_common("1q2w3e4r5t6y"));
        assert!(!is_common("correct horse battery staple"));
    }
}
