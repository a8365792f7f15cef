//! A project's deployment policy (issue #16): the namespaced and cluster-scoped kinds its charts
//! may create and the defined namespaces it may use (JSON lists), and the Pod Security level of
//! its namespaces. `NULL` everywhere means the defaults (`app::model::ProjectPolicy::default`),
//! so existing projects get them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    PolicyKinds,
    PolicyClusterKinds,
    PolicyNamespaces,
    PodSecurity,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [
            Projects::PolicyKinds,
            Projects::PolicyClusterKinds,
            Projects::PolicyNamespaces,
            Projects::PodSecurity,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Projects::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
