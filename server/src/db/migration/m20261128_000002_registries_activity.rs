//! Docker registries and the activity log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DockerRegistries {
    Table,
    Id,
    Name,
    Url,
    InsecureHttp,
    Auth,
    Username,
    Secret,
    CaPem,
    SkipTlsVerify,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Activities {
    Table,
    Id,
    At,
    Actor,
    Kind,
    Subject,
    Message,
    Severity,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DockerRegistries::Table)
                    .col(big_pk_auto(DockerRegistries::Id))
                    .col(string_len_uniq(DockerRegistries::Name, 100))
                    .col(string_len(DockerRegistries::Url, 2048))
                    .col(boolean(DockerRegistries::InsecureHttp).default(false))
                    .col(string_len(DockerRegistries::Auth, 16))
                    .col(string_len_null(DockerRegistries::Username, 256))
                    .col(text_null(DockerRegistries::Secret))
                    .col(text_null(DockerRegistries::CaPem))
                    .col(boolean(DockerRegistries::SkipTlsVerify).default(false))
                    .col(timestamp_with_time_zone(DockerRegistries::CreatedAt))
                    .col(timestamp_with_time_zone(DockerRegistries::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Activities::Table)
                    .col(big_pk_auto(Activities::Id))
                    .col(timestamp_with_time_zone(Activities::At))
                    .col(string_len(Activities::Actor, 100))
                    .col(string_len(Activities::Kind, 64))
                    .col(string_len(Activities::Subject, 256))
                    .col(text(Activities::Message))
                    .col(string_len(Activities::Severity, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_activities_at")
                    .table(Activities::Table)
                    .col(Activities::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_activities_kind")
                    .table(Activities::Table)
                    .col(Activities::Kind)
                    .to_owned(),
            )
            .await
    }
}
