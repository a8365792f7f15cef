//! The activity log, readable by every role.

use crate::{
    error::AppError,
    model::{ActivityPage, ActivityQuery},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// One page of activity entries, newest first.
#[server(endpoint = "list_activity", input = Json)]
pub async fn list_activity(query: ActivityQuery) -> Result<ActivityPage, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    activity()?.page(query).await
}
