//! Helm registries end to end: an ADMIN adds a chart repository (loopback HTTP with Basic auth,
//! charts packaged and indexed by the test) and an OCI registry (Debian's docker-registry, chart
//! pushed with `helm push`); DOERs list their charts; "Show configuration" pulls the chart once
//! per digest and renders the manifests with real helm; a used registry cannot be deleted.

use crate::{
    config::setup,
    fixtures::{LocalRegistry, TestTls},
    harness::{Api, TestServer},
    helm::{PASSWORD, USER, basic_auth, config as helm_config, package_chart},
};
use axum::{Router, extract::Request, middleware::Next, response::Response};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::helm::HelmRun;
use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tower_http::services::ServeDir;

/// A chart repository on loopback behind Basic auth; counts archive downloads.
struct ChartRepo {
    url: String,
    downloads: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chart_repo(dir: &Path, versions: &[&str]) -> ChartRepo {
    let run = HelmRun::new(helm_config(Duration::from_secs(60))).unwrap();
    for v in versions {
        package_chart(&run, dir, v).await;
    }
    let charts = dir.join("charts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    run.run(
        &[
            "repo".into(),
            "index".into(),
            charts.display().to_string(),
            "--url".into(),
            url.clone(),
        ],
        None,
    )
    .await
    .unwrap();
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    let app = Router::new()
        .fallback_service(ServeDir::new(charts))
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let counter = counter.clone();
            async move {
                if req.uri().path().ends_with(".tgz") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let resp: Response = next.run(req).await;
                resp
            }
        }))
        .layer(axum::middleware::from_fn(basic_auth));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    ChartRepo { url, downloads, task }
}

async fn save_registry(admin: &Api, body: Value) -> (StatusCode, Value) {
    admin
        .call("save_helm_registry", json!({ "registry": body }))
        .await
}

fn template(registry: &Value, version: &str) -> Value {
    json!({"url_templates": [], "variables": [
            {"name": "REPLICAS", "label": "Replicas", "default_value": "3", "use_values": false,
             "values": [], "show_on_dashboard": false}],
        "templates": [{"name": "web", "description": "", "helm_registry": registry["id"],
            "chart_name": "demo", "chart_version": version,
            "content": "replicaCount: {{ REPLICAS }}\nimage:\n  repository: {{ IMAGE_REPOSITORY }}\n  tag: \"{{ IMAGE_TAG }}\"\n"}]})
}

#[tokio::test]
async fn chart_repository_listing_preview_and_delete_protection() {
    let work = tempfile::tempdir().unwrap();
    let repo = chart_repo(work.path(), &["1.0.0", "1.2.3+build.5", "2.0.0-rc.1"]).await;
    let server = TestServer::start().await;
    let reg = LocalRegistry::start(None, None);
    let (doer, viewer, project, version) = setup(&server, &reg).await;
    let admin = server.admin().await;

    // Plain http needs the switch; a username needs a password.
    let (status, body) = save_registry(
        &admin,
        json!({"id": null, "name": "Team charts", "kind": "http", "url": repo.url, "username": USER,
            "secret": null, "ca_pem": "", "plain_http": false}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "secret"], "{body}");

    let (status, registry) = save_registry(
        &admin,
        json!({"id": null, "name": "Team charts", "kind": "http", "url": repo.url, "username": USER,
            "secret": PASSWORD, "ca_pem": "", "plain_http": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{registry}");
    assert_eq!(registry["secret_set"], true);
    assert!(
        !registry.to_string().contains(PASSWORD),
        "the password never comes back"
    );
    // A second registry may not take the name; the registry itself keeps it when saved again.
    let (status, body) = save_registry(
        &admin,
        json!({"id": null, "name": "Team charts", "kind": "http", "url": repo.url, "username": "",
            "secret": null, "ca_pem": "", "plain_http": true}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "name", "{body}");
    assert!(
        body.to_string()
            .contains("A Helm registry named 'Team charts' already exists"),
        "{body}"
    );
    let again = json!({"id": registry["id"], "name": "Team charts", "kind": "http", "url": repo.url,
        "username": USER, "secret": null, "ca_pem": "", "plain_http": true});
    let (status, body) = save_registry(&admin, again).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // DOERs see names and charts; VIEWERs do not.
    let (status, names) = doer.call("list_helm_registry_names", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names[0]["name"], "Team charts");
    let (status, _) = viewer
        .call("list_charts", json!({"id": registry["id"], "refresh": false}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, list) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["charts"][0]["name"], "demo");
    let versions: Vec<&str> = list["charts"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.0-rc.1", "1.2.3+build.5", "1.0.0"]);
    assert_eq!(list["charts"][0]["versions"][0]["app_version"], "1.16.0");
    assert_eq!(
        list["charts"][0]["versions"][0]["description"],
        "A Helm chart for Kubernetes"
    );
    // Cached for a minute; refresh reads again.
    let (_, again) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": false}))
        .await;
    assert_eq!(again["fetched_at"], list["fetched_at"]);
    let (_, fresh) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": true}))
        .await;
    assert_ne!(fresh["fetched_at"], list["fetched_at"]);

    // A template on the registry: blank version means the newest stable release.
    let (status, body) = doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": template(&registry, "")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let t = &preview["templates"][0];
    assert_eq!(t["chart"], "demo 1.2.3+build.5", "{preview}");
    assert_eq!(t["manifests_error"], Value::Null, "{preview}");
    let manifests = t["manifests"].as_str().unwrap();
    assert!(manifests.contains("kind: Deployment"), "{manifests}");
    assert!(manifests.contains("replicas: 3"), "{manifests}");
    assert!(
        manifests.contains("tag: \"Feature_Login-2.0\"") || manifests.contains(":Feature_Login-2.0\""),
        "{manifests}"
    );
    assert!(
        manifests.contains(&format!("namespace: {}", preview["namespace"].as_str().unwrap()))
            || !manifests.contains("namespace:")
    );
    assert_eq!(repo.downloads.load(Ordering::SeqCst), 1);
    // The pulled chart is cached by digest: a second preview downloads nothing.
    let (_, again) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(again["templates"][0]["manifests"], t["manifests"]);
    assert_eq!(repo.downloads.load(Ordering::SeqCst), 1);

    // A version the repository does not have is named, with the ones it has.
    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": template(&registry, "9.9.9")}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let err = preview["templates"][0]["manifests_error"].as_str().unwrap();
    assert!(
        err.contains("has no version 9.9.9 of chart demo; it has 2.0.0-rc.1, 1.2.3+build.5, 1.0.0"),
        "{err}"
    );
    assert_eq!(
        preview["templates"][0]["values"], t["values"],
        "values still render"
    );

    // An unknown registry id is refused on save.
    let mut bad = template(&registry, "");
    bad["templates"][0]["helm_registry"] = json!(999_999);
    let (status, body) = doer
        .call("save_project_config", json!({"id": project["id"], "config": bad}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "templates[0].helm_registry");

    // A registry in use cannot be deleted; the answer names the user.
    let (status, body) = admin
        .call("delete_helm_registry", json!({"id": registry["id"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("project Shop (template web)"),
        "{body}"
    );

    // A wrong password: the listing fails with the reason, never the password.
    let mut changed = registry.clone();
    changed["secret"] = json!("not-the-password");
    changed["kind"] = json!("http");
    changed["username"] = json!(USER);
    changed["ca_pem"] = json!("");
    let (status, body) = save_registry(&admin, changed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("401") || message.to_lowercase().contains("unauthorized"),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");

    // Once no template uses it, it can be deleted.
    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": {"url_templates": [], "templates": [], "variables": []}}),
    )
    .await;
    let (status, body) = admin
        .call("delete_helm_registry", json!({"id": registry["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, log) = admin
        .call(
            "list_activity",
            json!({"query": {"kind": "helm_registry", "project": null, "page": 0}}),
        )
        .await;
    let kinds: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "helm_registry.created",
        "helm_registry.changed",
        "helm_registry.deleted",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn oci_registry_listing_and_preview() {
    let work = tempfile::tempdir().unwrap();
    let run = HelmRun::new(helm_config(Duration::from_secs(60))).unwrap();
    let server = TestServer::start().await;
    let reg = LocalRegistry::start(None, None);
    let host = reg.url.trim_start_matches("http://").to_owned();
    for v in ["0.9.0", "1.2.3+build.5"] {
        let archive = package_chart(&run, work.path(), v).await;
        run.run(
            &[
                "push".into(),
                archive.display().to_string(),
                format!("oci://{host}/charts"),
                "--plain-http".into(),
            ],
            None,
        )
        .await
        .unwrap();
    }
    let (doer, viewer, project, version) = setup(&server, &reg).await;
    let admin = server.admin().await;
    let (status, registry) = save_registry(
        &admin,
        json!({"id": null, "name": "OCI charts", "kind": "oci", "url": format!("oci://{host}/charts"),
            "username": "", "secret": null, "ca_pem": "", "plain_http": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{registry}");
    let (status, list) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    // The image repository team/shop is not under charts/ and is not listed.
    assert_eq!(list["charts"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["charts"][0]["name"], "demo");
    assert_eq!(list["charts"][0]["versions"][0]["version"], "1.2.3+build.5");
    assert_eq!(list["charts"][0]["versions"][1]["version"], "0.9.0");
    assert_eq!(list["charts"][0]["versions"][0]["app_version"], "1.16.0");

    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": template(&registry, "")}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let t = &preview["templates"][0];
    assert_eq!(t["chart"], "demo 1.2.3+build.5", "{preview}");
    assert!(
        t["manifests"].as_str().unwrap().contains("kind: Service"),
        "{preview}"
    );

    // An oci:// URL is required for the OCI kind.
    let (status, body) = save_registry(
        &admin,
        json!({"id": null, "name": "Bad", "kind": "oci", "url": format!("https://{host}/charts"),
            "username": "", "secret": null, "ca_pem": "", "plain_http": true}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "url");
}

/// An OCI registry over TLS with its own CA and Basic auth: the chart is listed and rendered
/// with the stored credentials and CA; the password is sealed in the database; without the CA,
/// or with a wrong password, the registry's answer is shown.
#[tokio::test]
async fn oci_registry_with_its_own_ca_and_credentials() {
    oci_registry_over_tls(TestTls::new()).await;
}

/// The same with the registry's own self-signed certificate (as CNCF Distribution's
/// documentation makes it) pasted as its CA.
#[tokio::test]
async fn oci_registry_with_a_pinned_self_signed_certificate() {
    oci_registry_over_tls(TestTls::self_signed()).await;
}

async fn oci_registry_over_tls(tls: TestTls) {
    let work = tempfile::tempdir().unwrap();
    let secure = LocalRegistry::start(Some(&tls), Some((USER, PASSWORD)));
    let host = secure.url.trim_start_matches("https://").to_owned();
    let run = HelmRun::new(helm_config(Duration::from_secs(60))).unwrap();
    let credentials = server::helm::HelmCredentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    run.registry_login(&host, &credentials, false, Some(&tls.ca_pem))
        .await
        .unwrap();
    let archive = package_chart(&run, work.path(), "2.0.0").await;
    let ca = run.private_file("ca.pem", tls.ca_pem.as_bytes()).unwrap();
    run.run(
        &[
            "push".into(),
            archive.display().to_string(),
            format!("oci://{host}/charts"),
            "--ca-file".into(),
            ca.display().to_string(),
        ],
        None,
    )
    .await
    .unwrap();

    let server = TestServer::start().await;
    let images = LocalRegistry::start(None, None);
    let (doer, viewer, project, version) = setup(&server, &images).await;
    let admin = server.admin().await;
    let registry = |ca_pem: &str, secret: &str| {
        json!({"id": null, "name": format!("Secure {}", ca_pem.len() + secret.len()), "kind": "oci",
            "url": format!("oci://{host}/charts"), "username": USER, "secret": secret,
            "ca_pem": ca_pem, "plain_http": false})
    };
    let (status, saved) = save_registry(&admin, registry(&tls.ca_pem, PASSWORD)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(!saved.to_string().contains("p@ss"), "secret shown: {saved}");
    if server.config.database_url.is_none() {
        let bytes = crate::registries::database_bytes(&server);
        assert!(
            !bytes.windows(8).any(|w| w == &PASSWORD.as_bytes()[..8]),
            "plaintext secret in the database file"
        );
    }
    let (status, list) = doer
        .call("list_charts", json!({"id": saved["id"], "refresh": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["charts"][0]["name"], "demo", "{list}");
    assert_eq!(list["charts"][0]["versions"][0]["version"], "2.0.0");
    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": template(&saved, "")}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let t = &preview["templates"][0];
    assert_eq!(t["chart"], "demo 2.0.0", "{preview}");
    assert!(
        t["manifests"]
            .as_str()
            .unwrap_or_default()
            .contains("kind: Service"),
        "{preview}"
    );

    // Without the CA the certificate is not trusted; with a wrong password access is refused.
    for (ca_pem, secret, expected) in [
        ("", PASSWORD, "certificate"),
        (tls.ca_pem.as_str(), "wrong-password", "401"),
    ] {
        let (status, other) = save_registry(&admin, registry(ca_pem, secret)).await;
        assert_eq!(status, StatusCode::OK, "{other}");
        let (status, body) = doer
            .call("list_charts", json!({"id": other["id"], "refresh": true}))
            .await;
        let text = body.to_string();
        assert!(
            status != StatusCode::OK && text.contains(expected),
            "{expected}: {status} {text}"
        );
    }
}

/// An OAuth token endpoint that checks the JWT assertion's RS256 signature (with the public half
/// of the test key) and claims, as Google's does; counts the tokens it hands out.
async fn token_endpoint(
    public_key_der: Vec<u8>,
    email: &'static str,
) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use axum::{Form, Json, routing::post};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let issued = Arc::new(AtomicUsize::new(0));
    let (count, audience) = (issued.clone(), url.clone());
    let app = Router::new().route(
        "/token",
        post(move |Form(form): Form<std::collections::HashMap<String, String>>| {
            let (count, audience, key) = (count.clone(), audience.clone(), public_key_der.clone());
            async move {
                let refuse = |why: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": why})));
                if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
                    return refuse("grant_type");
                }
                let assertion = form.get("assertion").cloned().unwrap_or_default();
                let parts: Vec<&str> = assertion.split('.').collect();
                if parts.len() != 3 {
                    return refuse("not a JWT");
                }
                let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
                let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key);
                if key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_err() {
                    return refuse("bad signature");
                }
                let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
                if claims["iss"] != email || claims["aud"] != audience.as_str() || !claims["scope"].as_str().unwrap().contains("devstorage") {
                    return refuse("claims");
                }
                let n = count.fetch_add(1, Ordering::SeqCst);
                (StatusCode::OK, Json(json!({"access_token": format!("token-{n}"), "expires_in": 3600, "token_type": "Bearer"})))
            }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, issued, task)
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn gcs_bucket_with_a_service_account_key() {
    const EMAIL: &str = "o-neko@test-project.iam.gserviceaccount.com";
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("key.pem");
    let key_path = key_file.display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &key_path,
    ]);
    let public = openssl(&["rsa", "-in", &key_path, "-RSAPublicKey_out", "-outform", "DER"]);
    let (token_uri, issued, token_task) = token_endpoint(public, EMAIL).await;

    // Charts in gs://charts/team, indexed with gs:// URLs as the helm-gcs plugin writes them,
    // plus one archive whose bytes do not match the index.
    let gcs = crate::fixtures::GcsEmulator::start("charts");
    let run = HelmRun::new(helm_config(Duration::from_secs(60))).unwrap();
    for v in ["1.0.0", "1.1.0"] {
        package_chart(&run, work.path(), v).await;
    }
    let charts = work.path().join("charts");
    run.run(
        &[
            "repo".into(),
            "index".into(),
            charts.display().to_string(),
            "--url".into(),
            "gs://charts/team".into(),
        ],
        None,
    )
    .await
    .unwrap();
    gcs.put(
        "charts",
        "team/index.yaml",
        std::fs::read(charts.join("index.yaml")).unwrap(),
    )
    .await;
    gcs.put(
        "charts",
        "team/demo-1.1.0.tgz",
        std::fs::read(charts.join("demo-1.1.0.tgz")).unwrap(),
    )
    .await;
    gcs.put(
        "charts",
        "team/demo-1.0.0.tgz",
        b"not the chart that was indexed".to_vec(),
    )
    .await;

    let endpoint = gcs.url.clone();
    let server = TestServer::start_with(|c| c.gcs_endpoint = endpoint).await;
    let reg = LocalRegistry::start(None, None);
    let (doer, viewer, project, version) = setup(&server, &reg).await;
    let admin = server.admin().await;
    let key = json!({"type": "service_account", "client_email": EMAIL,
        "private_key": std::fs::read_to_string(&key_file).unwrap(), "token_uri": token_uri});

    // A key that is no key is refused with the reason.
    let (status, body) = save_registry(
        &admin,
        json!({"id": null, "name": "Bucket", "kind": "gcs", "url": "gs://charts/team", "username": "",
            "secret": "{\"client_email\": \"x@y\"}", "ca_pem": "", "plain_http": false}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "secret");

    let (status, registry) = save_registry(
        &admin,
        json!({"id": null, "name": "Bucket", "kind": "gcs", "url": "gs://charts/team", "username": "",
            "secret": key.to_string(), "ca_pem": "", "plain_http": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{registry}");
    assert_eq!(registry["secret_set"], true);
    assert!(!registry.to_string().contains("PRIVATE KEY"));

    let (status, list) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let versions: Vec<&str> = list["charts"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);

    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": template(&registry, "")}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let t = &preview["templates"][0];
    assert_eq!(t["chart"], "demo 1.1.0", "{preview}");
    assert!(
        t["manifests"].as_str().unwrap().contains("kind: Deployment"),
        "{preview}"
    );
    assert_eq!(
        issued.load(Ordering::SeqCst),
        1,
        "one token, reused for index and archive"
    );

    // The archive must match the digest the index records.
    doer.call(
        "save_project_config",
        json!({"id": project["id"], "config": template(&registry, "1.0.0")}),
    )
    .await;
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    let err = preview["templates"][0]["manifests_error"].as_str().unwrap();
    assert!(err.contains("does not match the digest in the index"), "{err}");

    // A key the token endpoint refuses (another key pair) fails with the endpoint's reason.
    let other = work.path().join("other.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &other.display().to_string(),
    ]);
    let mut wrong = key.clone();
    wrong["private_key"] = json!(std::fs::read_to_string(&other).unwrap());
    let mut changed = registry.clone();
    changed["secret"] = json!(wrong.to_string());
    changed["username"] = json!("");
    changed["ca_pem"] = json!("");
    let (status, body) = save_registry(&admin, changed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = doer
        .call("list_charts", json!({"id": registry["id"], "refresh": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("refused the service account") && message.contains("bad signature"),
        "{message}"
    );
    token_task.abort();
}

/// Issue 16: a Helm registry's stored password never follows its URL to another host: a chart
/// repository or OCI registry moved to another host or port without the password entered again
/// is refused on `secret`, and nothing stored changes; another path on the same host keeps it.
#[tokio::test]
async fn a_new_url_needs_the_password_again() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    for (kind, url, moved, same_host) in [
        (
            "http",
            "https://charts.example.test/stable",
            "https://evil.example.test/stable",
            "https://charts.example.test/incubator",
        ),
        (
            "oci",
            "oci://registry.example.test/charts",
            "oci://registry.example.test:5000/charts",
            "oci://registry.example.test/other",
        ),
    ] {
        let reg = json!({"id": null, "name": format!("Charts {kind}"), "kind": kind, "url": url,
            "username": "robot", "secret": "chart-password-1", "ca_pem": "", "plain_http": false});
        let (status, saved) = save_registry(&admin, reg.clone()).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        let (_, before) = admin.call("list_helm_registries", json!({})).await;
        let mut edit = reg.clone();
        edit["id"] = saved["id"].clone();
        edit["secret"] = Value::Null;
        edit["url"] = json!(moved);
        let (status, body) = save_registry(&admin, edit.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {body}");
        assert_eq!(body["fields"][0]["field"], "secret", "{body}");
        assert!(
            body["fields"][0]["message"]
                .as_str()
                .unwrap()
                .contains("enter the password again for the new URL"),
            "{body}"
        );
        let (_, after) = admin.call("list_helm_registries", json!({})).await;
        assert_eq!(after, before, "{kind}: nothing changed");

        edit["url"] = json!(same_host);
        let (status, body) = save_registry(&admin, edit.clone()).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        assert_eq!(body["secret_set"], true, "{kind}: the same host keeps it");

        edit["url"] = json!(moved);
        edit["secret"] = json!("another-password");
        let (status, body) = save_registry(&admin, edit).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        assert_eq!(
            (body["url"].as_str(), body["secret_set"].as_bool()),
            (Some(moved), Some(true))
        );
    }
}

/// Issue 16: a bucket's index and the OAuth token endpoint are read with a size limit: an
/// answer that never ends is cut off with a clear message, and the server keeps answering.
#[tokio::test]
async fn endless_bucket_and_token_answers_are_cut_off() {
    use axum::{body::Body, routing::any};
    use futures::StreamExt;
    let endless = || {
        Body::from_stream(
            futures::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 64 << 10]))
            })
            .take(usize::MAX),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/token", any(move || async move { endless() }))
        .fallback(any(move || async move { endless() }));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let endpoint = fake.clone();
    let server = TestServer::start_with(|c| c.gcs_endpoint = endpoint).await;
    let admin = server.admin().await;

    let (status, open) = save_registry(
        &admin,
        json!({"id": null, "name": "Open bucket", "kind": "gcs", "url": "gs://charts/team", "username": "",
            "secret": null, "ca_pem": "", "plain_http": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let (status, body) = admin
        .call("list_charts", json!({"id": open["id"], "refresh": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("larger than 64 MiB"),
        "{body}"
    );

    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("key.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &key_file.display().to_string(),
    ]);
    let key = json!({"type": "service_account", "client_email": "o-neko@test.iam.gserviceaccount.com",
        "private_key": std::fs::read_to_string(&key_file).unwrap(), "token_uri": format!("{fake}/token")});
    let (status, keyed) = save_registry(
        &admin,
        json!({"id": null, "name": "Keyed bucket", "kind": "gcs", "url": "gs://charts/team", "username": "",
            "secret": key.to_string(), "ca_pem": "", "plain_http": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{keyed}");
    let (status, body) = admin
        .call("list_charts", json!({"id": keyed["id"], "refresh": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("for a token") && message.contains("larger than 1 MiB"),
        "{message}"
    );
    assert!(!message.contains("PRIVATE KEY"), "{message}");
    let health = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    task.abort();
}
