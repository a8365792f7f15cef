//! Projects and the tag poller end to end: the real server polls Debian's docker-registry (and a
//! token-protected, paging, fault-injecting front of it), turns tags into versions, records
//! digest changes and removed tags, and takes webhooks.

use crate::{
    fixtures::{FakeFault, FakeRegistry, LocalRegistry, ProxyMode, TestTls, TokenProxy},
    harness::{Api, TestServer},
    tags::{host, push_image, pusher},
};
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";

async fn add_registry(admin: &Api, name: &str, url: &str, extra: Value) -> Value {
    let mut reg = json!({"id": null, "name": name, "url": url, "insecure_http": url.starts_with("http://"),
        "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false,
        "webhook_secret": null});
    for (k, v) in extra.as_object().unwrap() {
        reg[k] = v.clone();
    }
    let (status, body) = admin
        .call("save_docker_registry", json!({ "registry": reg }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn project(name: &str, registry: &Value, repo: &str) -> Value {
    json!({"id": null, "name": name, "registry": registry["id"], "image_repository": repo,
        "redeploy_policy": "manual", "lifetime": "infinite", "tag_include": "", "tag_exclude": "",
        "ignore_signature_tags": true, "poll_interval_secs": ""})
}

async fn save_project(api: &Api, p: Value) -> Value {
    let (status, body) = api.call("save_project", json!({ "project": p })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn versions(api: &Api, project: &Value, include_removed: bool) -> Vec<Value> {
    let (status, body) = api
        .call(
            "list_versions",
            json!({"query": {"project": project["id"], "filter": "", "include_removed": include_removed,
                "sort": "name", "page": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

fn names(v: &[Value]) -> Vec<String> {
    v.iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
}

async fn get_project(api: &Api, project: &Value) -> Value {
    let (status, body) = api.call("get_project", json!({"id": project["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits until `cond` holds for the project's versions (the background poller is at work).
async fn wait_versions(
    api: &Api,
    project: &Value,
    what: &str,
    cond: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = versions(api, project, true).await;
        if cond(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {v:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn poll_now(api: &Api, project: &Value) -> (StatusCode, Value) {
    api.call("poll_project", json!({"id": project["id"]})).await
}

async fn push(reg: &LocalRegistry, repo: &str, tag: &str, created: &str, content: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = pusher(reg);
    push_image(
        (&client, &RegistryAuth::Anonymous, &host(reg)),
        (repo, tag),
        "amd64",
        created,
        content,
    )
    .await
}

#[tokio::test]
async fn tags_become_versions_and_changes_are_recorded() {
    let reg = LocalRegistry::start(None, None);
    for (tag, created) in [
        ("main", "2026-05-01T10:00:00Z"),
        ("feature-x", "2026-05-02T10:00:00Z"),
    ] {
        push(&reg, "team/app", tag, created, tag).await;
    }
    push(
        &reg,
        "team/app",
        "sha256-0123abcd.sig",
        "2026-05-02T10:00:00Z",
        "sig",
    )
    .await;

    let server = TestServer::start().await;
    let admin = server.admin().await;
    let doer = server.user_with_role(&admin, "doer", "DOER").await;
    let viewer = server.user_with_role(&admin, "viewer", "VIEWER").await;
    let registry = add_registry(&admin, "Local", &reg.url, json!({})).await;
    let p = save_project(&doer, project("App", &registry, "team/app")).await;

    // The background poller finds both tags; the signature tag is ignored by default.
    let found = wait_versions(&viewer, &p, "two versions", |v| v.len() == 2).await;
    assert_eq!(names(&found), ["feature-x", "main"]);
    let main = found.iter().find(|v| v["name"] == "main").unwrap();
    assert!(main["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(main["image_created_at"], "2026-05-01T10:00:00Z");
    assert_eq!(main["image_updated_at"], Value::Null);
    assert_eq!(main["redeploy_policy"], "manual", "copied from the project");
    let status = get_project(&viewer, &p).await;
    assert_eq!(status["poll"]["last_error"], Value::Null);
    assert_eq!(status["versions"], 2);

    // Overwriting a tag: "Poll now" checks every digest and records the change.
    let new_digest = push(&reg, "team/app", "main", "2026-06-01T10:00:00Z", "main v2").await;
    let (status, report) = poll_now(&doer, &p).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["digest_changes"], json!(["main"]));
    let now = versions(&viewer, &p, false).await;
    let main = now.iter().find(|v| v["name"] == "main").unwrap();
    assert_eq!(main["digest"], json!(new_digest));
    assert!(main["image_updated_at"].is_string(), "{main}");

    // A deleted tag marks its version removed, never deletes it.
    let http = reqwest::Client::new();
    let d = push(&reg, "team/app", "feature-x", "2026-05-02T10:00:00Z", "feature-x").await;
    let del = http
        .delete(format!("{}/v2/team/app/manifests/{d}", reg.url))
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success(), "{}", del.status());
    let (_, report) = poll_now(&doer, &p).await;
    assert_eq!(report["removed_versions"], json!(["feature-x"]), "{report}");
    assert_eq!(names(&versions(&viewer, &p, false).await), ["main"]);
    let all = versions(&viewer, &p, true).await;
    let removed = all.iter().find(|v| v["name"] == "feature-x").unwrap();
    assert!(removed["removed_at"].is_string());

    // The tag comes back: the same version is restored.
    push(
        &reg,
        "team/app",
        "feature-x",
        "2026-05-03T10:00:00Z",
        "feature-x again",
    )
    .await;
    let (_, report) = poll_now(&doer, &p).await;
    assert_eq!(report["restored_versions"], json!(["feature-x"]), "{report}");
    assert_eq!(removed["id"], versions(&viewer, &p, false).await[0]["id"]);

    // A changed filter applies on the next poll.
    let mut edit = project("App", &registry, "team/app");
    edit["id"] = p["id"].clone();
    edit["tag_exclude"] = json!("^feature-");
    save_project(&doer, edit.clone()).await;
    // Saving wakes the background poller, which may get there first: check the outcome.
    let (status, report) = poll_now(&doer, &p).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["tags_seen"], 1, "{report}");
    assert_eq!(names(&versions(&viewer, &p, false).await), ["main"]);

    // Bad filters and intervals are field errors.
    edit["tag_include"] = json!("(unclosed");
    edit["poll_interval_secs"] = json!("1");
    let (status, body) = doer.call("save_project", json!({ "project": edit })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tag_include", "poll_interval_secs"]);
    let mut bad = project("Other", &registry, "registry.example.com/team/app:v1");
    let (status, body) = doer.call("save_project", json!({ "project": bad.clone() })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("Leave out"), "{body}");
    bad["name"] = json!("App");
    bad["image_repository"] = json!("team/other");
    let (status, body) = doer.call("save_project", json!({ "project": bad })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("already exists"), "{body}");

    // The activity log has it all, filterable by project and kind.
    let (_, log) = viewer
        .call(
            "list_activity",
            json!({"query": {"kind": "version", "project": p["id"], "page": 0}}),
        )
        .await;
    let kinds: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "version.created",
        "version.image_changed",
        "version.removed",
        "version.restored",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(
        log.to_string().contains("\"actor\":\"doer\""),
        "poll now is the doer's: {log}"
    );

    // A registry in use cannot be deleted; the refusal names the project.
    let (status, body) = admin
        .call("delete_docker_registry", json!({"id": registry["id"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("App"), "{body}");

    // Deleting the project frees the registry.
    let (status, body) = doer.call("delete_project", json!({"id": p["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin
        .call("delete_docker_registry", json!({"id": registry["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn webhooks_trigger_a_poll_only_when_authenticated() {
    let reg = LocalRegistry::start(None, None);
    push(&reg, "team/hooked", "v1", "2026-05-01T10:00:00Z", "v1").await;
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let registry = add_registry(&admin, "Hooked", &reg.url, json!({})).await;
    let path = registry["webhook_path"].as_str().unwrap().to_owned();
    assert_eq!(registry["webhook_secret_set"], false);
    let mut p = project("Hooked", &registry, "team/hooked");
    // A day between polls: only the webhook can make the next tag appear quickly.
    p["poll_interval_secs"] = json!("86400");
    let p = save_project(&admin, p).await;
    wait_versions(&admin, &p, "first poll", |v| v.len() == 1).await;
    push(&reg, "team/hooked", "v2", "2026-05-02T10:00:00Z", "v2").await;

    let http = reqwest::Client::new();
    let body = json!({"events": [{"action": "push", "target": {"repository": "team/hooked", "tag": "v2"}}]})
        .to_string();
    let hook = |url: String, auth: Option<&str>| {
        let mut req = http.post(url).body(body.clone());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    // No secret configured yet: refused.
    let r = hook(format!("{}{path}", server.base), Some("Bearer anything"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let with_secret = json!({"id": registry["id"], "name": "Hooked", "url": reg.url, "insecure_http": true,
        "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false,
        "webhook_secret": WEBHOOK_SECRET});
    let (status, saved) = admin
        .call("save_docker_registry", json!({ "registry": with_secret }))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["webhook_secret_set"], true);
    assert_eq!(saved["webhook_path"], json!(path), "the URL stays the same");
    assert!(!saved.to_string().contains(WEBHOOK_SECRET));

    let unknown = hook(
        format!("{}/hooks/registry/not-a-token", server.base),
        Some(WEBHOOK_SECRET),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let wrong = hook(format!("{}{path}", server.base), Some("Bearer wrong-secret"))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        versions(&admin, &p, true).await.len(),
        1,
        "a refused call polls nothing"
    );

    // Signed with HMAC-SHA256: accepted, and the project is polled at once.
    let signature = {
        use sha2::Digest;
        let mut key = [0u8; 64];
        key[..WEBHOOK_SECRET.len()].copy_from_slice(WEBHOOK_SECRET.as_bytes());
        let inner = sha2::Sha256::new()
            .chain_update(key.map(|b| b ^ 0x36))
            .chain_update(body.as_bytes())
            .finalize();
        let outer = sha2::Sha256::new()
            .chain_update(key.map(|b| b ^ 0x5c))
            .chain_update(inner)
            .finalize();
        format!("sha256={}", hex::encode(outer))
    };
    let r = http
        .post(format!("{}{path}", server.base))
        .header("x-hub-signature-256", signature)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["polling"], json!(["Hooked"]));
    let v = wait_versions(&admin, &p, "v2 after the webhook", |v| v.len() == 2).await;
    assert_eq!(names(&v), ["v1", "v2"]);

    // Docker Hub style, with the secret in the query; garbage is a 400.
    let r = http
        .post(format!("{}{path}?secret={WEBHOOK_SECRET}", server.base))
        .body(json!({"push_data": {"tag": "v2"}, "repository": {"repo_name": "team/hooked"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = hook(format!("{}{path}", server.base), Some(WEBHOOK_SECRET))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "Harbor sends the bare secret");
    let r = http
        .post(format!("{}{path}", server.base))
        .header("authorization", format!("Bearer {WEBHOOK_SECRET}"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bearer_tokens_paging_and_failures() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream = LocalRegistry::start(None, None);
    for i in 0..25 {
        push(
            &upstream,
            "team/paged",
            &format!("v{i:02}"),
            "2026-01-01T00:00:00Z",
            &format!("layer {i}"),
        )
        .await;
    }
    let proxy = TokenProxy::start(&upstream, ("robot", "robot-pw-1"), 2).await;

    // The tag client alone: three pages via Link, one token, renewed after it expires.
    let conn = server::registry::check::RegistryConn {
        url: proxy.url.clone(),
        ca_pem: None,
        skip_tls_verify: false,
        auth: server::registry::check::Credentials::Basic("robot".into(), "robot-pw-1".into()),
    };
    let client = server::registry::tags::TagClient::new(&conn).unwrap();
    let tags = client.list_tags("team/paged", 10).await.unwrap();
    assert_eq!(tags.len(), 25);
    assert_eq!(proxy.tag_pages.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(proxy.tokens_issued.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(client.digest("team/paged", "v03").await.unwrap().is_some());
    assert_eq!(
        proxy.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "token reused"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(client.list_tags("team/paged", 100).await.unwrap().len(), 25);
    assert_eq!(
        proxy.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "an expired token is renewed"
    );

    // Through the server: each failure is specific, shown on the project, and the poller keeps
    // polling the healthy project meanwhile.
    let server = TestServer::start_with(|c| c.poll_interval = 5).await;
    let admin = server.admin().await;
    let tokened = add_registry(
        &admin,
        "Tokened",
        &proxy.url,
        json!({"auth": "basic", "username": "robot", "secret": "robot-pw-1"}),
    )
    .await;
    let healthy_reg = add_registry(&admin, "Healthy", &upstream.url, json!({})).await;
    let p = save_project(&admin, project("Paged", &tokened, "team/paged")).await;
    let healthy = save_project(&admin, project("Healthy", &healthy_reg, "team/paged")).await;
    wait_versions(&admin, &p, "25 versions through the token proxy", |v| {
        v.len() == 25
    })
    .await;

    proxy.set_mode(ProxyMode::RateLimited);
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.to_string()
            .contains("rate limiting us (429, retry after 30 s)"),
        "{body}"
    );
    let shown = get_project(&admin, &p).await;
    assert!(
        shown["poll"]["last_error"].as_str().unwrap().contains("429"),
        "{shown}"
    );
    assert!(shown["poll"]["failures"].as_u64().unwrap() >= 1);

    let before = get_project(&admin, &healthy).await["poll"]["last_poll_at"].clone();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = get_project(&admin, &healthy).await["poll"]["last_poll_at"].clone();
        if now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the healthy project was not polled again"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    proxy.set_mode(ProxyMode::Garbage);
    let (_, body) = poll_now(&admin, &p).await;
    assert!(body.to_string().contains("not a tag list"), "{body}");

    proxy.set_mode(ProxyMode::Normal);
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(get_project(&admin, &p).await["poll"]["last_error"], Value::Null);
    assert_eq!(
        versions(&admin, &p, false).await.len(),
        25,
        "nothing lost while failing"
    );

    // Wrong password, unreachable host, unknown CA.
    let wrong = json!({"id": tokened["id"], "name": "Tokened", "url": proxy.url, "insecure_http": true,
        "auth": "basic", "username": "robot", "secret": "wrong-password", "ca_pem": "",
        "skip_tls_verify": false});
    let (status, body) = admin
        .call("save_docker_registry", json!({ "registry": wrong }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = poll_now(&admin, &p).await;
    assert!(body.to_string().contains("token service"), "{body}");
    assert!(!body.to_string().contains("wrong-password"), "{body}");

    let closed = add_registry(&admin, "Closed", "http://127.0.0.1:9", json!({})).await;
    let dead = save_project(&admin, project("Dead", &closed, "team/paged")).await;
    let (_, body) = poll_now(&admin, &dead).await;
    assert!(body.to_string().contains("could not connect"), "{body}");

    let tls = TestTls::new();
    let tls_reg = LocalRegistry::start(Some(&tls), None);
    let untrusted = add_registry(&admin, "Untrusted", &tls_reg.url, json!({})).await;
    let mistrust = save_project(&admin, project("Mistrust", &untrusted, "team/paged")).await;
    let (_, body) = poll_now(&admin, &mistrust).await;
    assert!(body.to_string().contains("TLS"), "{body}");
}

#[tokio::test]
async fn basic_auth_over_tls_with_custom_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = TestTls::new();
    let reg = LocalRegistry::start(Some(&tls), Some(("robot", "robot-secret-1")));
    let client = pusher(&reg);
    push_image(
        (
            &client,
            &RegistryAuth::Basic("robot".into(), "robot-secret-1".into()),
            &host(&reg),
        ),
        ("private/app", "main"),
        "amd64",
        "2026-01-01T00:00:00Z",
        "x",
    )
    .await;
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let registry = add_registry(
        &admin,
        "Private",
        &reg.url,
        json!({"auth": "basic", "username": "robot", "secret": "robot-secret-1", "ca_pem": tls.ca_pem}),
    )
    .await;
    let p = save_project(&admin, project("Private", &registry, "private/app")).await;
    let v = wait_versions(&admin, &p, "the private version", |v| v.len() == 1).await;
    assert_eq!(names(&v), ["main"]);
    assert_eq!(v[0]["image_created_at"], "2026-01-01T00:00:00Z");
}

#[tokio::test]
async fn deployed_versions_get_their_digest_checked_on_every_poll() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    use server::db::entity::project_version;
    let reg = LocalRegistry::start(None, None);
    push(&reg, "team/live", "main", "2026-05-01T10:00:00Z", "main").await;
    push(&reg, "team/live", "other", "2026-05-01T10:00:00Z", "other").await;
    let server = TestServer::start_with(|c| c.poll_interval = 5).await;
    let admin = server.admin().await;
    let registry = add_registry(&admin, "Live", &reg.url, json!({})).await;
    let p = save_project(&admin, project("Live", &registry, "team/live")).await;
    wait_versions(&admin, &p, "two versions", |v| v.len() == 2).await;

    // Deploying is not built yet: mark the version deployed in the database, as it will.
    let db = server::db::connect_and_migrate(&server.config.database_url())
        .await
        .unwrap();
    let main = project_version::Entity::find()
        .filter(project_version::Column::Name.eq("main"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut am: project_version::ActiveModel = main.into();
    am.deployed = Set(true);
    am.update(&db).await.unwrap();

    push(&reg, "team/live", "main", "2026-06-01T10:00:00Z", "main v2").await;
    push(&reg, "team/live", "other", "2026-06-01T10:00:00Z", "other v2").await;
    let v = wait_versions(&admin, &p, "the scheduler to see main's new image", |v| {
        v.iter()
            .any(|v| v["name"] == "main" && v["image_updated_at"].is_string())
    })
    .await;
    let other = v.iter().find(|v| v["name"] == "other").unwrap();
    assert_eq!(
        other["image_updated_at"],
        Value::Null,
        "versions that are not deployed are not checked on periodic polls"
    );
    let (_, log) = admin
        .call(
            "list_activity",
            json!({"query": {"kind": "version.image_changed", "project": p["id"], "page": 0}}),
        )
        .await;
    assert_eq!(log["items"][0]["actor"], "scheduler", "{log}");
    assert_eq!(log["total"], 1, "{log}");
}

/// The version list: 50 per page, sorted by newest image or by name, filtered by tag text.
#[tokio::test]
async fn versions_are_paged_sorted_and_filtered() {
    let reg = LocalRegistry::start(None, None);
    // 52 tags, v00 the newest image, v51 the oldest.
    for i in 0..52u32 {
        let created = format!("2026-03-{:02}T{:02}:00:00Z", 28 - i / 24, 23 - i % 24);
        push(&reg, "team/many", &format!("v{i:02}"), &created, &format!("c{i}")).await;
    }
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let registry = add_registry(&admin, "Local", &reg.url, json!({})).await;
    let p = save_project(&admin, project("Many", &registry, "team/many")).await;
    let page = |sort: &'static str, page: u64, filter: &'static str| {
        let (admin, p) = (&admin, &p);
        async move {
            let (status, body) = admin
                .call(
                    "list_versions",
                    json!({"query": {"project": p["id"], "filter": filter, "include_removed": false,
                        "sort": sort, "page": page}}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while page("name", 0, "").await["total"] != 52 {
        assert!(Instant::now() < deadline, "the tags were not all polled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = page("name", 0, "").await;
    assert_eq!(first["page_size"], 50);
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert_eq!(items[0]["name"], "v00");
    assert_eq!(items[49]["name"], "v49");
    let second = page("name", 1, "").await;
    assert_eq!(names(second["items"].as_array().unwrap()), ["v50", "v51"]);
    // Newest image first: v00 was built last.
    let newest = page("newest", 0, "").await;
    assert_eq!(newest["items"][0]["name"], "v00");
    assert_eq!(newest["items"][1]["name"], "v01");
    let oldest_last = page("newest", 1, "").await;
    assert_eq!(names(oldest_last["items"].as_array().unwrap()), ["v50", "v51"]);
    let filtered = page("name", 0, "v1").await;
    assert_eq!(filtered["total"], 10);
    assert_eq!(filtered["items"][0]["name"], "v10");
}

/// The server still answers.
async fn healthy(server: &TestServer) {
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("the server answers");
    assert_eq!(health.text().await.unwrap(), "ok");
}

/// A project polled only when asked (a day between polls).
async fn quiet_project(admin: &Api, name: &str, registry: &Value, repo: &str) -> Value {
    let mut p = project(name, registry, repo);
    p["poll_interval_secs"] = json!("86400");
    save_project(admin, p).await
}

/// Issue 16: a registry whose tag list pages with a `Link` to another host does not get its
/// credentials sent there: the poll fails and says why, the other host hears nothing, and no
/// version is stored from the half-read list.
#[tokio::test]
async fn a_link_to_another_host_never_gets_the_credentials() {
    let elsewhere = FakeRegistry::start(None, &["stolen"]).await;
    let reg = FakeRegistry::start(Some(("robot", "robot-pw-1")), &["a1", "a2"]).await;
    *reg.state.link.lock().unwrap() = Some(format!(
        r#"<{}/v2/team/app/tags/list?n=1000&last=a2>; rel="next""#,
        elsewhere.url
    ));
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let registry = add_registry(
        &admin,
        "Linked",
        &reg.url,
        json!({"auth": "basic", "username": "robot", "secret": "robot-pw-1"}),
    )
    .await;
    let p = quiet_project(&admin, "Linked", &registry, "team/app").await;
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("sent a Link header to another host") && message.contains(&elsewhere.url),
        "{message}"
    );
    assert!(!message.contains("robot-pw-1"), "{message}");
    assert_eq!(elsewhere.requests(), vec![], "the other host was never asked");
    assert!(
        reg.requests().iter().any(|(_, auth)| auth.is_some()),
        "the registry itself got its credentials"
    );
    assert_eq!(
        versions(&admin, &p, true).await,
        Vec::<Value>::new(),
        "nothing stored"
    );
    let shown = get_project(&admin, &p).await;
    assert!(
        shown["poll"]["last_error"]
            .as_str()
            .unwrap()
            .contains("another host"),
        "{shown}"
    );
    // A Link on the registry's own host is followed as before.
    *reg.state.link.lock().unwrap() = Some(format!(
        r#"<{}/v2/team/app/tags/list?n=1000&last=a2>; rel="next""#,
        reg.url
    ));
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&versions(&admin, &p, false).await), ["a1", "a2"]);
    assert_eq!(elsewhere.requests(), vec![]);
    healthy(&server).await;
}

/// Issue 16: only tags of the Distribution spec's grammar become versions (and so IMAGE_TAG);
/// a tag with a newline (YAML injection), a quote, a slash or a leading dash is skipped and
/// named, escaped, in the poll's report.
#[tokio::test]
async fn tags_that_are_not_valid_tags_never_become_versions() {
    let reg = FakeRegistry::start(
        None,
        &[
            "main",
            "main\nimage: evil",
            "-x",
            "v1.0",
            "a/b",
            "\"quoted\"",
            "bad\r",
        ],
    )
    .await;
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let registry = add_registry(&admin, "Odd", &reg.url, json!({})).await;
    let p = quiet_project(&admin, "Odd", &registry, "team/odd").await;
    let (status, report) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["tags_seen"], 2, "{report}");
    let skipped: Vec<&str> = report["skipped_tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for shown in [
        r#""main\nimage: evil""#,
        r#""-x""#,
        r#""a/b""#,
        r#""\"quoted\"""#,
        r#""bad\r""#,
    ] {
        assert!(skipped.contains(&shown), "{shown} in {skipped:?}");
    }
    let all = versions(&admin, &p, true).await;
    assert_eq!(names(&all), ["main", "v1.0"]);
    // Nothing with a control character reached the database, so none can reach the renderer.
    assert!(
        all.iter()
            .all(|v| !v["name"].as_str().unwrap().contains(char::is_control))
    );
    healthy(&server).await;
}

/// Issue 16: answers are read with a size limit. An error body, a token answer or a manifest
/// that never ends is cut off: the poll says what happened (or carries on without the image
/// date), the server keeps answering, and nothing stored is lost.
#[tokio::test]
async fn endless_answers_are_cut_off() {
    let reg = FakeRegistry::start(None, &["main"]).await;
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let registry = add_registry(&admin, "Endless", &reg.url, json!({})).await;
    let p = quiet_project(&admin, "Endless", &registry, "team/endless").await;
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = versions(&admin, &p, true).await;
    assert_eq!(names(&before), ["main"]);

    reg.set_fault(FakeFault::EndlessErrorBody);
    let started = Instant::now();
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.to_string().contains("answered 500"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    reg.set_fault(FakeFault::EndlessToken);
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.to_string().contains("token service") && body.to_string().contains("larger than 16 MiB"),
        "{body}"
    );
    healthy(&server).await;
    assert_eq!(
        versions(&admin, &p, true).await,
        before,
        "nothing changed while failing"
    );

    // A new tag whose manifest never ends: the version comes with its digest (from HEAD) but
    // without an image date.
    reg.set_fault(FakeFault::EndlessManifest);
    reg.state.tags.lock().unwrap().push("v2".into());
    let (status, body) = poll_now(&admin, &p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = versions(&admin, &p, true).await;
    assert_eq!(names(&after), ["main", "v2"]);
    assert!(
        after[1]["digest"].as_str().unwrap().starts_with("sha256:"),
        "{after:?}"
    );
    assert_eq!(after[1]["image_created_at"], Value::Null, "{after:?}");
    assert!(after[0]["image_created_at"].is_string(), "{after:?}");
    healthy(&server).await;
}

/// Issue 16: webhook calls queue polls within the poller's slots. 40 notifications naming four
/// projects at once never poll one registry more than its share of `--poll-concurrency` at a
/// time (here 2, so 1 per registry), and a project gets at most one poll running and one
/// waiting, not one per notification.
#[tokio::test]
async fn webhook_polls_are_bounded_by_the_pollers_concurrency() {
    let reg = FakeRegistry::start(None, &["v1"]).await;
    let server = TestServer::start_with(|c| c.poll_concurrency = 2).await;
    let admin = server.admin().await;
    let registry = add_registry(
        &admin,
        "Hooked",
        &reg.url,
        json!({"webhook_secret": WEBHOOK_SECRET}),
    )
    .await;
    let path = registry["webhook_path"].as_str().unwrap().to_owned();
    let repos = ["team/a", "team/b", "team/c", "team/d"];
    let mut projects = vec![];
    for (i, repo) in repos.iter().enumerate() {
        projects.push(quiet_project(&admin, &format!("P{i}"), &registry, repo).await);
    }
    for p in &projects {
        wait_versions(&admin, p, "the first poll", |v| v.len() == 1).await;
    }
    *reg.state.delay.lock().unwrap() = Duration::from_millis(300);
    reg.state
        .max_in_flight
        .store(0, std::sync::atomic::Ordering::SeqCst);
    reg.state.tag_lists.store(0, std::sync::atomic::Ordering::SeqCst);

    let events: Vec<Value> = repos
        .iter()
        .map(|r| json!({"action": "push", "target": {"repository": r, "tag": "v1"}}))
        .collect();
    let body = json!({ "events": events }).to_string();
    let http = reqwest::Client::new();
    let calls = (0..40).map(|_| {
        http.post(format!("{}{path}", server.base))
            .header("authorization", format!("Bearer {WEBHOOK_SECRET}"))
            .body(body.clone())
            .send()
    });
    let started = Instant::now();
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), StatusCode::ACCEPTED);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "webhook calls answer at once: {:?}",
        started.elapsed()
    );
    // Wait until the registry is quiet.
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = reg.state.tag_lists.load(std::sync::atomic::Ordering::SeqCst);
        if now == seen && now > 0 {
            break;
        }
        seen = now;
        assert!(Instant::now() < deadline, "polls never settled: {now}");
    }
    let max = reg.state.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(max, 1, "at most one poll of this registry at a time");
    assert!(
        (4..=8).contains(&seen),
        "each project polled, at most twice (not 40 times): {seen}"
    );
    healthy(&server).await;
}
