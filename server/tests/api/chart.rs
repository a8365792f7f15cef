//! O-Neko's own Helm chart (`chart/o-neko`): `helm lint`, golden renders, refusals of settings
//! that cannot work, the rendered chart applied to the simulated cluster, and the server binary
//! started as in a pod: in-cluster configuration (service-account token and CA files,
//! `KUBERNETES_SERVICE_HOST`/`PORT`), the container's environment from the rendered Deployment,
//! deploying a version.

use crate::{
    fixtures::{LocalRegistry, free_port},
    harness::Api,
    helm::helm_binary,
};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace, rbac::v1::ClusterRole};
use kube::{
    Api as KubeApi, Client,
    config::{KubeConfigOptions, Kubeconfig},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::cluster::{apply::Applier, manifests};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chart/o-neko")
}

/// `helm template` of the chart with `args`; Err is helm's message.
fn render(args: &[&str]) -> Result<String, String> {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(helm_binary())
        .args(["template", "o-neko"])
        .arg(chart())
        .args(["--namespace", "o-neko"])
        .args(args)
        .env("HELM_CONFIG_HOME", home.path())
        .env("HELM_CACHE_HOME", home.path())
        .env("HELM_DATA_HOME", home.path())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_chart_lints_and_renders_as_recorded() {
    let out = Command::new(helm_binary())
        .arg("lint")
        .arg(chart())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // Golden renders; ONEKO_UPDATE_GOLDEN=1 writes them after a deliberate change.
    let cases: [(&str, &[&str]); 3] = [
        ("default", &[]),
        (
            "namespaces",
            &[
                "--set",
                "rbac.scope=namespaces",
                "--set",
                "rbac.namespaces={on-team-a,on-team-b}",
            ],
        ),
        (
            "postgres-ingress",
            &[
                "--set",
                "replicaCount=2",
                "--set",
                "database.existingSecret=o-neko-db",
                "--set",
                "secretKey.existingSecret=o-neko-key",
                "--set",
                "adminPassword.existingSecret=o-neko-admin",
                "--set",
                "ingress.enabled=true",
                "--set",
                "persistence.enabled=false",
                "--set",
                "env.ONEKO_TIME_ZONE=Europe/Berlin",
                "--set",
                "oidc.existingSecret=o-neko-oidc",
                "--set",
                "env.ONEKO_OIDC_ISSUER=https://login.example.com",
            ],
        ),
    ];
    for (name, args) in cases {
        let got = render(args).unwrap();
        let file = chart().join(format!("tests/golden/{name}.yaml"));
        if std::env::var_os("ONEKO_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &got).unwrap();
        }
        let want = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            got == want,
            "{name}: the render differs from {} (ONEKO_UPDATE_GOLDEN=1 rewrites it)",
            file.display()
        );
    }
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let e = render(&["--set", "replicaCount=2"]).unwrap_err();
    assert!(e.contains("replicaCount > 1 needs PostgreSQL"), "{e}");
    let e = render(&["--set", "replicaCount=2", "--set", "database.existingSecret=db"]).unwrap_err();
    assert!(e.contains("needs secretKey.existingSecret"), "{e}");
    let e = render(&["--set", "rbac.scope=namespaces"]).unwrap_err();
    assert!(e.contains("needs rbac.namespaces"), "{e}");
    let e = render(&[
        "--set",
        "rbac.scope=namespaces",
        "--set",
        "rbac.namespaces={team}",
    ])
    .unwrap_err();
    assert!(e.contains("must start with on-"), "{e}");
    let e = render(&["--set", "rbac.scope=everything"]).unwrap_err();
    assert!(e.contains("cluster or namespaces"), "{e}");
}

/// O-Neko's RBAC scopes (`rbac.scope`).
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Cluster,
    Namespaces,
}

#[tokio::test]
async fn installed_with_cluster_scope_it_deploys_into_its_own_namespaces() {
    install_run_deploy_stop(Scope::Cluster).await;
}

#[tokio::test]
async fn installed_with_namespaces_scope_it_deploys_into_a_defined_namespace() {
    install_run_deploy_stop(Scope::Namespaces).await;
}

async fn client(kubeconfig: &std::path::Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap()
}

/// Whether the API server refused `result` as forbidden (403).
fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403)
}

/// The chart rendered with `scope` and applied to the simulated cluster, which enforces RBAC for
/// service-account tokens; the server started as its pod would start, with a token of the
/// chart's service account: so it works with exactly the permissions the chart grants. It
/// deploys the demo version and stops it.
async fn install_run_deploy_stop(scope: Scope) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = kube_sim::start(kube_sim::SimConfig::default()).await.unwrap();
    let k8s = client(sim.kubeconfig_path()).await;

    // The rendered chart applied like any chart (our own parser, discovery and server-side apply).
    let namespaces = KubeApi::<Namespace>::all(k8s.clone());
    namespaces
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "o-neko"}})).unwrap(),
        )
        .await
        .unwrap();
    let yaml = match scope {
        Scope::Cluster => render(&[]),
        Scope::Namespaces => render(&[
            "--set",
            "rbac.scope=namespaces",
            "--set",
            "rbac.namespaces={on-team}",
        ]),
    }
    .unwrap();
    let mut objects = manifests::parse("o-neko", &yaml, true).unwrap().objects;
    manifests::sort(&mut objects);
    let applier = Applier::new(k8s.clone()).await.unwrap();
    for mut m in objects {
        // O-Neko's deploys refuse namespaces in charts; its own chart creates some (helm would).
        if m.kind == "Namespace" {
            namespaces
                .patch(
                    &m.name,
                    &kube::api::PatchParams::apply("test"),
                    &kube::api::Patch::Apply(&m.object),
                )
                .await
                .unwrap();
            continue;
        }
        // The chart's per-namespace Roles name their namespaces; the rest go to the release's.
        let ns = m.namespace.clone().unwrap_or_else(|| "o-neko".into());
        let r = applier.place(&mut m, &ns).unwrap_or_else(|e| panic!("{e}"));
        applier
            .apply(&r, &m.object, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let deployment = KubeApi::<Deployment>::namespaced(k8s.clone(), "o-neko")
        .get("o-neko")
        .await
        .unwrap();
    let spec = deployment.spec.template.spec.clone().unwrap();
    let container = &spec.containers[0];
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(spec.security_context.unwrap().run_as_non_root, Some(true));
    assert_eq!(spec.service_account_name.as_deref(), Some("o-neko"));
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone()
    };
    assert_eq!(probe_path(&container.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(probe_path(&container.readiness_probe).as_deref(), Some("/readyz"));
    if scope == Scope::Namespaces {
        let team = namespaces.get("on-team").await.unwrap();
        assert_eq!(team.metadata.labels.unwrap()["o-neko.io/defined"], "true");
    }
    let watch = KubeApi::<ClusterRole>::all(k8s.clone())
        .get("o-neko-watch")
        .await
        .unwrap();
    assert!(
        watch.rules.unwrap().iter().all(|r| r
            .verbs
            .iter()
            .all(|v| ["get", "list", "watch"].contains(&v.as_str()))),
        "cluster-wide, O-Neko only reads in namespaces scope"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = KubeApi::<Deployment>::namespaced(k8s.clone(), "o-neko")
            .get("o-neko")
            .await
            .unwrap();
        if d.status.and_then(|s| s.available_replicas) == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Deployment did not become available"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // What the chart's service account may not do, whatever O-Neko's code would try.
    let token = sim.service_account_token("o-neko", "o-neko").unwrap();
    let work = tempfile::tempdir().unwrap();
    let sa_kubeconfig = work.path().join("sa.kubeconfig");
    std::fs::write(
        &sa_kubeconfig,
        kube_sim::kubeconfig_yaml(sim.url(), sim.ca_pem(), &token),
    )
    .unwrap();
    let robot = client(&sa_kubeconfig).await;
    assert!(!forbidden(
        KubeApi::<k8s_openapi::api::core::v1::Pod>::all(robot.clone())
            .list(&Default::default())
            .await
    ));
    assert!(forbidden(
        KubeApi::<k8s_openapi::api::core::v1::Node>::all(robot.clone())
            .list(&Default::default())
            .await
    ));
    assert!(forbidden(
        KubeApi::<ClusterRole>::all(robot.clone())
            .list(&Default::default())
            .await
    ));
    let sa_tokens = robot
        .request::<Value>(
            axum::http::Request::post("/api/v1/namespaces/o-neko/serviceaccounts/o-neko/token")
                .header("content-type", "application/json")
                .body(br#"{"spec":{}}"#.to_vec())
                .unwrap(),
        )
        .await;
    assert!(forbidden(sa_tokens), "minting tokens");
    let exec = robot
        .request::<Value>(
            axum::http::Request::post("/api/v1/namespaces/o-neko/pods/any/exec?command=sh")
                .body(vec![])
                .unwrap(),
        )
        .await;
    assert!(forbidden(exec), "pods/exec");
    let secrets_everywhere =
        KubeApi::<k8s_openapi::api::core::v1::Secret>::namespaced(robot.clone(), "kube-system")
            .list(&Default::default())
            .await;
    match scope {
        // A ClusterRole binds the write rules in every namespace (the chart README's trade-off).
        Scope::Cluster => assert!(!forbidden(secrets_everywhere)),
        Scope::Namespaces => {
            assert!(forbidden(secrets_everywhere));
            assert!(forbidden(
                KubeApi::<Namespace>::all(robot.clone())
                    .create(
                        &Default::default(),
                        &serde_json::from_value(json!({"metadata": {"name": "on-other"}})).unwrap(),
                    )
                    .await
            ));
            assert!(forbidden(
                KubeApi::<Namespace>::all(robot.clone())
                    .delete("on-team", &Default::default())
                    .await
            ));
        }
    }

    // The server as its pod runs it: the container's environment, and in-cluster configuration
    // from the service-account files (a private mount namespace puts them where kube-rs reads
    // them), pointed at the simulated cluster. Demo mode seeds a project to deploy.
    let sa = work.path().join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), &token).unwrap();
    std::fs::write(sa.join("ca.crt"), sim.ca_pem().unwrap()).unwrap();
    std::fs::write(sa.join("namespace"), "o-neko").unwrap();
    let reg = LocalRegistry::start(None, None);
    let port = free_port();
    let sim_port = sim
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io && \
             cp -r \"$SA\" /run/secrets/kubernetes.io/serviceaccount && exec \"$SERVER\"",
        )
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("SA", &sa)
        .env("SERVER", env!("CARGO_BIN_EXE_server"));
    for e in container.env.iter().flatten() {
        if let Some(v) = &e.value {
            cmd.env(&e.name, v);
        }
    }
    let log = work.path().join("server.log");
    let mut child = cmd
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &sim_port)
        // What the Deployment takes from the pod and secrets, and a loopback port and a writable
        // data directory instead of the volume.
        .env("ONEKO_REPLICA_ID", "o-neko-5d9c7-x2x8q")
        .env("ONEKO_ADMIN_PASSWORD", "in-cluster-password")
        .env("ONEKO_LISTEN", format!("127.0.0.1:{port}"))
        .env("ONEKO_DATA_DIR", work.path().join("data"))
        .env("ONEKO_HELM", helm_binary())
        .env("ONEKO_DEMO_REGISTRY", &reg.url)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("unshare (util-linux) runs; this test needs to be root to mount");
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let api = Api {
        client: reqwest::Client::builder().cookie_store(true).build().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{}/readyz", api.base)).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server ended ({status}): {}", server_log());
        }
        assert!(Instant::now() < deadline, "{}", server_log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = api
        .call(
            "login",
            json!({"username": "admin", "password": "in-cluster-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = api.call("get_cluster_info", json!({})).await;
    assert_eq!(info["source"], "the in-cluster service account", "{info}");
    assert_eq!(info["connected"], true);
    let deadline = Instant::now() + Duration::from_secs(60);
    let main: Value = loop {
        let (_, hits) = api.call("search_versions", json!({"text": "main"})).await;
        if let Some(h) = hits.as_array().and_then(|h| h.first()) {
            break h.clone();
        }
        assert!(Instant::now() < deadline, "the demo project did not appear");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let expected_namespace = match scope {
        Scope::Cluster => "on-demoshop-main",
        Scope::Namespaces => {
            // The namespace the chart prepared is defined (adopted: O-Neko may not create one)
            // and the project targets it.
            let (status, body) = api.call("create_namespace", json!({"name": "team"})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let (_, p) = api.call("get_project", json!({"id": main["project"]})).await;
            let (status, body) = api
                .call(
                    "save_project",
                    json!({"project": {"id": p["id"], "name": p["name"], "registry": p["registry"]["id"],
                        "image_repository": p["image_repository"], "redeploy_policy": "automatic",
                        "lifetime": "infinite", "tag_include": "", "tag_exclude": "",
                        "ignore_signature_tags": true, "poll_interval_secs": "", "namespace": "on-team"}}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            "on-team"
        }
    };
    let (status, body) = api.call("deploy_version", json!({"id": main["version"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let wait_for = |state: &'static str| {
        let api = &api;
        let main = &main;
        let server_log = &server_log;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (_, d) = api.call("get_deployment", json!({"id": main["version"]})).await;
                if d["status"]["state"] == state {
                    return d;
                }
                assert!(Instant::now() < deadline, "not {state}: {d}\n{}", server_log());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let d = wait_for("running").await;
    assert_eq!(d["status"]["namespace"], expected_namespace, "{d}");
    let pods = KubeApi::<k8s_openapi::api::core::v1::Pod>::namespaced(k8s.clone(), expected_namespace)
        .list(&kube::api::ListParams::default().labels("o-neko.io/version"))
        .await
        .unwrap();
    assert!(
        !pods.items.is_empty(),
        "the version's pods run in {expected_namespace}"
    );

    let (status, body) = api.call("stop_version", json!({"id": main["version"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for("not_deployed").await;
    match scope {
        Scope::Cluster => assert!(namespaces.get_opt(expected_namespace).await.unwrap().is_none()),
        Scope::Namespaces => {
            // The shared namespace stays; the version's objects are gone from it.
            namespaces.get(expected_namespace).await.unwrap();
            let left = KubeApi::<Deployment>::namespaced(k8s.clone(), expected_namespace)
                .list(&kube::api::ListParams::default().labels("o-neko.io/version"))
                .await
                .unwrap();
            assert!(left.items.is_empty(), "{:?}", left.items);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
