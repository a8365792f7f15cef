//! Deploying into the simulated cluster: `cargo bench -p server --bench deploy`.
//!
//! Starts kube-sim (on its own runtime, threads named `kube-sim`), Debian's `docker-registry`
//! and O-Neko in this process, pushes the sample chart with 16 extra ConfigMaps (20 objects in
//! all) and one image tag per version, then measures:
//! (a) click to all objects applied: from sending `deploy_version` (what the button calls) to
//!     the version's `applied_at` being set, for first deploys (a new namespace) and redeploys,
//!     chart cached;
//! (b) VERSIONS (200) versions deployed at once, until all run;
//! (c) the server's CPU while those are watched and nothing changes (kube-sim's threads are not
//!     counted), over more than a poll interval (so a poll with a digest check of every deployed
//!     version is included): /proc/self/task CPU time, as a share of one core.
//! It prints figures and whether they meet the targets (≤ 1 s, < 2 %); it asserts nothing. Knobs: `BENCH_VERSIONS`, `BENCH_IDLE_SECONDS`.

mod common;

use common::{Api, fill_repo, knob, rss_mib, start_registry};
use reqwest::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// CPU seconds used by this process's threads, except kube-sim's.
fn server_cpu_seconds() -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim().starts_with("kube-sim") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised command: utime is the 12th, stime the 13th.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let stime: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        total += (utime + stime) / ticks;
    }
    total
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Clicks Deploy (the server function the button calls) and waits until the version's
/// `applied_at` moves past `after`: click to all objects applied.
async fn deploy_applied(api: &Api, id: &Value, after: &Value) -> Duration {
    let start = Instant::now();
    api.call("deploy_version", json!({"id": id})).await;
    loop {
        let d = api.call("get_deployment", json!({"id": id})).await;
        if !d["status"]["applied_at"].is_null() && d["status"]["applied_at"] != *after {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not applied: {d}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const BULK: &str = "{{- range $i := until (int .Values.bulk) }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ $.Release.Name }}-bulk-{{ $i }}\ndata:\n  n: \"{{ $i }}\"\n{{- end }}\n";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let versions = knob("BENCH_VERSIONS", 200);
    // Longer than the poll interval (60 s), so the idle figure includes a poll with a digest
    // check of every deployed version.
    let idle = knob("BENCH_IDLE_SECONDS", 70);
    let work = tempfile::tempdir().unwrap();

    // The simulated cluster on its own runtime, so its CPU can be told apart.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kube-sim")
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sim = kube_sim::start(
                kube_sim::SimConfig::default()
                    .pod_ready_delay(Duration::from_millis(100))
                    .namespace_delete_delay(Duration::from_millis(100)),
            )
            .await
            .unwrap();
            tx.send(sim.kubeconfig_path().to_owned()).unwrap();
            std::future::pending::<()>().await;
            drop(sim);
        });
    });
    let kubeconfig = rx.recv().unwrap();

    let registry = start_registry(&work.path().join("registry"));
    let http = Client::builder().build().unwrap();
    fill_repo(&http, &registry.url, "bench/app", versions).await;
    // The sample chart with 16 more ConfigMaps: 20 objects.
    let helm = server::helm::HelmConfig {
        binary: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/bin/helm"),
        timeout: Duration::from_secs(60),
    };
    let run = server::helm::HelmRun::new(helm.clone()).unwrap();
    let chart = run.dir().join("o-neko-demo");
    server::demo::write_chart(&chart).unwrap();
    std::fs::write(chart.join("templates/bulk.yaml"), BULK).unwrap();
    let host = registry.url.trim_start_matches("http://").to_owned();
    run.run(
        &[
            "package".into(),
            chart.display().to_string(),
            "--destination".into(),
            run.dir().display().to_string(),
        ],
        None,
    )
    .await
    .unwrap();
    run.run(
        &[
            "push".into(),
            run.dir().join("o-neko-demo-1.0.0.tgz").display().to_string(),
            format!("oci://{host}/charts"),
            "--plain-http".into(),
        ],
        None,
    )
    .await
    .unwrap();

    let mut config = server::config::Config::for_tests(work.path().join("data"), None);
    config.admin_password = Some("bench-admin-password".into());
    config.kubeconfig = Some(kubeconfig);
    config.deploy_concurrency = 8;
    // The production default (tests run the scheduler every second).
    config.scheduler_interval = 10;
    let running = server::start(config).await.unwrap();
    let api = Api::login(format!("http://{}", running.addr), "bench-admin-password").await;
    let project = api
        .bench_project(
            &registry.url,
            &host,
            json!([]),
            ("1.0.0", "image: \"{{ IMAGE }}\"\nbulk: 16\n"),
        )
        .await;
    let ids: Vec<Value> = loop {
        let mut ids = vec![];
        for page in 0..versions.div_ceil(50) {
            let p = api
                .call(
                    "list_versions",
                    json!({"query": {"project": project["id"], "filter": "", "include_removed": false, "sort": "name", "page": page}}),
                )
                .await;
            ids.extend(p["items"].as_array().unwrap().iter().map(|v| v["id"].clone()));
        }
        if ids.len() == versions {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // (a) Click to applied. The first deploy pulls the chart; the rest find it cached.
    let cold = deploy_applied(&api, &ids[0], &Value::Null).await;
    let mut first = vec![];
    for id in &ids[1..11] {
        first.push(deploy_applied(&api, id, &Value::Null).await.as_secs_f64());
    }
    let mut again = vec![];
    for _ in 0..10 {
        let before = api.call("get_deployment", json!({"id": ids[0]})).await["status"]["applied_at"].clone();
        again.push(deploy_applied(&api, &ids[0], &before).await.as_secs_f64());
    }
    first.sort_by(f64::total_cmp);
    again.sort_by(f64::total_cmp);

    // (b) Everything at once.
    let all = Instant::now();
    for chunk in ids.chunks(200) {
        api.call("deploy_or_stop_versions", json!({"ids": chunk, "deploy": true}))
            .await;
    }
    loop {
        let rows = api
            .call("list_deployments", json!({"project": null, "search": ""}))
            .await;
        let running = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"]["state"] == "running")
            .count();
        if running == versions {
            break;
        }
        if all.elapsed() > Duration::from_secs(300) {
            let others: Vec<String> = rows
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"]["state"] != "running")
                .take(10)
                .map(|r| {
                    format!(
                        "{}: {} {}",
                        r["version_name"], r["status"]["state"], r["status"]["message"]
                    )
                })
                .collect();
            panic!("{running} of {versions} running after 300 s; others: {others:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_time = all.elapsed();

    // (c) Idle: everything watched, nothing changes.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu_before = server_cpu_seconds();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle as u64)).await;
    let cpu = (server_cpu_seconds() - cpu_before) / t.elapsed().as_secs_f64() * 100.0;

    println!("deploy benchmark (2-core VM, kube-sim in this process on its own thread)");
    println!(
        "(a) first deploy, chart pulled          {:>8.1} ms",
        cold.as_secs_f64() * 1000.0
    );
    let met = |ok: bool| if ok { "target met" } else { "TARGET MISSED" };
    println!(
        "(a) first deploys, chart cached (10)    p50 {:.1} ms, max {:.1} ms (20 objects, new namespace; target ≤ 1000 ms: {})",
        percentile(&first, 0.5) * 1000.0,
        percentile(&first, 1.0) * 1000.0,
        met(percentile(&first, 1.0) <= 1.0)
    );
    println!(
        "(a) redeploys in place (10)             p50 {:.1} ms, max {:.1} ms",
        percentile(&again, 0.5) * 1000.0,
        percentile(&again, 1.0) * 1000.0
    );
    println!(
        "(b) {versions} versions deployed at once      all running after {:.1} s ({} objects)",
        all_time.as_secs_f64(),
        versions * 20
    );
    println!(
        "(c) server CPU while watching, idle     {cpu:.2} % of one core over {idle} s (target < 2 %: {})",
        met(cpu < 2.0)
    );
    println!("    RSS (server + kube-sim)            {:.1} MiB", rss_mib());
    running.shutdown().await.unwrap();
}
