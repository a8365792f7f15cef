//! Shared by the benchmarks: knobs, memory, and Debian's `docker-registry` on loopback with
//! images pushed through the Distribution API.
#![allow(dead_code)] // each benchmark uses a part

use sha2::Digest;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

pub struct Registry {
    pub url: String,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_registry(storage: &std::path::Path) -> Registry {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(storage).unwrap();
    let config = storage.with_extension("yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry) is installed");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry {
        url: format!("http://127.0.0.1:{port}"),
        child,
    }
}

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub async fn push_blob(http: &reqwest::Client, base: &str, repo: &str, data: &[u8]) {
    let start = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let mut url = reqwest::Url::parse(base).unwrap().join(&location).unwrap();
    url.query_pairs_mut().append_pair("digest", &sha(data));
    let put = http.put(url).body(data.to_vec()).send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201, "blob upload");
}

/// Pushes one image to `repo` and tags it `TAGS` times; returns the manifest digest.
pub async fn fill_repo(http: &reqwest::Client, base: &str, repo: &str, tags: usize) -> String {
    let layer = format!("layer of {repo}").into_bytes();
    let config =
        serde_json::json!({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}, "config": {}})
        .to_string()
        .into_bytes();
    push_blob(http, base, repo, &layer).await;
    push_blob(http, base, repo, &config).await;
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&layer), "size": layer.len()}]})
    .to_string();
    for t in 0..tags {
        let put = http
            .put(format!("{base}/v2/{repo}/manifests/tag-{t:04}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 201, "manifest push");
    }
    sha(manifest.as_bytes())
}

/// A logged-in client of the server functions.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    /// Logs in as `admin` with `password`.
    pub async fn login(base: String, password: &str) -> Api {
        let api = Api {
            http: reqwest::Client::builder().cookie_store(true).build().unwrap(),
            base,
        };
        api.call(
            "login",
            serde_json::json!({"username": "admin", "password": password}),
        )
        .await;
        api
    }

    /// Calls a server function; panics on an error answer.
    pub async fn call(&self, endpoint: &str, body: serde_json::Value) -> serde_json::Value {
        let resp = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        assert!(status.is_success(), "{endpoint}: {status} {v}");
        v
    }

    /// The registry (`registry_url`, images under `bench/app`), the OCI chart registry on `host`
    /// and a project "bench" with one template of the sample chart (`content`) and
    /// `url_templates`. Returns the project.
    pub async fn bench_project(
        &self,
        registry_url: &str,
        host: &str,
        url_templates: serde_json::Value,
        (chart_version, content): (&str, &str),
    ) -> serde_json::Value {
        use serde_json::json;
        let docker = self
            .call(
                "save_docker_registry",
                json!({"registry": {"id": null, "name": "bench", "url": registry_url, "insecure_http": true,
                    "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
            )
            .await;
        let charts = self
            .call(
                "save_helm_registry",
                json!({"registry": {"id": null, "name": "charts", "kind": "oci", "url": format!("oci://{host}/charts"),
                    "username": "", "secret": null, "ca_pem": "", "plain_http": true}}),
            )
            .await;
        let project = self
            .call(
                "save_project",
                json!({"project": {"id": null, "name": "bench", "registry": docker["id"], "image_repository": "bench/app",
                    "redeploy_policy": "manual", "lifetime": "infinite", "tag_include": "", "tag_exclude": "",
                    "ignore_signature_tags": true, "poll_interval_secs": ""}}),
            )
            .await;
        self.call(
            "save_project_config",
            json!({"id": project["id"], "config": {"url_templates": url_templates, "variables": [], "templates": [
                {"name": "web", "description": "", "helm_registry": charts["id"], "chart_name": "o-neko-demo",
                 "chart_version": chart_version, "content": content}]}}),
        )
        .await;
        project
    }
}
