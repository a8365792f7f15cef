//! Helm registries: ADMIN manages them; DOERs list their names and charts for the chart picker.

use crate::{
    error::AppError,
    model::{ChartList, HelmRegistry, HelmRegistryId, HelmRegistryInput, HelmRegistryName},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// All Helm registries with their settings (never their secrets).
#[server(endpoint = "list_helm_registries", input = Json)]
pub async fn list_helm_registries() -> Result<Vec<HelmRegistry>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Admin).await?;
    helm_registries()?.list().await
}

/// Helm registry names and kinds, for the chart picker.
#[server(endpoint = "list_helm_registry_names", input = Json)]
pub async fn list_helm_registry_names() -> Result<Vec<HelmRegistryName>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Doer).await?;
    helm_registries()?.names().await
}

/// Creates (`id: None`) or updates a Helm registry.
#[server(endpoint = "save_helm_registry", input = Json)]
pub async fn save_helm_registry(registry: HelmRegistryInput) -> Result<HelmRegistry, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    helm_registries()?.save(&me, registry).await
}

/// Deletes a Helm registry no template uses.
#[server(endpoint = "delete_helm_registry", input = Json)]
pub async fn delete_helm_registry(id: HelmRegistryId) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    helm_registries()?.delete(&me, id).await
}

/// The registry's charts and their versions; `refresh` reads the registry again now.
#[server(endpoint = "list_charts", input = Json)]
pub async fn list_charts(id: HelmRegistryId, refresh: bool) -> Result<ChartList, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Doer).await?;
    helm_registries()?.charts(id, refresh).await
}
