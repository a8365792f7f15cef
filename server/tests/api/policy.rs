//! A project's deployment policy against the simulated cluster: charts (or values) that would
//! take over the cluster (a privileged DaemonSet with the host's root file system, a RoleBinding
//! to cluster-admin, a ClusterRole) are refused by the dry run before anything is applied; an
//! ADMIN (and only an ADMIN) can allow them; every namespace O-Neko creates carries the
//! project's Pod Security level; the namespaces a project may use are limited.
//!
//! The charts here render whatever objects their values list (`objects:`), as a DOER's values
//! could make many charts do.

use crate::{deploy::World, fixtures::LocalRegistry, helm::config as helm_config, tags::host};
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment},
    core::v1::{ConfigMap, Namespace},
    rbac::v1::{ClusterRole, RoleBinding},
};
use kube::{Api as KubeApi, api::ListParams};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::helm::HelmRun;
use std::time::Duration;

const CHART: &str = "policy-objects";

/// Packages a chart that renders the objects its values list and pushes it next to the sample
/// chart (`oci://<registry>/charts/policy-objects`).
async fn push_objects_chart(reg: &LocalRegistry) {
    let run = HelmRun::new(helm_config(Duration::from_secs(60))).unwrap();
    let src = run.dir().join(CHART);
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {CHART}\nversion: 0.1.0\n"),
    )
    .unwrap();
    std::fs::write(src.join("values.yaml"), "objects: []\n").unwrap();
    std::fs::write(
        src.join("templates/objects.yaml"),
        "{{- range .Values.objects }}\n---\n{{ toYaml . }}\n{{- end }}\n",
    )
    .unwrap();
    let out = run.dir().join("out");
    std::fs::create_dir_all(&out).unwrap();
    run.run(
        &[
            "package".into(),
            src.display().to_string(),
            "--destination".into(),
            out.display().to_string(),
        ],
        None,
    )
    .await
    .unwrap();
    run.run(
        &[
            "push".into(),
            out.join(format!("{CHART}-0.1.0.tgz")).display().to_string(),
            format!("oci://{}/charts", host(reg)),
            "--plain-http".into(),
        ],
        None,
    )
    .await
    .unwrap();
}

/// A configuration template `web` of the objects chart with these values.
fn objects_template(w: &World, values: &str) -> Value {
    json!({"name": "web", "description": "", "helm_registry": w.charts["id"],
        "chart_name": CHART, "chart_version": "", "content": values})
}

/// A privileged DaemonSet with the node's root file system and network, and a harmless
/// ConfigMap that would be applied first (kind order) if the set were not checked as a whole.
const DAEMONSET: &str = r#"objects:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: innocent
    data:
      a: b
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata:
      name: node-agent
    spec:
      selector:
        matchLabels:
          app: node-agent
      template:
        metadata:
          labels:
            app: node-agent
        spec:
          hostNetwork: true
          containers:
            - name: agent
              image: "{{ IMAGE }}"
              securityContext:
                privileged: true
              volumeMounts:
                - name: root
                  mountPath: /host
          volumes:
            - name: root
              hostPath:
                path: /
"#;

/// The chart's pods get cluster-admin in the namespace.
const ROLEBINDING: &str = r#"objects:
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata:
      name: take-over
    roleRef:
      apiGroup: rbac.authorization.k8s.io
      kind: ClusterRole
      name: cluster-admin
    subjects:
      - kind: ServiceAccount
        name: default
"#;

/// Every right in the cluster.
const CLUSTERROLE: &str = r#"objects:
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: everything
    rules:
      - apiGroups: ["*"]
        resources: ["*"]
        verbs: ["*"]
"#;

/// A Deployment that passes the restricted level.
const HARDENED: &str = r#"objects:
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: hardened
    spec:
      replicas: 1
      selector:
        matchLabels:
          app: hardened
      template:
        metadata:
          labels:
            app: hardened
        spec:
          securityContext:
            runAsNonRoot: true
            runAsUser: 10001
            seccompProfile:
              type: RuntimeDefault
          containers:
            - name: web
              image: "{{ IMAGE }}"
              securityContext:
                allowPrivilegeEscalation: false
                capabilities:
                  drop: ["ALL"]
"#;

/// Points a version's `web` template at `values` (a version override).
async fn set_values(w: &World, version: &Value, values: &str) {
    let (status, body) = w
        .doer
        .call(
            "save_version",
            json!({"version": {"id": version["id"], "redeploy_policy": "automatic", "overrides": {
                "lifetime": null, "url_templates": [], "values": {},
                "templates": [objects_template(w, values)], "namespace": null}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn policy_of(w: &World, project: &Value) -> Value {
    let (status, policy) = w
        .viewer
        .call("get_project_policy", json!({"id": project["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    policy
}

async fn namespace(w: &World, name: &str) -> Option<Namespace> {
    KubeApi::<Namespace>::all(w.k8s.clone())
        .get_opt(name)
        .await
        .unwrap()
}

/// Deploys `version` and waits until it failed; returns its message.
async fn refused(w: &World, version: &Value) -> String {
    let (status, body) = w.deploy(&w.viewer, version).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = w.wait_for(version, "failed", |_| true).await;
    d["status"]["message"].as_str().unwrap().to_owned()
}

/// Nothing of the version is in the cluster: no namespace, no object labelled as its own.
async fn nothing_applied(w: &World, version: &Value, namespace_name: &str) {
    assert!(
        namespace(w, namespace_name).await.is_none(),
        "not even the namespace was created"
    );
    let selector = format!("o-neko.io/version={}", version["id"]);
    let lp = ListParams::default().labels(&selector);
    assert!(
        KubeApi::<ConfigMap>::all(w.k8s.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        KubeApi::<DaemonSet>::all(w.k8s.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        KubeApi::<RoleBinding>::all(w.k8s.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        KubeApi::<ClusterRole>::all(w.k8s.clone())
            .get_opt("everything")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_chart_cannot_take_over_the_cluster_unless_an_admin_allows_it() {
    let w = World::start().await;
    push_objects_chart(&w.reg).await;
    let cfg = json!({"url_templates": [], "templates": [objects_template(&w, "objects: []\n")],
        "variables": []});
    let (project, versions) = w
        .project("Takeover", "team/takeover", &["ds", "rb", "cr"], cfg, "")
        .await;
    let (ds, rb, cr) = (&versions[0], &versions[1], &versions[2]);
    set_values(&w, ds, DAEMONSET).await;
    set_values(&w, rb, ROLEBINDING).await;
    set_values(&w, cr, CLUSTERROLE).await;

    // The defaults: the usual application kinds, nothing cluster-wide, baseline.
    let policy = policy_of(&w, &project).await;
    assert_eq!(policy["pod_security"], "baseline", "{policy}");
    assert_eq!(policy["cluster_kinds"], json!([]), "{policy}");
    assert_eq!(policy["namespaces"], json!(["*"]), "{policy}");
    for kind in ["Deployment", "StatefulSet", "Job", "Service", "Ingress", "Secret"] {
        assert!(
            policy["kinds"].as_array().unwrap().contains(&json!(kind)),
            "{kind}: {policy}"
        );
    }

    // A privileged DaemonSet with hostPath /: refused before anything is applied, named with the
    // rule; the ConfigMap of the same set was not applied either.
    let message = refused(&w, ds).await;
    assert!(
        message.contains(
            "DaemonSet/node-agent (release web): kind DaemonSet is not allowed by project Takeover's policy (allowed: ConfigMap, CronJob, Deployment,"
        ),
        "{message}"
    );
    assert!(
        message.contains("an ADMIN can allow it on the project page. Nothing was applied."),
        "{message}"
    );
    nothing_applied(&w, ds, "on-takeover-ds").await;
    let failed = w.activity("version.deploy_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["actor"], "viewer");
    assert_eq!(failed[0]["severity"], "ERROR");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("kind DaemonSet is not allowed by project Takeover's policy"),
        "{}",
        failed[0]
    );

    // A RoleBinding to cluster-admin, and a ClusterRole: likewise.
    let message = refused(&w, rb).await;
    assert!(
        message.contains(
            "RoleBinding/take-over (release web): kind RoleBinding is not allowed by project Takeover's policy"
        ),
        "{message}"
    );
    nothing_applied(&w, rb, "on-takeover-rb").await;
    let message = refused(&w, cr).await;
    assert!(
        message.contains(
            "ClusterRole/everything (release web): cluster-scoped kind ClusterRole is not allowed by project Takeover's policy (allowed: none)"
        ),
        "{message}"
    );
    nothing_applied(&w, cr, "on-takeover-cr").await;

    // A DOER (who wrote the chart's values) cannot change the policy; it stays as it was.
    let everything = json!({"kinds": ["*"], "cluster_kinds": ["*"], "namespaces": ["*"],
        "pod_security": "privileged"});
    for who in [&w.doer, &w.viewer] {
        let (status, body) = who
            .call(
                "save_project_policy",
                json!({"id": project["id"], "policy": everything}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(policy_of(&w, &project).await, policy, "unchanged");
    // A malformed pattern is a field error.
    let (status, body) = w
        .admin
        .call(
            "save_project_policy",
            json!({"id": project["id"], "policy": {"kinds": ["Daemon Set"], "cluster_kinds": [],
                "namespaces": ["*"], "pod_security": "baseline"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(policy_of(&w, &project).await, policy, "unchanged");

    // An ADMIN allows DaemonSets: the pod rules of baseline still refuse the host access, before
    // anything is applied (the simulated cluster does not enforce Pod Security; real ones do).
    let mut allowed = policy.clone();
    allowed["kinds"].as_array_mut().unwrap().push(json!("DaemonSet"));
    let (status, body) = w
        .admin
        .call(
            "save_project_policy",
            json!({"id": project["id"], "policy": allowed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let message = refused(&w, ds).await;
    assert_eq!(
        message,
        "DaemonSet/node-agent (release web): Pod Security level baseline of project Takeover's policy forbids hostNetwork: true, hostPath volume root (/), privileged: true (container agent); an ADMIN can choose another Pod Security level on the project page. Nothing was applied."
    );
    nothing_applied(&w, ds, "on-takeover-ds").await;

    // … and the privileged level: it deploys, into a namespace labelled privileged.
    allowed["pod_security"] = json!("privileged");
    let (status, body) = w
        .admin
        .call(
            "save_project_policy",
            json!({"id": project["id"], "policy": allowed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pod_security"], "privileged", "{body}");
    w.deploy(&w.viewer, ds).await;
    w.wait_for(ds, "running", |_| true).await;
    KubeApi::<DaemonSet>::namespaced(w.k8s.clone(), "on-takeover-ds")
        .get("node-agent")
        .await
        .unwrap();
    let labels = namespace(&w, "on-takeover-ds")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "privileged");
    assert_eq!(labels["pod-security.kubernetes.io/enforce-version"], "latest");
    // The RoleBinding is still refused: only what the ADMIN allowed changed.
    assert!(refused(&w, rb).await.contains("kind RoleBinding is not allowed"));

    let changed = w.activity("project.policy_changed").await;
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0]["actor"], "admin");
    assert!(
        changed[0]["message"]
            .as_str()
            .unwrap()
            .contains("Pod Security level baseline → privileged"),
        "{}",
        changed[0]
    );
}

#[tokio::test]
async fn namespaces_carry_the_pod_security_level_and_the_policy_limits_where_to_deploy() {
    let w = World::start().await;
    push_objects_chart(&w.reg).await;
    // The sample chart at the default level: its namespace is labelled baseline.
    let web = "image: \"{{ IMAGE }}\"\n";
    let cfg = json!({"url_templates": [], "templates": [w.template("web", web)], "variables": []});
    let (shop, versions) = w.project("Shop", "team/shop", &["main", "next"], cfg, "").await;
    let (main, next) = (&versions[0], &versions[1]);
    w.deploy(&w.viewer, main).await;
    w.wait_for(main, "running", |_| true).await;
    let labels = namespace(&w, "on-shop-main")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    assert_eq!(labels["pod-security.kubernetes.io/enforce-version"], "latest");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "o-neko");

    // Restricted: the sample chart's Deployment (no securityContext) is refused by name…
    let mut policy = policy_of(&w, &shop).await;
    policy["pod_security"] = json!("restricted");
    let (status, body) = w
        .admin
        .call("save_project_policy", json!({"id": shop["id"], "policy": policy}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let message = refused(&w, next).await;
    assert!(
        message.contains(
            "Deployment/web (release web): Pod Security level restricted of project Shop's policy forbids no allowPrivilegeEscalation: false (container web), no runAsNonRoot: true (container web)"
        ),
        "{message}"
    );
    assert!(namespace(&w, "on-shop-next").await.is_none(), "nothing applied");
    // … a hardened one deploys, into a namespace labelled restricted.
    set_values(&w, next, HARDENED).await;
    w.deploy(&w.viewer, next).await;
    w.wait_for(next, "running", |_| true).await;
    KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-shop-next")
        .get("hardened")
        .await
        .unwrap();
    let labels = namespace(&w, "on-shop-next")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    // A namespace created before the level changed is relabelled by the next deploy.
    set_values(&w, main, HARDENED).await;
    let applied_before = w.deployment(main).await["status"]["applied_at"].clone();
    w.deploy(&w.viewer, main).await;
    w.wait_for(main, "running", |d| d["status"]["applied_at"] != applied_before)
        .await;
    let labels = namespace(&w, "on-shop-main")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");

    // A defined namespace is created at the default level.
    let (status, shared) = w.admin.call("create_namespace", json!({"name": "shared"})).await;
    assert_eq!(status, StatusCode::OK, "{shared}");
    let labels = namespace(&w, "on-shared").await.unwrap().metadata.labels.unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");

    // Only the defined namespaces the policy lists may be targeted: with none, a DOER cannot
    // point the project (or a version) at one…
    policy["namespaces"] = json!([]);
    let (status, body) = w
        .admin
        .call("save_project_policy", json!({"id": shop["id"], "policy": policy}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, current) = w.viewer.call("get_project", json!({"id": shop["id"]})).await;
    let save = |namespace: &str| {
        json!({"project": {"id": shop["id"], "name": "Shop", "registry": current["registry"]["id"],
            "image_repository": "team/shop", "redeploy_policy": "automatic", "lifetime": "infinite",
            "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true,
            "poll_interval_secs": "", "namespace": namespace}})
    };
    let (status, body) = w.doer.call("save_project", save("on-shared")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string()
            .contains("on-shared is not allowed by this project's deployment policy"),
        "{body}"
    );
    let (status, body) = w
        .doer
        .call(
            "save_version",
            json!({"version": {"id": next["id"], "redeploy_policy": "automatic", "overrides": {
                "lifetime": null, "url_templates": [], "values": {}, "templates": [],
                "namespace": "on-shared"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // … once allowed it can; narrowed again afterwards, the deploy refuses the namespace.
    policy["namespaces"] = json!(["on-shared"]);
    w.admin
        .call("save_project_policy", json!({"id": shop["id"], "policy": policy}))
        .await;
    let (status, body) = w.doer.call("save_project", save("on-shared")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    policy["namespaces"] = json!([]);
    w.admin
        .call("save_project_policy", json!({"id": shop["id"], "policy": policy}))
        .await;
    let message = refused(&w, main).await;
    assert_eq!(
        message,
        "namespace on-shared is not allowed by project Shop's policy (allowed: only the project's own per-version namespaces); an ADMIN can allow it on the project page"
    );

    // The policy travels in the export; only an ADMIN's import takes it over.
    let (status, exported) = w.viewer.call("export_project", json!({"id": shop["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{exported}");
    let json_text = exported.as_str().unwrap().to_owned();
    let e: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(e["oneko"]["policy"]["pod_security"], "restricted", "{e}");
    let (status, report) = w
        .doer
        .call(
            "import_project",
            json!({"import": {"json": json_text, "name": "Shop by a doer", "registry": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("deployment policy was not taken over"),
        "{report}"
    );
    let imported = policy_of(&w, &report["project"]).await;
    assert_eq!(imported["pod_security"], "baseline", "the defaults: {imported}");
    let (status, report) = w
        .admin
        .call(
            "import_project",
            json!({"import": {"json": json_text, "name": "Shop by an admin", "registry": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(policy_of(&w, &report["project"]).await, policy);

    // The project page: an ADMIN gets the editor (every input labelled), a DOER the text.
    let page = |api: &crate::harness::Api| {
        let req = api.client.get(format!("{}/projects/{}", api.base, shop["id"]));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let html = page(&w.admin).await;
    assert!(
        html.contains(r#"<h2 id="policy-heading">Deployment policy</h2>"#),
        "{html}"
    );
    for (id, label) in [
        ("policy-kinds", "Namespaced kinds the charts may create"),
        (
            "policy-cluster-kinds",
            "Cluster-scoped kinds the charts may create",
        ),
        ("policy-namespaces", "Defined namespaces it may deploy into"),
        ("policy-level", "Pod Security level"),
    ] {
        assert!(
            html.contains(&format!(r#"<label for="{id}">{label}"#)),
            "{id}: {html}"
        );
        assert!(html.contains(&format!(r#"id="{id}""#)), "{id}: {html}");
    }
    let html = page(&w.doer).await;
    assert!(html.contains("Deployment policy"), "{html}");
    assert!(
        !html.contains(r#"id="policy-kinds""#),
        "read-only for a DOER: {html}"
    );
    assert!(
        html.contains("restricted: baseline plus non-root and hardened containers"),
        "{html}"
    );
}
