//! Crash safety: the real server binary is killed with SIGKILL at random moments while deploys,
//! stops and the scheduler's redeploys of new images run, until at least twenty kills landed
//! during the work; after a last start everything converges to the desired state, with nothing
//! lost (every accepted request carried out) and nothing duplicated (one namespace and one
//! Deployment per running version, nothing else; no request completed twice).

use crate::{
    deploy::{push_chart, push_tag},
    fixtures::{LocalRegistry, answers_health, free_port},
    harness::Api,
};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace};
use kube::{
    Api as KubeApi, Client,
    api::ListParams,
    config::{KubeConfigOptions, Kubeconfig},
};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const PASSWORD: &str = "crash-admin-password";

/// Starts the server binary; returns it and a logged-in admin client.
async fn start(data: &Path, kubeconfig: &Path, log: &Path) -> (Child, Api) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--helm")
        .arg(crate::helm::helm_binary())
        .args([
            "--admin-password",
            PASSWORD,
            "--replica-id",
            "crashing",
            "--lease-seconds",
            "3",
        ])
        .args(["--scheduler-interval", "1", "--deploy-timeout", "30"])
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .expect("the server binary runs");
    let api = Api {
        client: reqwest::Client::builder().cookie_store(true).build().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    assert!(
        answers_health(&api.base, Duration::from_secs(30)).await,
        "the server did not start; see {}",
        log.display()
    );
    let (status, body) = api
        .call("login", json!({"username": "admin", "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (child, api)
}

#[tokio::test]
async fn killed_at_random_moments_it_converges() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = kube_sim::start(
        kube_sim::SimConfig::default()
            // Slow enough that a random kill often lands while a deploy or stop runs.
            .pod_ready_delay(Duration::from_millis(300))
            .namespace_delete_delay(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let reg = LocalRegistry::start(None, None);
    push_chart(&reg).await;
    let tags = ["main", "next"];
    for t in tags {
        push_tag(&reg, "team/crash", t, t).await;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let log = work.path().join("server.log");
    let kc = Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let k8s = Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap();

    // Set-up on the first start.
    let (mut child, api) = start(&data, sim.kubeconfig_path(), &log).await;
    let (_, docker) = api
        .call(
            "save_docker_registry",
            json!({"registry": {"id": null, "name": "images", "url": reg.url, "insecure_http": true,
                "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
        )
        .await;
    let (_, charts) = api
        .call(
            "save_helm_registry",
            json!({"registry": {"id": null, "name": "charts", "kind": "oci",
                "url": format!("oci://{}/charts", reg.url.trim_start_matches("http://")),
                "username": "", "secret": null, "ca_pem": "", "plain_http": true}}),
        )
        .await;
    let (_, project) = api
        .call(
            "save_project",
            json!({"project": {"id": null, "name": "Crash", "registry": docker["id"], "image_repository": "team/crash",
                "redeploy_policy": "automatic", "lifetime": "infinite", "tag_include": "", "tag_exclude": "",
                "ignore_signature_tags": true, "poll_interval_secs": ""}}),
        )
        .await;
    // A pre-install hook makes each deploy take a while, so kills land in every step.
    let (status, body) = api
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": {"url_templates": [], "variables": [], "templates": [
                {"name": "web", "description": "", "helm_registry": charts["id"], "chart_name": "o-neko-demo",
                 "chart_version": "", "content": "image: \"{{ IMAGE }}\"\nmigration: true\nnotify: true\nextraConfig: true\n"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let versions: BTreeMap<String, Value> = loop {
        let (_, page) = api
            .call(
                "list_versions",
                json!({"query": {"project": project["id"], "filter": "", "include_removed": false, "sort": "name", "page": 0}}),
            )
            .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() == tags.len() {
            break items
                .into_iter()
                .map(|v| (v["name"].as_str().unwrap().to_owned(), v))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    child.kill().unwrap();
    child.wait().unwrap();

    // Requests (deploys, stops, and new images that the scheduler redeploys), each followed by
    // a kill at a random moment, until at least twenty kills landed while work was in progress.
    let mut rng = rand::rng();
    let mut desired: BTreeMap<String, bool> = tags.iter().map(|t| (t.to_string(), false)).collect();
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    let (mut rounds, mut accepted, mut mid_work, mut images) = (0, 0, 0, 0);
    while rounds < 24 || mid_work < 20 {
        assert!(
            rounds < 80,
            "only {mid_work} of {rounds} kills landed during a deploy or stop"
        );
        rounds += 1;
        let (mut child, a) = start(&data, sim.kubeconfig_path(), &log).await;
        let tag = tags[rng.random_range(0..tags.len())];
        let id = json!({"id": versions[tag]["id"]});
        if desired[tag] && rng.random_bool(0.25) {
            // A new image under a deployed tag: the poll records it, the scheduler redeploys.
            images += 1;
            push_tag(&reg, "team/crash", tag, &format!("{tag} v{images}")).await;
            let (status, body) = a.call("poll_project", json!({"id": project["id"]})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            let deploy = rng.random_bool(0.6);
            let endpoint = if deploy { "deploy_version" } else { "stop_version" };
            let (status, body) = a.call(endpoint, id.clone()).await;
            match status {
                StatusCode::OK => {
                    desired.insert(tag.to_owned(), deploy);
                    *asked.entry(tag.to_owned()).or_default() += 1;
                    accepted += 1;
                }
                // The same request is still being carried out from before the kill.
                StatusCode::CONFLICT => assert!(
                    body["message"].as_str().unwrap().contains("already being"),
                    "{body}"
                ),
                other => panic!("{endpoint}: {other} {body}"),
            }
        }
        // Kill at a random moment of the next second and a half; it counts as "during work"
        // when the version was still being deployed or stopped just before.
        let kill_at = Instant::now() + Duration::from_millis(rng.random_range(0..1500));
        let mut working = false;
        while Instant::now() < kill_at {
            let (_, d) = a.call("get_deployment", id.clone()).await;
            working = matches!(d["status"]["state"].as_str(), Some("deploying" | "stopping"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if working {
            mid_work += 1;
        }
    }
    assert!(
        accepted >= rounds / 3,
        "most requests were accepted ({accepted} in {rounds} rounds)"
    );
    eprintln!(
        "{rounds} kills, {mid_work} of them during a deploy or stop; {accepted} requests accepted, {images} new images"
    );

    // The last start: everything converges.
    let (mut child, api) = start(&data, sim.kubeconfig_path(), &log).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    for (tag, want) in &desired {
        let state = if *want { "running" } else { "not_deployed" };
        loop {
            let (_, d) = api
                .call("get_deployment", json!({"id": versions[tag]["id"]}))
                .await;
            if d["status"]["state"] == state && d["status"]["desired"] == *want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{tag} did not converge to {state}: {}",
                d["status"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Nothing duplicated, nothing left over: exactly the desired versions' namespaces exist,
    // each with its one Deployment.
    let namespaces: Vec<String> = KubeApi::<Namespace>::all(k8s.clone())
        .list(&ListParams::default().labels("o-neko.io/version"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter_map(|n| n.metadata.name)
        .collect();
    let expected: Vec<String> = desired
        .iter()
        .filter(|(_, d)| **d)
        .map(|(t, _)| format!("on-crash-{t}"))
        .collect();
    assert_eq!(namespaces, expected, "desired: {desired:?}");
    for ns in &expected {
        let names: Vec<String> = KubeApi::<Deployment>::namespaced(k8s.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        assert_eq!(names, ["web"], "{ns}");
    }
    // Each request is carried out once: a request's completion is recorded in the transaction
    // that marks its generation done, so a version has at most as many completions by the user
    // as requests the user made (requests made while one waited are merged, never repeated).
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    for page in 0.. {
        let (_, p) = api
            .call(
                "list_activity",
                json!({"query": {"kind": "version.", "project": project["id"], "page": page}}),
            )
            .await;
        let items = p["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for e in items {
            let kind = e["kind"].as_str().unwrap();
            let completion = [
                "version.deployed",
                "version.deploy_failed",
                "version.stopped",
                "version.stop_failed",
            ]
            .contains(&kind);
            if completion && e["actor"] == "admin" {
                let tag = e["subject"]
                    .as_str()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .to_owned();
                *done.entry(tag).or_default() += 1;
            }
        }
    }
    for (tag, n) in &done {
        assert!(
            *n <= asked.get(tag).copied().unwrap_or(0),
            "{tag}: {n} completions for {:?} requests",
            asked.get(tag)
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
