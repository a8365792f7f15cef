//! `helm_registries`: chart repositories, OCI registries and GCS buckets, secrets sealed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "helm_registries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// http, oci or gcs.
    pub kind: String,
    pub url: String,
    pub username: Option<String>,
    /// Password (HTTP, OCI) or service-account JSON key (GCS), sealed for `helm-registry:<id>`.
    pub secret: Option<String>,
    pub ca_pem: Option<String>,
    pub plain_http: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The associated data that binds a Helm registry's sealed secret to that registry.
pub fn secret_context(id: i64) -> String {
    format!("helm-registry:{id}")
}
