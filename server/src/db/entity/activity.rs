//! `activities`: the activity log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub message: String,
    pub severity: String,
    /// The project the entry is about, for filtering.
    pub project_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for app::model::Activity {
    fn from(m: Model) -> Self {
        use app::model::Severity;
        app::model::Activity {
            id: m.id,
            at: m.at,
            actor: m.actor,
            kind: m.kind,
            subject: m.subject,
            message: m.message,
            severity: match m.severity.as_str() {
                "ERROR" => Severity::Error,
                "WARNING" => Severity::Warning,
                _ => Severity::Info,
            },
        }
    }
}
