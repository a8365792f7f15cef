//! The helm runner against real helm: a chart repository served over loopback HTTP with Basic
//! auth (charts packaged and indexed by the test), an OCI chart pushed to Debian's
//! docker-registry, and a timeout.

use crate::fixtures::LocalRegistry;
use axum::{
    Router,
    extract::Request,
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use server::helm::{HelmConfig, HelmCredentials, HelmError, HelmRun, TemplateOpts};
use std::{path::PathBuf, time::Duration};
use tower_http::services::ServeDir;

pub const USER: &str = "chart-reader";
pub const PASSWORD: &str = "p@ss!$word@x `'\"";
const VERSION: &str = "1.2.3+build.5";

pub fn helm_binary() -> PathBuf {
    std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/bin/helm"))
}

pub fn config(timeout: Duration) -> HelmConfig {
    HelmConfig {
        binary: helm_binary(),
        timeout,
    }
}

/// `helm create` + `helm package` into `dir/charts`; returns the archive.
async fn package_demo_chart(run: &HelmRun, dir: &std::path::Path) -> PathBuf {
    package_chart(run, dir, VERSION).await
}

/// Packages helm's starter chart `demo` at `version` into `dir/charts`; returns the archive.
pub async fn package_chart(run: &HelmRun, dir: &std::path::Path, version: &str) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    if !src.join("demo").exists() {
        run.run(&["create".into(), src.join("demo").display().to_string()], None)
            .await
            .unwrap();
    }
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).unwrap();
    let out = run
        .run(
            &[
                "package".into(),
                src.join("demo").display().to_string(),
                "--version".into(),
                version.into(),
                "--destination".into(),
                charts.display().to_string(),
            ],
            None,
        )
        .await
        .unwrap();
    assert!(out.contains("Successfully packaged"), "{out}");
    charts.join(format!("demo-{version}.tgz"))
}

pub async fn basic_auth(req: Request, next: Next) -> Response {
    let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
    match req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v == expected => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"charts\"")],
        )
            .into_response(),
    }
}

/// Serves `dir` over loopback HTTP behind Basic auth; returns the base URL.
async fn serve_charts(dir: PathBuf) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .fallback_service(ServeDir::new(dir))
        .layer(middleware::from_fn(basic_auth));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn template_opts(chart: &std::path::Path) -> TemplateOpts {
    TemplateOpts {
        release_name: "web".into(),
        chart: chart.display().to_string(),
        namespace: "on-demo-main".into(),
        values_files: vec![],
        kube_version: Some("v1.35.0".into()),
        include_crds: true,
        version: None,
    }
}

#[tokio::test]
async fn chart_repository_with_basic_auth_pull_and_template() {
    let work = tempfile::tempdir().unwrap();
    let tools = HelmRun::new(config(Duration::from_secs(60))).unwrap();
    package_demo_chart(&tools, work.path()).await;
    let charts = work.path().join("charts");
    let (url, server) = serve_charts(charts.clone()).await;
    tools
        .run(
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

    let creds = HelmCredentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let run = HelmRun::new(config(Duration::from_secs(60))).unwrap();
    run.repo_add("team", &url, Some(&creds), None).await.unwrap();
    // The password went through a private file that is gone again; helm's own repository file
    // lives in the session directory, which is removed with the session.
    assert!(!run.dir().join("team.password").exists());
    let archive = run.pull("team/demo", Some(VERSION), false, None).await.unwrap();
    assert!(
        archive
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains("demo-1.2.3+build.5"),
        "{archive:?}"
    );
    let manifests = run
        .template(template_opts(&archive), "replicaCount: 3\n")
        .await
        .unwrap();
    assert!(manifests.contains("kind: Deployment"), "{manifests}");
    assert!(manifests.contains("replicas: 3"));
    assert!(manifests.contains("app.kubernetes.io/instance: web"));
    assert!(manifests.contains("name: web-demo"));
    let session = run.dir().to_owned();
    drop(run);
    assert!(!session.exists(), "session directory removed");

    // A wrong password fails clearly, and the message never contains a password.
    let wrong = HelmCredentials {
        username: USER.into(),
        password: "wrong-secret".into(),
    };
    let run = HelmRun::new(config(Duration::from_secs(60))).unwrap();
    let err = run.repo_add("team", &url, Some(&wrong), None).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HelmError::Failed { .. }), "{text}");
    assert!(
        text.contains("401") || text.to_lowercase().contains("unauthorized"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret") && !text.contains(PASSWORD),
        "{text}"
    );
    server.abort();
}

#[tokio::test]
async fn oci_chart_in_the_local_registry() {
    let work = tempfile::tempdir().unwrap();
    let run = HelmRun::new(config(Duration::from_secs(60))).unwrap();
    let archive = package_demo_chart(&run, work.path()).await;
    let registry = LocalRegistry::start(None, None);
    let oci = format!("oci://{}/charts", registry.url.trim_start_matches("http://"));
    run.run(
        &[
            "push".into(),
            archive.display().to_string(),
            oci.clone(),
            "--plain-http".into(),
        ],
        None,
    )
    .await
    .unwrap();
    let fresh = HelmRun::new(config(Duration::from_secs(60))).unwrap();
    let pulled = fresh
        .pull(&format!("{oci}/demo"), Some(VERSION), true, None)
        .await
        .unwrap();
    let manifests = fresh.template(template_opts(&pulled), "").await.unwrap();
    assert!(manifests.contains("kind: Service"), "{manifests}");
}

#[tokio::test]
async fn a_hanging_repository_times_out() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let run = HelmRun::new(config(Duration::from_secs(2))).unwrap();
    let err = run.repo_add("slow", &url, None, None).await.unwrap_err();
    assert!(matches!(err, HelmError::Timeout { seconds: 2, .. }), "{err}");
    drop(listener);
}

#[tokio::test]
async fn a_missing_chart_is_a_clear_error() {
    let run = HelmRun::new(config(Duration::from_secs(30))).unwrap();
    let err = run
        .template(template_opts(std::path::Path::new("/nonexistent/chart.tgz")), "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/chart.tgz"), "{err}");
}
