//! The cluster and the shared namespaces an ADMIN defines (`on-` prefixed).

use crate::{
    error::AppError,
    model::{ClusterInfo, DefinedNamespace},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// Which cluster O-Neko deploys to, and its version.
#[server(endpoint = "get_cluster_info", input = Json)]
pub async fn get_cluster_info() -> Result<ClusterInfo, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    Ok(namespaces()?.cluster().await)
}

/// The defined namespaces with their phase in the cluster and the projects using them.
#[server(endpoint = "list_namespaces", input = Json)]
pub async fn list_namespaces() -> Result<Vec<DefinedNamespace>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Doer).await?;
    namespaces()?.list().await
}

/// Creates a namespace in the cluster (the name gets the `on-` prefix unless it has it).
#[server(endpoint = "create_namespace", input = Json)]
pub async fn create_namespace(name: String) -> Result<DefinedNamespace, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    namespaces()?.create(&me, name).await
}

/// Deletes a namespace no project uses, with everything in it.
#[server(endpoint = "delete_namespace", input = Json)]
pub async fn delete_namespace(id: i64) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    namespaces()?.delete(&me, id).await
}
