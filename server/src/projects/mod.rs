//! Projects: an image in a Docker registry whose tags become versions. Editing, listing and
//! "Poll now" here; the polling itself in `poller`, push notifications in `webhook`.

mod delete;
mod edit;
pub mod export;
mod import;
pub mod poller;
pub mod webhook;

use crate::{
    activity::{self, Entry},
    cluster::policy,
    db::entity::{deployment, docker_registry, helm_registry, namespace, project, project_version},
    error::Doing,
    versions::{
        config,
        render::{ChartError, RenderedVersion},
    },
};
use app::{
    error::AppError,
    model::{
        ConfigPreview, ConfigTemplate, CurrentUser, DeployState, DeployStatus, DockerRegistryId,
        ImportReport, Lifetime, PollReport, PollStatus, Project, ProjectConfig, ProjectId, ProjectImport,
        ProjectInput, ProjectPolicy, ProjectVersion, RedeployPolicy, RegistryName, Role, Severity,
        VersionDetail, VersionId, VersionInput, VersionOverrides, VersionPage, VersionQuery, VersionSort,
    },
    ssr::Projects,
};
use chrono::Utc;
use poller::{PollError, Poller, Refresh};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

/// "template web added", "… changed", "… removed" between two lists of named items.
fn named_changes<T: PartialEq>(what: &str, old: &[T], new: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    let mut out = vec![];
    for n in new {
        match old.iter().find(|o| name(o) == name(n)) {
            None => out.push(format!("{what} {} added", name(n))),
            Some(o) if o != n => out.push(format!("{what} {} changed", name(n))),
            _ => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|n| name(n) == name(o))) {
        out.push(format!("{what} {} removed", name(o)));
    }
    out
}

/// Versions per page.
pub const VERSION_PAGE_SIZE: u64 = 50;

/// Writes a version's overrides (and redeploy policy) with its activity entry, inside `txn`.
async fn write_version(
    txn: &sea_orm::DatabaseTransaction,
    actor: &CurrentUser,
    p: &project::Model,
    v: project_version::Model,
    overrides: &VersionOverrides,
    policy: Option<RedeployPolicy>,
    (kind, message): (&str, String),
) -> Result<project_version::Model, AppError> {
    let mut am: project_version::ActiveModel = v.into();
    am.overrides = Set(Some(
        serde_json::to_string(overrides).doing("encoding overrides")?,
    ));
    if let Some(policy) = policy {
        am.redeploy_policy = Set(Some(policy.as_str().into()));
    }
    am.updated_at = Set(Utc::now());
    let saved = am.update(txn).await.doing("saving version")?;
    activity::record(
        txn,
        Entry {
            actor: &actor.actor(),
            kind,
            subject: &format!("{}:{}", p.name, saved.name),
            message,
            severity: Severity::Info,
            project: Some(p.id),
        },
    )
    .await
    .doing("saving version")?;
    Ok(saved)
}

/// Projects stored in the database.
pub struct SqlProjects {
    pub db: DatabaseConnection,
    pub poller: Arc<Poller>,
    /// Pulls and renders charts for "Show configuration".
    pub helm: Arc<crate::helm::registries::SqlHelmRegistries>,
    /// Statuses, new stop times, and stopping a deleted project's versions.
    pub deployer: Arc<dyn crate::versions::DeployPort>,
}

fn version_model(
    v: project_version::Model,
    project_policy: RedeployPolicy,
    status: DeployStatus,
) -> ProjectVersion {
    ProjectVersion {
        status,
        id: VersionId(v.id),
        project: ProjectId(v.project_id),
        redeploy_policy: v
            .redeploy_policy
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(project_policy),
        name: v.name,
        digest: v.digest,
        image_created_at: v.image_created_at,
        image_updated_at: v.digest_changed_at,
        first_seen_at: v.first_seen_at,
        removed_at: v.removed_at,
        deployed: v.deployed,
    }
}

impl SqlProjects {
    /// Every template names an existing Helm registry (or none yet).
    async fn check_helm_registries(
        &self,
        prefix: &str,
        templates: &[ConfigTemplate],
    ) -> Result<(), AppError> {
        let known: std::collections::HashSet<i64> = helm_registry::Entity::find()
            .all(&self.db)
            .await
            .doing("reading Helm registries")?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut v = crate::auth::Validator::default();
        for (i, t) in templates.iter().enumerate() {
            if let Some(id) = t.helm_registry.filter(|id| !known.contains(id)) {
                v.fail(
                    &format!("{prefix}[{i}].helm_registry"),
                    format!("Helm registry {id} does not exist (any more); choose another."),
                );
            }
        }
        v.finish()
    }

    async fn to_models(&self, projects: Vec<project::Model>) -> Result<Vec<Project>, AppError> {
        let registries: HashMap<i64, String> = docker_registry::Entity::find()
            .all(&self.db)
            .await
            .doing("reading projects")?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let counts: Vec<(i64, bool, i64)> = project_version::Entity::find()
            .select_only()
            .column(project_version::Column::ProjectId)
            .column(project_version::Column::Deployed)
            .column_as(project_version::Column::Id.count(), "n")
            .filter(project_version::Column::RemovedAt.is_null())
            .group_by(project_version::Column::ProjectId)
            .group_by(project_version::Column::Deployed)
            .into_tuple()
            .all(&self.db)
            .await
            .doing("reading projects")?;
        // The worst state of each project's versions.
        let mut states: HashMap<i64, DeployState> = HashMap::new();
        for (project, state) in deployment::Entity::find()
            .select_only()
            .column(deployment::Column::ProjectId)
            .column(deployment::Column::State)
            .into_tuple::<(i64, String)>()
            .all(&self.db)
            .await
            .doing("reading projects")?
        {
            let state = state.parse().unwrap_or_default();
            let e = states.entry(project).or_default();
            *e = e.worst(state);
        }
        let mut versions: HashMap<i64, (u64, u64)> = HashMap::new();
        for (project, deployed, n) in counts {
            let e = versions.entry(project).or_default();
            e.0 += n as u64;
            if deployed {
                e.1 += n as u64;
            }
        }
        Ok(projects
            .into_iter()
            .map(|p| {
                let (versions, deployed_versions) = versions.get(&p.id).copied().unwrap_or_default();
                Project {
                    id: ProjectId(p.id),
                    registry: RegistryName {
                        id: DockerRegistryId(p.docker_registry_id),
                        name: registries
                            .get(&p.docker_registry_id)
                            .cloned()
                            .unwrap_or_else(|| "(deleted)".into()),
                    },
                    redeploy_policy: p.redeploy_policy.parse().unwrap_or(RedeployPolicy::Manual),
                    lifetime: p.lifetime.parse().unwrap_or(Lifetime::Infinite),
                    poll_interval_secs: p.poll_interval_secs.and_then(|s| u32::try_from(s).ok()),
                    namespace: p.namespace.clone(),
                    poll: PollStatus {
                        last_poll_at: p.last_poll_at,
                        last_ok_at: p.last_poll_ok_at,
                        last_error: p.last_poll_error,
                        failures: u32::try_from(p.poll_failures).unwrap_or(0),
                        next_poll_at: p.next_poll_at,
                    },
                    name: p.name,
                    image_repository: p.image_repository,
                    tag_include: p.tag_include,
                    tag_exclude: p.tag_exclude,
                    ignore_signature_tags: p.ignore_signature_tags,
                    versions,
                    deployed_versions,
                    state: states.get(&p.id).copied().unwrap_or_default(),
                    deleting: p.deleting_at.is_some(),
                    created_at: p.created_at,
                    updated_at: p.updated_at,
                }
            })
            .collect())
    }

    async fn find_version(
        &self,
        id: VersionId,
    ) -> Result<(project::Model, project_version::Model), AppError> {
        let v = project_version::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .doing("reading version")?
            .ok_or_else(|| AppError::not_found(format!("version {}", id.0)))?;
        let p = self.find(ProjectId(v.project_id)).await?;
        Ok((p, v))
    }

    async fn version_detail(
        &self,
        p: project::Model,
        v: project_version::Model,
    ) -> Result<VersionDetail, AppError> {
        let project_config: ProjectConfig =
            config::parse_stored(p.config.as_deref(), "project configuration");
        let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
        let policy = p.redeploy_policy.parse().unwrap_or(RedeployPolicy::Manual);
        let row = deployment::Entity::find()
            .filter(deployment::Column::VersionId.eq(v.id))
            .one(&self.db)
            .await
            .doing("reading deployment")?;
        let status = self.deployer.full_status(&p, &v, row.as_ref()).await?;
        let project = self.to_models(vec![p]).await?.remove(0);
        Ok(VersionDetail {
            project,
            version: version_model(v, policy, status),
            project_config,
            overrides,
        })
    }

    /// Records a version change in the activity log and saves it.
    async fn store_version(
        &self,
        actor: &CurrentUser,
        p: &project::Model,
        v: project_version::Model,
        overrides: &VersionOverrides,
        policy: Option<RedeployPolicy>,
        (kind, message): (&str, String),
    ) -> Result<VersionDetail, AppError> {
        let txn = crate::db::begin_write(&self.db).await.doing("saving version")?;
        let saved = write_version(&txn, actor, p, v, overrides, policy, (kind, message)).await?;
        txn.commit().await.doing("saving version")?;
        self.version_detail(p.clone(), saved).await
    }

    async fn find(&self, id: ProjectId) -> Result<project::Model, AppError> {
        project::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .doing("reading project")?
            .ok_or_else(|| AppError::not_found(format!("project {}", id.0)))
    }
}

#[async_trait::async_trait]
impl Projects for SqlProjects {
    async fn list(&self) -> Result<Vec<Project>, AppError> {
        let all = project::Entity::find()
            .order_by_asc(project::Column::Name)
            .all(&self.db)
            .await
            .doing("listing projects")?;
        self.to_models(all).await
    }

    async fn get(&self, id: ProjectId) -> Result<Project, AppError> {
        let p = self.find(id).await?;
        Ok(self.to_models(vec![p]).await?.remove(0))
    }

    async fn save(&self, actor: &CurrentUser, input: ProjectInput) -> Result<Project, AppError> {
        self.save_project(actor, input).await
    }

    async fn delete(&self, actor: &CurrentUser, id: ProjectId, confirm: bool) -> Result<(), AppError> {
        self.delete_project(actor, id, confirm).await
    }

    async fn poll_now(&self, actor: &CurrentUser, id: ProjectId) -> Result<PollReport, AppError> {
        self.find(id).await?;
        self.poller
            .poll(id.0, Refresh::All, &actor.actor())
            .await
            .map_err(|e| match e {
                PollError::Registry(message) => AppError::Upstream {
                    service: "Polling the registry".into(),
                    message,
                },
                PollError::Gone(_) => AppError::not_found(format!("Project {}", id.0)),
                PollError::Server(e) => e.into(),
            })
    }

    async fn versions(&self, query: VersionQuery) -> Result<VersionPage, AppError> {
        let p = self.find(query.project).await?;
        let policy = p.redeploy_policy.parse().unwrap_or(RedeployPolicy::Manual);
        let mut select = project_version::Entity::find().filter(project_version::Column::ProjectId.eq(p.id));
        let filter = query.filter.trim();
        if !filter.is_empty() {
            select = select.filter(project_version::Column::Name.contains(filter));
        }
        if let Some(tag) = &query.tag {
            select = select.filter(project_version::Column::Name.eq(tag));
        }
        if !query.include_removed {
            select = select.filter(project_version::Column::RemovedAt.is_null());
        }
        select = match query.sort {
            VersionSort::Name => select.order_by_asc(project_version::Column::Name),
            VersionSort::Newest => select
                .order_by_with_nulls(
                    project_version::Column::ImageCreatedAt,
                    sea_orm::Order::Desc,
                    sea_orm::sea_query::NullOrdering::Last,
                )
                .order_by_desc(project_version::Column::FirstSeenAt)
                .order_by_asc(project_version::Column::Name),
        };
        let page_size = query.page_size.unwrap_or(VERSION_PAGE_SIZE).clamp(1, 200);
        let pages = select.paginate(&self.db, page_size);
        let total = pages.num_items().await.doing("counting versions")?;
        let items = pages.fetch_page(query.page).await.doing("reading versions")?;
        let rows: HashMap<i64, deployment::Model> = deployment::Entity::find()
            .filter(deployment::Column::VersionId.is_in(items.iter().map(|v| v.id).collect::<Vec<_>>()))
            .all(&self.db)
            .await
            .doing("reading deployments")?
            .into_iter()
            .map(|d| (d.version_id, d))
            .collect();
        let mut out = vec![];
        for v in items {
            let status = self.deployer.full_status(&p, &v, rows.get(&v.id)).await?;
            out.push(version_model(v, policy, status));
        }
        Ok(VersionPage {
            items: out,
            total,
            page: query.page,
            page_size,
        })
    }

    async fn config(&self, id: ProjectId) -> Result<ProjectConfig, AppError> {
        let p = self.find(id).await?;
        Ok(config::parse_stored(p.config.as_deref(), "project configuration"))
    }

    async fn save_config(
        &self,
        actor: &CurrentUser,
        id: ProjectId,
        new: ProjectConfig,
    ) -> Result<ProjectConfig, AppError> {
        let valid = config::validate_project_config(new)?;
        self.check_helm_registries("templates", &valid.templates).await?;
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("saving project configuration")?;
        let p = project::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .doing("saving project configuration")?
            .ok_or_else(|| AppError::not_found(format!("project {}", id.0)))?;
        let old: ProjectConfig = config::parse_stored(p.config.as_deref(), "project configuration");
        let mut changes = named_changes("template", &old.templates, &valid.templates, |t| &t.name);
        changes.extend(named_changes("variable", &old.variables, &valid.variables, |v| {
            &v.name
        }));
        if old.url_templates != valid.url_templates {
            changes.push("URL templates changed".into());
        }
        let name = p.name.clone();
        let mut am: project::ActiveModel = p.into();
        am.config = Set(Some(
            serde_json::to_string(&valid).doing("encoding configuration")?,
        ));
        am.updated_at = Set(Utc::now());
        am.update(&txn).await.doing("saving project configuration")?;
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
                kind: "project.config_changed",
                subject: &name,
                message: format!(
                    "Configuration of {name} changed: {}",
                    if changes.is_empty() {
                        "nothing changed".to_string()
                    } else {
                        changes.join(", ")
                    }
                ),
                severity: Severity::Info,
                project: Some(id.0),
            },
        )
        .await
        .doing("saving project configuration")?;
        txn.commit().await.doing("saving project configuration")?;
        Ok(valid)
    }

    async fn version(&self, id: VersionId) -> Result<VersionDetail, AppError> {
        let (p, v) = self.find_version(id).await?;
        self.version_detail(p, v).await
    }

    async fn save_version(
        &self,
        actor: &CurrentUser,
        input: VersionInput,
    ) -> Result<VersionDetail, AppError> {
        let id = input.id.ok_or_else(|| {
            AppError::invalid(
                "id",
                "Versions come from image tags; they are not created by hand.",
            )
        })?;
        let (p, v) = self.find_version(id).await?;
        let policy = input
            .redeploy_policy
            .parse::<RedeployPolicy>()
            .map_err(|e| AppError::invalid("redeploy_policy", e))?;
        let project_config: ProjectConfig =
            config::parse_stored(p.config.as_deref(), "project configuration");
        let overrides = config::validate_overrides(input.overrides, &project_config)?;
        self.check_helm_registries("overrides.templates", &overrides.templates)
            .await?;
        if let Some(name) = overrides.namespace.as_deref().filter(|n| !n.is_empty()) {
            let known = namespace::Entity::find()
                .filter(namespace::Column::Name.eq(name))
                .one(&self.db)
                .await
                .doing("reading namespaces")?;
            if known.is_none() {
                return Err(AppError::invalid(
                    "overrides.namespace",
                    format!("{name} is not a defined namespace; an ADMIN defines namespaces."),
                ));
            }
            if !policy::allows_namespace(&policy::of_project(&p), name) {
                return Err(AppError::invalid(
                    "overrides.namespace",
                    format!(
                        "{name} is not allowed by the project's deployment policy; an ADMIN can allow it on the project page."
                    ),
                ));
            }
        }
        let message = format!("Settings of {}:{} changed", p.name, v.name);
        let detail = self
            .store_version(
                actor,
                &p,
                v,
                &overrides,
                Some(policy),
                ("version.changed", message),
            )
            .await?;
        self.deployer.lifetime_changed(p.id).await?;
        Ok(detail)
    }

    async fn set_select_values(
        &self,
        actor: &CurrentUser,
        id: VersionId,
        values: BTreeMap<String, String>,
    ) -> Result<VersionDetail, AppError> {
        // Read, changed and written in one write transaction with the version's row locked
        // (SQLite's IMMEDIATE transaction serialises writers already), its activity entry in the
        // same one: two people switching variables at once never undo each other's choice, and
        // a refused value leaves nothing written.
        let txn = crate::db::begin_write(&self.db).await.doing("saving version")?;
        let v = project_version::Entity::find_by_id(id.0)
            .lock_exclusive()
            .one(&txn)
            .await
            .doing("saving version")?
            .ok_or_else(|| AppError::not_found(format!("version {}", id.0)))?;
        let p = project::Entity::find_by_id(v.project_id)
            .one(&txn)
            .await
            .doing("saving version")?
            .ok_or_else(|| AppError::not_found(format!("project {}", v.project_id)))?;
        let project_config: ProjectConfig =
            config::parse_stored(p.config.as_deref(), "project configuration");
        let mut overrides: VersionOverrides =
            config::parse_stored(v.overrides.as_deref(), "version overrides");
        overrides.values = config::apply_select_values(&project_config, &overrides.values, &values)?;
        let what = values
            .iter()
            .map(|(k, val)| format!("{k} = {val}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("{}:{}: {what}", p.name, v.name);
        let saved = write_version(
            &txn,
            actor,
            &p,
            v,
            &overrides,
            None,
            ("version.variables_changed", message),
        )
        .await?;
        txn.commit().await.doing("saving version")?;
        self.version_detail(p, saved).await
    }

    async fn preview(&self, id: VersionId) -> Result<ConfigPreview, AppError> {
        let (p, v) = self.find_version(id).await?;
        let version = RenderedVersion::load(&self.db, &p, &v).await?;
        let kube_version = self.deployer.kube_version().await;
        let charts = version.template_charts(&self.helm, kube_version.as_deref()).await;
        let mut preview = version.preview;
        for c in charts {
            let rendered = &mut preview.templates[c.index];
            if let Some(pulled) = c.pulled {
                rendered.chart = format!("{} {pulled}", c.chart_name);
            }
            match c.result {
                Ok(manifests) => rendered.manifests = Some(manifests),
                Err(ChartError::NoRegistry) => {
                    rendered.manifests_error = Some(
                        "No Helm registry is chosen for this template, so there is no chart to render."
                            .into(),
                    )
                }
                Err(ChartError::Fetch(e) | ChartError::Template(e)) => rendered.manifests_error = Some(e),
            }
        }
        Ok(preview)
    }

    async fn check_template(
        &self,
        name: String,
        content: String,
        variables: Vec<String>,
    ) -> Result<Option<String>, AppError> {
        if variables.len() > 1000 {
            return Err(AppError::invalid("variables", "At most 1000 variables."));
        }
        let name = if name.trim().is_empty() {
            "template".to_string()
        } else {
            name
        };
        Ok(crate::render::lint(&name, &content, &variables)
            .err()
            .map(|e| e.to_string()))
    }

    async fn export(&self, id: ProjectId) -> Result<String, AppError> {
        let p = self.get(id).await?;
        let row = project::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .doing("reading project")?
            .ok_or_else(|| AppError::not_found(format!("project {}", id.0)))?;
        let config: ProjectConfig = config::parse_stored(row.config.as_deref(), "project configuration");
        let helm_names = helm_registry::Entity::find()
            .all(&self.db)
            .await
            .doing("reading Helm registries")?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let mut out = export::export(&p, &config, &helm_names, Utc::now());
        if let Some(ext) = out.oneko.as_mut() {
            ext.policy = Some(policy::of_project(&row));
        }
        Ok(serde_json::to_string_pretty(&out).doing("encoding the export")?)
    }

    async fn import(&self, actor: &CurrentUser, input: ProjectImport) -> Result<ImportReport, AppError> {
        self.import_project(actor, input).await
    }

    async fn policy(&self, id: ProjectId) -> Result<ProjectPolicy, AppError> {
        Ok(policy::of_project(&self.find(id).await?))
    }

    async fn save_policy(
        &self,
        actor: &CurrentUser,
        id: ProjectId,
        new: ProjectPolicy,
    ) -> Result<ProjectPolicy, AppError> {
        let new = policy::validate(new)?;
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("saving the deployment policy")?;
        let p = project::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .doing("saving the deployment policy")?
            .ok_or_else(|| AppError::not_found(format!("project {}", id.0)))?;
        let old = policy::of_project(&p);
        let list = |l: &[String]| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.join(", ")
            }
        };
        let changes: Vec<String> = [
            ("namespaced kinds", list(&old.kinds), list(&new.kinds)),
            (
                "cluster-scoped kinds",
                list(&old.cluster_kinds),
                list(&new.cluster_kinds),
            ),
            ("namespaces", list(&old.namespaces), list(&new.namespaces)),
            (
                "Pod Security level",
                old.pod_security.as_str().to_owned(),
                new.pod_security.as_str().to_owned(),
            ),
        ]
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(what, a, b)| format!("{what} {a} → {b}"))
        .collect();
        let [kinds, cluster_kinds, namespaces, level] = policy::columns(&new);
        let mut am: project::ActiveModel = p.clone().into();
        am.policy_kinds = Set(kinds);
        am.policy_cluster_kinds = Set(cluster_kinds);
        am.policy_namespaces = Set(namespaces);
        am.pod_security = Set(level);
        am.updated_at = Set(Utc::now());
        am.update(&txn).await.doing("saving the deployment policy")?;
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
                kind: "project.policy_changed",
                subject: &p.name,
                message: format!(
                    "Deployment policy of {} changed: {}",
                    p.name,
                    if changes.is_empty() {
                        "nothing changed".to_string()
                    } else {
                        changes.join("; ")
                    }
                ),
                severity: Severity::Info,
                project: Some(p.id),
            },
        )
        .await
        .doing("saving the deployment policy")?;
        txn.commit().await.doing("saving the deployment policy")?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::named_changes;

    #[test]
    fn changes_between_named_lists() {
        let old = [("a", 1), ("b", 1), ("c", 1)];
        let new = [("a", 1), ("b", 2), ("d", 1)];
        assert_eq!(
            named_changes("template", &old, &new, |x| x.0),
            ["template b changed", "template d added", "template c removed"]
        );
    }
}
