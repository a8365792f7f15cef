//! Deploying and stopping against the simulated cluster (kube-sim over HTTPS through a
//! kubeconfig), with images in Debian's docker-registry and the sample chart pushed there by real
//! helm: namespaces and labels, live status, in-place redeploys and pruning, shared namespaces,
//! faults, hooks, concurrent requests and a restart in the middle of a deploy.

use crate::{
    fixtures::LocalRegistry,
    harness::{Api, TestServer},
    helm::config as helm_config,
    tags::{host, push_image, pusher},
};
use k8s_openapi::api::{
    apps::v1::Deployment,
    batch::v1::Job,
    core::v1::{ConfigMap, Namespace, Pod, ServiceAccount},
};
use kube::{
    Api as KubeApi, Client,
    api::ListParams,
    config::{KubeConfigOptions, Kubeconfig},
};
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::Config;
use std::time::{Duration, Instant};

/// The Kubernetes version the tests' simulated cluster reports.
const SIM_KUBE_VERSION: &str = "v1.34.2";

pub struct World {
    pub server: TestServer,
    pub sim: kube_sim::SimHandle,
    pub reg: LocalRegistry,
    pub k8s: Client,
    pub admin: Api,
    pub doer: Api,
    pub viewer: Api,
    pub docker: Value,
    pub charts: Value,
}

async fn kube_client(sim: &kube_sim::SimHandle) -> Client {
    let kc = Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// Packages the sample chart and pushes it to `oci://<registry>/charts` with real helm.
pub async fn push_chart(reg: &LocalRegistry) {
    server::demo::push_chart(
        &helm_config(Duration::from_secs(60)),
        &format!("oci://{}/charts", host(reg)),
    )
    .await
    .unwrap();
}

pub async fn push_tag(reg: &LocalRegistry, repo: &str, tag: &str, content: &str) -> String {
    push_image(
        (&pusher(reg), &RegistryAuth::Anonymous, &host(reg)),
        (repo, tag),
        "amd64",
        "2026-06-01T10:00:00Z",
        content,
    )
    .await
}

impl World {
    pub async fn start() -> World {
        World::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = kube_sim::start(
            kube_sim::SimConfig::default()
                .namespace_delete_delay(Duration::from_millis(300))
                .pod_ready_delay(Duration::from_millis(300))
                // Not helm's built-in default (v1.35.0), so the charts see whether O-Neko passed
                // the cluster's version on.
                .git_version(SIM_KUBE_VERSION),
        )
        .await
        .unwrap();
        let reg = LocalRegistry::start(None, None);
        push_chart(&reg).await;
        let kubeconfig = sim.kubeconfig_path().to_owned();
        let server = TestServer::start_with(|c| {
            c.kubeconfig = Some(kubeconfig);
            tweak(c);
        })
        .await;
        let admin = server.admin().await;
        let doer = server.user_with_role(&admin, "doer", "DOER").await;
        let viewer = server.user_with_role(&admin, "viewer", "VIEWER").await;
        let (status, docker) = admin
            .call(
                "save_docker_registry",
                json!({"registry": {"id": null, "name": "Local images", "url": reg.url, "insecure_http": true,
                    "auth": "anonymous", "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{docker}");
        let (status, charts) = admin
            .call(
                "save_helm_registry",
                json!({"registry": {"id": null, "name": "Local charts", "kind": "oci",
                    "url": format!("oci://{}/charts", host(&reg)), "username": "", "secret": null,
                    "ca_pem": "", "plain_http": true}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{charts}");
        let k8s = kube_client(&sim).await;
        World {
            server,
            sim,
            reg,
            k8s,
            admin,
            doer,
            viewer,
            docker,
            charts,
        }
    }

    /// Another server replica on the same database, data directory and cluster.
    pub async fn replica(&self, id: &str, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let (data_dir, database) = (
            self.server.config.data_dir.clone(),
            self.server.config.database_url.clone(),
        );
        let kubeconfig = self.sim.kubeconfig_path().to_owned();
        TestServer::start_with(|c| {
            c.data_dir = data_dir;
            c.database_url = database;
            c.kubeconfig = Some(kubeconfig);
            c.replica_id = Some(id.into());
            tweak(c);
        })
        .await
    }

    /// A configuration template using the sample chart.
    pub fn template(&self, name: &str, content: &str) -> Value {
        json!({"name": name, "description": "", "helm_registry": self.charts["id"],
            "chart_name": "o-neko-demo", "chart_version": "", "content": content})
    }

    /// Creates a project for `repo` (its tags pushed first), configures it and returns it with
    /// its versions by tag.
    pub async fn project(
        &self,
        name: &str,
        repo: &str,
        tags: &[&str],
        config: Value,
        namespace: &str,
    ) -> (Value, Vec<Value>) {
        for tag in tags {
            push_tag(&self.reg, repo, tag, &format!("{repo}:{tag}")).await;
        }
        let (status, project) = self
            .doer
            .call(
                "save_project",
                json!({"project": {"id": null, "name": name, "registry": self.docker["id"],
                    "image_repository": repo, "redeploy_policy": "automatic", "lifetime": "infinite",
                    "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true,
                    "poll_interval_secs": "", "namespace": namespace}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{project}");
        let (status, body) = self
            .doer
            .call(
                "save_project_config",
                json!({"id": project["id"], "config": config}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, page) = self
                .doer
                .call(
                    "list_versions",
                    json!({"query": {"project": project["id"], "filter": "", "include_removed": false,
                        "sort": "name", "page": 0}}),
                )
                .await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.len() == tags.len() {
                let mut ordered = vec![];
                for tag in tags {
                    ordered.push(items.iter().find(|v| v["name"] == *tag).unwrap().clone());
                }
                return (project, ordered);
            }
            assert!(
                Instant::now() < deadline,
                "versions of {name} did not appear: {page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The deployment of a version as the API shows it.
    pub async fn deployment(&self, version: &Value) -> Value {
        let (status, d) = self
            .viewer
            .call("get_deployment", json!({"id": version["id"]}))
            .await;
        assert_eq!(status, StatusCode::OK, "{d}");
        d
    }

    /// Waits until the version's state is `state` (and `check` holds); returns the deployment.
    pub async fn wait_for(&self, version: &Value, state: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let d = self.deployment(version).await;
            if d["status"]["state"] == state && check(&d) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not reach {state}: {}",
                version["name"],
                d["status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn deploy(&self, as_user: &Api, version: &Value) -> (StatusCode, Value) {
        as_user.call("deploy_version", json!({"id": version["id"]})).await
    }

    pub async fn stop(&self, as_user: &Api, version: &Value) -> (StatusCode, Value) {
        as_user.call("stop_version", json!({"id": version["id"]})).await
    }

    /// After the server was paused and resumed (on a new port), the logged-in clients follow
    /// it (their sessions are in the database).
    pub fn follow_server(&mut self) {
        for api in [&mut self.admin, &mut self.doer, &mut self.viewer] {
            api.base = self.server.base.clone();
        }
    }

    pub async fn activity(&self, kind: &str) -> Vec<Value> {
        let (_, page) = self
            .admin
            .call(
                "list_activity",
                json!({"query": {"kind": kind, "project": null, "page": 0}}),
            )
            .await;
        page["items"].as_array().cloned().unwrap_or_default()
    }
}

/// The values of the sample chart, with O-Neko's variables.
const WEB: &str = "image: \"{{ IMAGE }}\"\nmessage: \"{{ MESSAGE }}\"\nextraConfig: {{ EXTRA }}\nnotify: true\nhost: \"{{ URLS[0] }}\"\nfault: \"{{ FAULT }}\"\n";

fn config(templates: Vec<Value>) -> Value {
    json!({"url_templates": ["{{ SAFE_VERSION_NAME }}.shop.example"],
    "templates": templates,
    "variables": [
        {"name": "MESSAGE", "label": "Message", "default_value": "hello", "use_values": false, "values": [], "show_on_dashboard": false},
        {"name": "EXTRA", "label": "Extra", "default_value": "true", "use_values": false, "values": [], "show_on_dashboard": false},
        {"name": "FAULT", "label": "Fault", "default_value": "", "use_values": false, "values": [], "show_on_dashboard": false},
    ]})
}

fn labels(meta: &kube::api::ObjectMeta) -> std::collections::BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

#[tokio::test]
async fn deploy_redeploy_in_place_prune_and_stop() {
    let w = World::start_with(|c| {
        c.log_link = Some("https://logs.example/?q={namespace}/{pod}/{container}".into());
    })
    .await;
    let cfg = config(vec![
        w.template("web", WEB),
        // An Ingress whose host no URL template names: shown as a URL too.
        w.template(
            "worker",
            "image: \"{{ IMAGE }}\"\nmessage: worker of {{ VERSION_NAME }}\nhost: \"api.{{ URLS[0] }}\"\n",
        ),
    ]);
    let (project, versions) = w.project("Shop", "team/shop", &["main"], cfg.clone(), "").await;
    let main = &versions[0];
    assert_eq!(main["status"]["state"], "not_deployed");

    // One click by a VIEWER; the request returns at once, the work runs in the background.
    let (status, body) = w.deploy(&w.viewer, main).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "deploying", "{body}");
    assert_eq!(body["desired"], true);
    let d = w.wait_for(main, "running", |_| true).await;
    assert_eq!(d["status"]["namespace"], "on-shop-main");
    assert_eq!(d["status"]["requested_by"], "viewer");

    // The namespace and every object carry our labels, pods too.
    let ns = KubeApi::<Namespace>::all(w.k8s.clone())
        .get("on-shop-main")
        .await
        .unwrap();
    let l = labels(&ns.metadata);
    assert_eq!(l["app.kubernetes.io/managed-by"], "o-neko");
    assert_eq!(l["o-neko.io/version"], main["id"].to_string());
    assert_eq!(l["o-neko.io/project"], project["id"].to_string());
    let deployments = KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-shop-main");
    let web = deployments.get("web").await.unwrap();
    assert_eq!(labels(&web.metadata)["o-neko.io/release"], "web");
    assert_eq!(labels(&web.metadata)["o-neko.io/version"], main["id"].to_string());
    let image = &web.spec.template.spec.as_ref().unwrap().containers[0].image;
    assert!(
        image.as_deref().unwrap().contains("/team/shop:main@sha256:"),
        "the image is pinned to the tag's digest: {image:?}"
    );
    deployments.get("worker").await.unwrap();
    let pods = KubeApi::<Pod>::namespaced(w.k8s.clone(), "on-shop-main")
        .list(&ListParams::default().labels(&format!("o-neko.io/version={}", main["id"])))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 2, "one pod each for web and worker");
    let configs = KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-shop-main");
    // Rendered for the cluster's Kubernetes version, and "Show configuration" renders the same.
    let applied = configs.get("web-config").await.unwrap();
    assert_eq!(applied.data.unwrap()["kubernetes"], SIM_KUBE_VERSION);
    let (status, preview) = w
        .viewer
        .call("preview_configuration", json!({"id": main["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let shown = preview["templates"][0]["manifests"].as_str().unwrap_or_default();
    assert!(
        shown.contains(&format!("kubernetes: \"{SIM_KUBE_VERSION}\"")),
        "the preview renders for the cluster's version too: {preview}"
    );
    configs.get("web-extra").await.unwrap();
    configs
        .get("web-deployed")
        .await
        .expect("the post-install hook ran");
    assert!(
        KubeApi::<Pod>::namespaced(w.k8s.clone(), "on-shop-main")
            .get_opt("web-test")
            .await
            .unwrap()
            .is_none(),
        "test hooks are not run"
    );

    // What the version page shows: pods with the image they run, URLs, objects.
    assert_eq!(d["pods"].as_array().unwrap().len(), 2, "{d}");
    let pod = &d["pods"][0];
    assert_eq!(pod["ready"], 1);
    assert!(
        pod["containers"][0]["image_id"]
            .as_str()
            .unwrap()
            .contains("sha256:"),
        "{pod}"
    );
    // Recent events of its objects, newest first.
    let events = d["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "ScalingReplicaSet" && e["object"] == "Deployment/web"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e["reason"] == "Started"), "{events:?}");
    // The external log link names each container.
    let container = &pod["containers"][0];
    assert_eq!(
        container["log_link"],
        format!(
            "https://logs.example/?q=on-shop-main/{}/{}",
            pod["name"].as_str().unwrap(),
            container["name"].as_str().unwrap()
        ),
        "{pod}"
    );
    let urls: Vec<&str> = d["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        ["main.shop.example", "http://api.main.shop.example"],
        "web's Ingress names the URL template's host; worker's adds its own: {d}"
    );
    assert!(
        d["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "Deployment/web"),
        "{d}"
    );
    assert_eq!(d["status"]["outdated"], false);
    assert!(d["status"]["changed_outside"].is_null(), "{d}");

    // Someone scales the Deployment by hand: O-Neko notices the change outside it (the spec's
    // generation moved on), says so on the version and once in the activity log.
    deployments
        .patch(
            "web",
            &kube::api::PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let d = w
        .wait_for(main, "running", |d| !d["status"]["changed_outside"].is_null())
        .await;
    assert_eq!(
        d["status"]["changed_outside"], "Deployment/web changed outside O-Neko",
        "{d}"
    );
    let outside = w.activity("version.changed_outside").await;
    assert_eq!(outside.len(), 1, "{outside:?}");
    assert_eq!(outside[0]["actor"], "scheduler");
    assert!(
        outside[0]["message"]
            .as_str()
            .unwrap()
            .contains("Shop:main: Deployment/web changed outside O-Neko"),
        "{}",
        outside[0]
    );

    // Changing the configuration marks the deployed version outdated.
    let uid = web.metadata.uid.clone().unwrap();
    let mut changed = cfg.clone();
    changed["variables"][0]["default_value"] = json!("changed");
    changed["variables"][1]["default_value"] = json!("false");
    let (status, body) = w
        .doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": changed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, v) = w.viewer.call("get_version", json!({"id": main["id"]})).await;
    assert_eq!(v["version"]["status"]["outdated"], true, "{v}");

    // A redeploy applies in place: same objects (uid), new values, the dropped object pruned.
    let applied_before = d["status"]["applied_at"].clone();
    let (status, body) = w.deploy(&w.viewer, main).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = w
        .wait_for(main, "running", |d| d["status"]["applied_at"] != applied_before)
        .await;
    assert_eq!(d["status"]["outdated"], false, "{d}");
    assert!(
        d["status"]["changed_outside"].is_null(),
        "the redeploy took the hand-made change back: {d}"
    );
    let web = deployments.get("web").await.unwrap();
    assert_eq!(web.metadata.uid.unwrap(), uid, "updated in place, not recreated");
    assert_eq!(web.spec.replicas, Some(1), "the chart's replicas again");
    let cm = configs.get("web-config").await.unwrap();
    assert_eq!(cm.data.unwrap()["message"], "changed");
    assert!(configs.get_opt("web-extra").await.unwrap().is_none(), "pruned");
    let deployed = w.activity("version.deployed").await;
    assert_eq!(deployed.len(), 2, "{deployed:?}");
    assert_eq!(deployed[0]["actor"], "viewer");
    assert!(
        deployed[0]["message"]
            .as_str()
            .unwrap()
            .contains("1 no longer rendered removed"),
        "{}",
        deployed[0]
    );

    // The dashboard lists it.
    let (_, rows) = w
        .viewer
        .call("list_deployments", json!({"project": null, "search": ""}))
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["version_name"], "main");
    assert_eq!(
        rows[0]["urls"],
        json!(["main.shop.example", "http://api.main.shop.example"])
    );

    // A workload deleted by hand: once the watchers should long have seen it, the version is
    // degraded and says what is missing.
    deployments.delete("worker", &Default::default()).await.unwrap();
    let d = w
        .wait_for(main, "degraded", |d| {
            d["status"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Deployment/worker missing: deleted outside O-Neko"))
        })
        .await;
    assert_eq!(
        d["status"]["changed_outside"], "Deployment/worker deleted outside O-Neko",
        "{d}"
    );

    // Stop: Stopping until the namespace is gone, then not deployed.
    let (status, body) = w.stop(&w.viewer, main).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "stopping");
    let d = w.wait_for(main, "not_deployed", |_| true).await;
    assert_eq!(d["status"]["desired"], false);
    assert!(
        KubeApi::<Namespace>::all(w.k8s.clone())
            .get_opt("on-shop-main")
            .await
            .unwrap()
            .is_none(),
        "the database says not deployed only once the namespace is gone"
    );
    let stopped = w.activity("version.stopped").await;
    assert_eq!(stopped[0]["actor"], "viewer", "{stopped:?}");
    let (_, rows) = w
        .viewer
        .call("list_deployments", json!({"project": null, "search": ""}))
        .await;
    assert_eq!(rows, json!([]));
    // Stopping what is not deployed succeeds and changes nothing.
    let (status, body) = w.stop(&w.viewer, main).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "not_deployed");
}

#[tokio::test]
async fn shared_namespace_keeps_other_versions() {
    let w = World::start().await;
    let (status, ns) = w.admin.call("create_namespace", json!({"name": "shared"})).await;
    assert_eq!(status, StatusCode::OK, "{ns}");
    let cfg = config(vec![w.template("web", WEB)]);
    let (_, versions) = w
        .project("Shared", "team/shared", &["a", "b"], cfg, "on-shared")
        .await;
    for v in &versions {
        let (status, body) = w.deploy(&w.viewer, v).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for v in &versions {
        let d = w.wait_for(v, "running", |_| true).await;
        assert_eq!(d["status"]["namespace"], "on-shared");
    }
    let deployments = KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-shared");
    // In a shared namespace each version's releases carry its name, so they never collide.
    for name in ["web-shared-a", "web-shared-b"] {
        deployments
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Stopping a deletes exactly a's objects.
    let (status, _) = w.stop(&w.viewer, &versions[0]).await;
    assert_eq!(status, StatusCode::OK);
    w.wait_for(&versions[0], "not_deployed", |_| true).await;
    let left: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| d.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["web-shared-b"], "only b's objects remain");
    let b = w.deployment(&versions[1]).await;
    assert_eq!(b["status"]["state"], "running", "{b}");
    KubeApi::<Namespace>::all(w.k8s.clone())
        .get("on-shared")
        .await
        .expect("the shared namespace stays");
    // An object someone else made under the name a release needs is not taken over.
    KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-shared")
        .create(
            &Default::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "web-shared-a-config"}, "data": {"theirs": "yes"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    w.deploy(&w.viewer, &versions[0]).await;
    let d = w.wait_for(&versions[0], "failed", |_| true).await;
    assert!(
        d["status"]["message"]
            .as_str()
            .unwrap()
            .contains("ConfigMap/web-shared-a-config already exists and was not deployed by O-Neko"),
        "{}",
        d["status"]
    );
    let theirs = KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-shared")
        .get("web-shared-a-config")
        .await
        .unwrap();
    assert_eq!(theirs.data.unwrap()["theirs"], "yes", "left as it was");
    // A namespace in use by a deployment cannot be deleted.
    let (status, body) = w.admin.call("delete_namespace", json!({"id": ns["id"]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn faults_degrade_and_rejections_fail_with_the_reason() {
    let w = World::start().await;
    let cfg = config(vec![w.template("web", WEB)]);
    let (project, versions) = w
        .project(
            "Faulty",
            "team/faulty",
            &["pull", "crash", "bad"],
            cfg.clone(),
            "",
        )
        .await;
    for (v, fault) in versions.iter().zip(["imagepullbackoff", "crashloop"]) {
        let (status, body) = w
            .doer
            .call(
                "save_version",
                json!({"version": {"id": v["id"], "redeploy_policy": "automatic", "overrides": {
                    "lifetime": null, "url_templates": [], "values": {"FAULT": fault},
                    "templates": [], "namespace": null}}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        w.deploy(&w.viewer, v).await;
    }
    let d = w.wait_for(&versions[0], "degraded", |_| true).await;
    assert!(
        d["status"]["message"]
            .as_str()
            .unwrap()
            .contains("ImagePullBackOff")
            || d["status"]["message"].as_str().unwrap().contains("ErrImagePull"),
        "{}",
        d["status"]
    );
    let d = w
        .wait_for(&versions[1], "degraded", |d| {
            d["status"]["message"]
                .as_str()
                .unwrap()
                .contains("CrashLoopBackOff")
        })
        .await;
    // The pod itself is degraded in both phases of a crash loop: backing off, or running again
    // after its last crash (the version's status may lag the pod by one watch event).
    let problem = d["pods"][0]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("CrashLoopBackOff") || problem.contains("keeps terminating"),
        "{d}"
    );
    let (_, p) = w.viewer.call("get_project", json!({"id": project["id"]})).await;
    assert_eq!(p["state"], "degraded", "the project shows its worst version");

    // An object the API server refuses (an invalid label value): the dry run fails, nothing is
    // applied, and the reason is shown and logged with the user who clicked.
    let bad = &versions[2];
    let (status, body) = w
        .doer
        .call(
            "save_version",
            json!({"version": {"id": bad["id"], "redeploy_policy": "automatic", "overrides": {
                "lifetime": null, "url_templates": [], "values": {},
                "templates": [w.template("web", "image: x\nlabels:\n  team: \"Not A Label!\"\n")],
                "namespace": null}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.deploy(&w.viewer, bad).await;
    let d = w.wait_for(bad, "failed", |_| true).await;
    let message = d["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("the cluster refused Deployment/web"),
        "{message}"
    );
    assert!(message.contains("Invalid"), "the API server's words: {message}");
    assert!(
        KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-faulty-bad")
            .get_opt("web")
            .await
            .unwrap()
            .is_none(),
        "nothing applied after a failed dry run"
    );
    // Its ConfigMap, which the API server would have taken (and which is applied before the
    // Deployment), was not applied either: the dry run covers the whole set first.
    assert!(
        KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-faulty-bad")
            .get_opt("web-config")
            .await
            .unwrap()
            .is_none(),
        "nothing of the set applied after a failed dry run"
    );
    let failed = w.activity("version.deploy_failed").await;
    assert_eq!(failed[0]["actor"], "viewer");
    assert_eq!(failed[0]["severity"], "ERROR");
    assert!(
        failed[0]["message"].as_str().unwrap().contains("Deployment/web"),
        "{}",
        failed[0]
    );

    // A chart version that does not exist fails with the registry's answer.
    let mut missing = cfg.clone();
    missing["templates"][0]["chart_version"] = json!("9.9.9");
    w.doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": missing}),
        )
        .await;
    w.deploy(&w.viewer, &versions[0]).await;
    let d = w
        .wait_for(&versions[0], "failed", |d| {
            d["status"]["message"].as_str().unwrap().contains("9.9.9")
        })
        .await;
    assert!(
        d["status"]["message"]
            .as_str()
            .unwrap()
            .contains("chart o-neko-demo"),
        "{}",
        d["status"]
    );
}

#[tokio::test]
async fn hooks_gate_the_deploy_and_run_in_order() {
    let w = World::start().await;
    let with_hook = |fault: &str| {
        format!("image: \"{{{{ IMAGE }}}}\"\nmigration: true\nmigrationFault: \"{fault}\"\nnotify: true\n")
    };
    let cfg = config(vec![w.template("web", &with_hook("fail"))]);
    let (project, versions) = w.project("Hooks", "team/hooks", &["main"], cfg.clone(), "").await;
    let main = &versions[0];
    w.deploy(&w.viewer, main).await;
    let d = w.wait_for(main, "failed", |_| true).await;
    let message = d["status"]["message"].as_str().unwrap();
    assert!(message.contains("pre-install hook Job/web-migrate"), "{message}");
    assert!(
        message.contains("BackoffLimitExceeded"),
        "the Job's reason: {message}"
    );
    // The pre-install hook gates everything else: nothing of the main set was applied.
    let deployments = KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-hooks-main");
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    let configs = KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-hooks-main");
    assert!(
        configs.get_opt("web-deployed").await.unwrap().is_none(),
        "no post hook after a failure"
    );

    // Fixed: the hook runs (again: before-hook-creation replaces the failed Job), then the main
    // set, then the post-install hook.
    let mut ok = cfg.clone();
    ok["templates"][0]["content"] = json!(with_hook(""));
    w.doer
        .call("save_project_config", json!({"id": project["id"], "config": ok}))
        .await;
    let seen = Recorder::start(&w.k8s, "on-hooks-main").await;
    w.deploy(&w.viewer, main).await;
    let d = w.wait_for(main, "running", |_| true).await;
    let job = KubeApi::<Job>::namespaced(w.k8s.clone(), "on-hooks-main")
        .get("web-migrate")
        .await
        .unwrap();
    let migrated = seen.at("MODIFIED Job/web-migrate", succeeded).await;
    let applied = seen.at("ADDED Deployment/web", |_| true).await;
    let posted = seen.at("ADDED ConfigMap/web-deployed", |_| true).await;
    assert!(migrated < applied, "the Deployment came after the hook completed");
    assert!(applied < posted, "the post hook came last");
    assert_eq!(
        job.metadata.labels.unwrap_or_default()["o-neko.io/version"],
        main["id"].to_string(),
        "hooks carry our labels too"
    );

    // An upgrade runs the pre-upgrade hooks by weight (the migration, replaced as
    // before-hook-creation says, then the preflight ConfigMap), applies the change, then the
    // post-upgrade hooks; the smoke-test Job is deleted once it succeeded (hook-succeeded).
    let seen = Recorder::start(&w.k8s, "on-hooks-main").await;
    let mut upgrade = ok.clone();
    upgrade["templates"][0]["content"] = json!(format!("{}upgradeHooks: true\nreplicas: 2\n", with_hook("")));
    w.doer
        .call(
            "save_project_config",
            json!({"id": project["id"], "config": upgrade}),
        )
        .await;
    let applied_before = d["status"]["applied_at"].clone();
    w.deploy(&w.viewer, main).await;
    w.wait_for(main, "running", |d| d["status"]["applied_at"] != applied_before)
        .await;
    let replaced = seen.at("DELETED Job/web-migrate", |_| true).await;
    let migrated = seen.at("MODIFIED Job/web-migrate", succeeded).await;
    let preflight = seen.at("ADDED ConfigMap/web-preflight", |_| true).await;
    let changed = seen
        .at("MODIFIED Deployment/web", |o| o["spec"]["replicas"] == 2)
        .await;
    let smoke = seen.at("ADDED Job/web-smoke", |_| true).await;
    let smoked = seen.at("DELETED Job/web-smoke", |_| true).await;
    let posted = seen.at("ADDED ConfigMap/web-deployed", |_| true).await;
    assert!(
        replaced < migrated,
        "before-hook-creation: the old hook goes first"
    );
    assert!(migrated < preflight, "by weight: -5 before 5");
    assert!(preflight < changed, "pre-upgrade hooks before the change");
    assert!(changed < smoke && changed < posted, "post-upgrade hooks after it");
    assert!(smoke < smoked, "hook-succeeded: deleted after it succeeded");
    let jobs = KubeApi::<Job>::namespaced(w.k8s.clone(), "on-hooks-main");
    assert!(jobs.get_opt("web-smoke").await.unwrap().is_none());
    configs.get("web-preflight").await.unwrap();
}

fn succeeded(job: &Value) -> bool {
    job["status"]["succeeded"].as_i64().unwrap_or(0) >= 1
}

/// What happens to Jobs, Deployments and ConfigMaps in a namespace from now on, by
/// resourceVersion: kube-sim's count every write in the cluster, so they order events across
/// kinds, where whole-second timestamps cannot.
struct Recorder {
    events: std::sync::Arc<std::sync::Mutex<Vec<(u64, String, Value)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    async fn start(k8s: &Client, namespace: &str) -> Recorder {
        use futures::StreamExt;
        use kube::api::{ApiResource, DynamicObject, WatchEvent, WatchParams};
        let events = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let mut tasks = vec![];
        for ar in [
            ApiResource::erase::<Job>(&()),
            ApiResource::erase::<Deployment>(&()),
            ApiResource::erase::<ConfigMap>(&()),
        ] {
            let api = KubeApi::<DynamicObject>::namespaced_with(k8s.clone(), namespace, &ar);
            let rv = api
                .list_metadata(&ListParams::default())
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap_or_default();
            let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
            let (events, kind) = (events.clone(), ar.kind.clone());
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(e)) = stream.next().await {
                    let (what, o) = match e {
                        WatchEvent::Added(o) => ("ADDED", o),
                        WatchEvent::Modified(o) => ("MODIFIED", o),
                        WatchEvent::Deleted(o) => ("DELETED", o),
                        _ => continue,
                    };
                    let rv = o
                        .metadata
                        .resource_version
                        .as_deref()
                        .and_then(|r| r.parse().ok());
                    let name = o.metadata.name.clone().unwrap_or_default();
                    events.lock().unwrap().push((
                        rv.unwrap_or(0),
                        format!("{what} {kind}/{name}"),
                        serde_json::to_value(&o).unwrap(),
                    ));
                }
            }));
        }
        Recorder { events, tasks }
    }

    /// The resourceVersion of the first event `what` (e.g. `ADDED Job/web-migrate`) whose object
    /// matches, waiting a little for it to arrive.
    async fn at(&self, what: &str, matches: impl Fn(&Value) -> bool) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut events = self.events.lock().unwrap().clone();
            events.sort_by_key(|e| e.0);
            if let Some(e) = events.iter().find(|(_, w, o)| w == what && matches(o)) {
                return e.0;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} among {:?}",
                events.iter().map(|e| (e.0, &e.1)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Each way a deploy fails says why, on the version and in the activity log: values that do not
/// render, an object someone else owns (an apply conflict), a hook that does not finish in time.
#[tokio::test]
async fn failures_say_why() {
    let w = World::start_with(|c| c.deploy_timeout = 3).await;
    let cfg = config(vec![w.template("web", WEB)]);
    let (_, versions) = w
        .project("Fails", "team/fails", &["render", "conflict", "slow"], cfg, "")
        .await;
    let (render, conflict, slow) = (&versions[0], &versions[1], &versions[2]);
    let set = |v: &Value, values: Value, templates: Value| {
        let body = json!({"version": {"id": v["id"], "redeploy_policy": "automatic", "overrides": {
            "lifetime": null, "url_templates": [], "values": values, "templates": templates,
            "namespace": null}}});
        let doer = &w.doer;
        async move {
            let (status, body) = doer.call("save_version", body).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };

    // A value that breaks the YAML of an unquoted placeholder.
    set(
        render,
        json!({"MESSAGE": "a: b: c"}),
        json!([w.template("web", "image: \"{{ IMAGE }}\"\nmessage: {{ MESSAGE }}\n")]),
    )
    .await;
    w.deploy(&w.viewer, render).await;
    let d = w.wait_for(render, "failed", |_| true).await;
    let message = d["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("template 'web' does not render to valid YAML (line 2"),
        "{message}"
    );

    // An object that exists in the version's namespace but was never applied by O-Neko: the
    // apply refuses to take over its fields and names who owns them.
    set(conflict, json!({"EXTRA": "false"}), json!([])).await;
    w.deploy(&w.viewer, conflict).await;
    w.wait_for(conflict, "running", |_| true).await;
    KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-fails-conflict")
        .create(
            &kube::api::PostParams {
                field_manager: Some("kubectl-create".into()),
                ..Default::default()
            },
            &serde_json::from_value(json!({"metadata": {"name": "web-extra"}, "data": {"extra": "mine"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    set(conflict, json!({"EXTRA": "true"}), json!([])).await;
    w.deploy(&w.viewer, conflict).await;
    let d = w.wait_for(conflict, "failed", |_| true).await;
    let message = d["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("ConfigMap/web-extra")
            && message.contains("conflict")
            && message.contains("kubectl-create"),
        "{message}"
    );
    let cm = KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-fails-conflict")
        .get("web-extra")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["extra"], "mine", "left as its owner made it");

    // A pre-install hook whose image cannot be pulled never finishes: the deploy times out.
    set(
        slow,
        json!({}),
        json!([w.template(
            "web",
            "image: \"{{ IMAGE }}\"\nmigration: true\nmigrationFault: imagepullbackoff\n"
        )]),
    )
    .await;
    w.deploy(&w.viewer, slow).await;
    let d = w.wait_for(slow, "failed", |_| true).await;
    let message = d["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("pre-install hook Job/web-migrate") && message.contains("did not finish within 3 s"),
        "{message}"
    );

    let failed = w.activity("version.deploy_failed").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    // Counted by kind: values that do not render, an object the cluster refused (at the dry run,
    // before anything changed), a hook that did not finish.
    let text = reqwest::get(format!("{}/metrics", w.server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for kind in ["values", "refused", "hook"] {
        let line = format!("oneko_deployment_failures_total{{operation=\"deploy\",kind=\"{kind}\"}} 1");
        assert!(text.contains(&line), "{line} missing from:\n{text}");
    }
    assert!(
        failed
            .iter()
            .all(|e| e["actor"] == "viewer" && e["severity"] == "ERROR")
    );
}

#[tokio::test]
async fn concurrent_requests_are_refused_or_queued() {
    let w = World::start().await;
    let slow = "image: \"{{ IMAGE }}\"\nmigration: true\n";
    let cfg = config(vec![w.template("web", slow)]);
    let (_, versions) = w.project("Busy", "team/busy", &["main"], cfg, "").await;
    let main = &versions[0];
    let (status, _) = w.deploy(&w.viewer, main).await;
    assert_eq!(status, StatusCode::OK);
    // Until the worker takes the request up, a newer one replaces it (the stop below would be
    // the only thing done); this test is about requests while the deploy runs.
    w.wait_for(main, "deploying", |d| {
        d["status"]["message"] != "Waiting to be deployed"
    })
    .await;
    // The same request again while it runs is refused, with the reason.
    let (status, body) = w.deploy(&w.doer, main).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already being deployed"),
        "{body}"
    );
    // A stop meanwhile waits its turn.
    let (status, body) = w.stop(&w.doer, main).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["queued"], true, "{body}");
    w.wait_for(main, "not_deployed", |_| true).await;
    assert!(
        KubeApi::<Namespace>::all(w.k8s.clone())
            .get_opt("on-busy-main")
            .await
            .unwrap()
            .is_none()
    );
    let kinds: Vec<String> = w
        .activity("version.")
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .filter(|k| k != "version.created")
        .collect();
    assert_eq!(
        kinds,
        ["version.stopped", "version.deployed"],
        "in order, nothing interleaved: {:?}",
        w.activity("").await
    );
}

#[tokio::test]
async fn a_restart_during_a_deploy_finishes_it() {
    let mut w = World::start_with(|c| c.lease_seconds = 3).await;
    let slow = "image: \"{{ IMAGE }}\"\nmigration: true\nnotify: true\n";
    let cfg = config(vec![w.template("web", slow)]);
    let (_, versions) = w.project("Restart", "team/restart", &["main"], cfg, "").await;
    let main = versions[0].clone();
    w.deploy(&w.viewer, &main).await;
    // Stopped while the hook runs: the work is dropped where it is, as in a crash.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = w.deployment(&main).await;
        if d["status"]["message"].as_str().unwrap().contains("hooks") {
            break;
        }
        assert!(Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.server = w.server.restart().await;
    w.viewer = w.server.login("viewer", "viewer-password").await;
    w.admin = w.server.admin().await;
    w.wait_for(&main, "running", |_| true).await;
    let deployed = w.activity("version.deployed").await;
    assert_eq!(
        deployed.len(),
        1,
        "carried out once after the restart: {deployed:?}"
    );
    KubeApi::<ConfigMap>::namespaced(w.k8s.clone(), "on-restart-main")
        .get("web-deployed")
        .await
        .expect("finished to the end");
    // The default service account exists and is untouched (anonymous registry: no pull secret).
    let sa = KubeApi::<ServiceAccount>::namespaced(w.k8s.clone(), "on-restart-main")
        .get("default")
        .await
        .unwrap();
    assert!(sa.image_pull_secrets.is_none());
    drop(w.sim);
}

#[tokio::test]
async fn the_demo_seeds_a_project_that_deploys() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = kube_sim::start(kube_sim::SimConfig::default()).await.unwrap();
    let reg = LocalRegistry::start(None, None);
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let url = reg.url.clone();
    let server = TestServer::start_with(|c| {
        c.kubeconfig = Some(kubeconfig);
        c.demo_registry = Some(url);
    })
    .await;
    let admin = server.admin().await;
    let viewer = server.user_with_role(&admin, "viewer", "VIEWER").await;
    let (_, info) = viewer.call("get_cluster_info", json!({})).await;
    assert_eq!(
        info["simulated"], true,
        "the UI can say it is the simulated cluster: {info}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (project, main) = loop {
        let (_, projects) = viewer.call("list_projects", json!({})).await;
        if let Some(p) = projects
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "Demo shop"))
        {
            let (_, page) = viewer
                .call(
                    "list_versions",
                    json!({"query": {"project": p["id"], "filter": "", "include_removed": false, "sort": "name", "page": 0}}),
                )
                .await;
            let names: Vec<&str> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap())
                .collect();
            if names.len() == 3 {
                assert_eq!(names, ["feature-dark-mode", "main", "v1.0.0"]);
                let main = page["items"][1].clone();
                break (p.clone(), main);
            }
        }
        assert!(Instant::now() < deadline, "the demo project did not appear");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, config) = viewer
        .call("get_project_config", json!({"id": project["id"]}))
        .await;
    assert_eq!(config["variables"][0]["show_on_dashboard"], true, "{config}");
    let (status, body) = viewer.call("deploy_version", json!({"id": main["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, d) = viewer.call("get_deployment", json!({"id": main["id"]})).await;
        if d["status"]["state"] == "running" {
            assert_eq!(
                d["status"]["namespace"], "on-demoshop-main",
                "the original's rule: spaces are dropped"
            );
            assert!(
                d["urls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|u| u == "main.shop.demo.o-neko.test"),
                "{d}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the demo version did not run: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second start finds the demo in place and seeds nothing twice.
    let server = server.restart().await;
    let admin = server.admin().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, projects) = admin.call("list_projects", json!({})).await;
    assert_eq!(projects.as_array().unwrap().len(), 1, "{projects}");
}

#[tokio::test]
async fn deleting_a_project_stops_its_versions_first() {
    let w = World::start().await;
    let cfg = config(vec![w.template("web", WEB)]);
    let (project, versions) = w.project("Doomed", "team/doomed", &["main"], cfg, "").await;
    let main = &versions[0];
    w.deploy(&w.viewer, main).await;
    w.wait_for(main, "running", |_| true).await;
    // Refused unless confirmed, with what runs.
    let (status, body) = w.doer.call("delete_project", json!({"id": project["id"]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("deployed versions (main)"),
        "{body}"
    );
    let (status, body) = w
        .doer
        .call("delete_project", json!({"id": project["id"], "confirm": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Stopped first, then the project goes; meanwhile nothing can be deployed.
    let (status, body) = w.deploy(&w.viewer, main).await;
    assert!(
        status == StatusCode::CONFLICT || status == StatusCode::NOT_FOUND,
        "{status} {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, p) = w.viewer.call("get_project", json!({"id": project["id"]})).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(p["deleting"], true, "{p}");
        assert!(Instant::now() < deadline, "the project was not deleted: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        KubeApi::<Namespace>::all(w.k8s.clone())
            .get_opt("on-doomed-main")
            .await
            .unwrap()
            .is_none(),
        "its deployment was stopped, not left running"
    );
    let kinds: Vec<(String, String)> = w
        .activity("")
        .await
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .take(3)
        .collect();
    assert_eq!(
        kinds,
        [
            ("project.deleted".to_string(), "scheduler".to_string()),
            ("version.stopped".to_string(), "doer".to_string()),
            ("project.deleting".to_string(), "doer".to_string()),
        ]
    );
}

/// Reads server-sent events from `path` until `done` says so (or the time is up).
async fn read_events(api: &Api, path: &str, seconds: u64, mut done: impl FnMut(&str, &str) -> bool) -> bool {
    use futures::StreamExt;
    let resp = api
        .client
        .get(format!("{}{path}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let kind = event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n");
            if done(kind, &data) {
                return true;
            }
        }
    }
    false
}

#[tokio::test]
async fn status_changes_and_logs_are_pushed() {
    let w = World::start().await;
    let cfg = config(vec![w.template("web", WEB)]);
    let (_, versions) = w.project("Live", "team/live", &["main"], cfg, "").await;
    let main = versions[0].clone();
    // Only for logged-in users.
    let anonymous = w.server.client();
    let resp = anonymous
        .client
        .get(format!("{}/live/events", anonymous.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // An open page sees the version go from deploying to running, pushed, without asking.
    let id = main["id"].as_i64().unwrap();
    let listener = {
        let api = Api {
            client: w.viewer.client.clone(),
            base: w.viewer.base.clone(),
        };
        tokio::spawn(async move {
            let mut seen = vec![];
            let got = read_events(&api, "/live/events", 30, |kind, data| {
                if kind != "status" {
                    return false;
                }
                let e: Value = serde_json::from_str(data).unwrap();
                if e["version"] == id {
                    seen.push(e["status"]["state"].as_str().unwrap().to_owned());
                }
                seen.last().is_some_and(|s| s == "running")
            })
            .await;
            (got, seen)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.deploy(&w.viewer, &main).await;
    let (got, seen) = listener.await.unwrap();
    assert!(got, "no running event: {seen:?}");
    assert_eq!(seen.first().map(String::as_str), Some("deploying"), "{seen:?}");

    // Logs: the last lines, and followed.
    let d = w.deployment(&main).await;
    let pod = d["pods"][0]["name"].as_str().unwrap().to_owned();
    let (status, text) = w
        .viewer
        .call(
            "pod_logs",
            json!({"id": id, "pod": pod, "container": "web", "tail": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.as_str().unwrap().contains("simulated by kube-sim"), "{text}");
    let (status, body) = w
        .viewer
        .call(
            "pod_logs",
            json!({"id": id, "pod": "someone-elses", "container": "web", "tail": 10}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only the version's own pods: {body}"
    );
    let mut lines = vec![];
    let followed = read_events(
        &w.viewer,
        &format!("/live/logs/{id}/{pod}/web?tail=1"),
        10,
        |kind, data| {
            if kind == "line" {
                lines.push(data.to_owned());
            }
            lines.iter().any(|l| l.starts_with("GET /healthz 200"))
        },
    )
    .await;
    assert!(followed, "new lines keep coming: {lines:?}");
}

/// A private registry's project, with its credentials: `(registry, project, its one version)`.
async fn private_project(
    w: &World,
    reg: &LocalRegistry,
    (name, user, password, copy): (&str, &str, &str, Option<bool>),
    (project_name, repo, namespace): (&str, &str, &str),
) -> (Value, Value, Value) {
    push_image(
        (
            &pusher(reg),
            &RegistryAuth::Basic(user.into(), password.into()),
            &host(reg),
        ),
        (repo, "main"),
        "amd64",
        "2026-06-01T10:00:00Z",
        repo,
    )
    .await;
    let mut registry = json!({"id": null, "name": name, "url": reg.url, "insecure_http": true,
        "auth": "basic", "username": user, "secret": password, "ca_pem": "", "skip_tls_verify": false});
    if let Some(copy) = copy {
        registry["copy_pull_secret"] = json!(copy);
    }
    let (status, docker) = w
        .admin
        .call("save_docker_registry", json!({ "registry": registry }))
        .await;
    assert_eq!(status, StatusCode::OK, "{docker}");
    let (status, project) = w
        .doer
        .call(
            "save_project",
            json!({"project": {"id": null, "name": project_name, "registry": docker["id"],
                "image_repository": repo, "redeploy_policy": "automatic", "lifetime": "infinite",
                "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true, "poll_interval_secs": "",
                "namespace": namespace}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{project}");
    let cfg = config(vec![w.template(
        "web",
        "image: \"{{ IMAGE }}\"\nmessage: \"pull with {{ IMAGE_PULL_SECRET }}\"\n",
    )]);
    w.doer
        .call("save_project_config", json!({"id": project["id"], "config": cfg}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let main = loop {
        let (_, page) = w
            .doer
            .call(
                "list_versions",
                json!({"query": {"project": project["id"], "filter": "", "include_removed": false, "sort": "name", "page": 0}}),
            )
            .await;
        if let Some(v) = page["items"].get(0) {
            break v.clone();
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (docker, project, main)
}

/// The image pull secrets in a namespace (`kubernetes.io/dockerconfigjson`), by name, decoded.
async fn pull_secrets(w: &World, ns: &str) -> Vec<(String, Value)> {
    KubeApi::<k8s_openapi::api::core::v1::Secret>::namespaced(w.k8s.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() == Some("kubernetes.io/dockerconfigjson"))
        .map(|s| {
            let config = serde_json::from_slice(&s.data.unwrap()[".dockerconfigjson"].0).unwrap();
            (s.metadata.name.unwrap(), config)
        })
        .collect()
}

/// The image pull secrets a service account names.
async fn account_pull_secrets(w: &World, ns: &str, sa: &str) -> Vec<String> {
    KubeApi::<ServiceAccount>::namespaced(w.k8s.clone(), ns)
        .get(sa)
        .await
        .unwrap()
        .image_pull_secrets
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect()
}

/// Issue 16: a registry's credentials reach a deployment only when an ADMIN lets that registry
/// copy them, and only into projects that use that registry. Off (the default for a new
/// registry): no dockerconfigjson Secret, no pull secret on any service account, an empty
/// IMAGE_PULL_SECRET. On: the secret, on `default` and the chart's accounts. Switched off
/// later: the next deploy takes it away again.
#[tokio::test]
async fn registry_credentials_become_an_image_pull_secret_only_when_allowed() {
    let w = World::start().await;
    let private = LocalRegistry::start(None, Some(("robot", "robot-pw-1")));
    let other = LocalRegistry::start(None, Some(("other", "other-pw-2")));
    let (docker, _, main) = private_project(
        &w,
        &private,
        ("Private Hub", "robot", "robot-pw-1", Some(true)),
        ("Private", "team/private", ""),
    )
    .await;
    // Another registry with credentials, copying them too, and one that does not say (off).
    let (_, _, closed) = private_project(
        &w,
        &other,
        ("Other Hub", "other", "other-pw-2", None),
        ("Closed", "team/closed", ""),
    )
    .await;
    let (status, listed) = w.admin.call("list_docker_registries", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let copies: Vec<(String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["copy_pull_secret"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(copies.contains(&("Private Hub".into(), true)), "{copies:?}");
    assert!(
        copies.contains(&("Other Hub".into(), false)),
        "new registries do not copy: {copies:?}"
    );

    w.deploy(&w.viewer, &main).await;
    w.deploy(&w.viewer, &closed).await;
    w.wait_for(&main, "running", |_| true).await;
    w.wait_for(&closed, "running", |_| true).await;

    // On: the project's own registry's credentials, and nothing of the other registry's.
    let ns = "on-private-main";
    let secrets = pull_secrets(&w, ns).await;
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    let (name, config) = &secrets[0];
    assert_eq!(name, "o-neko-pull-privatehub");
    assert_eq!(config["auths"][host(&private)]["username"], "robot", "{config}");
    assert_eq!(config["auths"][host(&private)]["password"], "robot-pw-1");
    assert_eq!(config["auths"].as_object().unwrap().len(), 1, "{config}");
    for (_, config) in &secrets {
        let text = config.to_string();
        assert!(
            !text.contains("other-pw-2") && !text.contains(&host(&other)),
            "{text}"
        );
    }
    for sa in ["default", "web"] {
        assert_eq!(
            account_pull_secrets(&w, ns, sa).await,
            ["o-neko-pull-privatehub"],
            "service account {sa}"
        );
    }
    let message = |ns: &'static str| {
        let k8s = w.k8s.clone();
        async move {
            KubeApi::<ConfigMap>::namespaced(k8s, ns)
                .get("web-config")
                .await
                .unwrap()
                .data
                .unwrap()["message"]
                .clone()
        }
    };
    assert_eq!(message(ns).await, "pull with o-neko-pull-privatehub");

    // Off: nothing of the registry's reaches the namespace.
    let closed_ns = "on-closed-main";
    assert_eq!(
        pull_secrets(&w, closed_ns).await,
        vec![],
        "no pull secret when switched off"
    );
    for sa in ["default", "web"] {
        assert_eq!(
            account_pull_secrets(&w, closed_ns, sa).await,
            Vec::<String>::new(),
            "service account {sa}"
        );
    }
    assert_eq!(
        message(closed_ns).await,
        "pull with ",
        "IMAGE_PULL_SECRET renders empty"
    );

    // Switched off later (the stored password stays, the URL is the same): the next deploy
    // removes the secret and the accounts' references to it.
    let off = json!({"id": docker["id"], "name": "Private Hub", "url": private.url, "insecure_http": true,
        "auth": "basic", "username": "robot", "secret": null, "ca_pem": "", "skip_tls_verify": false,
        "copy_pull_secret": false});
    let (status, saved) = w
        .admin
        .call("save_docker_registry", json!({ "registry": off }))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (saved["copy_pull_secret"].as_bool(), saved["secret_set"].as_bool()),
        (Some(false), Some(true))
    );
    let changed = w.activity("docker_registry.changed").await;
    assert!(
        changed[0]["message"]
            .as_str()
            .unwrap()
            .contains("credentials copied into deployments off"),
        "{changed:?}"
    );
    let applied_before = w.deployment(&main).await["status"]["applied_at"].clone();
    w.deploy(&w.viewer, &main).await;
    w.wait_for(&main, "running", |d| d["status"]["applied_at"] != applied_before)
        .await;
    assert_eq!(pull_secrets(&w, ns).await, vec![], "the secret is gone");
    for sa in ["default", "web"] {
        assert_eq!(
            account_pull_secrets(&w, ns, sa).await,
            Vec::<String>::new(),
            "service account {sa}"
        );
    }
    assert_eq!(message(ns).await, "pull with ");
}

/// Opens a server-sent event stream.
async fn open_stream(api: &Api, path: &str) -> reqwest::Response {
    let resp = api
        .client
        .get(format!("{}{path}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp
}

/// Reads a stream's events for up to `seconds`: what came, and whether the server ended it.
async fn drain(resp: reqwest::Response, seconds: u64) -> (Vec<(String, String)>, bool) {
    use futures::StreamExt;
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut seen = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return (seen, false),
            Ok(None | Some(Err(_))) => return (seen, true),
            Ok(Some(Ok(chunk))) => chunk,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let kind = event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n");
            if !kind.is_empty() {
                seen.push((kind.to_owned(), data));
            }
        }
    }
}

/// Issue 16: open live streams (status and logs) end when their session does: after a logout,
/// when the user is deleted, when an ADMIN resets the password. Each gets a last `end` event
/// and nothing after it; another user's streams go on.
#[tokio::test]
async fn live_streams_end_when_the_session_does() {
    let w = World::start().await;
    let cfg = config(vec![w.template("web", WEB)]);
    let (_, versions) = w.project("Watched", "team/watched", &["main"], cfg, "").await;
    let main = versions[0].clone();
    w.deploy(&w.viewer, &main).await;
    w.wait_for(&main, "running", |_| true).await;
    let id = main["id"].as_i64().unwrap();
    let pod = w.deployment(&main).await["pods"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = format!("/live/logs/{id}/{pod}/web?tail=1");
    let leaver = w.server.user_with_role(&w.admin, "leaver", "VIEWER").await;
    let deleted = w.server.user_with_role(&w.admin, "deleted", "DOER").await;
    let reset = w.server.user_with_role(&w.admin, "reset", "VIEWER").await;
    let stayer = w.server.user_with_role(&w.admin, "stayer", "VIEWER").await;
    let mut streams = vec![];
    for api in [&leaver, &deleted, &reset, &stayer] {
        streams.push((
            open_stream(api, "/live/events").await,
            open_stream(api, &logs).await,
        ));
    }
    let (status, body) = leaver.call("logout", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, users) = w.admin.call("list_users", json!({})).await;
    let id_of = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap()["id"]
            .clone()
    };
    let (status, body) = w.admin.call("delete_user", json!({"id": id_of("deleted")})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = w
        .admin
        .call(
            "reset_user_password",
            json!({"id": id_of("reset"), "password": "a-new-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Status changes for the event streams.
    w.deploy(&w.viewer, &main).await;

    let stayed = streams.pop().unwrap();
    for (who, (events, lines)) in ["leaver", "deleted", "reset"].into_iter().zip(streams) {
        for (what, stream) in [("logs", lines), ("events", events)] {
            let (seen, closed) = drain(stream, 25).await;
            assert!(closed, "{who}'s {what} stream ended: {seen:?}");
            assert_eq!(
                seen.last().map(|(kind, _)| kind.as_str()),
                Some("end"),
                "{who}'s {what} stream says why, last: {seen:?}"
            );
        }
    }
    let (lines, closed) = drain(stayed.1, 3).await;
    assert!(!closed, "another user's logs go on: {lines:?}");
    assert!(lines.iter().any(|(kind, _)| kind == "line"), "{lines:?}");
    assert!(lines.iter().all(|(kind, _)| kind != "end"), "{lines:?}");
    let (events, closed) = drain(stayed.0, 2).await;
    assert!(!closed, "another user's status stream goes on: {events:?}");
    // And no new stream for the session that is gone.
    let resp = leaver
        .client
        .get(format!("{}/live/events", leaver.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// Issue 16: a user has at most 8 live streams open (status and logs together, across their
/// sessions); the 9th is refused with 429 and says why, other users are not affected, and a
/// closed stream frees its place.
#[tokio::test]
async fn live_streams_are_capped_per_user() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let watcher = server.user_with_role(&admin, "watcher", "VIEWER").await;
    let mut open = vec![];
    for _ in 0..8 {
        open.push(open_stream(&watcher, "/live/events").await);
    }
    let again = server.login("watcher", "watcher-password").await;
    for (api, path) in [
        (&watcher, "/live/events"),
        (&watcher, "/live/logs/1/some-pod/web"),
        (&again, "/live/events"),
    ] {
        let resp = api
            .client
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(resp.headers().contains_key("retry-after"));
        let text = resp.text().await.unwrap();
        assert!(text.contains("8 live views"), "{text}");
    }
    let other = open_stream(&admin, "/live/events").await;
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(30);
    let reopened = loop {
        let resp = watcher
            .client
            .get(format!("{}/live/events", watcher.base))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::OK {
            break resp;
        }
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "a closed stream never freed its place");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    drop((reopened, other, open));
    let health = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
}

/// Issue 16, in a defined (shared) namespace: the registry's pull secret there is shared by
/// the projects of that registry. Another registry whose name reads the same never overwrites it
/// with its credentials (the deploy fails and says so), and switching the registry off removes
/// the secret from the namespace and its `default` account on the next deploy.
#[tokio::test]
async fn a_shared_namespace_never_mixes_registries_credentials() {
    let w = World::start().await;
    let (status, ns) = w.admin.call("create_namespace", json!({"name": "team"})).await;
    assert_eq!(status, StatusCode::OK, "{ns}");
    let ns = "on-team";
    let private = LocalRegistry::start(None, Some(("robot", "robot-pw-1")));
    let other = LocalRegistry::start(None, Some(("other", "other-pw-2")));
    let (docker, _, main) = private_project(
        &w,
        &private,
        ("Private Hub", "robot", "robot-pw-1", Some(true)),
        ("Private", "team/private", ns),
    )
    .await;
    // "PrivateHub" makes the same secret name as "Private Hub".
    let (_, _, clash) = private_project(
        &w,
        &other,
        ("PrivateHub", "other", "other-pw-2", Some(true)),
        ("Clash", "team/clash", ns),
    )
    .await;
    w.deploy(&w.viewer, &main).await;
    w.wait_for(&main, "running", |_| true).await;
    assert_eq!(
        account_pull_secrets(&w, ns, "default").await,
        ["o-neko-pull-privatehub"]
    );

    w.deploy(&w.viewer, &clash).await;
    let failed = w.wait_for(&clash, "failed", |_| true).await;
    let message = failed["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("Secret/o-neko-pull-privatehub")
            && message.contains("holds the credentials of another Docker registry"),
        "{message}"
    );
    let secrets = pull_secrets(&w, ns).await;
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(
        secrets[0].1["auths"][host(&private)]["username"],
        "robot",
        "{secrets:?}"
    );
    assert!(!secrets[0].1.to_string().contains("other-pw-2"), "{secrets:?}");

    let off = json!({"id": docker["id"], "name": "Private Hub", "url": private.url, "insecure_http": true,
        "auth": "basic", "username": "robot", "secret": null, "ca_pem": "", "skip_tls_verify": false,
        "copy_pull_secret": false});
    let (status, saved) = w
        .admin
        .call("save_docker_registry", json!({ "registry": off }))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let applied_before = w.deployment(&main).await["status"]["applied_at"].clone();
    w.deploy(&w.viewer, &main).await;
    w.wait_for(&main, "running", |d| d["status"]["applied_at"] != applied_before)
        .await;
    assert_eq!(pull_secrets(&w, ns).await, vec![], "the shared secret is gone");
    assert_eq!(
        account_pull_secrets(&w, ns, "default").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn two_replicas_never_act_on_one_version() {
    let w = World::start_with(|c| c.replica_id = Some("replica-a".into())).await;
    let b = w.replica("replica-b", |_| {}).await;
    let tags = ["t1", "t2", "t3", "t4", "t5", "t6"];
    let cfg = config(vec![w.template("web", WEB)]);
    let (_, versions) = w.project("Twins", "team/twins", &tags, cfg, "").await;
    let ids: Vec<Value> = versions.iter().map(|v| v["id"].clone()).collect();
    // Asked on both replicas; both workers race for the work.
    let viewer_b = b.login("viewer", "viewer-password").await;
    let (status, body) = viewer_b
        .call("deploy_or_stop_versions", json!({"ids": ids, "deploy": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.as_array().unwrap().iter().all(|o| o["error"].is_null()),
        "{body}"
    );
    for v in &versions {
        w.wait_for(v, "running", |_| true).await;
    }
    let deployed = w.activity("version.deployed").await;
    let mut subjects: Vec<String> = deployed
        .iter()
        .map(|e| e["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    let expected: Vec<String> = tags.iter().map(|t| format!("Twins:{t}")).collect();
    assert_eq!(subjects, expected, "each version deployed exactly once");
    // Not only recorded once: carried out once. Both replicas run in this test's process and
    // count their pipeline runs in its one metrics registry.
    let text = reqwest::get(format!("{}/metrics", w.server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let runs: u64 = text
        .lines()
        .filter(|l| l.starts_with("oneko_deployments_operations_total{operation=\"deploy\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(runs, tags.len() as u64, "pipeline runs:\n{text}");
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let w = World::start().await;
    let cfg = config(vec![w.template("web", WEB)]);
    let (_, versions) = w.project("Metered", "team/metered", &["main"], cfg, "").await;
    w.deploy(&w.viewer, &versions[0]).await;
    w.wait_for(&versions[0], "running", |_| true).await;
    // A refused call counts as an error of its kind.
    let (status, _) = w.viewer.call("delete_project", json!({"id": 1})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let text = reqwest::get(format!("{}/metrics", w.server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "oneko_deployments{state=\"running\"} 1",
        "oneko_deployments_operations_total{operation=\"deploy\",outcome=\"ok\"} 1",
        "oneko_polls_total{registry=\"Local images\",outcome=\"ok\"}",
        "oneko_scheduler_leader 1",
        "oneko_server_function_errors_total{kind=\"forbidden\"} 1",
        "oneko_http_request_duration_seconds_count{method=\"POST\",route=\"/api/deploy_version\",status=\"2xx\"} 1",
        "# TYPE oneko_deployment_operation_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}
