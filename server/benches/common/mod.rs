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
