//! Load benchmark for kube-sim: `cargo bench -p kube-sim` (prints figures, asserts nothing).
//!
//! Starts the simulator in-process and drives it through kube-rs:
//!   (a) creates N namespaces × M objects (ConfigMaps, Secrets, Services, Deployments with
//!       replicas 0 or 1) with bounded concurrency, then waits for the control plane to settle;
//!   (b) opens W kube-rs watchers on a ConfigMap label selector, while
//!   (c) server-side apply patches are sent at a target rate for a fixed time;
//!       reports achieved rate, latency percentiles, and whether every watcher saw every patch;
//!   (d) reports the process's RSS (VmRSS; the simulator and the client share the process).
//!
//! Sizes come from environment variables (defaults in brackets):
//!   KUBE_SIM_BENCH_NAMESPACES [1000]   KUBE_SIM_BENCH_OBJECTS_PER_NS [20]
//!   KUBE_SIM_BENCH_CONCURRENCY [16]    KUBE_SIM_BENCH_WATCHES [50]
//!   KUBE_SIM_BENCH_PATCH_RATE [200]    KUBE_SIM_BENCH_PATCH_SECONDS [20]
//!   KUBE_SIM_BENCH_TLS [0]  (1 = HTTPS; default plain HTTP so TLS cost does not hide the sim's)
//!   KUBE_SIM_BENCH_WATCH_HISTORY [10000, the simulator's default]
//!   KUBE_SIM_BENCH_SKIP=1 skips everything (for CI).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn client_for(handle: &kube_sim::SimHandle) -> Client {
    let kc = Kubeconfig::read_from(handle.kubeconfig_path()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn labels() -> Value {
    json!({"app": "bench", "tier": "load"})
}

/// Creates one namespace and its objects; returns the number of objects created (excluding the namespace).
async fn fill_namespace(client: Client, i: usize, per_ns: usize) -> anyhow::Result<usize> {
    let ns = format!("bench-{i:05}");
    let nsapi: Api<Namespace> = Api::all(client.clone());
    nsapi
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let svcs: Api<Service> = Api::namespaced(client.clone(), &ns);
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    for j in 0..per_ns {
        // 30% ConfigMaps, 30% Secrets, 20% Services, 20% Deployments (1 in 4 with a replica).
        match j % 10 {
            0..=2 => {
                let o = json!({"metadata": {"name": format!("cm-{j}"), "labels": labels()},
                    "data": {"config.yaml": "a: 1\nb: [x, y]\n", "index": j.to_string()}});
                cms.create(&pp, &serde_json::from_value(o)?).await?;
            }
            3..=5 => {
                let o = json!({"metadata": {"name": format!("secret-{j}"), "labels": labels()},
                    "type": "Opaque", "stringData": {"password": format!("p{i}-{j}")}});
                secrets.create(&pp, &serde_json::from_value(o)?).await?;
            }
            6 | 7 => {
                let o = json!({"metadata": {"name": format!("svc-{j}"), "labels": labels()},
                    "spec": {"selector": {"app": format!("web-{j}")},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
                svcs.create(&pp, &serde_json::from_value(o)?).await?;
            }
            _ => {
                let replicas = if j % 20 == 9 { 1 } else { 0 };
                let name = format!("web-{j}");
                let o = json!({"metadata": {"name": name, "labels": labels()},
                    "spec": {"replicas": replicas,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.0",
                                "ports": [{"containerPort": 8080}],
                                "env": [{"name": "MODE", "value": "bench"}]}]}}}});
                deps.create(&pp, &serde_json::from_value(o)?).await?;
            }
        }
    }
    Ok(per_ns)
}

fn deployments_settled(sim: &kube_sim::Sim) -> (usize, usize) {
    let st = sim.store.lock();
    let mut total = 0;
    let mut ready = 0;
    for d in st.list("apps/deployments", None) {
        total += 1;
        let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let avail = d
            .pointer("/status/availableReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let observed = d.pointer("/status/observedGeneration").is_some();
        if observed && avail == want {
            ready += 1;
        }
    }
    (ready, total)
}

#[derive(Default)]
struct WatchCount {
    seen: HashSet<u64>,
    restarts: u64,
}

fn main() -> anyhow::Result<()> {
    if std::env::var("KUBE_SIM_BENCH_SKIP").is_ok_and(|v| v == "1") {
        println!("kube-sim load bench skipped (KUBE_SIM_BENCH_SKIP=1)");
        return Ok(());
    }
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let namespaces = env_usize("KUBE_SIM_BENCH_NAMESPACES", 1000);
    let per_ns = env_usize("KUBE_SIM_BENCH_OBJECTS_PER_NS", 20);
    let concurrency = env_usize("KUBE_SIM_BENCH_CONCURRENCY", 16).max(1);
    let watches = env_usize("KUBE_SIM_BENCH_WATCHES", 50);
    let rate = env_usize("KUBE_SIM_BENCH_PATCH_RATE", 200).max(1);
    let seconds = env_usize("KUBE_SIM_BENCH_PATCH_SECONDS", 20);
    let tls = env_usize("KUBE_SIM_BENCH_TLS", 0) == 1;
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut rows: Vec<(String, String)> = vec![];
    let (rss0, _) = rss_kib();
    let mut cfg = kube_sim::SimConfig::default().tls(tls);
    if let Ok(n) = std::env::var("KUBE_SIM_BENCH_WATCH_HISTORY") {
        cfg = cfg.watch_history(n.parse()?);
    }
    let history = cfg.watch_history;
    let handle = kube_sim::start(cfg).await?;
    let client = client_for(&handle).await;
    let (rss_started, _) = rss_kib();
    rows.push((
        "server".into(),
        format!(
            "{} in-process, {} cores, watch history {history}",
            if tls { "HTTPS" } else { "plain HTTP" },
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
    ));
    rows.push((
        "RSS before start / after start".into(),
        format!("{} / {}", mib(rss0), mib(rss_started)),
    ));

    // (a) bulk create.
    let t = Instant::now();
    let created: usize = stream::iter(0..namespaces)
        .map(|i| fill_namespace(client.clone(), i, per_ns))
        .buffer_unordered(concurrency)
        .try_fold(0usize, |acc, n| async move { Ok(acc + n) })
        .await?;
    let create_time = t.elapsed();
    let (rss_created, _) = rss_kib();
    rows.push((
        format!("(a) create {namespaces} ns x {per_ns} objects, concurrency {concurrency}"),
        format!(
            "{created} objects + {namespaces} ns in {:.2} s = {:.0} objects/s",
            create_time.as_secs_f64(),
            (created + namespaces) as f64 / create_time.as_secs_f64()
        ),
    ));
    // Let the control plane create ReplicaSets/Pods and make the deployments available.
    let t = Instant::now();
    let settle_deadline = Duration::from_secs(120);
    let (mut ready, mut total) = deployments_settled(handle.sim());
    while ready < total && t.elapsed() < settle_deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        (ready, total) = deployments_settled(handle.sim());
    }
    let (objects, pods, json_bytes) = {
        let st = handle.sim().store.lock();
        let bytes: usize = st
            .keys()
            .iter()
            .flat_map(|k| st.list(k, None).map(|o| o.to_string().len()).collect::<Vec<_>>())
            .sum();
        (st.total_objects(), st.count("/pods"), bytes)
    };
    rows.push((
        "(a) control plane settled".into(),
        format!(
            "{ready}/{total} deployments available {:.2} s after the last create; {objects} objects in store ({pods} pods, {} as JSON)",
            t.elapsed().as_secs_f64(),
            mib(json_bytes as u64 / 1024)
        ),
    ));
    let (rss_settled, _) = rss_kib();
    rows.push((
        "(d) RSS after create / settled".into(),
        format!("{} / {}", mib(rss_created), mib(rss_settled)),
    ));

    // (b) watchers on the patched ConfigMaps.
    let ns = "bench-apply";
    let nsapi: Api<Namespace> = Api::all(client.clone());
    nsapi
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let targets = 100usize;
    for k in 0..targets {
        let o = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("applied-{k}"), "labels": {"bench": "apply"}}, "data": {"seq": "0"}});
        cms.patch(
            &format!("applied-{k}"),
            &PatchParams::apply("bench").force(),
            &Patch::Apply(o),
        )
        .await?;
    }
    let counts: Vec<Arc<parking_lot::Mutex<WatchCount>>> = (0..watches).map(|_| Arc::default()).collect();
    let ready_watches = Arc::new(AtomicU64::new(0));
    let mut watch_tasks = vec![];
    for c in &counts {
        let c = c.clone();
        let ready_watches = ready_watches.clone();
        let api = cms.clone();
        watch_tasks.push(tokio::spawn(async move {
            let cfg = watcher::Config::default().labels("bench=apply");
            let mut s = watcher(api, cfg).boxed();
            let mut first = true;
            while let Some(ev) = s.next().await {
                match ev {
                    Ok(watcher::Event::Init) if !first => c.lock().restarts += 1,
                    Ok(watcher::Event::InitDone) if first => {
                        first = false;
                        ready_watches.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(watcher::Event::Apply(cm)) => {
                        let seq = cm
                            .data
                            .as_ref()
                            .and_then(|d| d.get("seq"))
                            .and_then(|s| s.parse().ok());
                        if let Some(seq) = seq {
                            c.lock().seen.insert(seq);
                        }
                    }
                    Err(_) => c.lock().restarts += 1,
                    _ => {}
                }
            }
        }));
    }
    while ready_watches.load(Ordering::SeqCst) < watches as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // (c) server-side apply at a fixed target rate.
    let total_patches = rate * seconds;
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let latencies = Arc::new(parking_lot::Mutex::new(Vec::with_capacity(total_patches)));
    let failures = Arc::new(AtomicU64::new(0));
    let (rss_before_patch, _) = rss_kib();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total_patches);
    for seq in 1..=total_patches {
        tokio::time::sleep_until(start + Duration::from_secs_f64((seq - 1) as f64 / rate as f64)).await;
        let permit = sem.clone().acquire_owned().await?;
        let cms = cms.clone();
        let latencies = latencies.clone();
        let failures = failures.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("applied-{}", seq % targets);
            let o = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"bench": "apply"}},
                "data": {"seq": seq.to_string(), "payload": "x".repeat(64)}});
            let t = Instant::now();
            let r = cms
                .patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(o))
                .await;
            let d = t.elapsed();
            drop(permit);
            match r {
                Ok(_) => latencies.lock().push(d),
                Err(_) => {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let patch_time = start.elapsed();
    let ok = latencies.lock().len();
    let failed = failures.load(Ordering::SeqCst);
    // Wait for the watchers to catch up.
    let t = Instant::now();
    let all_seen =
        |counts: &[Arc<parking_lot::Mutex<WatchCount>>]| counts.iter().all(|c| c.lock().seen.len() >= ok);
    while !all_seen(&counts) && t.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let catch_up = t.elapsed();
    let (rss_after, hwm) = rss_kib();
    for w in watch_tasks {
        w.abort();
    }
    let mut lat = latencies.lock().clone();
    lat.sort();
    rows.push((
        format!("(c) SSA patches, target {rate}/s for {seconds} s"),
        format!(
            "{ok} ok, {failed} failed in {:.2} s = {:.1} patches/s",
            patch_time.as_secs_f64(),
            ok as f64 / patch_time.as_secs_f64()
        ),
    ));
    rows.push((
        "(c) patch latency p50 / p99 / max".into(),
        format!(
            "{} / {} / {}",
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default())
        ),
    ));
    let seen: Vec<usize> = counts.iter().map(|c| c.lock().seen.len()).collect();
    let restarts: u64 = counts.iter().map(|c| c.lock().restarts).sum();
    let complete = seen.iter().filter(|&&n| n >= ok).count();
    rows.push((
        format!("(b) {watches} watchers: events seen (distinct seq)"),
        format!(
            "min {} / max {} of {ok}; {complete}/{watches} complete; {restarts} restarts/errors; caught up {:.2} s after the last patch",
            seen.iter().min().copied().unwrap_or(0),
            seen.iter().max().copied().unwrap_or(0),
            catch_up.as_secs_f64()
        ),
    ));
    rows.push((
        "(d) RSS before / after patches, peak (VmHWM)".into(),
        format!("{} / {}, {}", mib(rss_before_patch), mib(rss_after), mib(hwm)),
    ));

    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    println!("kube-sim load benchmark");
    println!("{}", "-".repeat(w + 60));
    for (k, v) in &rows {
        println!("{k:<w$}  {v}");
    }
    println!("{}", "-".repeat(w + 60));
    handle.shutdown().await;
    Ok(())
}
