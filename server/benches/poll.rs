//! One polling cycle over many projects when nothing changed: `cargo bench -p server --bench poll`.
//!
//! Starts Debian's `docker-registry` on loopback (its storage is kept in `target/bench-registry`
//! between runs, since filling it takes a while), pushes PROJECTS repositories × TAGS tags,
//! stores the matching projects and versions in a fresh SQLite database (DEPLOYED of the versions
//! marked deployed), then runs full polling cycles and prints their time, the requests sent and
//! the process's memory. Knobs: `BENCH_PROJECTS`, `BENCH_TAGS`, `BENCH_DEPLOYED`, `BENCH_CYCLES`.

use chrono::Utc;
use futures::{StreamExt, stream};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use server::{
    db::{
        connect_and_migrate,
        entity::{docker_registry, project, project_version},
    },
    projects::poller::Poller,
    registry::SqlRegistries,
    secrets::SecretBox,
};
use sha2::Digest;
use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Registry {
    url: String,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(storage: &std::path::Path) -> Registry {
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

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

async fn push_blob(http: &reqwest::Client, base: &str, repo: &str, data: &[u8]) {
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
async fn fill_repo(http: &reqwest::Client, base: &str, repo: &str, tags: usize) -> String {
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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let projects = knob("BENCH_PROJECTS", 1000);
    let tags = knob("BENCH_TAGS", 100);
    let deployed = knob("BENCH_DEPLOYED", 100);
    let cycles = knob("BENCH_CYCLES", 3);
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let storage = target.join(format!("bench-registry-{projects}x{tags}"));
    let filled = storage.join("filled");
    let registry = start_registry(&storage);
    let http = reqwest::Client::new();

    let started = Instant::now();
    let repos: Vec<String> = (0..projects).map(|i| format!("bench/app{i:04}")).collect();
    let digests: Vec<String> = stream::iter(repos.clone())
        .map(|repo| {
            let http = http.clone();
            let base = registry.url.clone();
            // Pushing again is idempotent: it recomputes the digest when the storage is reused.
            let count = if filled.exists() { 0 } else { tags };
            async move { fill_repo(&http, &base, &repo, count).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    std::fs::write(&filled, "").unwrap();
    println!(
        "registry ready: {projects} repositories × {tags} tags in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let db = connect_and_migrate(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    ))
    .await
    .unwrap();
    let now = Utc::now();
    let reg = docker_registry::ActiveModel {
        name: Set("bench".into()),
        url: Set(registry.url.clone()),
        insecure_http: Set(true),
        auth: Set("anonymous".into()),
        skip_tls_verify: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let mut deployed_left = deployed;
    for (i, repo) in repos.iter().enumerate() {
        let p = project::ActiveModel {
            name: Set(format!("project {i}")),
            docker_registry_id: Set(reg.id),
            image_repository: Set(repo.clone()),
            redeploy_policy: Set("manual".into()),
            lifetime: Set("infinite".into()),
            tag_include: Set(String::new()),
            tag_exclude: Set(String::new()),
            ignore_signature_tags: Set(true),
            poll_failures: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let rows = (0..tags).map(|t| {
            // Spread the deployed versions over the projects.
            let is_deployed = deployed_left > 0 && t == 0 && i % projects.div_ceil(deployed).max(1) == 0;
            if is_deployed {
                deployed_left -= 1;
            }
            project_version::ActiveModel {
                project_id: Set(p.id),
                name: Set(format!("tag-{t:04}")),
                digest: Set(Some(digests[i].clone())),
                first_seen_at: Set(now),
                deployed: Set(is_deployed),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
        });
        project_version::Entity::insert_many(rows.collect::<Vec<_>>())
            .exec(&db)
            .await
            .unwrap();
    }
    let marked = deployed - deployed_left;
    println!(
        "database ready: {projects} projects, {} versions, {marked} deployed",
        projects * tags
    );

    let secrets = SecretBox::load(Some(&"00".repeat(32)), dir.path()).unwrap();
    let registries = Arc::new(SqlRegistries {
        db: db.clone(),
        secrets,
    });
    let poller = Arc::new(Poller::new(db, registries, Duration::from_secs(60), 8));
    for cycle in 1..=cycles {
        let before = poller.requests_sent();
        let t = Instant::now();
        let (ok, failed) = poller.poll_all().await;
        let took = t.elapsed();
        let sent = poller.requests_sent() - before;
        println!(
            "cycle {cycle}: {:.2} s for {ok} projects ({failed} failed), {sent} requests \
             (budget: {projects} tag lists + {marked} HEAD = {}), RSS {:.0} MiB",
            took.as_secs_f64(),
            projects + marked,
            rss_mib()
        );
    }
}
