//! Upgrade safety: a database at the previous release's schema (the first six migrations, as
//! the last release shipped them), holding data, is migrated forward at start and everything in
//! it stays usable.

use crate::harness::{ADMIN_PASSWORD, TestServer, fresh_database};
use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{
    ConnectionTrait, Database,
    sea_query::{Alias, Query},
};
use sea_orm_migration::MigratorTrait;
use serde_json::json;

#[tokio::test]
async fn the_previous_schema_and_its_data_are_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = match fresh_database().await {
        Some(pg) => pg,
        None => format!("sqlite://{}?mode=rwc", data.join("o-neko.db").display()),
    };
    let db = Database::connect(&url).await.unwrap();
    server::db::migration::Migrator::up(&db, Some(6)).await.unwrap();
    let now = Utc::now();
    let insert = |table: &str, cols: &[&str], values: Vec<sea_orm::Value>| {
        Query::insert()
            .into_table(Alias::new(table))
            .columns(cols.iter().map(|c| Alias::new(*c)))
            .values_panic(values.into_iter().map(Into::into))
            .to_owned()
    };
    db.execute(&insert(
        "docker_registries",
        &[
            "name",
            "url",
            "insecure_http",
            "auth",
            "skip_tls_verify",
            "created_at",
            "updated_at",
        ],
        vec![
            "Hub".into(),
            "http://127.0.0.1:9".into(),
            true.into(),
            "anonymous".into(),
            false.into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
    db.execute(&insert(
        "projects",
        &[
            "name",
            "docker_registry_id",
            "image_repository",
            "redeploy_policy",
            "lifetime",
            "tag_include",
            "tag_exclude",
            "ignore_signature_tags",
            "poll_interval_secs",
            "poll_failures",
            "config",
            "created_at",
            "updated_at",
        ],
        vec![
            "Legacy".into(),
            1i64.into(),
            "team/legacy".into(),
            "manual".into(),
            "days:2".into(),
            "".into(),
            "".into(),
            true.into(),
            3600i32.into(),
            0i32.into(),
            r#"{"url_templates":["{{ SAFE_VERSION_NAME }}.legacy.test"],"templates":[],"variables":[]}"#
                .into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
    db.execute(&insert(
        "project_versions",
        &[
            "project_id",
            "name",
            "digest",
            "first_seen_at",
            "deployed",
            "created_at",
            "updated_at",
        ],
        vec![
            1i64.into(),
            "main".into(),
            "sha256:abc".into(),
            now.into(),
            true.into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
    db.close().await.unwrap();

    // The new release starts on it: forward migrations at start, then the data as before.
    let server = TestServer::start_with(|c| {
        c.data_dir = data.clone();
        c.database_url = Some(url.clone());
    })
    .await;
    let admin = server.login("admin", ADMIN_PASSWORD).await;
    let (status, projects) = admin.call("list_projects", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{projects}");
    assert_eq!(projects[0]["name"], "Legacy");
    assert_eq!(projects[0]["lifetime"], json!({"kind": "days", "n": 2}));
    let (_, page) = admin
        .call(
            "list_versions",
            json!({"query": {"project": projects[0]["id"], "filter": "", "include_removed": false, "sort": "name", "page": 0}}),
        )
        .await;
    let main = &page["items"][0];
    assert_eq!(main["name"], "main");
    assert_eq!(main["digest"], "sha256:abc");
    // Nothing could deploy before: the version no longer claims to run.
    assert_eq!(main["deployed"], false, "{main}");
    assert_eq!(main["status"]["state"], "not_deployed");
    let (_, config) = admin
        .call("get_project_config", json!({"id": projects[0]["id"]}))
        .await;
    assert_eq!(config["url_templates"][0], "{{ SAFE_VERSION_NAME }}.legacy.test");
    let (status, rows) = admin
        .call("list_deployments", json!({"project": null, "search": ""}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows, json!([]));
}
