//! Deployments: for each version that was ever deployed, what was asked for (a generation
//! counter bumped by every deploy, redeploy or stop request; the version's `deployed` flag is the
//! desired state), what was done (`done_generation`), what is in the cluster (namespace, the
//! objects applied, the rendered hash and image digest) and its live state. A lease lets only one
//! server replica act on a version at a time. Projects get a deletion mark: a project deleted
//! with running versions is removed once they are stopped. Versions marked deployed before this
//! step (when nothing could deploy) are marked not deployed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    VersionId,
    ProjectId,
    Namespace,
    Shared,
    Generation,
    DoneGeneration,
    RequestedBy,
    RequestedAt,
    Reason,
    State,
    Message,
    Hash,
    Digest,
    StartedAt,
    AppliedAt,
    StopAt,
    Inventory,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectVersions {
    Table,
    Id,
    Deployed,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    DeletingAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Deployments::Table)
                    .col(big_pk_auto(Deployments::Id))
                    .col(big_integer_uniq(Deployments::VersionId))
                    .col(big_integer(Deployments::ProjectId))
                    .col(string_len(Deployments::Namespace, 63))
                    .col(boolean(Deployments::Shared).default(false))
                    .col(big_integer(Deployments::Generation).default(0))
                    .col(big_integer(Deployments::DoneGeneration).default(0))
                    .col(string_len(Deployments::RequestedBy, 100))
                    .col(timestamp_with_time_zone(Deployments::RequestedAt))
                    .col(text(Deployments::Reason))
                    .col(string_len(Deployments::State, 16))
                    .col(text(Deployments::Message))
                    .col(string_len_null(Deployments::Hash, 100))
                    .col(string_len_null(Deployments::Digest, 100))
                    .col(timestamp_with_time_zone_null(Deployments::StartedAt))
                    .col(timestamp_with_time_zone_null(Deployments::AppliedAt))
                    .col(timestamp_with_time_zone_null(Deployments::StopAt))
                    .col(text_null(Deployments::Inventory))
                    .col(string_len_null(Deployments::LeaseOwner, 64))
                    .col(timestamp_with_time_zone_null(Deployments::LeaseUntil))
                    .col(timestamp_with_time_zone(Deployments::CreatedAt))
                    .col(timestamp_with_time_zone(Deployments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deployments_version")
                            .from(Deployments::Table, Deployments::VersionId)
                            .to(ProjectVersions::Table, ProjectVersions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deployments_pending")
                    .table(Deployments::Table)
                    .col(Deployments::Generation)
                    .col(Deployments::DoneGeneration)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column(timestamp_with_time_zone_null(Projects::DeletingAt))
                    .to_owned(),
            )
            .await?;
        // Nothing was ever deployed before this step (deploying did not exist), so no version
        // may claim it runs: the deployer would wait for a cluster that never got it.
        manager
            .exec_stmt(
                Query::update()
                    .table(ProjectVersions::Table)
                    .value(ProjectVersions::Deployed, false)
                    .to_owned(),
            )
            .await
    }
}
