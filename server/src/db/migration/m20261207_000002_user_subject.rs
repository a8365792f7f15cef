//! Users who sign in with OpenID Connect: `external_subject` is `<issuer>#<sub>`, the identity
//! provider's stable name for them (usernames and emails can change or be reused there).
//! NULL for local users. Unique, so one person is never two users.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    ExternalSubject,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::ExternalSubject, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_external_subject")
                    .table(Users::Table)
                    .col(Users::ExternalSubject)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
