//! `docker_registries`: where project images live, with encrypted credentials.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "docker_registries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// Base URL without a trailing slash, e.g. `https://registry.example.com`.
    pub url: String,
    /// Plain HTTP explicitly allowed.
    pub insecure_http: bool,
    /// anonymous, basic or token.
    pub auth: String,
    pub username: Option<String>,
    /// Password or token, sealed by `secrets::SecretBox` for `docker-registry:<id>`.
    pub secret: Option<String>,
    pub ca_pem: Option<String>,
    pub skip_tls_verify: bool,
    /// The public part of the webhook URL (`/hooks/registry/<token>`).
    pub webhook_token: Option<String>,
    /// The shared secret webhook calls must prove, sealed for `docker-registry-webhook:<id>`.
    pub webhook_secret: Option<String>,
    /// Whether deployments get the credentials as an image pull secret.
    pub copy_pull_secret: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The associated data that binds a registry's sealed secret to that registry.
pub fn secret_context(id: i64) -> String {
    format!("docker-registry:{id}")
}

/// The associated data that binds a registry's sealed webhook secret to that registry.
pub fn webhook_secret_context(id: i64) -> String {
    format!("docker-registry-webhook:{id}")
}
