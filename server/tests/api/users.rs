//! User administration over HTTP: create, edit, delete, reset, and bad input that must change
//! nothing.

use crate::harness::{ADMIN_PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn new_user(username: &str, role: &str, password: &str) -> Value {
    json!({"user": {"username": username, "display_name": "", "email": "", "role": role, "password": password}})
}

fn field(body: &Value, name: &str) -> Option<String> {
    body["fields"]
        .as_array()?
        .iter()
        .find(|f| f["field"] == name)
        .map(|f| f["message"].to_string())
}

#[tokio::test]
async fn admin_manages_users() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (status, created) = admin
        .call(
            "create_user",
            json!({"user": {"username": "Dora", "display_name": " Dora D. ",
            "email": "dora@example.test", "role": "DOER", "password": "dora-password"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["username"], "Dora");
    assert_eq!(created["display_name"], "Dora D.");
    assert_eq!(created["role"], "DOER");
    assert!(
        created.get("password_hash").is_none(),
        "hashes never leave the server"
    );
    let id = created["id"].clone();

    let (status, updated) = admin
        .call(
            "update_user",
            json!({"update": {"id": id, "display_name": "", "email": "", "role": "VIEWER"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["role"], "VIEWER");
    assert_eq!(updated["display_name"], Value::Null);
    assert_eq!(updated["email"], Value::Null);

    let dora = server.login("dora", "dora-password").await;
    let (status, _) = admin
        .call(
            "reset_user_password",
            json!({"id": id, "password": "reset-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = dora.call("get_current_user", json!({})).await;
    assert_eq!(me, Value::Null, "a reset ends the user's sessions");
    server.login("dora", "reset-password").await;

    let (status, _) = admin.call("delete_user", json!({"id": id})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.usernames().await, ["admin"]);

    // Each step is in the activity log, attributed to the admin, newest first.
    let (_, log) = admin
        .call("list_activity", json!({"query": {"kind": "user", "page": 0}}))
        .await;
    let entries: Vec<(String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let kinds: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "user.deleted",
            "user.password_reset",
            "user.changed",
            "user.created"
        ]
    );
    assert!(entries.iter().all(|(_, actor)| actor == "admin"));
    assert!(
        log["items"][2]["message"]
            .as_str()
            .unwrap()
            .contains("role DOER → VIEWER"),
        "{log}"
    );
    let (status, body) = admin.call("delete_user", json!({"id": id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    server.user_with_role(&admin, "Erin", "VIEWER").await;
    let before = admin.usernames().await;

    let (status, body) = admin
        .call(
            "create_user",
            new_user(&"u".repeat(65), "VIEWER", "long-enough-pw"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field(&body, "username").unwrap().contains("64"), "{body}");

    let (status, body) = admin.call("create_user", new_user("frank", "VIEWER", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field(&body, "password").is_some(), "{body}");

    let (status, body) = admin
        .call("create_user", new_user("frank", "SUPERUSER", "long-enough-pw"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field(&body, "role").unwrap().contains("SUPERUSER"), "{body}");

    let (status, body) = admin
        .call("create_user", new_user("ERIN", "VIEWER", "long-enough-pw"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "duplicate ignoring case: {body}");
    assert!(body["message"].as_str().unwrap().contains("already exists"));

    let (status, body) = admin
        .call(
            "create_user",
            json!({"user": {"username": "gina", "display_name": "", "email": "not-an-email",
            "role": "VIEWER", "password": "long-enough-pw"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field(&body, "email").is_some(), "{body}");

    assert_eq!(admin.usernames().await, before);
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_or_demoted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (_, me) = admin.call("get_current_user", json!({})).await;
    let admin_id = me["id"].clone();

    let (status, body) = admin.call("delete_user", json!({"id": admin_id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("last administrator"));
    let (status, body) = admin
        .call(
            "update_user",
            json!({"update": {"id": admin_id, "display_name": "", "email": "", "role": "DOER"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, me) = admin.call("get_current_user", json!({})).await;
    assert_eq!(me["role"], "ADMIN", "unchanged");

    // With a second admin, the first may step down.
    server.user_with_role(&admin, "second", "ADMIN").await;
    let (status, body) = admin
        .call(
            "update_user",
            json!({"update": {"id": admin_id, "display_name": "", "email": "", "role": "DOER"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The demotion takes effect on the next call, without logging in again.
    let (status, _) = admin.call("list_users", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn no_fixed_default_password() {
    let server = TestServer::start().await;
    for guess in ["admin", "password", "o-neko"] {
        let (status, _) = server
            .client()
            .call("login", json!({"username": "admin", "password": guess}))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin/{guess} must not work"
        );
    }
    server.login("admin", ADMIN_PASSWORD).await;
}
