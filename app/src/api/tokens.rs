//! Personal API tokens: every user manages their own; an ADMIN sees and revokes everyone's.
//! Only a browser session may manage tokens (the REST API never reaches server functions).

use crate::{
    error::AppError,
    model::{ApiToken, CreatedApiToken, NewApiToken},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// The caller's own tokens.
#[server(endpoint = "list_my_tokens", input = Json)]
pub async fn list_my_tokens() -> Result<Vec<ApiToken>, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    tokens()?.list(Some(me.id)).await
}

/// Every user's tokens.
#[server(endpoint = "list_all_tokens", input = Json)]
pub async fn list_all_tokens() -> Result<Vec<ApiToken>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Admin).await?;
    tokens()?.list(None).await
}

/// Creates a token; the answer holds its secret, which is never shown again.
#[server(endpoint = "create_token", input = Json)]
pub async fn create_token(token: NewApiToken) -> Result<CreatedApiToken, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    tokens()?.create(&me, token).await
}

/// Revokes a token (one's own; an ADMIN any).
#[server(endpoint = "revoke_token", input = Json)]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    tokens()?.revoke(&me, id).await
}
