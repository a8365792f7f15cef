//! Shared application state.

use crate::projects::webhook::Hooks;
use crate::{config::Config, session_store::DbSessionStore};
use app::ssr::{ActivityLog, Deployments, HelmRegistries, Namespaces, Projects, Registries, Users};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Everything request handlers and background tasks share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    pub db: DatabaseConnection,
    pub users: Arc<dyn Users>,
    /// Single sign-on, when configured.
    pub oidc: Option<Arc<crate::sso::Oidc>>,
    pub login: app::ssr::LoginMethods,
    pub tokens: Arc<crate::tokens::SqlTokens>,
    pub registries: Arc<dyn Registries>,
    pub activity: Arc<dyn ActivityLog>,
    pub projects: Arc<dyn Projects>,
    pub helm_registries: Arc<dyn HelmRegistries>,
    pub namespaces: Arc<dyn Namespaces>,
    pub deployments: Arc<dyn Deployments>,
    /// The deployer itself, for the live status and log streams.
    pub deployer: Arc<crate::deploy::Deployer>,
    /// Whether this replica runs the scheduler (for `/metrics`).
    pub leadership: crate::lease::Leadership,
    pub hooks: Hooks,
    pub sessions: DbSessionStore,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
