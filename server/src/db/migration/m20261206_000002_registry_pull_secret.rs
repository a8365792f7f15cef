//! Per Docker registry: whether its credentials are copied into deployments as an image pull
//! secret. Registries that exist keep doing so (`true`), so an upgrade changes nothing; the form
//! starts new registries with it off.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DockerRegistries {
    Table,
    CopyPullSecret,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DockerRegistries::Table)
                    .add_column(boolean(DockerRegistries::CopyPullSecret).default(true))
                    .to_owned(),
            )
            .await
    }
}
