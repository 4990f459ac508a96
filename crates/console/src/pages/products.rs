//! Products: the catalogue, registering, changing prices, discontinuing.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use command_api::commands::{
    change_price_command, discontinue_command, register_command, PriceBody, RegisterBody,
};
use command_api::runner::Answer;
use query_api::reads::{find_products, ProductView};
use serde::Deserialize;

use super::{acting, after, render, Done};
use crate::error::ConsoleError;
use crate::forms::{outcome, FormErrors};
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, money, Layout};

/// Products listed at most.
const LIMIT: i64 = 500;

/// What was typed into a product form.
#[derive(Debug, Default, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    name: String,
    /// A decimal amount, such as `12.50`.
    #[serde(default)]
    unit_price: String,
    #[serde(default)]
    currency: String,
}

/// A product as a row.
struct Row {
    sku: String,
    name: String,
    price: String,
    currency: String,
    status: String,
    available: i64,
    on_hand: i64,
}

impl From<&ProductView> for Row {
    fn from(p: &ProductView) -> Self {
        Self {
            sku: p.sku.clone(),
            name: p.name.clone(),
            price: money(p.unit_price, &p.currency),
            currency: p.currency.clone(),
            status: p.status.clone(),
            available: p.available,
            on_hand: p.on_hand,
        }
    }
}

/// A field of the register form, with what was typed into it.
struct Field {
    name: &'static str,
    label: &'static str,
    typed: String,
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    layout: Layout,
    rows: Vec<Row>,
    can_write: bool,
    /// The form that failed: `""` for registering, else the SKU.
    failed: Option<String>,
    register: Vec<Field>,
    errors: FormErrors,
}

async fn page(
    console: &Console,
    who: &SignedIn,
    notice: Option<String>,
    failed: Option<String>,
    typed: ProductForm,
    errors: FormErrors,
) -> Result<ProductsPage, ConsoleError> {
    let products = find_products(&console.reads, None, LIMIT, None).await?;
    // Only a refused registration keeps what was typed.
    let keep = |value: String| {
        if failed.as_deref() == Some("") {
            value
        } else {
            String::new()
        }
    };
    let register = vec![
        Field {
            name: "sku",
            label: "SKU",
            typed: keep(typed.sku),
        },
        Field {
            name: "name",
            label: "Name",
            typed: keep(typed.name),
        },
        Field {
            name: "unit_price",
            label: "Price",
            typed: keep(typed.unit_price),
        },
        Field {
            name: "currency",
            label: "Currency",
            typed: keep(typed.currency),
        },
    ];
    Ok(ProductsPage {
        layout: Layout::new(who, "/products", "Products").notice(notice),
        rows: products.items.iter().map(Row::from).collect(),
        can_write: may(who, "/products"),
        failed,
        register,
        errors,
    })
}

/// `GET /products`.
pub async fn list(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let notice = done.settle(&console, &["catalogue"]).await;
    let page = page(
        &console,
        &who,
        notice,
        None,
        ProductForm::default(),
        FormErrors::default(),
    )
    .await?;
    render(StatusCode::OK, &page)
}

/// Shows `failed`'s form again with its errors, or moves on.
async fn respond(
    console: &Console,
    who: &SignedIn,
    done: &str,
    failed: String,
    typed: ProductForm,
    result: Result<Answer, FormErrors>,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(answer) => Ok(after("/products", done, &answer)),
        Err(errors) => {
            let page = page(console, who, None, Some(failed), typed, errors).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// `POST /products`.
pub async fn register(
    State(console): State<Console>,
    CsrfForm { who, form }: CsrfForm<ProductForm>,
) -> Result<Response, ConsoleError> {
    let mut errors = FormErrors::default();
    let unit_price = errors.amount("unit_price", &form.unit_price);
    let result = if errors.is_empty() {
        let body = RegisterBody {
            sku: form.sku.trim().to_owned(),
            name: form.name.clone(),
            unit_price,
            currency: form.currency.trim().to_uppercase(),
        };
        outcome(register_command(&console.commands, &acting(&who), &[], &body).await)?
    } else {
        Err(errors)
    };
    respond(&console, &who, "registered", String::new(), form, result).await
}

/// `POST /products/{sku}/price`.
pub async fn change_price(
    State(console): State<Console>,
    Path(sku): Path<String>,
    CsrfForm { who, form }: CsrfForm<ProductForm>,
) -> Result<Response, ConsoleError> {
    let mut errors = FormErrors::default();
    let unit_price = errors.amount("unit_price", &form.unit_price);
    let result = if errors.is_empty() {
        let body = PriceBody {
            unit_price,
            currency: form.currency.trim().to_uppercase(),
        };
        outcome(change_price_command(&console.commands, &acting(&who), &[], &sku, &body).await)?
    } else {
        Err(errors)
    };
    respond(&console, &who, "priced", sku, form, result).await
}

/// `POST /products/{sku}/discontinue`.
pub async fn discontinue(
    State(console): State<Console>,
    Path(sku): Path<String>,
    CsrfForm { who, form }: CsrfForm<ProductForm>,
) -> Result<Response, ConsoleError> {
    let result = outcome(discontinue_command(&console.commands, &acting(&who), &[], &sku).await)?;
    respond(&console, &who, "discontinued", sku, form, result).await
}
