//! Validating value types. Once built, a value is valid for ever, so the rest
//! of the domain never re-checks input.

use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use thiserror::Error;
use uuid::Uuid;

/// Why a raw value could not become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// A SKU outside the allowed alphabet or length.
    #[error("must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' or '.'")]
    Sku,
    /// A quantity that is zero, negative or implausibly large.
    #[error("must be a whole number from 1 to {max}", max = Quantity::MAX)]
    Quantity,
    /// A currency that is not three upper-case letters.
    #[error("must be an ISO 4217 code of three upper-case letters")]
    Currency,
    /// An amount of money below zero or beyond the supported range.
    #[error("must be an integer number of minor units from 0 to {max}", max = Money::MAX_MINOR)]
    Amount,
    /// Two amounts in different currencies were combined.
    #[error("currencies differ: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// A location code outside `[a-z0-9-]{1,32}`.
    #[error("must be 1 to 32 characters of a-z, 0-9 or '-'")]
    Location,
    /// A customer id outside the allowed alphabet or length.
    #[error("must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '@' or '-'")]
    Customer,
}

/// A stock-keeping unit: the product's public identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// Validates a SKU.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValueError::Sku)
        }
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, ValueError> {
        Self::parse(&raw)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stock location's code, `[a-z0-9-]{1,32}`. The location
/// [`LocationCode::DEFAULT`] always exists and holds everything recorded
/// without a location.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocationCode(String);

impl LocationCode {
    /// The code of the location every shop starts with.
    pub const DEFAULT: &'static str = "default";

    /// Validates a location code.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ok = (1..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValueError::Location)
        }
    }

    /// The location `default`.
    pub fn default_location() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// Whether this is the location `default`.
    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LocationCode {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, ValueError> {
        Self::parse(&raw)
    }
}

impl From<LocationCode> for String {
    fn from(code: LocationCode) -> String {
        code.0
    }
}

impl fmt::Display for LocationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A positive count of units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(u32);

impl Quantity {
    /// The largest quantity one line or receipt may carry.
    pub const MAX: u32 = 1_000_000;

    /// Validates a quantity.
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        if (1..=i64::from(Self::MAX)).contains(&raw) {
            Ok(Self(raw as u32))
        } else {
            Err(ValueError::Quantity)
        }
    }

    /// The count as a signed integer, the unit of stock arithmetic.
    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValueError;
    fn try_from(raw: i64) -> Result<Self, ValueError> {
        Self::new(raw)
    }
}

impl From<Quantity> for i64 {
    fn from(q: Quantity) -> i64 {
        q.get()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Validates a currency code (shape only: three upper-case letters).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(ValueError::Currency),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The constructor admits ASCII upper-case letters only.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, ValueError> {
        Self::parse(&raw)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in integer minor units (cents) of one currency. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// The largest amount Stockroom accepts: ten billion major units.
    pub const MAX_MINOR: i64 = 1_000_000_000_000;

    /// Validates an amount.
    pub fn new(minor: i64, currency: Currency) -> Result<Self, ValueError> {
        if (0..=Self::MAX_MINOR).contains(&minor) {
            Ok(Self { minor, currency })
        } else {
            Err(ValueError::Amount)
        }
    }

    /// Zero in a currency.
    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// `self × quantity`, refusing overflow past [`Money::MAX_MINOR`].
    pub fn times(self, quantity: Quantity) -> Result<Self, ValueError> {
        let minor = self
            .minor
            .checked_mul(quantity.get())
            .ok_or(ValueError::Amount)?;
        Self::new(minor, self.currency)
    }

    /// `self + other`, refusing mixed currencies and overflow.
    pub fn plus(self, other: Money) -> Result<Self, ValueError> {
        if self.currency != other.currency {
            return Err(ValueError::CurrencyMismatch(self.currency, other.currency));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(ValueError::Amount)?;
        Self::new(minor, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.minor, self.currency)
    }
}

/// The id of an order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl OrderId {
    /// A new time-ordered id (UUIDv7), so ids sort roughly by creation.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for Sku {
    fn schema_name() -> Cow<'static, str> {
        "Sku".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]{1,64}$",
            "description": "Stock-keeping unit"
        })
    }
}

impl JsonSchema for LocationCode {
    fn schema_name() -> Cow<'static, str> {
        "LocationCode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9-]{1,32}$",
            "description": "A stock location's code; `default` always exists"
        })
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": Quantity::MAX,
            "description": "A positive count of units"
        })
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 currency code"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_accepts_the_documented_alphabet_only() {
        assert!(Sku::parse("TSHIRT-RED_L.2").is_ok());
        assert_eq!(Sku::parse(""), Err(ValueError::Sku));
        assert_eq!(Sku::parse("has space"), Err(ValueError::Sku));
        assert_eq!(Sku::parse(&"x".repeat(65)), Err(ValueError::Sku));
    }

    #[test]
    fn location_codes_are_lower_case_digits_and_dashes() {
        assert!(LocationCode::parse("berlin-2").is_ok());
        assert!(LocationCode::parse("default").unwrap().is_default());
        assert_eq!(LocationCode::parse(""), Err(ValueError::Location));
        assert_eq!(LocationCode::parse("Berlin"), Err(ValueError::Location));
        assert_eq!(LocationCode::parse("a_b"), Err(ValueError::Location));
        assert_eq!(
            LocationCode::parse(&"x".repeat(33)),
            Err(ValueError::Location)
        );
    }

    #[test]
    fn quantity_must_be_positive_and_bounded() {
        assert!(Quantity::new(1).is_ok());
        assert_eq!(Quantity::new(0), Err(ValueError::Quantity));
        assert_eq!(Quantity::new(-3), Err(ValueError::Quantity));
        assert_eq!(
            Quantity::new(i64::from(Quantity::MAX) + 1),
            Err(ValueError::Quantity)
        );
    }

    #[test]
    fn money_refuses_mixed_currencies_and_overflow() {
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let a = Money::new(100, eur).unwrap();
        assert_eq!(a.plus(a).unwrap().minor(), 200);
        assert!(matches!(
            a.plus(Money::zero(usd)),
            Err(ValueError::CurrencyMismatch(..))
        ));
        let big = Money::new(Money::MAX_MINOR, eur).unwrap();
        assert_eq!(
            big.times(Quantity::new(2).unwrap()),
            Err(ValueError::Amount)
        );
        assert_eq!(Money::new(-1, eur), Err(ValueError::Amount));
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert!(Currency::parse("EUR").is_ok());
        assert_eq!(Currency::parse("eur"), Err(ValueError::Currency));
        assert_eq!(Currency::parse("EURO"), Err(ValueError::Currency));
    }
}
