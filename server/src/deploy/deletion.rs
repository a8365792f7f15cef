//! Project deletion, its last part: a deleted project's rows go once every version is stopped.

use super::*;

impl Deployer {
    /// Deletes projects marked for deletion once none of their versions runs or waits.
    pub(super) async fn finish_deletions(&self) -> Result<(), sea_orm::DbErr> {
        let marked = project::Entity::find()
            .filter(project::Column::DeletingAt.is_not_null())
            .all(&self.db)
            .await?;
        for p in marked {
            let rows = deployment::Entity::find()
                .filter(deployment::Column::ProjectId.eq(p.id))
                .all(&self.db)
                .await?;
            let waiting = rows.iter().any(pending);
            let busy = waiting || rows.iter().any(|d| state_of(d) != DeployState::NotDeployed);
            let deployed = project_version::Entity::find()
                .filter(project_version::Column::ProjectId.eq(p.id))
                .filter(project_version::Column::Deployed.eq(true))
                .count(&self.db)
                .await?;
            if deployed > 0 && !waiting {
                // Stops asked for at deletion but not recorded (an error, a crash): again.
                let versions = project_version::Entity::find()
                    .filter(project_version::Column::ProjectId.eq(p.id))
                    .filter(project_version::Column::Deployed.eq(true))
                    .all(&self.db)
                    .await?;
                for v in versions {
                    if let Err(e) = self
                        .request(Request::automatic(
                            VersionId(v.id),
                            Action::Stop,
                            "the project is being deleted",
                            None,
                        ))
                        .await
                    {
                        tracing::warn!(version = v.id, error = %e, "a stop for a project deletion was not accepted");
                    }
                }
                continue;
            }
            if busy || deployed > 0 {
                continue;
            }
            let txn = crate::db::begin_write(&self.db).await?;
            project::Entity::delete_by_id(p.id).exec(&txn).await?;
            activity::record(
                &txn,
                Entry {
                    actor: SCHEDULER,
                    kind: "project.deleted",
                    subject: &p.name,
                    message: format!(
                        "Project {} deleted with its versions, after they were stopped",
                        p.name
                    ),
                    severity: Severity::Info,
                    project: Some(p.id),
                },
            )
            .await?;
            txn.commit().await?;
        }
        Ok(())
    }
}
