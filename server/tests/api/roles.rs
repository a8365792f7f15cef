//! The role matrix: every server function, called as anonymous, VIEWER, DOER and ADMIN.
//! A server function that is missing here fails `every_server_function_is_in_the_matrix`.

use crate::harness::{Api, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Who may call a server function.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
enum Access {
    Public,
    Viewer,
    Doer,
    Admin,
}

/// Endpoint, required access, and arguments that pass decoding (what they do once allowed does
/// not matter here: ids that do not exist, invalid input or wrong passwords keep the data intact).
fn matrix() -> Vec<(&'static str, Access, Value)> {
    vec![
        (
            "login",
            Access::Public,
            json!({"username": "nobody", "password": "wrong-password"}),
        ),
        ("logout", Access::Public, json!({})),
        ("get_current_user", Access::Public, json!({})),
        ("login_options", Access::Public, json!({})),
        (
            "change_own_password",
            Access::Viewer,
            json!({"old_password": "wrong", "new_password": "x"}),
        ),
        ("list_users", Access::Admin, json!({})),
        ("list_my_tokens", Access::Viewer, json!({})),
        ("list_all_tokens", Access::Admin, json!({})),
        (
            "create_token",
            Access::Viewer,
            json!({"token": {"name": "", "expires_in_days": "", "role_cap": ""}}),
        ),
        ("revoke_token", Access::Viewer, json!({"id": 999999})),
        (
            "create_user",
            Access::Admin,
            json!({"user": {"username": "", "display_name": "", "email": "",
            "role": "VIEWER", "password": ""}}),
        ),
        (
            "update_user",
            Access::Admin,
            json!({"update": {"id": 999999, "display_name": "", "email": "",
            "role": "VIEWER"}}),
        ),
        ("delete_user", Access::Admin, json!({"id": 999999})),
        (
            "reset_user_password",
            Access::Admin,
            json!({"id": 999999, "password": "long-enough-1"}),
        ),
        ("list_docker_registries", Access::Admin, json!({})),
        ("list_docker_registry_names", Access::Doer, json!({})),
        (
            "save_docker_registry",
            Access::Admin,
            json!({"registry": {"id": null, "name": "", "url": "",
            "insecure_http": false, "auth": "anonymous", "username": "", "secret": null, "ca_pem": "",
            "skip_tls_verify": false}}),
        ),
        ("delete_docker_registry", Access::Admin, json!({"id": 999999})),
        ("list_helm_registries", Access::Admin, json!({})),
        ("list_helm_registry_names", Access::Doer, json!({})),
        (
            "save_helm_registry",
            Access::Admin,
            json!({"registry": {"id": null, "name": "", "kind": "http", "url": "",
            "username": "", "secret": null, "ca_pem": "", "plain_http": false}}),
        ),
        ("delete_helm_registry", Access::Admin, json!({"id": 999999})),
        (
            "list_charts",
            Access::Doer,
            json!({"id": 999999, "refresh": false}),
        ),
        ("test_docker_registry", Access::Admin, json!({"id": 999999})),
        (
            "list_activity",
            Access::Viewer,
            json!({"query": {"kind": null, "project": null, "page": 0}}),
        ),
        ("list_projects", Access::Viewer, json!({})),
        ("get_project", Access::Viewer, json!({"id": 999999})),
        (
            "save_project",
            Access::Doer,
            json!({"project": {"id": null, "name": "", "registry": null, "image_repository": "",
            "redeploy_policy": "manual", "lifetime": "infinite", "tag_include": "", "tag_exclude": "",
            "ignore_signature_tags": true, "poll_interval_secs": ""}}),
        ),
        ("delete_project", Access::Doer, json!({"id": 999999})),
        ("poll_project", Access::Doer, json!({"id": 999999})),
        (
            "list_versions",
            Access::Viewer,
            json!({"query": {"project": 999999, "filter": "", "include_removed": false,
            "sort": "newest", "page": 0}}),
        ),
        ("get_project_config", Access::Viewer, json!({"id": 999999})),
        (
            "save_project_config",
            Access::Doer,
            json!({"id": 999999, "config": {"url_templates": [], "templates": [], "variables": []}}),
        ),
        ("get_version", Access::Viewer, json!({"id": 999999})),
        (
            "save_version",
            Access::Doer,
            json!({"version": {"id": 999999, "redeploy_policy": "manual", "overrides": {}}}),
        ),
        (
            "set_version_select_values",
            Access::Viewer,
            json!({"id": 999999, "values": {}}),
        ),
        ("preview_configuration", Access::Viewer, json!({"id": 999999})),
        ("export_project", Access::Viewer, json!({"id": 999999})),
        ("get_project_policy", Access::Viewer, json!({"id": 999999})),
        (
            "save_project_policy",
            Access::Admin,
            json!({"id": 999999, "policy": {"kinds": [], "cluster_kinds": [], "namespaces": [],
            "pod_security": "baseline"}}),
        ),
        ("get_cluster_info", Access::Viewer, json!({})),
        ("list_namespaces", Access::Doer, json!({})),
        ("create_namespace", Access::Admin, json!({"name": ""})),
        ("delete_namespace", Access::Admin, json!({"id": 999999})),
        ("deploy_version", Access::Viewer, json!({"id": 999999})),
        ("stop_version", Access::Viewer, json!({"id": 999999})),
        ("extend_version", Access::Viewer, json!({"id": 999999})),
        (
            "deploy_or_stop_versions",
            Access::Viewer,
            json!({"ids": [999999], "deploy": false}),
        ),
        ("get_deployment", Access::Viewer, json!({"id": 999999})),
        (
            "list_deployments",
            Access::Viewer,
            json!({"project": null, "search": ""}),
        ),
        ("search_versions", Access::Viewer, json!({"text": "x"})),
        (
            "pod_logs",
            Access::Viewer,
            json!({"id": 999999, "pod": "p", "container": "c", "tail": 10}),
        ),
        (
            "check_template",
            Access::Doer,
            json!({"name": "web", "content": "a: 1", "variables": []}),
        ),
        (
            "import_project",
            Access::Doer,
            json!({"import": {"json": "{}", "name": "", "registry": null}}),
        ),
    ]
}

#[tokio::test]
async fn every_server_function_is_in_the_matrix() {
    // Registration happens on first use of the registry.
    let registered: BTreeSet<String> = server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    let listed: BTreeSet<String> = matrix().iter().map(|(e, _, _)| format!("/api/{e}")).collect();
    assert!(!registered.is_empty());
    let missing: Vec<_> = registered.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "server functions without a row in the role matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix rows for server functions that do not exist: {stale:?}"
    );
}

#[tokio::test]
async fn role_matrix() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    server.user_with_role(&admin, "viewer", "VIEWER").await;
    server.user_with_role(&admin, "doer", "DOER").await;
    type Credentials = Option<(&'static str, &'static str)>;
    let callers: [(&str, Credentials, Access); 4] = [
        ("anonymous", None, Access::Public),
        ("VIEWER", Some(("viewer", "viewer-password")), Access::Viewer),
        ("DOER", Some(("doer", "doer-password")), Access::Doer),
        (
            "ADMIN",
            Some(("admin", crate::harness::ADMIN_PASSWORD)),
            Access::Admin,
        ),
    ];
    let mut failures = vec![];
    for (endpoint, required, args) in matrix() {
        for (who, creds, level) in callers {
            // A fresh session per call: logout or a password change must not leak into the next row.
            let api: Api = match creds {
                Some((u, p)) => server.login(u, p).await,
                None => server.client(),
            };
            let (status, body) = api.call(endpoint, args.clone()).await;
            let allowed = level >= required;
            let refused = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
            let expected_refusal = if level == Access::Public {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            if allowed && refused {
                failures.push(format!(
                    "{endpoint} as {who}: refused ({status}) but should be allowed: {body}"
                ));
            }
            if !allowed && status != expected_refusal {
                failures.push(format!(
                    "{endpoint} as {who}: {status} but expected {expected_refusal}: {body}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role matrix violations:\n{}",
        failures.join("\n")
    );
    // Nothing the refused or invalid calls did changed the users.
    assert_eq!(admin.usernames().await, ["admin", "doer", "viewer"]);
}

/// Pages are rendered with the session's user already known (looked up once per request before
/// the render): the role gate and the top bar are in the server's HTML, and the user is handed
/// to the browser for hydration. A role change takes effect on the next request.
#[tokio::test]
async fn pages_render_the_role_gate_on_the_server() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let viewer = server.user_with_role(&admin, "pageviewer", "VIEWER").await;
    let page = |api: &Api, path: &'static str| {
        let req = api.client.get(format!("{}{path}", api.base));
        async move {
            let resp = req.send().await.expect("page requested");
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            resp.text().await.expect("page body")
        }
    };

    let html = page(&admin, "/admin/users").await;
    assert!(html.contains("<h1>Users</h1>"), "{html}");
    // The top bar shows the user's label (display name, else username) and role.
    assert!(html.contains(r#"class="user-name">"#), "{html}");
    assert!(html.contains(r#"class="role-badge">ADMIN<"#), "{html}");
    assert!(!html.contains("Loading…"), "no suspended gate: {html}");

    let html = page(&viewer, "/admin/users").await;
    assert!(html.contains("Access denied"), "{html}");
    assert!(html.contains("This page needs the ADMIN role."), "{html}");
    let html = page(&viewer, "/account").await;
    assert!(
        html.contains("Your account") && html.contains("pageviewer"),
        "{html}"
    );

    let html = page(&server.client(), "/projects").await;
    assert!(html.contains("Please log in"), "{html}");

    // Promoted: the next page load knows it.
    let (status, users) = admin.call("list_users", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "pageviewer")
        .unwrap()["id"]
        .clone();
    let (status, body) = admin
        .call(
            "update_user",
            json!({"update": {"id": id, "display_name": "", "email": "", "role": "ADMIN"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let html = page(&viewer, "/admin/users").await;
    assert!(html.contains("<h1>Users</h1>"), "{html}");
}
