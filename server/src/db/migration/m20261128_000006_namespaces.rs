//! Admin-defined namespaces, and a project's target namespace (none: one `on-` namespace per
//! deployed version).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Namespaces {
    Table,
    Id,
    Name,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Namespace,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Namespaces::Table)
                    .col(big_pk_auto(Namespaces::Id))
                    .col(string_len_uniq(Namespaces::Name, 63))
                    .col(string_len(Namespaces::CreatedBy, 100))
                    .col(timestamp_with_time_zone(Namespaces::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column(string_len_null(Projects::Namespace, 63))
                    .to_owned(),
            )
            .await
    }
}
