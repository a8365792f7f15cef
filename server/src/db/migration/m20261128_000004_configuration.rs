//! Configuration: a project's templates, variables and URL templates, and a version's overrides,
//! each stored as one JSON document (like the original's embedded documents; nothing queries
//! inside them).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Config,
}

#[derive(DeriveIden)]
enum ProjectVersions {
    Table,
    Overrides,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column(text_null(Projects::Config))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectVersions::Table)
                    .add_column(text_null(ProjectVersions::Overrides))
                    .to_owned(),
            )
            .await
    }
}
