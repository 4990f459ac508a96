//! Query-string parameters, parsed strictly so every mistake is a 400 that
//! names the parameter.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::NaiveDate;
use web::openapi::{ParamType, QueryParam};
use web::FieldError;

use crate::error::QueryError;

/// The raw parameters of a request.
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, QueryError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| QueryError::bad("query", e.body_text()))?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            // Which of two values was meant cannot be known: refuse both.
            if map.insert(name.clone(), value).is_some() {
                return Err(QueryError::bad(&name, "given more than once"));
            }
        }
        Ok(Self(map))
    }
}

/// Parses parameters, collecting every error.
pub struct Parser<'a> {
    params: &'a Params,
    allowed: &'a [QueryParam],
    errors: Vec<FieldError>,
}

impl Params {
    /// Starts parsing; parameters outside `allowed` (the route's documented
    /// list) are errors.
    pub fn parser<'a>(&'a self, allowed: &'a [QueryParam]) -> Parser<'a> {
        let mut errors = Vec::new();
        for key in self.0.keys() {
            if !allowed.iter().any(|p| p.name == key) && key != "min_position" {
                let names: Vec<&str> = allowed.iter().map(|p| p.name).collect();
                errors.push(FieldError::new(
                    key,
                    format!("unknown parameter; expected one of {}", names.join(", ")),
                ));
            }
        }
        Parser {
            params: self,
            allowed,
            errors,
        }
    }
}

impl Parser<'_> {
    /// An optional value of type `T`.
    pub fn optional<T: FromStr>(&mut self, name: &str, expect: &str) -> Option<T> {
        debug_assert!(self.allowed.iter().any(|p| p.name == name));
        let raw = self.params.0.get(name)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.errors
                    .push(FieldError::new(name, format!("must be {expect}")));
                None
            }
        }
    }

    /// An optional integer within the bounds `param` documents.
    pub fn int(&mut self, param: QueryParam) -> Option<i64> {
        match param.kind {
            ParamType::Integer { minimum, maximum } => self.int_in(param.name, minimum..=maximum),
            _ => self.optional(param.name, "an integer"),
        }
    }

    /// An optional integer within `range`.
    fn int_in(&mut self, name: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        self.within(name, "an integer", range)
    }

    /// An optional `YYYY-MM-DD` date within [`DAYS`]: chrono accepts years
    /// to ±262143, where date arithmetic panics and Postgres refuses some.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        self.within(name, "a date as YYYY-MM-DD", DAYS)
    }

    /// An optional `what` within `range`.
    fn within<T>(&mut self, name: &str, what: &str, range: std::ops::RangeInclusive<T>) -> Option<T>
    where
        T: FromStr + PartialOrd + std::fmt::Display,
    {
        let expect = format!("{what} from {} to {}", range.start(), range.end());
        let value: T = self.optional(name, &expect)?;
        if range.contains(&value) {
            Some(value)
        } else {
            self.errors
                .push(FieldError::new(name, format!("must be {expect}")));
            None
        }
    }

    /// Records a custom error.
    pub fn reject(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError::new(name, message));
    }

    /// Fails with every error recorded.
    pub fn finish(self) -> Result<(), QueryError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(QueryError::BadQuery(self.errors))
        }
    }
}

/// `limit`: 1 to `max` items per page (the route's default otherwise).
pub const fn limit(max: i64) -> QueryParam {
    QueryParam {
        name: "limit",
        description: "items per page",
        kind: ParamType::Integer {
            minimum: 1,
            maximum: max,
        },
    }
}

/// `cursor`: where the next page starts.
pub const CURSOR: QueryParam = QueryParam {
    name: "cursor",
    description: "only the `next_cursor` of an earlier page (anything else is a 400)",
    kind: ParamType::Text,
};

/// The days a `from` or `to` may name.
pub const DAYS: std::ops::RangeInclusive<NaiveDate> = {
    match (
        NaiveDate::from_ymd_opt(1970, 1, 1),
        NaiveDate::from_ymd_opt(9999, 12, 31),
    ) {
        (Some(first), Some(last)) => first..=last,
        _ => panic!("the bounds are valid dates"),
    }
};

/// `from`: the first day of a range.
pub const FROM: QueryParam = QueryParam {
    name: "from",
    description:
        "first day (UTC), inclusive, 1970-01-01 to 9999-12-31; 29 days before `to` by default; \
         not after `to` and at most five years (1,830 days) before it, else a 400",
    kind: ParamType::Date,
};

/// `to`: the last day of a range.
pub const TO: QueryParam = QueryParam {
    name: "to",
    description: "last day (UTC), inclusive, 1970-01-01 to 9999-12-31; today by default",
    kind: ParamType::Date,
};

/// A `from`/`to` day range, inclusive; defaults to the last 30 days.
pub fn day_range(p: &mut Parser<'_>) -> (NaiveDate, NaiveDate) {
    let today = chrono::Utc::now().date_naive();
    let to = p.date("to").unwrap_or(today);
    let from = p.date("from").unwrap_or(to - chrono::Days::new(29));
    if from > to {
        p.reject("from", "must not be after to");
    } else if (to - from).num_days() > 366 * 5 {
        p.reject("from", "the range may span at most five years");
    }
    (from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range_of(query: &[(&str, &str)]) -> Result<(NaiveDate, NaiveDate), Vec<String>> {
        let params = Params(
            query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let mut p = params.parser(&[FROM, TO]);
        let range = day_range(&mut p);
        match p.finish() {
            Ok(()) => Ok(range),
            Err(QueryError::BadQuery(errors)) => {
                Err(errors.iter().map(|e| e.field.clone()).collect())
            }
            Err(other) => panic!("{other}"),
        }
    }

    async fn params_of(uri: &str) -> Result<Params, QueryError> {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        Params::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_parameter_given_twice_is_refused_by_name() {
        match params_of("/v1/orders?limit=2&status=paid&limit=3").await {
            Err(QueryError::BadQuery(errors)) => assert_eq!(errors[0].field, "limit"),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("a repeated parameter was accepted"),
        }
        let once = params_of("/v1/orders?limit=2&status=paid")
            .await
            .ok()
            .unwrap();
        assert_eq!(once.0.len(), 2);
    }

    #[test]
    fn years_outside_the_sane_range_are_errors_naming_the_parameter_not_panics() {
        for (query, field) in [
            (vec![("to", "-262143-01-05")], "to"),
            (vec![("to", "+262142-12-31")], "to"),
            (vec![("to", "+10000-01-01")], "to"),
            (vec![("from", "1969-12-31"), ("to", "1970-01-10")], "from"),
            (vec![("from", "-0001-01-01")], "from"),
        ] {
            let errors = range_of(&query).expect_err(&format!("{query:?}"));
            assert!(errors.contains(&field.to_owned()), "{query:?}: {errors:?}");
        }
    }

    #[test]
    fn the_edges_of_the_range_are_accepted() {
        let (from, to) = range_of(&[("from", "9999-12-01"), ("to", "9999-12-31")]).unwrap();
        assert_eq!(
            (from, to),
            (*DAYS.end() - chrono::Days::new(30), *DAYS.end())
        );
        let (from, _) = range_of(&[("from", "1970-01-01"), ("to", "1970-01-02")]).unwrap();
        assert_eq!(from, *DAYS.start());
    }
}
