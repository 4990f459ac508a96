//! Errors shown next to the fields of a form. A command refused for the
//! person's input comes back as field or form errors and changes nothing;
//! anything else is the console's error.

use std::collections::BTreeMap;

use command_api::error::ApiError;
use command_api::runner::Answer;
use domain::DomainError;

use crate::error::ConsoleError;

/// What is wrong with a submitted form.
#[derive(Debug, Default)]
pub struct FormErrors {
    fields: BTreeMap<String, String>,
    /// What is wrong with the form as a whole.
    pub general: Option<String>,
}

impl FormErrors {
    /// The message for `field`, empty when it is fine.
    pub fn on(&self, field: &str) -> &str {
        self.fields.get(field).map(String::as_str).unwrap_or("")
    }

    /// The first message for `field` or any of its items (`field[0]`,
    /// `field[1].sku`, …), empty when they are all fine.
    pub fn on_any(&self, field: &str) -> &str {
        self.fields
            .iter()
            .find(|(name, _)| {
                name.strip_prefix(field)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
            })
            .map(|(_, message)| message.as_str())
            .unwrap_or("")
    }

    /// Whether `field` has a message.
    pub fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// Records `message` for `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// `raw` as a whole number, or an error on `field`.
    pub fn whole(&mut self, field: &str, raw: &str) -> i64 {
        match raw.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                self.add(field, "must be a whole number");
                0
            }
        }
    }

    /// `raw` (such as `12.50`) as minor units, or an error on `field`.
    pub fn amount(&mut self, field: &str, raw: &str) -> i64 {
        let raw = raw.trim();
        let (units, cents) = raw.split_once('.').unwrap_or((raw, "0"));
        let cents = if cents.len() == 1 {
            format!("{cents}0")
        } else {
            cents.to_owned()
        };
        match (units.parse::<i64>(), cents.len() == 2, cents.parse::<i64>()) {
            (Ok(u), true, Ok(c)) if u >= 0 && c >= 0 => u.saturating_mul(100).saturating_add(c),
            _ => {
                self.add(field, "must be an amount such as 12.50");
                0
            }
        }
    }
}

/// An optional text field: `None` when left blank.
pub fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Sorts a command's result: done, refused for the person's input (shown on
/// the form), or failed (the console's error).
pub fn outcome(
    result: Result<Answer, ApiError>,
) -> Result<Result<Answer, FormErrors>, ConsoleError> {
    let mut errors = FormErrors::default();
    match result {
        Ok(answer) => return Ok(Ok(answer)),
        Err(ApiError::Validation(fields)) => {
            for f in fields {
                errors.add(&f.field, f.message);
            }
        }
        Err(ApiError::Rejected(DomainError::InvalidField { field, message })) => {
            errors.add(&field, message);
        }
        // Shown where the person typed what they expected, with what it is.
        Err(ApiError::Rejected(e @ DomainError::StaleQuantity { .. })) => {
            errors.add("expected_on_hand", e.to_string());
        }
        Err(
            e @ (ApiError::Rejected(_)
            | ApiError::NotFound(_)
            | ApiError::PreconditionFailed { .. }),
        ) => {
            errors.general = Some(e.to_string());
        }
        Err(ApiError::Contended) => {
            errors.general = Some("it changed meanwhile; try again".to_owned());
        }
        Err(e) => return Err(ConsoleError::Command(e)),
    }
    Ok(Err(errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_minor_units() {
        let mut errors = FormErrors::default();
        assert_eq!(errors.amount("price", "12.50"), 1250);
        assert_eq!(errors.amount("price", "12.5"), 1250);
        assert_eq!(errors.amount("price", "7"), 700);
        assert!(errors.is_empty());
        errors.amount("price", "12.505");
        assert!(errors.has("price"));
    }

    #[test]
    fn only_the_first_message_of_a_field_is_kept() {
        let mut errors = FormErrors::default();
        errors.add("sku", "first");
        errors.add("sku", "second");
        assert_eq!(errors.on("sku"), "first");
        assert_eq!(errors.on("name"), "");
    }

    #[test]
    fn a_list_field_shows_the_message_of_any_of_its_items() {
        let mut errors = FormErrors::default();
        errors.add("channels_extra", "not this one");
        errors.add("channels[1]", "too long");
        assert_eq!(errors.on_any("channels"), "too long");
        assert_eq!(errors.on_any("lines"), "");
    }
}
