//! The catalogue entry of one SKU: registered with a name and price, repriced,
//! discontinued.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Aggregate, Currency, DomainError, Money, Sku, StreamCategory};

/// Events of the `product-{sku}` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "data")]
pub enum ProductEvent {
    /// A SKU entered the catalogue.
    ProductRegistered {
        /// The SKU.
        sku: Sku,
        /// Display name.
        name: String,
        /// Price in minor units.
        unit_price: i64,
        /// Currency of the price; fixed for the product's life.
        currency: Currency,
    },
    /// The price changed; orders placed from now on use it.
    ProductPriceChanged {
        /// The SKU.
        sku: Sku,
        /// New price in minor units.
        unit_price: i64,
        /// Price before the change.
        previous_unit_price: i64,
        /// Currency of both prices.
        currency: Currency,
    },
    /// The product can no longer be ordered.
    ProductDiscontinued {
        /// The SKU.
        sku: Sku,
    },
}

/// Commands on a product.
#[derive(Debug, Clone)]
pub enum ProductCommand {
    /// Add a SKU to the catalogue.
    Register {
        /// The SKU.
        sku: Sku,
        /// Display name, 1 to 200 characters.
        name: String,
        /// Price.
        price: Money,
    },
    /// Set a new price in the product's currency.
    ChangePrice {
        /// The SKU.
        sku: Sku,
        /// The new price.
        price: Money,
    },
    /// Stop selling the product.
    Discontinue {
        /// The SKU.
        sku: Sku,
    },
}

/// Whether a product can be sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// On sale.
    Active,
    /// No longer orderable.
    Discontinued,
}

/// A product's state; `None` inside until it is registered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Product(Option<Registered>);

/// The state of a registered product.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The SKU.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Current price.
    pub price: Money,
    /// On sale or discontinued.
    pub status: ProductStatus,
}

impl Product {
    /// The registered product, if any.
    pub fn registered(&self) -> Option<&Registered> {
        self.0.as_ref()
    }

    fn require(&self, sku: &Sku) -> Result<&Registered, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::NotFound {
            what: format!("product {sku}"),
        })
    }
}

const MAX_NAME_CHARS: usize = 200;

impl Aggregate for Product {
    type Command = ProductCommand;
    type Event = ProductEvent;
    const CATEGORY: StreamCategory = StreamCategory::Product;

    fn decide(&self, command: ProductCommand) -> Result<Vec<ProductEvent>, DomainError> {
        match command {
            ProductCommand::Register { sku, name, price } => {
                if self.0.is_some() {
                    return Err(DomainError::AlreadyExists {
                        what: format!("product {sku}"),
                    });
                }
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                    return Err(DomainError::invalid(
                        "name",
                        format!("must be 1 to {MAX_NAME_CHARS} characters"),
                    ));
                }
                Ok(vec![ProductEvent::ProductRegistered {
                    sku,
                    name,
                    unit_price: price.minor(),
                    currency: price.currency(),
                }])
            }
            ProductCommand::ChangePrice { sku, price } => {
                let product = self.require(&sku)?;
                if product.status == ProductStatus::Discontinued {
                    return Err(DomainError::Forbidden {
                        action: "change the price",
                        why: format!("product {sku} is discontinued"),
                    });
                }
                if price.currency() != product.price.currency() {
                    return Err(DomainError::invalid(
                        "currency",
                        format!(
                            "product {sku} is priced in {}; its currency cannot change",
                            product.price.currency()
                        ),
                    ));
                }
                if price == product.price {
                    return Ok(vec![]);
                }
                Ok(vec![ProductEvent::ProductPriceChanged {
                    sku,
                    unit_price: price.minor(),
                    previous_unit_price: product.price.minor(),
                    currency: price.currency(),
                }])
            }
            ProductCommand::Discontinue { sku } => {
                let product = self.require(&sku)?;
                if product.status == ProductStatus::Discontinued {
                    return Ok(vec![]);
                }
                Ok(vec![ProductEvent::ProductDiscontinued { sku }])
            }
        }
    }

    fn evolve(self, event: &ProductEvent) -> Self {
        match (self.0, event) {
            (
                _,
                ProductEvent::ProductRegistered {
                    sku,
                    name,
                    unit_price,
                    currency,
                },
            ) => Self(Some(Registered {
                sku: sku.clone(),
                name: name.clone(),
                // Stored events were valid when decided; keep whatever they say.
                price: Money::new(*unit_price, *currency).unwrap_or(Money::zero(*currency)),
                status: ProductStatus::Active,
            })),
            (Some(mut p), ProductEvent::ProductPriceChanged { unit_price, .. }) => {
                p.price = Money::new(*unit_price, p.price.currency()).unwrap_or(p.price);
                Self(Some(p))
            }
            (Some(mut p), ProductEvent::ProductDiscontinued { .. }) => {
                p.status = ProductStatus::Discontinued;
                Self(Some(p))
            }
            (state, _) => Self(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku() -> Sku {
        Sku::parse("MUG-1").unwrap()
    }
    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }
    fn registered() -> ProductEvent {
        ProductEvent::ProductRegistered {
            sku: sku(),
            name: "Mug".into(),
            unit_price: 1200,
            currency: Currency::parse("EUR").unwrap(),
        }
    }
    fn given(events: &[ProductEvent]) -> Product {
        Product::from_history(events)
    }

    #[test]
    fn given_nothing_when_registering_then_product_registered() {
        let events = given(&[])
            .decide(ProductCommand::Register {
                sku: sku(),
                name: " Mug ".into(),
                price: eur(1200),
            })
            .unwrap();
        assert_eq!(events, vec![registered()]);
    }

    #[test]
    fn given_registered_when_registering_again_then_already_exists() {
        let err = given(&[registered()])
            .decide(ProductCommand::Register {
                sku: sku(),
                name: "Mug".into(),
                price: eur(1200),
            })
            .unwrap_err();
        assert!(matches!(err, DomainError::AlreadyExists { .. }));
    }

    #[test]
    fn given_nothing_when_registering_with_blank_name_then_name_is_invalid() {
        let err = given(&[])
            .decide(ProductCommand::Register {
                sku: sku(),
                name: "  ".into(),
                price: eur(1),
            })
            .unwrap_err();
        assert!(matches!(err, DomainError::InvalidField { field, .. } if field == "name"));
    }

    #[test]
    fn given_registered_when_changing_price_then_price_changed_with_previous() {
        let events = given(&[registered()])
            .decide(ProductCommand::ChangePrice {
                sku: sku(),
                price: eur(1500),
            })
            .unwrap();
        assert!(matches!(
            events.as_slice(),
            [ProductEvent::ProductPriceChanged {
                unit_price: 1500,
                previous_unit_price: 1200,
                ..
            }]
        ));
    }

    #[test]
    fn given_registered_when_changing_currency_then_rejected() {
        let usd = Money::new(1500, Currency::parse("USD").unwrap()).unwrap();
        let err = given(&[registered()])
            .decide(ProductCommand::ChangePrice {
                sku: sku(),
                price: usd,
            })
            .unwrap_err();
        assert!(matches!(err, DomainError::InvalidField { field, .. } if field == "currency"));
    }

    #[test]
    fn given_nothing_when_changing_price_then_not_found() {
        let err = given(&[])
            .decide(ProductCommand::ChangePrice {
                sku: sku(),
                price: eur(1),
            })
            .unwrap_err();
        assert!(matches!(err, DomainError::NotFound { .. }));
    }

    #[test]
    fn given_discontinued_when_changing_price_then_forbidden() {
        let err = given(&[
            registered(),
            ProductEvent::ProductDiscontinued { sku: sku() },
        ])
        .decide(ProductCommand::ChangePrice {
            sku: sku(),
            price: eur(1),
        })
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden { .. }));
    }

    #[test]
    fn given_discontinued_when_discontinuing_again_then_nothing_happens() {
        let events = given(&[
            registered(),
            ProductEvent::ProductDiscontinued { sku: sku() },
        ])
        .decide(ProductCommand::Discontinue { sku: sku() })
        .unwrap();
        assert!(events.is_empty());
    }
}
