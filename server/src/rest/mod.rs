//! The public REST API, `/api/v1/`: for CI pipelines and scripts, authenticated by personal API
//! tokens (`Authorization: Bearer onk_…`). The same ports and role rules as the UI's server
//! functions. Every route is registered through utoipa's router, so the OpenAPI document
//! (`/api/v1/openapi.json`) is generated from the handlers and cannot miss one.

pub mod auth;
pub mod dto;
pub mod error;
pub mod projects;
pub mod versions;

use crate::tokens::SqlTokens;
use app::{
    error::AppError,
    ssr::{Deployments, Projects},
};
use axum::{
    Json, Router,
    extract::{FromRequest, FromRequestParts},
    response::IntoResponse,
    routing::get,
};
use error::ApiError;
use std::sync::Arc;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Where the API lives.
pub const BASE: &str = "/api/v1";
/// Items per page unless asked otherwise, and at most.
const PER_PAGE: u64 = 50;
const MAX_PER_PAGE: u64 = 200;

/// What the handlers use.
#[derive(Clone)]
pub struct RestState {
    pub tokens: Arc<SqlTokens>,
    pub projects: Arc<dyn Projects>,
    pub deployments: Arc<dyn Deployments>,
}

/// A JSON answer or an error.
pub type ApiJsonOut<T> = Result<Json<T>, ApiError>;

/// A path parameter; a malformed one is a JSON `bad_request`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; malformed ones are a JSON `bad_request`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A JSON body; a malformed one is a JSON `bad_request`.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `page` (from 1) and `per_page` (1–200), defaulted.
fn paging(page: Option<u64>, per_page: Option<u64>) -> Result<(u64, u64), ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(PER_PAGE);
    if page == 0 {
        return Err(AppError::invalid("page", "Pages count from 1.").into());
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(AppError::invalid("per_page", format!("From 1 to {MAX_PER_PAGE}.")).into());
    }
    Ok((page, per_page))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "O-Neko API",
        version = "1.0.0",
        description = "Deploy, watch and stop versions of projects from CI pipelines. \
            Authenticate with a personal API token (account page): `Authorization: Bearer onk_…`."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "projects", description = "Projects, their versions, and polling their tags"),
        (name = "versions", description = "Deploying, watching and stopping versions")
    )
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token, onk_…"))
                    .build(),
            ),
        );
    }
}

/// The documented routes and their OpenAPI document.
pub fn api() -> (Router<RestState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(projects::list_projects))
        .routes(routes!(projects::get_project))
        .routes(routes!(projects::list_versions))
        .routes(routes!(projects::poll_project))
        .routes(routes!(versions::get_version))
        .routes(routes!(versions::deploy))
        .routes(routes!(versions::redeploy))
        .routes(routes!(versions::stop))
        .routes(routes!(versions::extend))
        .routes(routes!(versions::set_stop_time))
        .routes(routes!(versions::set_select_values))
        .split_for_parts()
}

/// The API's router: the documented routes, the document itself, and JSON 404s for the rest of
/// `/api/v1/`.
pub fn router(state: RestState) -> Router {
    let (routes, doc) = api();
    let doc = Arc::new(doc);
    routes
        .route(
            &format!("{BASE}/openapi.json"),
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route(&format!("{BASE}/{{*rest}}"), axum::routing::any(no_such_route))
        .with_state(state)
}

async fn no_such_route() -> impl IntoResponse {
    ApiError::from(AppError::not_found(format!(
        "This API route (the routes are listed in {BASE}/openapi.json)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_from_one_and_are_bounded() {
        assert_eq!(paging(None, None).unwrap(), (1, 50));
        assert_eq!(paging(Some(3), Some(200)).unwrap(), (3, 200));
        assert!(paging(Some(0), None).is_err());
        assert!(paging(None, Some(0)).is_err());
        assert!(paging(None, Some(201)).is_err());
    }

    #[test]
    fn every_route_is_documented_with_its_token() {
        let (_, doc) = api();
        let json = serde_json::to_value(&doc).unwrap();
        let paths = json["paths"].as_object().unwrap();
        assert!(paths.keys().all(|p| p.starts_with(BASE)), "{:?}", paths.keys());
        for (path, ops) in paths {
            for (method, op) in ops.as_object().unwrap() {
                assert_eq!(
                    op["security"][0]["token"],
                    serde_json::json!([]),
                    "{method} {path} without the token"
                );
            }
        }
        assert_eq!(json["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    }
}
