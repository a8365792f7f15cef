//! User administration (ADMIN only).

use crate::{
    error::AppError,
    model::{NewUser, User, UserId, UserUpdate},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// All users, by username.
#[server(endpoint = "list_users", input = Json)]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Admin).await?;
    users()?.list_users().await
}

/// Creates a user.
#[server(endpoint = "create_user", input = Json)]
pub async fn create_user(user: NewUser) -> Result<User, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    users()?.create_user(&me, user).await
}

/// Changes a user's display name, email and role.
#[server(endpoint = "update_user", input = Json)]
pub async fn update_user(update: UserUpdate) -> Result<User, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    users()?.update_user(&me, update).await
}

/// Deletes a user. The last administrator cannot be deleted.
#[server(endpoint = "delete_user", input = Json)]
pub async fn delete_user(id: UserId) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    users()?.delete_user(&me, id).await
}

/// Sets a new password for a user; their sessions end.
#[server(endpoint = "reset_user_password", input = Json)]
pub async fn reset_user_password(id: UserId, password: String) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    users()?.reset_password(&me, id, password).await
}
