//! Helm registries: where configuration templates' charts come from.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HelmRegistries {
    Table,
    Id,
    Name,
    Kind,
    Url,
    Username,
    Secret,
    CaPem,
    PlainHttp,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HelmRegistries::Table)
                    .col(big_pk_auto(HelmRegistries::Id))
                    .col(string_len_uniq(HelmRegistries::Name, 100))
                    .col(string_len(HelmRegistries::Kind, 16))
                    .col(string_len(HelmRegistries::Url, 2048))
                    .col(string_len_null(HelmRegistries::Username, 256))
                    .col(text_null(HelmRegistries::Secret))
                    .col(text_null(HelmRegistries::CaPem))
                    .col(boolean(HelmRegistries::PlainHttp).default(false))
                    .col(timestamp_with_time_zone(HelmRegistries::CreatedAt))
                    .col(timestamp_with_time_zone(HelmRegistries::UpdatedAt))
                    .to_owned(),
            )
            .await
    }
}
