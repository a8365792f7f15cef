//! What O-Neko applied of each workload (its spec generation), and what changed in the cluster
//! behind O-Neko's back: a workload whose generation moved on, or that was deleted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    AppliedGenerations,
    Drift,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .add_column(text_null(Deployments::AppliedGenerations))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .add_column(text(Deployments::Drift).default(""))
                    .to_owned(),
            )
            .await
    }
}
