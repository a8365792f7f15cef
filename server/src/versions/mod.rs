//! ② Versions: what O-Neko knows of one version of a project, shared by deploying, editing and
//! the scheduler (which depend on this module, not on each other): the facts it provides to
//! templates (`facts`), the stored configuration and its validation (`config`), and when a
//! deployment stops (`lifetime`), and the configuration rendered, values and charts (`render`).

pub mod config;
pub mod lifetime;
pub mod render;
pub mod request;

mod port;

pub use port::DeployPort;

use crate::{
    db::entity::{docker_registry, project, project_version},
    error::Doing,
};
use app::{error::AppError, model::VersionOverrides};
use sea_orm::{DatabaseConnection, EntityTrait};

/// What the renderer needs to know about a version besides its configuration: names, ids, the
/// image, the target namespace (the version's choice wins: "" is its own namespace, a name a
/// defined one) and the image pull secret.
pub async fn version_facts(
    db: &DatabaseConnection,
    p: &project::Model,
    v: &project_version::Model,
    overrides: &VersionOverrides,
) -> Result<config::VersionFacts, AppError> {
    let registry = docker_registry::Entity::find_by_id(p.docker_registry_id)
        .one(db)
        .await
        .doing("reading registry")?;
    let host = registry
        .as_ref()
        .map(|r| {
            r.url
                .split_once("://")
                .map_or(r.url.clone(), |(_, h)| h.to_owned())
        })
        .unwrap_or_default();
    let pull_secret = registry
        .as_ref()
        .filter(|r| r.secret.is_some() && r.auth != "anonymous" && r.copy_pull_secret)
        .map(|r| config::pull_secret_name(&r.name))
        .unwrap_or_default();
    Ok(config::VersionFacts {
        project_id: p.id,
        project_name: p.name.clone(),
        version_id: v.id,
        version_name: v.name.clone(),
        image_repository: format!("{}/{}", host.trim_end_matches('/'), p.image_repository),
        image_digest: v.digest.clone(),
        namespace: match overrides.namespace.as_deref() {
            Some("") => None,
            Some(n) => Some(n.to_owned()),
            None => p.namespace.clone(),
        },
        pull_secret,
    })
}
