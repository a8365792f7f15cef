//! `users`: accounts with an argon2 password hash and a role.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As typed at creation.
    pub username: String,
    /// Lower-cased username; unique, so names differing only in case collide.
    #[sea_orm(unique)]
    pub username_key: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// VIEWER, DOER or ADMIN.
    pub role: String,
    pub password_hash: String,
    /// Bumped when the password changes; sessions holding an older epoch are void.
    pub auth_epoch: i64,
    /// `<issuer>#<sub>` for users who sign in with OpenID Connect (they have no password).
    #[sea_orm(unique)]
    pub external_subject: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The stored role; an unreadable value (never written by us) degrades to VIEWER.
    pub fn role(&self) -> app::model::Role {
        self.role.parse().unwrap_or(app::model::Role::Viewer)
    }
}

impl From<Model> for app::model::User {
    fn from(m: Model) -> Self {
        app::model::User {
            id: app::model::UserId(m.id),
            role: m.role(),
            username: m.username,
            display_name: m.display_name,
            email: m.email,
            single_sign_on: m.external_subject.is_some(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<&Model> for app::model::CurrentUser {
    fn from(m: &Model) -> Self {
        app::model::CurrentUser {
            id: app::model::UserId(m.id),
            username: m.username.clone(),
            display_name: m.display_name.clone(),
            role: m.role(),
            token: None,
        }
    }
}
