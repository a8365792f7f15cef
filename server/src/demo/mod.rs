//! Demo mode: a sample chart (also used by the tests) and, with `--demo-registry`, a sample
//! project seeded on first start, whose images and chart are pushed to a loopback registry, so
//! that a new user can deploy something into the simulated cluster within a minute.

use std::path::Path;

/// The sample chart `o-neko-demo`, file by file.
pub const CHART: &[(&str, &str)] = &[
    ("Chart.yaml", include_str!("chart/Chart.yaml")),
    ("values.yaml", include_str!("chart/values.yaml")),
    (
        "templates/serviceaccount.yaml",
        include_str!("chart/templates/serviceaccount.yaml"),
    ),
    (
        "templates/configmap.yaml",
        include_str!("chart/templates/configmap.yaml"),
    ),
    (
        "templates/extra-configmap.yaml",
        include_str!("chart/templates/extra-configmap.yaml"),
    ),
    (
        "templates/deployment.yaml",
        include_str!("chart/templates/deployment.yaml"),
    ),
    (
        "templates/service.yaml",
        include_str!("chart/templates/service.yaml"),
    ),
    (
        "templates/upgrade-hooks.yaml",
        include_str!("chart/templates/upgrade-hooks.yaml"),
    ),
    (
        "templates/ingress.yaml",
        include_str!("chart/templates/ingress.yaml"),
    ),
    (
        "templates/migration-job.yaml",
        include_str!("chart/templates/migration-job.yaml"),
    ),
    (
        "templates/notify.yaml",
        include_str!("chart/templates/notify.yaml"),
    ),
    (
        "templates/tests/test-connection.yaml",
        include_str!("chart/templates/tests/test-connection.yaml"),
    ),
];

/// Writes the sample chart into `dir` (which becomes the chart's directory).
pub fn write_chart(dir: &Path) -> std::io::Result<()> {
    for (name, content) in CHART {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}

use crate::{helm::HelmConfig, helm::HelmRun, state::AppState};
use app::model::{
    ConfigTemplate, CurrentUser, DockerRegistryInput, HelmRegistryInput, ProjectConfig, ProjectInput, Role,
    TemplateVariable, UserId,
};
use sha2::Digest;

/// The image repository of the demo project.
pub const DEMO_REPOSITORY: &str = "demo/shop";
/// The demo project's tags, with the date each image says it was built.
const DEMO_TAGS: &[(&str, &str)] = &[
    ("main", "2026-11-30T09:00:00Z"),
    ("v1.0.0", "2026-11-02T14:30:00Z"),
    ("feature-dark-mode", "2026-11-28T17:45:00Z"),
];
/// The demo project's name.
pub const DEMO_PROJECT: &str = "Demo shop";

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

async fn push_blob(
    http: &reqwest::Client,
    registry: &str,
    repo: &str,
    data: Vec<u8>,
) -> Result<String, String> {
    let d = digest(&data);
    let start = http
        .post(format!("{registry}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .map_err(|e| format!("starting a blob upload: {e}"))?;
    let location = start
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("the registry answered {} to a blob upload", start.status()))?
        .to_owned();
    let mut url = reqwest::Url::parse(registry)
        .and_then(|base| base.join(&location))
        .map_err(|e| format!("upload location {location}: {e}"))?;
    url.query_pairs_mut().append_pair("digest", &d);
    let put = http
        .put(url)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(data)
        .send()
        .await
        .map_err(|e| format!("uploading a blob: {e}"))?;
    if !put.status().is_success() {
        return Err(format!("the registry answered {} to a blob upload", put.status()));
    }
    Ok(d)
}

/// Pushes a tiny one-layer OCI image (the simulated cluster never runs it).
async fn push_image(registry: &str, repo: &str, tag: &str, created: &str) -> Result<(), String> {
    let http = reqwest::Client::new();
    let layer = format!("O-Neko demo shop, {tag}\n").into_bytes();
    let layer_len = layer.len();
    let layer_digest = push_blob(&http, registry, repo, layer).await?;
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": created,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}, "config": {},
    })
    .to_string()
    .into_bytes();
    let config_len = config.len();
    let config_digest = push_blob(&http, registry, repo, config).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_len}],
    });
    let put = http
        .put(format!("{registry}/v2/{repo}/manifests/{tag}"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .body(manifest.to_string())
        .send()
        .await
        .map_err(|e| format!("pushing the manifest: {e}"))?;
    if !put.status().is_success() {
        return Err(format!(
            "the registry answered {} to a manifest push",
            put.status()
        ));
    }
    Ok(())
}

/// Packages the sample chart and pushes it to the OCI location `oci` (`oci://host/path`, plain
/// HTTP) with helm.
pub async fn push_chart(helm: &HelmConfig, oci: &str) -> Result<(), String> {
    let run = HelmRun::new(helm.clone()).map_err(|e| e.to_string())?;
    let src = run.dir().join("o-neko-demo");
    write_chart(&src).map_err(|e| e.to_string())?;
    let out = run.dir().join("out");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    run.run(
        &[
            "package".into(),
            src.display().to_string(),
            "--destination".into(),
            out.display().to_string(),
        ],
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    run.run(
        &[
            "push".into(),
            out.join("o-neko-demo-1.0.0.tgz").display().to_string(),
            oci.to_owned(),
            "--plain-http".into(),
        ],
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The values the demo project renders into the sample chart.
const DEMO_VALUES: &str = "\
# Rendered by O-Neko for every version: the image of the tag, pinned to its digest.
image: \"{{ IMAGE }}\"
replicas: {{ REPLICAS }}
message: \"{{ MESSAGE }}\"
backend: \"{{ BACKEND }}\"
host: \"{{ URLS[0] }}\"
migration: true
";

/// Seeds the demo on first start: images and chart pushed to `registry` (a loopback
/// docker-registry), a Docker registry, a Helm registry and the project. Does nothing when the
/// demo project exists already.
pub async fn seed(state: &AppState, registry: &str, helm: &HelmConfig) -> Result<(), String> {
    let registry = registry.trim_end_matches('/');
    let projects = state.projects.list().await.map_err(|e| e.to_string())?;
    if projects.iter().any(|p| p.name == DEMO_PROJECT) {
        return Ok(());
    }
    let host = registry.split_once("://").map_or(registry, |(_, h)| h).to_owned();
    for (tag, created) in DEMO_TAGS {
        push_image(registry, DEMO_REPOSITORY, tag, created).await?;
    }
    push_chart(helm, &format!("oci://{host}/demo-charts")).await?;
    let demo = CurrentUser {
        id: UserId(0),
        username: "demo".into(),
        display_name: None,
        role: Role::Admin,
        token: None,
    };
    let docker = state
        .registries
        .save(
            &demo,
            DockerRegistryInput {
                name: "Demo registry".into(),
                url: registry.into(),
                insecure_http: registry.starts_with("http://"),
                auth: "anonymous".into(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let charts = state
        .helm_registries
        .save(
            &demo,
            HelmRegistryInput {
                name: "Demo charts".into(),
                kind: "oci".into(),
                url: format!("oci://{host}/demo-charts"),
                plain_http: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let project = state
        .projects
        .save(
            &demo,
            ProjectInput {
                name: DEMO_PROJECT.into(),
                registry: Some(docker.id),
                image_repository: DEMO_REPOSITORY.into(),
                redeploy_policy: "automatic".into(),
                lifetime: "days:2".into(),
                ignore_signature_tags: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let variable = |name: &str, label: &str, default: &str, values: &[&str]| TemplateVariable {
        name: name.into(),
        label: label.into(),
        default_value: default.into(),
        use_values: !values.is_empty(),
        values: values.iter().map(|v| v.to_string()).collect(),
        show_on_dashboard: !values.is_empty(),
    };
    state
        .projects
        .save_config(
            &demo,
            project.id,
            ProjectConfig {
                url_templates: vec!["{{ SAFE_VERSION_NAME }}.shop.demo.o-neko.test".into()],
                templates: vec![ConfigTemplate {
                    name: "shop".into(),
                    description: "The web shop".into(),
                    helm_registry: Some(charts.id.0),
                    chart_name: "o-neko-demo".into(),
                    chart_version: String::new(),
                    content: DEMO_VALUES.into(),
                }],
                variables: vec![
                    variable(
                        "BACKEND",
                        "Backend",
                        "https://api.example.com",
                        &["https://api.example.com", "https://staging-api.example.com"],
                    ),
                    variable("REPLICAS", "Replicas", "1", &["1", "2", "3"]),
                    variable("MESSAGE", "Greeting", "Hello from the O-Neko demo", &[]),
                ],
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("demo: project {DEMO_PROJECT} with images in {registry} and the sample chart seeded");
    Ok(())
}
