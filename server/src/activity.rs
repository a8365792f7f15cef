//! The activity log: what happened, who did it, to what. Written by the server's services,
//! read by every role.

use crate::{db::entity::activity, error::Doing};
use app::{
    error::AppError,
    model::{ActivityPage, ActivityQuery, CurrentUser, Severity},
    ssr::ActivityLog,
};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};

/// Entries per page.
pub const PAGE_SIZE: u64 = 50;

/// One entry to record.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub kind: &'a str,
    pub subject: &'a str,
    pub message: String,
    pub severity: Severity,
    /// The project the entry is about, if any.
    pub project: Option<i64>,
}

/// Records an entry. Uses the caller's connection, so an entry written inside a transaction
/// commits or rolls back with the change it describes.
pub async fn record<C: ConnectionTrait>(c: &C, e: Entry<'_>) -> Result<(), sea_orm::DbErr> {
    activity::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(e.actor.chars().take(100).collect()),
        kind: Set(e.kind.into()),
        subject: Set(e.subject.chars().take(256).collect()),
        message: Set(e.message),
        severity: Set(e.severity.as_str().into()),
        project_id: Set(e.project),
        ..Default::default()
    }
    .insert(c)
    .await
    .map(|_| ())
}

/// Records what a user did to something that belongs to no project (an Info entry); a failure
/// is an internal error, so the caller's transaction rolls back with it.
pub async fn user_action<C: ConnectionTrait>(
    c: &C,
    actor: &CurrentUser,
    kind: &str,
    subject: &str,
    message: String,
) -> Result<(), AppError> {
    Ok(record(
        c,
        Entry {
            actor: &actor.actor(),
            kind,
            subject,
            message,
            severity: Severity::Info,
            project: None,
        },
    )
    .await
    .doing("recording activity")?)
}

/// Reads the log from the database.
pub struct SqlActivityLog {
    pub db: DatabaseConnection,
}

#[async_trait::async_trait]
impl ActivityLog for SqlActivityLog {
    async fn page(&self, query: ActivityQuery) -> Result<ActivityPage, AppError> {
        let mut select = activity::Entity::find().order_by_desc(activity::Column::Id);
        if let Some(kind) = query.kind.as_deref().filter(|k| !k.is_empty()) {
            select = select.filter(activity::Column::Kind.starts_with(kind));
        }
        if let Some(project) = query.project {
            select = select.filter(activity::Column::ProjectId.eq(project.0));
        }
        if let Some(actor) = query.actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            select = select.filter(activity::Column::Actor.eq(actor));
        }
        if let Some(since) = query.since {
            select = select.filter(activity::Column::At.gte(since));
        }
        if let Some(until) = query.until {
            select = select.filter(activity::Column::At.lt(until));
        }
        let pages = select.paginate(&self.db, PAGE_SIZE);
        let total = pages.num_items().await.doing("counting activities")?;
        let items = pages.fetch_page(query.page).await.doing("reading activities")?;
        Ok(ActivityPage {
            items: items.into_iter().map(Into::into).collect(),
            total,
            page: query.page,
            page_size: PAGE_SIZE,
        })
    }
}
