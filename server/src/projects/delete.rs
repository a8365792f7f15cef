//! Deleting a project: stopping its deployed versions first.

use super::*;
use crate::{
    error::Doing,
    versions::request::{Action, Request, Requester},
};

impl SqlProjects {
    /// Deletes a project: at once if none of its versions is deployed; else they are asked to
    /// stop now, and the project goes once they are stopped.
    pub(super) async fn delete_project(
        &self,
        actor: &CurrentUser,
        id: ProjectId,
        confirm: bool,
    ) -> Result<(), AppError> {
        let txn = crate::db::begin_write(&self.db).await.doing("deleting project")?;
        let p = project::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .doing("deleting project")?
            .ok_or_else(|| AppError::not_found(format!("project {}", id.0)))?;
        let deployed: Vec<project_version::Model> = project_version::Entity::find()
            .filter(project_version::Column::ProjectId.eq(p.id))
            .filter(project_version::Column::Deployed.eq(true))
            .all(&txn)
            .await
            .doing("deleting project")?;
        // Anything still in the cluster (a stop in progress, a failed one) counts as running.
        let in_cluster = deployment::Entity::find()
            .filter(deployment::Column::ProjectId.eq(p.id))
            .filter(deployment::Column::State.ne(DeployState::NotDeployed.as_str()))
            .count(&txn)
            .await
            .doing("deleting project")?;
        if !deployed.is_empty() || in_cluster > 0 {
            let names: Vec<String> = deployed.iter().map(|v| v.name.clone()).collect();
            if !confirm {
                return Err(AppError::Conflict {
                    message: format!(
                        "{} has deployed versions ({}); confirm to stop them and then delete the project.",
                        p.name,
                        if names.is_empty() {
                            "being stopped".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                });
            }
            // Marked now, deleted by the deployer once every version is stopped.
            let mut am: project::ActiveModel = p.clone().into();
            am.deleting_at = Set(Some(Utc::now()));
            am.update(&txn).await.doing("deleting project")?;
            activity::record(
                &txn,
                Entry {
                    actor: &actor.actor(),
                    kind: "project.deleting",
                    subject: &p.name,
                    message: format!(
                        "Project {} is deleted once its deployed versions are stopped: {}",
                        p.name,
                        names.join(", ")
                    ),
                    severity: Severity::Info,
                    project: Some(p.id),
                },
            )
            .await
            .doing("deleting project")?;
            txn.commit().await.doing("deleting project")?;
            for v in deployed {
                // One the deployer re-asked for meanwhile is already on its way.
                if let Err(e) = self
                    .deployer
                    .request(Request {
                        version: VersionId(v.id),
                        action: Action::Stop,
                        by: Requester::Person(&actor.actor()),
                        reason: "the project is being deleted",
                        expect: None,
                    })
                    .await
                {
                    tracing::warn!(version = v.id, error = %e, "stopping a version of a deleted project");
                }
            }
            self.deployer.wake();
            return Ok(());
        }
        project::Entity::delete_by_id(p.id)
            .exec(&txn)
            .await
            .doing("deleting project")?;
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
                kind: "project.deleted",
                subject: &p.name,
                message: format!("Project {} deleted with its versions", p.name),
                severity: Severity::Info,
                project: Some(p.id),
            },
        )
        .await
        .doing("deleting project")?;
        Ok(txn.commit().await.doing("deleting project")?)
    }
}
