//! What every page shows around its content: who is signed in, the pages
//! their role may open, and this session's CSRF token for the forms.

use axum::http::Method;

use crate::access::allows;
use crate::session::SignedIn;

/// The navigation, in order: path and label.
const NAV: [(&str, &str); 8] = [
    ("/", "Dashboard"),
    ("/orders", "Orders"),
    ("/holds", "Holds"),
    ("/products", "Products"),
    ("/stock", "Stock"),
    ("/locations", "Locations"),
    ("/projections", "Projections"),
    ("/parked", "Parked events"),
];

/// A link of the navigation.
pub struct NavLink {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

/// The frame of every signed-in page.
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// Who is signed in.
    pub email: String,
    /// Their role.
    pub role: &'static str,
    /// The token every form carries.
    pub csrf: String,
    /// The pages they may open.
    pub nav: Vec<NavLink>,
    /// A line about what was just done.
    pub notice: Option<String>,
    /// Reload the page every so many seconds (while a job runs).
    pub refresh: Option<u32>,
}

impl Layout {
    /// The frame for `who` on the page under `section`.
    pub fn new(who: &SignedIn, section: &str, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            email: who.user.email.clone(),
            role: who.role.as_str(),
            csrf: who.csrf.clone(),
            nav: NAV
                .iter()
                .filter(|(href, _)| allows(who.role, &Method::GET, href))
                .map(|&(href, label)| NavLink {
                    href,
                    label,
                    current: href == section,
                })
                .collect(),
            notice: None,
            refresh: None,
        }
    }

    /// The same with a notice.
    pub fn notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }
}

/// Whether `who` may use the form `path` (a template of the page table).
pub fn may(who: &SignedIn, path: &str) -> bool {
    allows(who.role, &Method::POST, path)
}

/// `minor` units as a decimal amount with the currency: `1250` → `12.50 EUR`.
pub fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(money(1250, "EUR"), "12.50 EUR");
        assert_eq!(money(5, "USD"), "0.05 USD");
        assert_eq!(money(-199, "EUR"), "-1.99 EUR");
    }
}
