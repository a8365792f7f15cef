//! Projects and their versions (one per image tag), the poller's bookkeeping, registry webhooks,
//! and a project reference on activity entries.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DockerRegistries {
    Table,
    Id,
    WebhookToken,
    WebhookSecret,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    Name,
    DockerRegistryId,
    ImageRepository,
    RedeployPolicy,
    Lifetime,
    TagInclude,
    TagExclude,
    IgnoreSignatureTags,
    PollIntervalSecs,
    LastPollAt,
    LastPollOkAt,
    LastPollError,
    PollFailures,
    NextPollAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectVersions {
    Table,
    Id,
    ProjectId,
    Name,
    Digest,
    ImageCreatedAt,
    DigestChangedAt,
    FirstSeenAt,
    RemovedAt,
    Deployed,
    RedeployPolicy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Activities {
    Table,
    ProjectId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(DockerRegistries::Table)
                    .add_column(string_len_null(DockerRegistries::WebhookToken, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DockerRegistries::Table)
                    .add_column(text_null(DockerRegistries::WebhookSecret))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_docker_registries_webhook_token")
                    .table(DockerRegistries::Table)
                    .col(DockerRegistries::WebhookToken)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(big_pk_auto(Projects::Id))
                    .col(string_len_uniq(Projects::Name, 100))
                    .col(big_integer(Projects::DockerRegistryId))
                    .col(string_len(Projects::ImageRepository, 512))
                    .col(string_len(Projects::RedeployPolicy, 16))
                    .col(string_len(Projects::Lifetime, 32))
                    .col(string_len(Projects::TagInclude, 1024))
                    .col(string_len(Projects::TagExclude, 1024))
                    .col(boolean(Projects::IgnoreSignatureTags).default(true))
                    .col(integer_null(Projects::PollIntervalSecs))
                    .col(timestamp_with_time_zone_null(Projects::LastPollAt))
                    .col(timestamp_with_time_zone_null(Projects::LastPollOkAt))
                    .col(text_null(Projects::LastPollError))
                    .col(integer(Projects::PollFailures).default(0))
                    .col(timestamp_with_time_zone_null(Projects::NextPollAt))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .col(timestamp_with_time_zone(Projects::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_projects_docker_registry")
                            .from(Projects::Table, Projects::DockerRegistryId)
                            .to(DockerRegistries::Table, DockerRegistries::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectVersions::Table)
                    .col(big_pk_auto(ProjectVersions::Id))
                    .col(big_integer(ProjectVersions::ProjectId))
                    .col(string_len(ProjectVersions::Name, 256))
                    .col(string_len_null(ProjectVersions::Digest, 100))
                    .col(timestamp_with_time_zone_null(ProjectVersions::ImageCreatedAt))
                    .col(timestamp_with_time_zone_null(ProjectVersions::DigestChangedAt))
                    .col(timestamp_with_time_zone(ProjectVersions::FirstSeenAt))
                    .col(timestamp_with_time_zone_null(ProjectVersions::RemovedAt))
                    .col(boolean(ProjectVersions::Deployed).default(false))
                    .col(string_len_null(ProjectVersions::RedeployPolicy, 16))
                    .col(timestamp_with_time_zone(ProjectVersions::CreatedAt))
                    .col(timestamp_with_time_zone(ProjectVersions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_versions_project")
                            .from(ProjectVersions::Table, ProjectVersions::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_project_versions_project_name")
                    .table(ProjectVersions::Table)
                    .col(ProjectVersions::ProjectId)
                    .col(ProjectVersions::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .add_column(big_integer_null(Activities::ProjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_activities_project")
                    .table(Activities::Table)
                    .col(Activities::ProjectId)
                    .to_owned(),
            )
            .await
    }
}
