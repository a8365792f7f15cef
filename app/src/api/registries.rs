//! Docker registries: ADMIN manages them; DOERs may list their names to pick one for a project.

use crate::{
    error::AppError,
    model::{ConnectionCheck, DockerRegistry, DockerRegistryId, DockerRegistryInput, RegistryName},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// All registries with their settings (never their secrets).
#[server(endpoint = "list_docker_registries", input = Json)]
pub async fn list_docker_registries() -> Result<Vec<DockerRegistry>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Admin).await?;
    registries()?.list().await
}

/// Registry names only, for the project editor.
#[server(endpoint = "list_docker_registry_names", input = Json)]
pub async fn list_docker_registry_names() -> Result<Vec<RegistryName>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Doer).await?;
    registries()?.names().await
}

/// Creates (`id: None`) or updates a registry.
#[server(endpoint = "save_docker_registry", input = Json)]
pub async fn save_docker_registry(registry: DockerRegistryInput) -> Result<DockerRegistry, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    registries()?.save(&me, registry).await
}

/// Deletes a registry no project uses.
#[server(endpoint = "delete_docker_registry", input = Json)]
pub async fn delete_docker_registry(id: DockerRegistryId) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    registries()?.delete(&me, id).await
}

/// Checks the registry's `/v2/` endpoint and credentials; says exactly what failed.
#[server(endpoint = "test_docker_registry", input = Json)]
pub async fn test_docker_registry(id: DockerRegistryId) -> Result<ConnectionCheck, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Admin).await?;
    registries()?.check(id).await
}
