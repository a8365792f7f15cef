//! The server's memory after use: `cargo bench -p server --bench memory` (after `tools/build`).
//!
//! Runs the release server that `tools/run` runs (`target/release/server`, or `ONEKO_SERVER_BIN`)
//! as a child process against the simulated cluster (in this process) and Debian's
//! `docker-registry`, seeds PROJECTS (100) projects × TAGS (100) tags, deploys DEPLOYED (20)
//! versions, then, ROUNDS (3) times, serves LOADS (1,000) dashboard page loads and waits
//! IDLE (60) seconds before reading the child's resident memory (`/proc/<pid>/status`). It prints
//! the figures, the growth across rounds and whether the target (≤ 60 MiB idle, no growth) is
//! met; it asserts nothing. Knobs: `BENCH_PROJECTS`, `BENCH_TAGS`, `BENCH_DEPLOYED`,
//! `BENCH_LOADS`, `BENCH_IDLE_SECONDS`, `BENCH_ROUNDS`.

mod common;

use common::{fill_repo, knob, start_registry};
use futures::{StreamExt, stream};
use reqwest::Client;
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const PASSWORD: &str = "bench-admin-password";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmRSS`, `RssAnon`, `RssFile` and `VmHWM` of `pid`, in MiB.
fn memory(pid: u32) -> [f64; 4] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    ["VmRSS:", "RssAnon:", "RssFile:", "VmHWM:"].map(|key| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    })
}

/// Where `pid`'s resident memory lies (`/proc/<pid>/smaps`), in MiB: the binary's own pages,
/// other files (shared libraries), the C heap (`[heap]`, glibc's `malloc`), other anonymous
/// mappings (the Rust allocator's arenas, thread stacks) and the rest.
fn breakdown(pid: u32, binary: &std::path::Path) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let binary = std::fs::canonicalize(binary).unwrap_or_default();
    let (mut own, mut files, mut heap, mut anon, mut other) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut bucket = 4;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let path = fields.nth(4).unwrap_or_default();
            bucket = match path {
                "" => 3,
                "[heap]" => 2,
                p if p.starts_with('[') => 4,
                p if std::path::Path::new(p) == binary => 0,
                _ => 1,
            };
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *[&mut own, &mut files, &mut heap, &mut anon, &mut other][bucket] += kib;
        }
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    format!(
        "the binary {:.1} MiB, other files {:.1}, C heap {:.1}, anonymous mappings {:.1}, other {:.1}",
        mib(own),
        mib(files),
        mib(heap),
        mib(anon),
        mib(other)
    )
}

async fn call(http: &Client, base: &str, endpoint: &str, body: Value) -> Value {
    let resp = http
        .post(format!("{base}/api/{endpoint}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{endpoint}: {status} {v}");
    v
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let projects = knob("BENCH_PROJECTS", 100);
    let tags = knob("BENCH_TAGS", 100);
    let deployed = knob("BENCH_DEPLOYED", 20).min(projects);
    let loads = knob("BENCH_LOADS", 1000);
    let idle = knob("BENCH_IDLE_SECONDS", 60) as u64;
    let rounds = knob("BENCH_ROUNDS", 3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = std::env::var_os("ONEKO_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/server"));
    assert!(
        binary.exists(),
        "{} is missing: build the release first (tools/build)",
        binary.display()
    );
    let work = tempfile::tempdir().unwrap();

    let sim = kube_sim::start(
        kube_sim::SimConfig::default()
            .pod_ready_delay(Duration::from_millis(100))
            .namespace_delete_delay(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let registry = start_registry(&work.path().join("registry"));
    let http = Client::builder().build().unwrap();
    let started = Instant::now();
    stream::iter(0..projects)
        .for_each_concurrent(8, |p| {
            let (http, url) = (http.clone(), registry.url.clone());
            async move {
                fill_repo(&http, &url, &format!("bench/app-{p:03}"), tags).await;
            }
        })
        .await;
    println!(
        "seeded {projects} repositories × {tags} tags in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let helm = server::helm::HelmConfig {
        binary: root.join("tools/bin/helm"),
        timeout: Duration::from_secs(60),
    };
    let run = server::helm::HelmRun::new(helm).unwrap();
    let chart = run.dir().join("o-neko-demo");
    server::demo::write_chart(&chart).unwrap();
    let host = registry.url.trim_start_matches("http://").to_owned();
    let dest = run.dir().display().to_string();
    run.run(
        &[
            "package".into(),
            chart.display().to_string(),
            "--destination".into(),
            dest,
        ],
        None,
    )
    .await
    .unwrap();
    let archive = run.dir().join("o-neko-demo-1.0.0.tgz").display().to_string();
    let oci = format!("oci://{host}/charts");
    run.run(
        &["push".into(), archive, oci.clone(), "--plain-http".into()],
        None,
    )
    .await
    .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&binary)
        .current_dir(work.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir", "data"])
        .arg("--kubeconfig")
        .arg(sim.kubeconfig_path())
        .env("ONEKO_ADMIN_PASSWORD", PASSWORD)
        .env("LEPTOS_SITE_ROOT", root.join("target/site"))
        .env("LEPTOS_OUTPUT_NAME", "o-neko")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let api = Client::builder().cookie_store(true).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh = memory(pid);
    call(
        &api,
        &base,
        "login",
        json!({"username": "admin", "password": PASSWORD}),
    )
    .await;
    let docker = call(
        &api,
        &base,
        "save_docker_registry",
        json!({"registry": {"id": null, "name": "bench", "url": registry.url, "insecure_http": true,
            "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
    )
    .await;
    let charts = call(
        &api,
        &base,
        "save_helm_registry",
        json!({"registry": {"id": null, "name": "charts", "kind": "oci", "url": oci,
            "username": "", "secret": null, "ca_pem": "", "plain_http": true}}),
    )
    .await;
    let mut ids = vec![];
    for p in 0..projects {
        let project = call(
            &api,
            &base,
            "save_project",
            json!({"project": {"id": null, "name": format!("bench {p:03}"), "registry": docker["id"],
                "image_repository": format!("bench/app-{p:03}"), "redeploy_policy": "manual",
                "lifetime": "infinite", "tag_include": "", "tag_exclude": "",
                "ignore_signature_tags": true, "poll_interval_secs": ""}}),
        )
        .await;
        call(&api, &base, "save_project_config",
            json!({"id": project["id"], "config": {"url_templates": ["http://{{ SAFE_VERSION_NAME }}.bench.test"],
                "variables": [], "templates": [{"name": "web", "description": "", "helm_registry": charts["id"],
                "chart_name": "o-neko-demo", "chart_version": "1.0.0", "content": "image: \"{{ IMAGE }}\"\n"}]}})).await;
        ids.push(project["id"].clone());
    }
    // Every project's tags polled into versions.
    let started = Instant::now();
    let mut first_versions = vec![];
    for id in &ids {
        loop {
            let page = call(&api, &base, "list_versions",
                json!({"query": {"project": id, "filter": "", "include_removed": false, "sort": "name", "page": 0}})).await;
            if page["total"].as_u64() == Some(tags as u64) {
                first_versions.push(page["items"][0]["id"].clone());
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "versions were not polled: {page}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    println!(
        "polled {} versions in {:.0} s",
        projects * tags,
        started.elapsed().as_secs_f64()
    );
    for id in first_versions.iter().take(deployed) {
        call(&api, &base, "deploy_version", json!({"id": id})).await;
    }
    let started = Instant::now();
    for id in first_versions.iter().take(deployed) {
        loop {
            let d = call(&api, &base, "get_deployment", json!({"id": id})).await;
            if !d["status"]["applied_at"].is_null() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(300), "not deployed: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!("deployed {deployed} versions");
    let seeded = memory(pid);

    let mut after = vec![];
    for round in 1..=rounds {
        let started = Instant::now();
        let bytes: usize = stream::iter(0..loads)
            .map(|_| {
                let (api, base) = (api.clone(), base.clone());
                async move {
                    let resp = api.get(format!("{base}/")).send().await.unwrap();
                    assert!(resp.status().is_success(), "dashboard: {}", resp.status());
                    resp.bytes().await.unwrap().len()
                }
            })
            .buffer_unordered(8)
            .fold(0, |a, b| async move { a + b })
            .await;
        let load_time = started.elapsed().as_secs_f64();
        let busy = memory(pid);
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let quiet = memory(pid);
        println!(
            "round {round}: {loads} dashboard loads in {:.1} s ({} KiB each); RSS right after {:.1} MiB, after {idle} s idle {:.1} MiB (anon {:.1}, file {:.1}), peak {:.1} MiB",
            load_time,
            bytes / loads.max(1) / 1024,
            busy[0],
            quiet[0],
            quiet[1],
            quiet[2],
            quiet[3]
        );
        println!("  where: {}", breakdown(pid, &binary));
        after.push(quiet[0]);
    }
    let last = after.last().copied().unwrap_or(0.0);
    let growth = last - after.first().copied().unwrap_or(0.0);
    println!(
        "started {:.1} MiB; seeded and deployed {:.1} MiB; idle after the last round {last:.1} MiB (target ≤ 60: {}); growth from round 1 to {rounds}: {growth:+.1} MiB (target none: {})",
        fresh[0],
        seeded[0],
        if last <= 60.0 { "met" } else { "NOT met" },
        if growth <= 2.0 { "met" } else { "NOT met" },
    );
    drop(sim);
}
