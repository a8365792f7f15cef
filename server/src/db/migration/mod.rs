//! Forward-only migrations, applied at start-up. Built with the schema builder only, so the
//! same steps run on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

mod m20261128_000001_users_sessions;
mod m20261128_000002_registries_activity;
mod m20261128_000003_projects_versions;
mod m20261128_000004_configuration;
mod m20261128_000005_helm_registries;
mod m20261128_000006_namespaces;
mod m20261202_000007_deployments;
mod m20261202_000008_leases;
mod m20261202_000009_drift;
mod m20261206_000001_project_policy;
mod m20261206_000002_registry_pull_secret;
mod m20261207_000001_api_tokens;
mod m20261207_000002_user_subject;

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_users_sessions::Migration),
            Box::new(m20261128_000002_registries_activity::Migration),
            Box::new(m20261128_000003_projects_versions::Migration),
            Box::new(m20261128_000004_configuration::Migration),
            Box::new(m20261128_000005_helm_registries::Migration),
            Box::new(m20261128_000006_namespaces::Migration),
            Box::new(m20261202_000007_deployments::Migration),
            Box::new(m20261202_000008_leases::Migration),
            Box::new(m20261202_000009_drift::Migration),
            Box::new(m20261206_000001_project_policy::Migration),
            Box::new(m20261206_000002_registry_pull_secret::Migration),
            Box::new(m20261207_000001_api_tokens::Migration),
            Box::new(m20261207_000002_user_subject::Migration),
        ]
    }
}
