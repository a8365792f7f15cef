//! The REST API under CI-style polling: `cargo bench -p server --bench api`.
//!
//! Starts kube-sim (on its own runtime, threads named `kube-sim`), Debian's `docker-registry` and
//! O-Neko in this process, deploys DEPLOYED (10) versions of a project whose chart has an Ingress
//! and whose URL template renders per version, creates API tokens, then lets CLIENTS (200)
//! clients, each with its own connection and one of the tokens, poll
//! `GET /api/v1/versions/{id}` once every INTERVAL_MS (1000) for SECONDS (30), on a runtime of
//! their own. Prints p50/p99/max latency, the request rate and errors, and whether the target
//! (p99 ≤ 20 ms, no errors) is met; it asserts nothing. Knobs: `BENCH_CLIENTS`, `BENCH_SECONDS`,
//! `BENCH_INTERVAL_MS`, `BENCH_DEPLOYED`, `BENCH_TOKENS`.

mod common;

use common::{Api, fill_repo, knob, start_registry};
use reqwest::Client;
use serde_json::json;
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Pushes the sample chart to `oci://<host>/charts` with real helm.
async fn push_chart(host: &str) {
    let helm = server::helm::HelmConfig {
        binary: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/bin/helm"),
        timeout: Duration::from_secs(60),
    };
    server::demo::push_chart(&helm, &format!("oci://{host}/charts"))
        .await
        .unwrap();
}

/// What one client saw: (when it was sent, relative to `t0`; latency), in seconds, and failed
/// requests. Its requests go out at `t0 + offset + n × interval`, whatever the answers took.
async fn client(
    http: Client,
    (base, token): (String, String),
    ids: Vec<i64>,
    (t0, run_for): (Instant, Duration),
    interval: Duration,
    offset: Duration,
) -> (Vec<(f64, f64)>, usize) {
    let mut latencies = vec![];
    let mut errors = 0;
    let mut tick = tokio::time::interval_at((t0 + offset).into(), interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0usize;
    while tick.tick().await.into_std() < t0 + offset + run_for {
        let id = ids[n % ids.len()];
        n += 1;
        let sent = Instant::now();
        let ok = match http
            .get(format!("{base}/api/v1/versions/{id}"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => resp.bytes().await.is_ok(),
            _ => false,
        };
        latencies.push(((sent - t0).as_secs_f64(), sent.elapsed().as_secs_f64()));
        if !ok {
            errors += 1;
        }
    }
    (latencies, errors)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // BENCH_LOG=1 prints the server's log (RUST_LOG filters it), to match slow seconds to jobs.
    if knob("BENCH_LOG", 0) == 1 {
        server::telemetry::init(server::config::LogFormat::Text);
    }
    let clients = knob("BENCH_CLIENTS", 200);
    let seconds = knob("BENCH_SECONDS", 30);
    let interval = Duration::from_millis(knob("BENCH_INTERVAL_MS", 1000) as u64);
    let deployed = knob("BENCH_DEPLOYED", 10);
    let token_count = knob("BENCH_TOKENS", 20);
    let work = tempfile::tempdir().unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kube-sim")
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sim =
                kube_sim::start(kube_sim::SimConfig::default().pod_ready_delay(Duration::from_millis(100)))
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
    fill_repo(&http, &registry.url, "bench/app", deployed).await;
    let host = registry.url.trim_start_matches("http://").to_owned();
    push_chart(&host).await;

    let mut config = server::config::Config::for_tests(work.path().join("data"), None);
    config.admin_password = Some("bench-admin-password".into());
    config.kubeconfig = Some(kubeconfig);
    config.scheduler_interval = knob("BENCH_SCHEDULER_INTERVAL", 10) as u64;
    let running = server::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let api = Api::login(base.clone(), "bench-admin-password").await;
    let project = api
        .bench_project(
            &registry.url,
            &host,
            json!(["{{ SAFE_VERSION_NAME }}.bench.example"]),
            ("", "image: \"{{ IMAGE }}\"\nhost: \"{{ URLS[0] }}\"\n"),
        )
        .await;
    let ids: Vec<i64> = loop {
        let p = api
            .call(
                "list_versions",
                json!({"query": {"project": project["id"], "filter": "", "include_removed": false, "sort": "name", "page": 0, "page_size": 200}}),
            )
            .await;
        let ids: Vec<i64> = p["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["id"].as_i64())
            .collect();
        if ids.len() == deployed {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    api.call("deploy_or_stop_versions", json!({"ids": ids, "deploy": true}))
        .await;
    let started = Instant::now();
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
        if running == deployed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{running} of {deployed} running"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut tokens = vec![];
    for i in 0..token_count {
        let created = api
            .call(
                "create_token",
                json!({"token": {"name": format!("bench-{i}"), "expires_in_days": "", "role_cap": "VIEWER"}}),
            )
            .await;
        tokens.push(created["secret"].as_str().unwrap().to_owned());
    }

    // The clients on a runtime of their own, so their work is not queued behind the server's.
    let run_for = Duration::from_secs(seconds as u64);
    let spread = knob("BENCH_SPREAD_PCT", 100).min(100) as f64 / 100.0;
    let load = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("clients")
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                // Built before the clock starts: building one takes milliseconds (TLS roots),
                // and 200 of them inside the timed run would bunch the first requests together.
                let https: Vec<Client> = (0..clients).map(|_| Client::builder().build().unwrap()).collect();
                let t0 = Instant::now() + Duration::from_millis(100);
                let wall0 = chrono::Utc::now() + chrono::Duration::milliseconds(100);
                let mut tasks = vec![];
                for (c, http) in https.into_iter().enumerate() {
                    // Spread evenly over the interval (or its first BENCH_SPREAD_PCT %), as
                    // independent pipelines would be.
                    let offset = interval.mul_f64(spread * c as f64 / clients as f64);
                    tasks.push(tokio::spawn(client(
                        http,
                        (base.clone(), tokens[c % tokens.len()].clone()),
                        ids.clone(),
                        (t0, run_for),
                        interval,
                        offset,
                    )));
                }
                let mut all = vec![];
                let mut errors = 0;
                for t in tasks {
                    let (l, e) = t.await.unwrap();
                    all.extend(l);
                    errors += e;
                }
                (all, errors, wall0)
            })
    });
    let (timed, errors, wall0) = load.join().unwrap();
    let mut latencies: Vec<f64> = timed.iter().map(|(_, l)| *l).collect();
    latencies.sort_by(f64::total_cmp);
    let p99 = percentile(&latencies, 0.99) * 1000.0;
    println!(
        "REST API benchmark (2-core VM; kube-sim and the clients in this process on threads of their own)"
    );
    println!(
        "{clients} clients, each GET /api/v1/versions/{{id}} every {} ms with one of {token_count} tokens, for {seconds} s ({deployed} deployed versions)",
        interval.as_millis()
    );
    println!(
        "requests {} ({:.0}/s), errors {errors}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64
    );
    println!(
        "latency p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms (target p99 ≤ 20 ms, 0 errors: {})",
        percentile(&latencies, 0.5) * 1000.0,
        percentile(&latencies, 1.0) * 1000.0,
        if p99 <= 20.0 && errors == 0 {
            "target met"
        } else {
            "TARGET MISSED"
        }
    );
    print_slow_seconds(&timed, wall0);
    running.shutdown().await.unwrap();
}

/// When the slow requests (over 20 ms) were sent: per second of the run, how many and the
/// slowest, to tell a periodic cause (a background job) from a steady one.
fn print_slow_seconds(timed: &[(f64, f64)], wall0: chrono::DateTime<chrono::Utc>) {
    let mut by_second: std::collections::BTreeMap<u64, (usize, f64)> = Default::default();
    for &(at, latency) in timed.iter().filter(|(_, l)| *l > 0.020) {
        let e = by_second.entry(at as u64).or_default();
        e.0 += 1;
        e.1 = e.1.max(latency * 1000.0);
    }
    let seconds: Vec<String> = by_second
        .iter()
        .map(|(s, (n, max))| format!("{s}s:{n}/{max:.0}ms"))
        .collect();
    println!(
        "slow requests by second after {} (second:count/slowest): {}",
        wall0.format("%H:%M:%S%.3f"),
        if seconds.is_empty() {
            "none".into()
        } else {
            seconds.join(" ")
        }
    );
}
