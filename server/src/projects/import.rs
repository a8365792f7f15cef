//! Importing projects from an export (`export`'s format).

use super::*;
use crate::error::Doing;

impl SqlProjects {
    /// Imports a project exported by O-Neko (this one or the original): what was created, and
    /// warnings about what was not taken over.
    pub(super) async fn import_project(
        &self,
        actor: &CurrentUser,
        input: ProjectImport,
    ) -> Result<ImportReport, AppError> {
        let e: export::ProjectExport = serde_json::from_str(&input.json).map_err(|err| {
            AppError::invalid("json", format!("This is not an O-Neko project export: {err}."))
        })?;
        if e.export_metadata.version != export::FORMAT_VERSION {
            return Err(AppError::invalid(
                "json",
                format!(
                    "Export format version {} is not supported; this O-Neko reads version {}.",
                    e.export_metadata.version,
                    export::FORMAT_VERSION
                ),
            ));
        }
        let docker = docker_registry::Entity::find()
            .all(&self.db)
            .await
            .doing("importing project")?;
        let ext = e.oneko.as_ref();
        let registry = import_registry(&input, &e, &docker)?;
        let helm = helm_registry::Entity::find()
            .all(&self.db)
            .await
            .doing("importing project")?;
        let (config, warnings) = export::import_config(&e, |name, repo| {
            helm.iter()
                .find(|h| Some(h.name.as_str()) == name)
                .or_else(|| {
                    helm.iter()
                        .find(|h| repo.is_some_and(|r| export::repo_name(&h.name) == r))
                })
                .map(|h| h.id)
        });
        let lifetime = match ext.and_then(|x| x.lifetime.clone()) {
            Some(l) => l,
            None => export::lifetime_in(e.default_lifetime_behaviour.as_ref())
                .map_err(|err| AppError::invalid("json", format!("The export's lifetime: {err}.")))?,
        };
        let redeploy_policy = match e.new_versions_deployment_behaviour.as_deref() {
            Some("manually" | "manual") => RedeployPolicy::Manual,
            _ => RedeployPolicy::Automatic,
        };
        let name = if input.name.trim().is_empty() {
            e.name.clone()
        } else {
            input.name.clone()
        };
        // Everything is checked before anything is created.
        let config = config::validate_project_config(config)?;
        // The deployment policy decides what charts may do in the cluster: only an ADMIN's
        // import takes it over; anyone else's gets the defaults.
        let mut warnings = warnings;
        let imported_policy = match ext.and_then(|x| x.policy.clone()) {
            Some(p) if actor.has(Role::Admin) => Some(
                policy::validate(p)
                    .map_err(|_| AppError::invalid("json", "The export's deployment policy is not valid."))?,
            ),
            Some(p) if p != ProjectPolicy::default() => {
                warnings.push(
                    "The export's deployment policy was not taken over (only an ADMIN can set one); the project has the default policy.".into(),
                );
                None
            }
            _ => None,
        };
        let project_input = ProjectInput {
            id: None,
            name,
            registry: Some(DockerRegistryId(registry)),
            image_repository: e.image_name.clone(),
            redeploy_policy: redeploy_policy.as_str().into(),
            lifetime,
            tag_include: ext.map(|x| x.tag_include.clone()).unwrap_or_default(),
            tag_exclude: ext.map(|x| x.tag_exclude.clone()).unwrap_or_default(),
            ignore_signature_tags: ext.and_then(|x| x.ignore_signature_tags).unwrap_or(true),
            poll_interval_secs: ext
                .and_then(|x| x.poll_interval_secs)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            // Namespaces belong to an installation; an import deploys per version until set.
            namespace: String::new(),
        };
        edit::validate(&project_input)?;
        let project = self.save(actor, project_input).await?;
        self.save_config(actor, project.id, config).await?;
        let project = match imported_policy {
            Some(p) => {
                self.save_policy(actor, project.id, p).await?;
                self.get(project.id).await?
            }
            None => project,
        };
        Ok(ImportReport { project, warnings })
    }
}

/// The Docker registry an imported project uses: the one chosen in the form; else the one of
/// the export's registry name; else the same id (an export from this installation).
fn import_registry(
    input: &ProjectImport,
    e: &export::ProjectExport,
    docker: &[docker_registry::Model],
) -> Result<i64, AppError> {
    let ext = e.oneko.as_ref();
    let registry = input.registry.map(|r| r.0).or_else(|| {
        let by_name = ext
            .and_then(|x| x.docker_registry_name.as_deref())
            .and_then(|n| docker.iter().find(|d| d.name == n));
        let by_id = e
            .docker_registry_uuid
            .as_deref()
            .and_then(|u| u.parse::<i64>().ok())
            .and_then(|id| docker.iter().find(|d| d.id == id));
        by_name.or(by_id).map(|d| d.id)
    });
    registry.ok_or_else(|| {
        let named = ext
            .and_then(|x| x.docker_registry_name.clone())
            .or(e.docker_registry_uuid.clone())
            .unwrap_or_default();
        AppError::invalid(
            "registry",
            format!("The export's Docker registry ({named}) is not known here; choose one."),
        )
    })
}
