//! The locations that keep stock, read from the rows their commands keep
//! current (written in the transaction of their events, so always fresh).

use axum::extract::{Path, State};
use axum::Json;
use domain::location::Site;
use domain::LocationCode;
use schemars::JsonSchema;
use serde::Serialize;
use web::openapi::Operation;
use web::SecureRouter;

use crate::error::QueryError;
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .get(
            "/v1/locations",
            list_locations,
            // Always current (written with their events): nothing to wait for.
            Operation::new("every location, in allocation order (priority, then code)")
                .query(&[])
                .answers::<LocationList>(200, "the locations"),
        )
        .get(
            "/v1/locations/{code}",
            get_location,
            Operation::new("one location")
                .query(&[])
                .answers::<LocationView>(200, "the location"),
        )
}

/// A location.
#[derive(Serialize, JsonSchema)]
pub struct LocationView {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Lower ships first.
    pub priority: i32,
    /// Sales channels it may serve; empty: all.
    pub channels: Vec<String>,
    /// Whether it takes new allocations.
    pub active: bool,
}

/// Every location.
#[derive(Serialize, JsonSchema)]
pub struct LocationList {
    /// In allocation order.
    pub items: Vec<LocationView>,
}

impl From<Site> for LocationView {
    fn from(site: Site) -> Self {
        Self {
            code: site.code.to_string(),
            name: site.name,
            priority: site.priority,
            channels: site.channels,
            active: site.active,
        }
    }
}

async fn list_locations(State(state): State<AppState>) -> Result<Json<LocationList>, QueryError> {
    let sites = store::locations::all(&state.pool).await?;
    Ok(Json(LocationList {
        items: sites.into_iter().map(LocationView::from).collect(),
    }))
}

async fn get_location(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<LocationView>, QueryError> {
    let missing = || QueryError::NotFound(format!("location {code}"));
    let parsed = LocationCode::parse(&code).map_err(|_| missing())?;
    let site = store::locations::find(&state.pool, &parsed)
        .await?
        .ok_or_else(missing)?;
    Ok(Json(site.into()))
}
