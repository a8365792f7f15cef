//! The REST API (`/api/v1/`) over HTTP with personal API tokens: the token life cycle (created,
//! used, capped, expired, revoked, its user deleted), the role matrix over every documented
//! route, the OpenAPI document (validated, and matching the routes), and a CI pipeline's run
//! against the simulated cluster: poll, find the tag, deploy and wait, read the URL, stop.

use crate::{
    deploy::{World, push_tag},
    harness::{Api, TestServer},
};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A REST client with (or without) a bearer token.
struct Rest {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Rest {
    fn new(base: &str, token: Option<&str>) -> Self {
        Rest {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.map(str::to_owned),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::POST, path, None).await
    }
}

/// Creates a token through the UI's server function; returns its secret.
async fn token(api: &Api, name: &str, days: &str, cap: &str) -> String {
    let (status, body) = api
        .call(
            "create_token",
            json!({"token": {"name": name, "expires_in_days": days, "role_cap": cap}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("onk_"), "{secret}");
    secret
}

async fn my_tokens(api: &Api) -> Vec<Value> {
    let (status, body) = api.call("list_my_tokens", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

/// Sets a token's expiry in the database directly: the one way to let time pass.
async fn expire(server: &TestServer, name: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = server::db::connect_and_migrate(&server.config.database_url())
        .await
        .unwrap();
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "UPDATE api_tokens SET expires_at = $1 WHERE name = $2",
        _ => "UPDATE api_tokens SET expires_at = ? WHERE name = ?",
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [past.into(), name.into()],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn tokens_are_created_used_capped_expired_and_revoked() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let viewer = server.user_with_role(&admin, "viewer", "VIEWER").await;

    // No token, a token of another scheme, a made-up token: 401 with the reason, as JSON.
    for (rest, reason) in [
        (Rest::new(&server.base, None), "Send an API token"),
        (
            Rest::new(&server.base, Some("not-a-token")),
            "not an O-Neko API token",
        ),
        (
            Rest::new(&server.base, Some(&format!("onk_1_{}", "0".repeat(64)))),
            "revoked",
        ),
    ] {
        let (status, body) = rest.get("/api/v1/projects").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["kind"], "unauthenticated");
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
    let resp = reqwest::get(format!("{}/api/v1/projects", server.base))
        .await
        .unwrap();
    assert_eq!(
        resp.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"O-Neko\""
    );

    // Created, shown once, listed without its secret, used (last-used recorded).
    let secret = token(&viewer, "ci", "30", "").await;
    let listed = my_tokens(&viewer).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "ci");
    assert!(listed[0]["last_used_at"].is_null());
    assert!(
        !listed.iter().any(|t| t.to_string().contains(&secret[10..])),
        "the secret is never listed"
    );
    let (_, again) = viewer
        .call(
            "create_token",
            json!({"token": {"name": "ci", "expires_in_days": "", "role_cap": ""}}),
        )
        .await;
    assert!(
        again["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already have a token named"),
        "{again}"
    );
    let (status, more) = viewer
        .call(
            "create_token",
            json!({"token": {"name": "x", "expires_in_days": "", "role_cap": "ADMIN"}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a VIEWER cannot make an ADMIN token: {more}"
    );

    let rest = Rest::new(&server.base, Some(&secret));
    let (status, page) = rest.get("/api/v1/projects").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page, json!({"items": [], "total": 0, "page": 1, "per_page": 50}));
    assert!(!my_tokens(&viewer).await[0]["last_used_at"].is_null());
    // The viewer's token acts as a VIEWER: polling needs DOER.
    let (status, body) = rest.post("/api/v1/projects/1/poll").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{body}"
    );
    // Bad paging and unknown routes are JSON errors too.
    let (status, body) = rest.get("/api/v1/projects?page=0").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")),
        "{body}"
    );
    let (status, body) = rest.get("/api/v1/projects/abc").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{body}"
    );
    let (status, body) = rest.get("/api/v1/nothing/here").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{body}"
    );

    // An ADMIN's token capped at VIEWER acts as a VIEWER.
    let capped = token(&admin, "read-only", "", "VIEWER").await;
    let (status, _) = Rest::new(&server.base, Some(&capped))
        .post("/api/v1/projects/1/poll")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let full = token(&admin, "full", "", "").await;
    let (status, _) = Rest::new(&server.base, Some(&full))
        .post("/api/v1/projects/1/poll")
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an ADMIN token may poll (the project does not exist)"
    );

    // Expired.
    expire(&server, "ci").await;
    let (status, body) = rest.get("/api/v1/projects").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");

    // Revoked: a VIEWER cannot revoke another user's token; its owner and ADMINs can.
    let second = token(&viewer, "second", "", "").await;
    let admins_token = my_tokens(&admin).await[0]["id"].clone();
    let (status, _) = viewer.call("revoke_token", json!({"id": admins_token})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, all) = admin.call("list_all_tokens", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let owners: BTreeSet<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, BTreeSet::from(["admin", "viewer"]));
    let second_id = my_tokens(&viewer)
        .await
        .iter()
        .find(|t| t["name"] == "second")
        .unwrap()["id"]
        .clone();
    let (status, body) = admin.call("revoke_token", json!({"id": second_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = Rest::new(&server.base, Some(&second))
        .get("/api/v1/projects")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Its user deleted.
    let doer = server.user_with_role(&admin, "doer", "DOER").await;
    let doers = token(&doer, "ci", "", "").await;
    let (status, _) = Rest::new(&server.base, Some(&doers))
        .get("/api/v1/projects")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, users) = admin.call("list_users", json!({})).await;
    let doer_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "doer")
        .unwrap()["id"]
        .clone();
    let (status, _) = admin.call("delete_user", json!({"id": doer_id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = Rest::new(&server.base, Some(&doers))
        .get("/api/v1/projects")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The activity log names who created and revoked what.
    let (_, page) = admin
        .call(
            "list_activity",
            json!({"query": {"kind": "token.revoked", "project": null, "page": 0}}),
        )
        .await;
    assert_eq!(page["items"][0]["actor"], "admin");
    assert_eq!(page["items"][0]["subject"], "viewer/second");
}

/// Who may call a route: the same roles as the UI's server functions.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
enum Access {
    Viewer,
    Doer,
}

#[tokio::test]
async fn a_tokens_last_use_is_kept_in_the_database() {
    let mut server = TestServer::start().await;
    let admin = server.admin().await;
    let secret = token(&admin, "ci", "", "").await;
    let (status, _) = Rest::new(&server.base, Some(&secret))
        .get("/api/v1/projects")
        .await;
    assert_eq!(status, StatusCode::OK);
    // The use is written in the background; a clean shutdown waits for it, and a new server
    // (which knows only the database) lists it.
    server.pause().await;
    server.resume().await;
    let listed = my_tokens(&server.admin().await).await;
    let used = listed[0]["last_used_at"].as_str().expect("a last use");
    let used: chrono::DateTime<chrono::Utc> = used.parse().unwrap();
    assert!(chrono::Utc::now() - used < chrono::Duration::minutes(1), "{used}");
}

/// Every REST operation: method, path (as documented), required role, and a body that decodes.
fn matrix() -> Vec<(Method, &'static str, Access, Option<Value>)> {
    use Access::*;
    vec![
        (Method::GET, "/api/v1/projects", Viewer, None),
        (Method::GET, "/api/v1/projects/{id}", Viewer, None),
        (Method::GET, "/api/v1/projects/{id}/versions", Viewer, None),
        (Method::POST, "/api/v1/projects/{id}/poll", Doer, None),
        (Method::GET, "/api/v1/versions/{id}", Viewer, None),
        (Method::POST, "/api/v1/versions/{id}/deploy", Viewer, None),
        (Method::POST, "/api/v1/versions/{id}/redeploy", Viewer, None),
        (Method::POST, "/api/v1/versions/{id}/stop", Viewer, None),
        (Method::POST, "/api/v1/versions/{id}/extend", Viewer, None),
        (
            Method::PUT,
            "/api/v1/versions/{id}/stop-time",
            Viewer,
            Some(json!({"at": "2030-01-01T00:00:00Z"})),
        ),
        (
            Method::PUT,
            "/api/v1/versions/{id}/select-values",
            Viewer,
            Some(json!({"values": {}})),
        ),
    ]
}

#[tokio::test]
async fn role_matrix_over_every_documented_route_and_a_valid_document() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let viewer = server.user_with_role(&admin, "viewer", "VIEWER").await;
    let doer = server.user_with_role(&admin, "doer", "DOER").await;
    let callers = [
        ("anonymous", None, None),
        (
            "VIEWER",
            Some(token(&viewer, "m", "", "").await),
            Some(Access::Viewer),
        ),
        ("DOER", Some(token(&doer, "m", "", "").await), Some(Access::Doer)),
        (
            "ADMIN",
            Some(token(&admin, "m", "", "").await),
            Some(Access::Doer),
        ),
    ];

    // The document lists exactly the matrix's operations.
    let (status, doc) = Rest::new(&server.base, None).get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "the document is public");
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let listed: BTreeSet<String> = matrix().iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    assert_eq!(documented, listed, "documented operations vs the role matrix");

    let mut failures = vec![];
    for (method, path, required, body) in matrix() {
        // Ids that do not exist: an allowed caller gets 404 (or the empty list), never data.
        let url = path.replace("{id}", "999999");
        for (who, token, level) in &callers {
            let rest = Rest::new(&server.base, token.as_deref());
            let (status, answer) = rest.send(method.clone(), &url, body.clone()).await;
            let expected_ok = level.is_some_and(|l| l >= required);
            let ok = match (level, expected_ok) {
                (None, _) => status == StatusCode::UNAUTHORIZED,
                (Some(_), false) => status == StatusCode::FORBIDDEN,
                // The list, or the id that does not exist.
                (Some(_), true) => status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            };
            // Every error is JSON with its kind.
            if !ok || (!status.is_success() && answer["kind"].as_str().is_none()) {
                failures.push(format!("{method} {url} as {who}: {status} {answer}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The document is valid OpenAPI (openapi-spec-validator from PyPI, installed by tools/setup.sh).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The values of the sample chart with a message placeholder.
const WEB: &str = "image: \"{{ IMAGE }}\"\nmessage: \"{{ MESSAGE }}\"\nhost: \"{{ URLS[0] }}\"\n";

#[tokio::test]
async fn a_ci_pipeline_deploys_waits_reads_the_url_and_stops() {
    let w = World::start().await;
    let cfg = json!({"url_templates": ["{{ SAFE_VERSION_NAME }}.ci.example"],
    "templates": [w.template("web", WEB)],
    "variables": [
        {"name": "MESSAGE", "label": "Message", "default_value": "hello", "use_values": true,
         "values": ["hello", "bonjour"], "show_on_dashboard": true},
    ]});
    let (project, versions) = w.project("Shop", "team/shop", &["main"], cfg, "").await;
    let id = project["id"].as_i64().unwrap();
    let ci = Rest::new(&w.server.base, Some(&token(&w.doer, "pipeline", "", "").await));
    let viewer = Rest::new(&w.server.base, Some(&token(&w.viewer, "dashboard", "", "").await));

    // The pipeline pushed a tag: poll, then find its version by the exact tag.
    push_tag(&w.reg, "team/shop", "feature-1", "team/shop:feature-1").await;
    let (status, polled) = ci.post(&format!("/api/v1/projects/{id}/poll")).await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    assert_eq!(polled["new_versions"], json!(["feature-1"]));
    let (status, found) = ci.get("/api/v1/projects?name=Shop").await;
    assert_eq!(
        (status, found["total"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{found}"
    );
    let (status, page) = ci
        .get(&format!("/api/v1/projects/{id}/versions?tag=feature-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "exactly that tag, not main: {page}");
    let version = page["items"][0]["id"].as_i64().unwrap();
    let (_, two) = ci
        .get(&format!("/api/v1/projects/{id}/versions?per_page=1&page=2"))
        .await;
    assert_eq!(
        (two["items"].as_array().unwrap().len(), two["total"].as_u64()),
        (1, Some(2)),
        "{two}"
    );

    // Deploy and wait until it runs; the answer has the URL.
    let (status, ran) = ci
        .post(&format!(
            "/api/v1/versions/{version}/deploy?wait=Running&timeout=60"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert_eq!(ran["status"]["state"], "running");
    assert_eq!(ran["status"]["requested_by"], "doer (token pipeline)");
    assert_eq!(ran["urls"][0], "feature1.ci.example", "SAFE_VERSION_NAME: {ran}");
    assert_eq!(ran["select_variables"][0]["current"], "hello");
    let (status, seen) = viewer.get(&format!("/api/v1/versions/{version}")).await;
    assert_eq!(
        (status, &seen["status"]["state"]),
        (StatusCode::OK, &json!("running")),
        "{seen}"
    );

    // Select variables: only allowed values; a change redeploys, waited for by redeploy.
    let select = |value: &str| json!({"values": {"MESSAGE": value}});
    let (status, body) = viewer
        .send(
            Method::PUT,
            &format!("/api/v1/versions/{version}/select-values"),
            Some(select("hola")),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")),
        "{body}"
    );
    let (status, body) = viewer
        .send(
            Method::PUT,
            &format!("/api/v1/versions/{version}/select-values"),
            Some(select("bonjour")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["select_variables"][0]["current"], "bonjour");
    let (status, body) = viewer
        .post(&format!(
            "/api/v1/versions/{version}/redeploy?wait=running&timeout=60"
        ))
        .await;
    assert_eq!(
        (status, &body["status"]["state"]),
        (StatusCode::OK, &json!("running")),
        "{body}"
    );

    // The stop time: set, and refused in the past.
    let at = (chrono::Utc::now() + chrono::Duration::hours(5))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (status, body) = viewer
        .send(
            Method::PUT,
            &format!("/api/v1/versions/{version}/stop-time"),
            Some(json!({"at": at})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["status"]["stop_at"].as_str().unwrap().get(..19),
        Some(&at[..19]),
        "{body}"
    );
    let (status, body) = viewer
        .send(
            Method::PUT,
            &format!("/api/v1/versions/{version}/stop-time"),
            Some(json!({"at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert!(
        status.is_client_error() && body["kind"].is_string(),
        "{status} {body}"
    );
    let (status, body) = viewer
        .send(
            Method::PUT,
            &format!("/api/v1/versions/{version}/stop-time"),
            Some(json!({"at": "tomorrow"})),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{body}"
    );

    // Stop on merge, waiting until it is gone.
    let (status, stopped) = ci
        .post(&format!(
            "/api/v1/versions/{version}/stop?wait=stopped&timeout=60"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["status"]["state"], "not_deployed");
    let (status, body) = ci.post(&format!("/api/v1/versions/{version}/redeploy")).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "not deployed: {body}"
    );

    // A deploy that fails answers 409 with the reason.
    let main = versions[0]["id"].clone();
    let (status, body) = w
        .doer
        .call(
            "save_version",
            json!({"version": {"id": main, "redeploy_policy": "automatic", "overrides": {
                "lifetime": null, "url_templates": [], "values": {"BROKEN": "a: b: c"},
                "templates": [w.template("web", "image: \"{{ IMAGE }}\"\nmessage: {{ BROKEN }}\n")],
                "namespace": null}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = ci
        .post(&format!("/api/v1/versions/{main}/deploy?wait=running&timeout=60"))
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not render to valid YAML"),
        "{body}"
    );

    // The activity log names the token.
    let deployed = w.activity("").await;
    assert!(
        deployed.iter().any(|e| e["actor"] == "doer (token pipeline)"),
        "{deployed:?}"
    );
}
