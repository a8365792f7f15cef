//! Configuration end to end: a DOER sets a project's templates and variables, overrides them on a
//! version, a VIEWER switches a dashboard select variable (and nothing else), and "Show
//! configuration" renders exactly what would be deployed.

use crate::{
    fixtures::LocalRegistry,
    harness::{Api, TestServer},
    tags::{host, push_image, pusher},
};
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub async fn setup(server: &TestServer, reg: &LocalRegistry) -> (Api, Api, Value, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    push_image(
        (&pusher(reg), &RegistryAuth::Anonymous, &host(reg)),
        ("team/shop", "Feature_Login-2.0"),
        "amd64",
        "2026-01-01T00:00:00Z",
        "shop",
    )
    .await;
    let admin = server.admin().await;
    let doer = server.user_with_role(&admin, "doer", "DOER").await;
    let viewer = server.user_with_role(&admin, "viewer", "VIEWER").await;
    let (_, registry) = admin
        .call(
            "save_docker_registry",
            json!({"registry": {"id": null, "name": "Local", "url": reg.url, "insecure_http": true,
                "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
        )
        .await;
    let (status, project) = doer
        .call(
            "save_project",
            json!({"project": {"id": null, "name": "Shop", "registry": registry["id"],
                "image_repository": "team/shop", "redeploy_policy": "automatic", "lifetime": "days:2",
                "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true, "poll_interval_secs": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{project}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let version = loop {
        let (_, page) = doer
            .call(
                "list_versions",
                json!({"query": {"project": project["id"], "filter": "", "include_removed": false,
                    "sort": "name", "page": 0}}),
            )
            .await;
        if let Some(v) = page["items"].get(0) {
            break v.clone();
        }
        assert!(Instant::now() < deadline, "no version appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    (doer, viewer, project, version)
}

fn config() -> Value {
    json!({
        "url_templates": ["shop-{{ SAFE_VERSION_NAME }}.example.com"],
        "templates": [
            {"name": "web", "description": "The shop", "helm_registry": null, "chart_name": "shop",
             "chart_version": "1.2.3+build.7",
             "content": "image:\n  repository: {{ IMAGE_REPOSITORY }}\n  tag: \"{{ IMAGE_TAG }}\"\nbackend: {{ BACKEND }}\nreplicas: {{ REPLICAS }}\nhost: {{ URLS[0] }}\n"},
            {"name": "worker", "description": "", "helm_registry": null, "chart_name": "worker",
             "chart_version": "", "content": "queue: {{ fn.lowerCase(PROJECT_NAME) }}-{{ SAFE_VERSION_NAME }}\n"}
        ],
        "variables": [
            {"name": "BACKEND", "label": "Backend", "default_value": "https://test.example", "use_values": true,
             "values": ["https://test.example", "https://staging.example"], "show_on_dashboard": true},
            {"name": "REPLICAS", "label": "Replicas", "default_value": "1", "use_values": false,
             "values": [], "show_on_dashboard": false}
        ]
    })
}

#[tokio::test]
async fn configuration_overrides_select_variables_and_preview() {
    let reg = LocalRegistry::start(None, None);
    let server = TestServer::start().await;
    let (doer, viewer, project, version) = setup(&server, &reg).await;
    assert_eq!(version["redeploy_policy"], "automatic", "copied from the project");

    let (status, saved) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": config()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (status, _) = viewer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": config()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a VIEWER cannot edit the project");

    // Show configuration: project defaults and built-ins.
    let (status, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["error"], Value::Null, "{preview}");
    let host = reg.url.trim_start_matches("http://");
    assert_eq!(
        preview["templates"][0]["values"],
        format!(
            "image:\n  repository: {host}/team/shop\n  tag: \"Feature_Login-2.0\"\nbackend: https://test.example\nreplicas: 1\nhost: shop-featurelogin20.example.com\n"
        )
    );
    assert_eq!(preview["templates"][0]["chart"], "shop 1.2.3+build.7");
    assert_eq!(preview["templates"][1]["values"], "queue: shop-featurelogin20\n");
    assert_eq!(preview["namespace"], "on-shop-feature-login-20");
    let hash_before = preview["hash"].clone();

    // A VIEWER switches the dashboard select variable, only to an allowed value, and nothing else.
    let (status, detail) = viewer
        .call(
            "set_version_select_values",
            json!({"id": version["id"], "values": {"BACKEND": "https://staging.example"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    for (name, value) in [
        ("BACKEND", "https://evil.example"),
        ("REPLICAS", "100"),
        ("IMAGE_TAG", "latest"),
        ("VERSION_NAME", "main"),
    ] {
        let (status, body) = viewer
            .call(
                "set_version_select_values",
                json!({"id": version["id"], "values": {name: value}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}={value}: {body}");
    }
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let values = preview["templates"][0]["values"].as_str().unwrap();
    assert!(values.contains("backend: https://staging.example"), "{values}");
    assert!(
        values.contains("tag: \"Feature_Login-2.0\""),
        "the tag cannot be overridden: {values}"
    );
    assert_ne!(preview["hash"], hash_before, "a changed value changes the hash");

    // A DOER overrides on the version: a value, one template by name, and an extra template.
    let mut overrides = detail["overrides"].clone();
    overrides["values"]["REPLICAS"] = json!("3");
    overrides["templates"] = json!([
        {"name": "worker", "description": "", "helm_registry": null, "chart_name": "worker", "chart_version": "2.0.0",
         "content": "queue: special\n"},
        {"name": "extra", "description": "", "helm_registry": null, "chart_name": "redis", "chart_version": "",
         "content": "size: {{ SIZE }}\n"}
    ]);
    overrides["values"]["SIZE"] = json!("small");
    // Its own URL templates replace the project's (and see the built-ins only).
    overrides["url_templates"] = json!([
        "https://{{ SAFE_VERSION_NAME }}.preview.example",
        "https://admin.example/{{ VERSION_NAME }}"
    ]);
    let (status, body) = doer
        .call(
            "save_version",
            json!({"version": {"id": version["id"], "redeploy_policy": "manual", "overrides": overrides.clone()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["redeploy_policy"], "manual");
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let summary: Vec<(String, String, String)> = preview["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["origin"].as_str().unwrap().to_owned(),
                t["values"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary[1],
        ("worker".into(), "override".into(), "queue: special\n".into())
    );
    assert_eq!(
        summary[2],
        ("extra".into(), "version".into(), "size: small\n".into())
    );
    assert!(summary[0].2.contains("replicas: 3"), "{}", summary[0].2);
    assert!(
        summary[0]
            .2
            .contains("host: https://featurelogin20.preview.example"),
        "URLS follows the version's URL templates: {}",
        summary[0].2
    );
    assert_eq!(
        preview["urls"],
        json!([
            "https://featurelogin20.preview.example",
            "https://admin.example/Feature_Login-2.0"
        ]),
        "{preview}"
    );

    // Built-ins cannot be overridden, select values are checked, even for a DOER.
    for bad in [
        json!({"IMAGE_TAG": "latest"}),
        json!({"BACKEND": "https://evil.example"}),
    ] {
        let mut o = overrides.clone();
        o["values"] = bad.clone();
        let (status, body) = doer
            .call(
                "save_version",
                json!({"version": {"id": version["id"], "redeploy_policy": "manual", "overrides": o}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }

    // A template that refers to a missing variable: the preview names it, template and line.
    let mut broken = config();
    broken["templates"][1]["content"] = json!("a: 1\nb: {{ MISSING }}\n");
    let (status, _) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": broken}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "undefined variables are a rendering matter"
    );
    let mut o = overrides.clone();
    o["templates"] = json!([]);
    doer.call(
        "save_version",
        json!({"version": {"id": version["id"], "redeploy_policy": "manual", "overrides": o}}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(
        preview["error"], "template 'worker', line 2: undefined variable MISSING",
        "{preview}"
    );

    // Bad YAML after rendering, and syntax errors at save time.
    let mut yaml = config();
    yaml["templates"][1]["content"] = json!("a: [unclosed\n");
    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": yaml}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert!(
        preview["error"]
            .as_str()
            .unwrap()
            .contains("does not render to valid YAML (line"),
        "{preview}"
    );
    let mut syntax = config();
    syntax["templates"][0]["content"] = json!("a: {{ broken");
    let (status, body) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": syntax}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "templates[0].content", "{body}");

    // The activity log records configuration and variable changes.
    let (_, log) = viewer
        .call(
            "list_activity",
            json!({"query": {"kind": "version", "project": project["id"], "page": 0}}),
        )
        .await;
    assert!(
        log.to_string().contains("BACKEND = https://staging.example"),
        "{log}"
    );
}

/// Export in the original's format, import it back (as a copy, into another registry choice),
/// and import an export written by the original O-Neko.
#[tokio::test]
async fn export_and_import() {
    let server = TestServer::start().await;
    let reg = LocalRegistry::start(None, None);
    let (doer, viewer, project, _) = setup(&server, &reg).await;
    let (status, body) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": config()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, exported) = viewer.call("export_project", json!({"id": project["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{exported}");
    let text = exported.as_str().unwrap().to_owned();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["name"], "Shop");
    assert_eq!(doc["imageName"], "team/shop");
    assert_eq!(doc["newVersionsDeploymentBehaviour"], "automatically");
    assert_eq!(
        doc["defaultLifetimeBehaviour"],
        json!({"type": "DAYS", "value": 2})
    );
    assert_eq!(doc["exportMetadata"]["version"], 1);
    assert_eq!(doc["templateVariables"][0]["useValues"], true);
    assert_eq!(doc["defaultConfigurationTemplates"][1]["chartName"], "worker");

    // The same name is taken: the import says so and creates nothing.
    let (status, body) = doer
        .call(
            "import_project",
            json!({"import": {"json": text, "name": "", "registry": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "name");
    // VIEWERs may export but not import.
    let (status, _) = viewer
        .call(
            "import_project",
            json!({"import": {"json": text, "name": "Copy", "registry": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, report) = doer
        .call(
            "import_project",
            json!({"import": {"json": text, "name": "Shop copy", "registry": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["warnings"], json!([]));
    assert_eq!(report["project"]["registry"]["name"], "Local");
    assert_eq!(report["project"]["lifetime"], json!({"kind": "days", "n": 2}));
    let (_, copied) = doer
        .call("get_project_config", json!({"id": report["project"]["id"]}))
        .await;
    let (_, original) = doer
        .call("get_project_config", json!({"id": project["id"]}))
        .await;
    assert_eq!(copied, original, "the configuration survives the round trip");

    // An export from the original O-Neko: UUIDs, a repo-prefixed chart name, an unknown registry.
    let from_original = json!({
        "name": "Legacy", "imageName": "team/shop", "newVersionsDeploymentBehaviour": "manually",
        "urlTemplates": [], "dockerRegistryUUID": "0f1e2d3c-uuid", "status": "NotScheduled",
        "defaultConfigurationTemplates": [{"id": "a-uuid", "name": "web", "description": "",
            "content": "tag: {{ VERSION_NAME }}\n", "helmRegistryId": "b-uuid", "chartName": "stable/shop",
            "chartVersion": ""}],
        "templateVariables": [],
        "defaultLifetimeBehaviour": {"type": "UNTIL_WEEKEND"},
        "exportMetadata": {"version": 1, "exportedAt": "2024-01-01T00:00:00Z"}
    })
    .to_string();
    let (status, body) = doer
        .call(
            "import_project",
            json!({"import": {"json": from_original, "name": "", "registry": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["fields"][0]["field"], "registry",
        "the unknown Docker registry must be chosen"
    );
    let (status, report) = doer
        .call(
            "import_project",
            json!({"import": {"json": from_original, "name": "", "registry": project["registry"]["id"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["project"]["redeploy_policy"], "manual");
    assert_eq!(report["project"]["lifetime"], json!({"kind": "until_weekend"}));
    let warning = report["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("Helm registry 'stable' is not known here"),
        "{warning}"
    );

    // Garbage and future versions are refused with the reason.
    for (json, says) in [
        ("not json".to_string(), "not an O-Neko project export"),
        (
            json!({"name": "X", "imageName": "a", "exportMetadata": {"version": 2}}).to_string(),
            "version 2 is not supported",
        ),
    ] {
        let (status, body) = doer
            .call(
                "import_project",
                json!({"import": {"json": json, "name": "", "registry": null}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["fields"][0]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
}

/// Every change is in the activity log with its actor and what changed, and the log filters by
/// kind, actor and time.
#[tokio::test]
async fn changes_are_logged_with_actor_and_what_changed() {
    let server = TestServer::start().await;
    let reg = LocalRegistry::start(None, None);
    let (doer, _viewer, project, version) = setup(&server, &reg).await;
    let admin = server.admin().await;
    let started = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let (status, body) = doer
        .call(
            "save_project",
            json!({"project": {"id": project["id"], "name": "Shop", "registry": project["registry"]["id"],
                "image_repository": "team/shop", "redeploy_policy": "manual", "lifetime": "hours:5",
                "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true, "poll_interval_secs": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": config()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = doer
        .call(
            "save_version",
            json!({"version": {"id": version["id"], "redeploy_policy": "automatic", "overrides": {
                "lifetime": {"kind": "days", "n": 1}, "url_templates": [], "values": {"REPLICAS": "2"},
                "templates": [], "namespace": null}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, spare) = admin
        .call(
            "save_docker_registry",
            json!({"registry": {"id": null, "name": "Spare", "url": "https://spare.example", "insecure_http": false,
                "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
        )
        .await;
    let (status, body) = admin
        .call("delete_docker_registry", json!({"id": spare["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let list = |query: Value| {
        let admin = &admin;
        async move {
            let (status, page) = admin.call("list_activity", json!({ "query": query })).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            page["items"].as_array().cloned().unwrap_or_default()
        }
    };
    let since = started.to_rfc3339();
    let recent = list(json!({"kind": null, "project": null, "page": 0, "since": since})).await;
    let entry = |kind: &str| {
        recent
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {recent:?}"))
            .clone()
    };
    let changed = entry("project.changed");
    assert_eq!(changed["actor"], "doer");
    let message = changed["message"].as_str().unwrap();
    assert!(
        message.contains("redeploy policy automatic → manual")
            && message.contains("lifetime days:2 → hours:5"),
        "{message}"
    );
    let config_changed = entry("project.config_changed");
    assert_eq!(config_changed["actor"], "doer");
    assert!(
        config_changed["message"]
            .as_str()
            .unwrap()
            .contains("template web added"),
        "{config_changed}"
    );
    assert_eq!(entry("version.changed")["actor"], "doer");
    let deleted = entry("docker_registry.deleted");
    assert_eq!(deleted["actor"], "admin");
    assert!(
        deleted["message"].as_str().unwrap().contains("Spare"),
        "{deleted}"
    );

    // Filters: by actor, by kind, by time.
    let by_admin =
        list(json!({"kind": null, "project": null, "page": 0, "actor": "admin", "since": since})).await;
    assert!(
        !by_admin.is_empty() && by_admin.iter().all(|e| e["actor"] == "admin"),
        "{by_admin:?}"
    );
    let registries =
        list(json!({"kind": "docker_registry", "project": null, "page": 0, "since": since})).await;
    assert_eq!(registries.len(), 2, "created and deleted: {registries:?}");
    let before = list(json!({"kind": "project.changed", "project": null, "page": 0, "until": since})).await;
    assert!(before.is_empty(), "{before:?}");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(
        list(json!({"kind": null, "project": null, "page": 0, "since": later}))
            .await
            .is_empty()
    );
}

/// Issue 16: a URL template that renders a script link is refused when it is saved, with the
/// field and a message, and nothing stored changes; templates that would allocate without bound
/// are answered with "template too large" by the editor's check while the server keeps answering.
#[tokio::test]
async fn script_links_and_memory_bombs_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let doer = server.user_with_role(&admin, "doer", "DOER").await;
    let (status, registry) = admin
        .call(
            "save_docker_registry",
            json!({"registry": {"id": null, "name": "Hub", "url": "https://registry.invalid", "insecure_http": false,
                "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registry}");
    let (status, project) = doer
        .call(
            "save_project",
            json!({"project": {"id": null, "name": "Shop", "registry": registry["id"],
                "image_repository": "team/shop", "redeploy_policy": "automatic", "lifetime": "days:2",
                "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true, "poll_interval_secs": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{project}");
    let (status, body) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": config()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = || async {
        let (status, config) = doer
            .call("get_project_config", json!({"id": project["id"]}))
            .await;
        assert_eq!(status, StatusCode::OK, "{config}");
        config
    };
    let before = stored().await;

    for url in [
        "javascript:alert(1)",
        "javascript://%0aalert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "{{ 'java' ~ 'script' }}:alert({{ VERSION_NAME|length }})",
    ] {
        let mut bad = config();
        bad["url_templates"] = json!(["ok-{{ SAFE_VERSION_NAME }}.example.com", url]);
        let (status, body) = doer
            .call("save_project_config", json!({"id": project["id"], "config": bad}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["fields"][0]["field"], "url_templates[1]", "{body}");
        let message = body["fields"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("not an http:// or https:// link"),
            "{url}: {message}"
        );
    }
    assert_eq!(stored().await, before, "nothing changed");

    for bomb in [
        r#"a: {{ "x"|indent(1000000000000) }}"#,
        "{% for i in range(1000) %}{{ ('x' * 100000000)|length }}{% endfor %}",
        "{% for i in range(100000) %}{% set t = range(100000)|list %}{% endfor %}a: 1",
        "{% set a = 'x' * 1000 %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}\
         {% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}\
         {% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}a: 1",
        "a: {{ (['x'] * 1000000000000)|length }}",
    ] {
        let (status, body) = doer
            .call(
                "check_template",
                json!({"name": "web", "content": bomb, "variables": []}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{bomb}: {body}");
        let message = body.as_str().unwrap_or_default();
        assert!(message.contains("template too large"), "{bomb}: {body}");
    }
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("server answers");
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(stored().await, before, "nothing changed");
}

/// Issue 16: switching select variables reads, changes and writes the version in one write
/// transaction, with its activity entry: two VIEWERs switching different variables at the same
/// moment both keep their choice, and a refused value writes nothing (no entry either).
#[tokio::test]
async fn concurrent_select_switches_never_undo_each_other() {
    let server = TestServer::start().await;
    let reg = LocalRegistry::start(None, None);
    let (doer, viewer, project, version) = setup(&server, &reg).await;
    let other = server.login("doer", "doer-password").await;
    let mut cfg = config();
    cfg["variables"] = json!([
        {"name": "BACKEND", "label": "Backend", "default_value": "b0", "use_values": true,
         "values": ["b0", "b1"], "show_on_dashboard": true},
        {"name": "COLOUR", "label": "Colour", "default_value": "c0", "use_values": true,
         "values": ["c0", "c1"], "show_on_dashboard": true},
        {"name": "REPLICAS", "label": "Replicas", "default_value": "1", "use_values": false,
         "values": [], "show_on_dashboard": false}
    ]);
    let (status, body) = doer
        .call("save_project_config", json!({"id": project["id"], "config": cfg}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = || async {
        let (_, page) = doer
            .call(
                "list_activity",
                json!({"query": {"kind": "version.variables_changed", "project": project["id"], "page": 0}}),
            )
            .await;
        page["total"].as_u64().unwrap()
    };
    for round in 0..12 {
        let (b, c) = (format!("b{}", round % 2), format!("c{}", (round + 1) % 2));
        let (first, second) = tokio::join!(
            viewer.call(
                "set_version_select_values",
                json!({"id": version["id"], "values": {"BACKEND": b}}),
            ),
            other.call(
                "set_version_select_values",
                json!({"id": version["id"], "values": {"COLOUR": c}}),
            ),
        );
        assert_eq!(first.0, StatusCode::OK, "{}", first.1);
        assert_eq!(second.0, StatusCode::OK, "{}", second.1);
        let (_, detail) = doer.call("get_version", json!({"id": version["id"]})).await;
        assert_eq!(
            (
                detail["overrides"]["values"]["BACKEND"].as_str(),
                detail["overrides"]["values"]["COLOUR"].as_str()
            ),
            (Some(b.as_str()), Some(c.as_str())),
            "round {round}: both choices kept: {}",
            detail["overrides"]
        );
    }
    let logged = entries().await;
    assert_eq!(logged, 24, "one entry per switch");
    let (_, before) = doer.call("get_version", json!({"id": version["id"]})).await;
    let (status, body) = viewer
        .call(
            "set_version_select_values",
            json!({"id": version["id"], "values": {"BACKEND": "b1", "COLOUR": "purple"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, after) = doer.call("get_version", json!({"id": version["id"]})).await;
    assert_eq!(after["overrides"], before["overrides"], "nothing written");
    assert_eq!(entries().await, logged, "nothing logged");
}
