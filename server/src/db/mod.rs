//! State in the database: SeaORM entities, forward-only migrations, and the connection.

pub mod entity;
pub mod migration;

use crate::error::Doing;
use anyhow::Context;
use app::error::AppError;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

/// Connects to `url` and runs every pending migration before anything is served.
pub async fn connect_and_migrate(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.connect_timeout(Duration::from_secs(10)).sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's model; a small pool avoids "database is locked".
        opts.max_connections(4);
        // Each connection keeps its own page cache (SQLite's default: 2 MB). Pages the cache
        // drops are read again from the OS's file cache, so a small one costs little time and
        // keeps an idle server's memory low (`cargo bench -p server --bench memory`).
        opts.map_sqlx_sqlite_opts(|o| o.pragma("cache_size", "-512"));
    }
    let db = Database::connect(opts)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    if url.starts_with("sqlite:") {
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;")
            .await
            .context("configuring SQLite")?;
    }
    migration::Migrator::up(&db, None)
        .await
        .context("running database migrations")?;
    Ok(db)
}

/// Starts a transaction that writes. On SQLite it takes the write lock at `BEGIN` (IMMEDIATE):
/// a deferred transaction that reads first and then writes fails at once with "database is
/// locked" when another connection wrote in between, instead of waiting its turn. PostgreSQL
/// ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Reads a stored JSON document; a damaged one reads as empty and is logged, never a crash.
pub fn parse_stored<T: serde::de::DeserializeOwned + Default>(json: Option<&str>, what: &str) -> T {
    match json {
        None => T::default(),
        Some(s) => serde_json::from_str(s).unwrap_or_else(|e| {
            tracing::error!(error = %e, "stored {what} is not readable; using an empty one");
            T::default()
        }),
    }
}

/// Refuses `name` for the `name` field when a row of `E` other than `own` (the row being edited)
/// already has it: "{what} named '…' already exists."
pub async fn refuse_taken_name<E: EntityTrait, C: ConnectionTrait>(
    c: &C,
    (name_column, id_column): (E::Column, E::Column),
    name: &str,
    own: Option<i64>,
    what: &str,
) -> Result<(), AppError> {
    let mut others = E::find().filter(name_column.eq(name));
    if let Some(own) = own {
        others = others.filter(id_column.ne(own));
    }
    if others.one(c).await.doing("checking the name")?.is_some() {
        return Err(AppError::invalid(
            "name",
            format!("{what} named '{name}' already exists."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_password_only() {
        assert_eq!(redact("postgres://u:s3cr@t@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(
            redact("sqlite://data/o.db?mode=rwc"),
            "sqlite://data/o.db?mode=rwc"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    /// The small page cache is a per-connection setting: every pooled connection must have it,
    /// not only the first one.
    #[tokio::test]
    async fn every_sqlite_connection_has_the_small_page_cache() {
        use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("o.db").display());
        let db = super::connect_and_migrate(&url).await.unwrap();
        // Four transactions open at once hold the pool's four connections.
        let mut open = vec![];
        for _ in 0..4 {
            let txn = db.begin().await.unwrap();
            let row = txn
                .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA cache_size"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), -512);
            open.push(txn);
        }
    }
}
