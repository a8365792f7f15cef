//! Defined namespaces (ADMIN): shared `on-` namespaces that projects may deploy into. Creating
//! one creates the Kubernetes namespace, labelled as O-Neko's; deleting one deletes it, but only
//! when no project uses it and only if it carries O-Neko's label.

use super::{Cluster, describe, status};
use crate::{
    activity,
    db::entity::{namespace, project, project_version},
    error::Doing,
    names::{LABEL_DEFINED, MANAGED_BY, NAMESPACE_PREFIX},
};
use app::{
    error::AppError,
    model::{ClusterInfo, CurrentUser, DefinedNamespace, VersionOverrides},
    ssr::Namespaces,
};
use chrono::Utc;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{DeleteParams, ObjectMeta, PostParams},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use std::collections::BTreeMap;

/// The cluster name for what an ADMIN typed: lower case, runs of other characters become `-`,
/// and the `on-` prefix added unless it is already there (never `on-on-`).
pub fn defined_name(input: &str) -> Result<String, String> {
    let mut s = String::new();
    for c in input.trim().to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-');
    if s.is_empty() {
        return Err("Enter a name with letters or digits.".into());
    }
    let name = if s.starts_with(NAMESPACE_PREFIX) {
        s.to_owned()
    } else {
        format!("{NAMESPACE_PREFIX}{s}")
    };
    if name.len() > 63 {
        return Err(format!(
            "'{name}' is longer than 63 characters, the limit for namespaces."
        ));
    }
    Ok(name)
}

/// Defined namespaces over the database and the cluster.
pub struct SqlNamespaces {
    pub db: DatabaseConnection,
    pub cluster: Cluster,
    /// Demo mode: the cluster is the simulated one, and the UI says so.
    pub simulated: bool,
}

impl SqlNamespaces {
    fn api(&self) -> Result<Api<Namespace>, AppError> {
        let client = self.cluster.client().map_err(AppError::conflict)?;
        Ok(Api::all(client))
    }

    fn upstream(message: String) -> AppError {
        AppError::Upstream {
            service: "Kubernetes".into(),
            message,
        }
    }

    /// Projects that target the namespace, and versions whose override does.
    async fn used_by(&self, name: &str) -> Result<Vec<String>, AppError> {
        let projects = project::Entity::find()
            .order_by_asc(project::Column::Name)
            .all(&self.db)
            .await
            .doing("reading projects")?;
        let mut users: Vec<String> = projects
            .iter()
            .filter(|p| p.namespace.as_deref() == Some(name))
            .map(|p| p.name.clone())
            .collect();
        let versions = project_version::Entity::find()
            .filter(project_version::Column::Overrides.is_not_null())
            .order_by_asc(project_version::Column::Name)
            .all(&self.db)
            .await
            .doing("reading projects")?;
        for v in versions {
            let o: VersionOverrides = crate::db::parse_stored(v.overrides.as_deref(), "version overrides");
            if o.namespace.as_deref() == Some(name) {
                let project = projects
                    .iter()
                    .find(|p| p.id == v.project_id)
                    .map_or("?", |p| p.name.as_str());
                users.push(format!("{project}:{}", v.name));
            }
        }
        Ok(users)
    }

    /// Takes over an existing namespace, but only one labelled as defined for O-Neko.
    async fn adopt(&self, api: &Api<Namespace>, name: &str) -> Result<(), AppError> {
        let current = api
            .get_opt(name)
            .await
            .map_err(|e| Self::upstream(describe(&e)))?;
        let ours = current
            .as_ref()
            .and_then(|n| n.metadata.labels.as_ref())
            .is_some_and(|l| l.get(LABEL_DEFINED).is_some_and(|v| v == "true"));
        if ours {
            Ok(())
        } else {
            Err(AppError::invalid(
                "name",
                format!(
                    "The cluster already has a namespace {name} that O-Neko did not create; choose another name."
                ),
            ))
        }
    }

    async fn phase(&self, name: &str) -> String {
        let Ok(api) = self.api() else {
            return "Unknown (no cluster)".into();
        };
        match api.get_opt(name).await {
            Ok(Some(ns)) => ns.status.and_then(|s| s.phase).unwrap_or_else(|| "Active".into()),
            Ok(None) => "Missing (not in the cluster)".into(),
            Err(e) => format!("Unknown ({})", describe(&e)),
        }
    }

    async fn to_model(&self, m: namespace::Model) -> Result<DefinedNamespace, AppError> {
        Ok(DefinedNamespace {
            phase: self.phase(&m.name).await,
            used_by: self.used_by(&m.name).await?,
            id: m.id,
            name: m.name,
            created_by: m.created_by,
            created_at: m.created_at,
        })
    }
}

#[async_trait::async_trait]
impl Namespaces for SqlNamespaces {
    async fn cluster(&self) -> ClusterInfo {
        match self.cluster.client() {
            Err(why) => ClusterInfo {
                connected: false,
                source: why,
                version: String::new(),
                simulated: false,
            },
            Ok(client) => ClusterInfo {
                connected: true,
                source: self.cluster.source.clone(),
                version: match client.apiserver_version().await {
                    Ok(v) => v.git_version,
                    Err(e) => format!("unknown: {}", describe(&e)),
                },
                simulated: self.simulated,
            },
        }
    }

    async fn list(&self) -> Result<Vec<DefinedNamespace>, AppError> {
        let rows = namespace::Entity::find()
            .order_by_asc(namespace::Column::Name)
            .all(&self.db)
            .await
            .doing("listing namespaces")?;
        let mut out = vec![];
        for m in rows {
            out.push(self.to_model(m).await?);
        }
        Ok(out)
    }

    async fn create(&self, actor: &CurrentUser, name: String) -> Result<DefinedNamespace, AppError> {
        let name = defined_name(&name).map_err(|m| AppError::invalid("name", m))?;
        let exists = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(name.clone()))
            .one(&self.db)
            .await
            .doing("reading namespaces")?;
        if exists.is_some() {
            return Err(AppError::invalid("name", format!("{name} is already defined.")));
        }
        let api = self.api()?;
        // Shared by several projects, so at the default Pod Security level (a cluster admin may
        // relabel it for projects that need another).
        let mut labels = BTreeMap::from([
            (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            (LABEL_DEFINED.to_string(), "true".to_string()),
        ]);
        labels.extend(super::policy::namespace_labels(Default::default()));
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        };
        // Look first: a namespace the cluster admin prepared with O-Neko's labels (as the chart
        // does when O-Neko may not create namespaces) is taken over; anyone else's is not.
        let existing = api
            .get_opt(&name)
            .await
            .map_err(|e| Self::upstream(describe(&e)))?;
        let created = match existing {
            Some(_) => Err(None),
            None => api.create(&PostParams::default(), &ns).await.map_err(Some),
        };
        match created {
            Ok(_) => {}
            // There already, or created at the same moment by someone else.
            Err(None) => self.adopt(&api, &name).await?,
            Err(Some(e)) if status(&e) == Some(409) => self.adopt(&api, &name).await?,
            Err(Some(e)) => return Err(Self::upstream(describe(&e))),
        }
        let m = namespace::ActiveModel {
            name: Set(name.clone()),
            created_by: Set(actor.username.clone()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .doing("saving namespace")?;
        activity::user_action(
            &self.db,
            actor,
            "namespace.created",
            &name,
            format!("Namespace {name} defined and created in the cluster"),
        )
        .await?;
        self.to_model(m).await
    }

    async fn delete(&self, actor: &CurrentUser, id: i64) -> Result<(), AppError> {
        let m = namespace::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .doing("reading namespace")?
            .ok_or_else(|| AppError::not_found(format!("Namespace {id}")))?;
        let users = self.used_by(&m.name).await?;
        if !users.is_empty() {
            return Err(AppError::conflict(format!(
                "Namespace {} is used by these projects and versions: {}. Give them another target first.",
                m.name,
                users.join(", ")
            )));
        }
        let api = self.api()?;
        if let Some(ns) = api
            .get_opt(&m.name)
            .await
            .map_err(|e| Self::upstream(describe(&e)))?
        {
            let ours = ns
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get(MANAGED_BY.0).is_some_and(|v| v == MANAGED_BY.1));
            if ours {
                match api.delete(&m.name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if status(&e) == Some(404) => {}
                    Err(e) => return Err(Self::upstream(describe(&e))),
                }
            } else {
                tracing::warn!(namespace = %m.name, "not labelled as O-Neko's: left in the cluster");
            }
        }
        namespace::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .doing("deleting namespace")?;
        activity::user_action(
            &self.db,
            actor,
            "namespace.deleted",
            &m.name,
            format!("Namespace {} deleted with everything in it", m.name),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::defined_name;

    #[test]
    fn names_get_one_prefix() {
        assert_eq!(defined_name("deployments").unwrap(), "on-deployments");
        assert_eq!(defined_name("on-deployments").unwrap(), "on-deployments");
        assert_eq!(
            defined_name("  Team A / Shop_Test ").unwrap(),
            "on-team-a-shop-test"
        );
        assert_eq!(defined_name("ON-Shared").unwrap(), "on-shared");
        assert!(defined_name("--- ").is_err());
        assert!(defined_name(&"x".repeat(61)).is_err());
        assert_eq!(defined_name(&"x".repeat(60)).unwrap().len(), 63);
    }
}
