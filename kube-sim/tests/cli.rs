//! kubectl and helm against the simulated API server, and a helm chart applied via kube-rs.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{helm, kubectl, start};
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube_sim::{SimConfig, SimHandle};
use tokio::process::Command;

async fn run(cmd: &Path, h: &SimHandle, home: &Path, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .env("KUBECONFIG", h.kubeconfig_path())
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("helm-config"))
        .env("HELM_CACHE_HOME", home.join("helm-cache"))
        .env("HELM_DATA_HOME", home.join("helm-data"))
        .current_dir(home)
        .output();
    tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("command finished in time")
        .expect("command runs")
}

async fn ok(cmd: &Path, h: &SimHandle, home: &Path, args: &[&str]) -> String {
    let out = run(cmd, h, home, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\nstdout: {stdout}\nstderr: {}",
        cmd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - port: 80
"#;

#[tokio::test]
async fn kubectl_apply_get_wait_logs_delete() {
    let (h, _client) = start(SimConfig::default().pod_ready_delay(Duration::from_millis(100))).await;
    let home = tempfile::tempdir().unwrap();
    let k = kubectl();
    let dir = home.path();
    std::fs::write(dir.join("app.yaml"), MANIFEST).unwrap();

    let v = ok(&k, &h, dir, &["version", "-o", "json"]).await;
    assert!(v.contains("\"gitVersion\": \"v1.35.0\""), "{v}");
    let out = ok(&k, &h, dir, &["apply", "-f", "app.yaml"]).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "demo",
            "wait",
            "--for=condition=available",
            "deployment/web",
            "--timeout=30s",
        ],
    )
    .await;
    // Client-side apply again: a no-op strategic merge patch.
    let out = ok(&k, &h, dir, &["apply", "-f", "app.yaml"]).await;
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    // Change through client-side apply (strategic merge patch with last-applied).
    let scaled = MANIFEST.replace("replicas: 2", "replicas: 3");
    std::fs::write(dir.join("app.yaml"), &scaled).unwrap();
    let out = ok(&k, &h, dir, &["apply", "-f", "app.yaml"]).await;
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let r = ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "demo",
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )
    .await;
    assert_eq!(r, "3");
    // Server-side apply.
    let out = ok(
        &k,
        &h,
        dir,
        &["apply", "--server-side", "--force-conflicts", "-f", "app.yaml"],
    )
    .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let mf = ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "demo",
            "get",
            "deploy",
            "web",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
    )
    .await;
    assert!(mf.contains("kubectl"), "{mf}");
    ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "demo",
            "wait",
            "--for=condition=available",
            "deployment/web",
            "--timeout=30s",
        ],
    )
    .await;
    let pods = ok(
        &k,
        &h,
        dir,
        &["-n", "demo", "get", "pods", "-l", "app=web", "-o", "name"],
    )
    .await;
    assert_eq!(pods.lines().count(), 3, "{pods}");
    let svc_ip = ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "demo",
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    )
    .await;
    assert!(svc_ip.starts_with("10.96."), "{svc_ip}");
    let pod = pods.lines().next().unwrap().to_string();
    let logs = ok(&k, &h, dir, &["-n", "demo", "logs", &pod, "--tail=2"]).await;
    assert_eq!(logs.lines().count(), 2, "{logs}");
    let all = ok(&k, &h, dir, &["get", "pods", "-A"]).await;
    assert!(all.contains("web-"), "{all}");
    ok(&k, &h, dir, &["delete", "namespace", "demo", "--timeout=30s"]).await;
    let out = run(&k, &h, dir, &["get", "namespace", "demo"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("namespaces \"demo\" not found"));
}

#[tokio::test]
async fn helm_install_uninstall_and_template_via_kube_rs() {
    let (h, client) = start(SimConfig::default().pod_ready_delay(Duration::from_millis(100))).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let hb = helm();
    ok(&hb, &h, dir, &["create", "demo"]).await;

    // helm install / uninstall against the simulated cluster.
    let out = ok(
        &hb,
        &h,
        dir,
        &[
            "install",
            "rel1",
            "./demo",
            "--namespace",
            "apps",
            "--create-namespace",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    assert!(out.contains("STATUS: deployed"), "{out}");
    let list = ok(&hb, &h, dir, &["list", "-n", "apps"]).await;
    assert!(list.contains("rel1") && list.contains("deployed"), "{list}");
    let k = kubectl();
    let secrets = ok(
        &k,
        &h,
        dir,
        &["-n", "apps", "get", "secrets", "-l", "owner=helm", "-o", "name"],
    )
    .await;
    assert!(secrets.contains("sh.helm.release.v1.rel1.v1"), "{secrets}");
    ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "apps",
            "wait",
            "--for=condition=available",
            "deployment/rel1-demo",
            "--timeout=30s",
        ],
    )
    .await;
    ok(
        &hb,
        &h,
        dir,
        &[
            "upgrade",
            "rel1",
            "./demo",
            "--namespace",
            "apps",
            "--set",
            "replicaCount=2",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    let r = ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "apps",
            "get",
            "deploy",
            "rel1-demo",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )
    .await;
    assert_eq!(r, "2");
    ok(
        &hb,
        &h,
        dir,
        &[
            "uninstall",
            "rel1",
            "--namespace",
            "apps",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    let left = ok(
        &k,
        &h,
        dir,
        &["-n", "apps", "get", "deploy,svc,secrets", "-o", "name"],
    )
    .await;
    assert!(left.trim().is_empty(), "{left}");

    // helm template, applied through kube-rs: multi-doc YAML, discovery, DynamicObject, SSA.
    let rendered = ok(
        &hb,
        &h,
        dir,
        &["template", "rel2", "./demo", "--namespace", "default"],
    )
    .await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let mut applied = vec![];
    for doc in rendered.split("\n---") {
        let v: serde_json::Value = match serde_norway::from_str(doc) {
            Ok(v) => v,
            Err(e) => panic!("bad yaml {e}: {doc}"),
        };
        if v.is_null() {
            continue;
        }
        let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
        let tm = obj.types.clone().unwrap();
        let gvk = GroupVersionKind::try_from(&tm).unwrap();
        let (ar, caps) = discovery.resolve_gvk(&gvk).expect("kind discovered");
        let name = obj.metadata.name.clone().unwrap();
        if obj
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("helm.sh/hook"))
        {
            continue; // test hooks are not part of the release
        }
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            Api::namespaced_with(client.clone(), "default", &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api.patch(&name, &PatchParams::apply("o-neko").force(), &Patch::Apply(&v))
            .await
            .unwrap();
        applied.push(format!("{}/{}", ar.plural, name));
    }
    assert!(
        applied.contains(&"deployments/rel2-demo".to_string()),
        "{applied:?}"
    );
    assert!(applied.contains(&"services/rel2-demo".to_string()), "{applied:?}");
    let deps: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), "default");
    tokio::time::timeout(
        Duration::from_secs(20),
        kube::runtime::wait::await_condition(
            deps,
            "rel2-demo",
            kube::runtime::wait::conditions::is_deployment_completed(),
        ),
    )
    .await
    .expect("helm-templated deployment completes")
    .unwrap();
}

const RBAC: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-reader, namespace: team}
rules:
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: robot-reads-config, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader}
subjects:
- {kind: ServiceAccount, name: robot}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: namespace-lister}
rules:
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: robot-lists-namespaces}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-lister}
subjects:
- {kind: ServiceAccount, name: robot, namespace: team}
"#;

/// A service account's token (from `kubectl create token`, the TokenRequest API) may do what its
/// bindings grant and nothing else; kubectl prints the apiserver's Forbidden message.
#[tokio::test]
async fn kubectl_with_a_service_account_token_is_held_to_rbac() {
    let (h, _client) = start(SimConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let k = kubectl();
    let dir = home.path();
    std::fs::write(dir.join("rbac.yaml"), RBAC).unwrap();
    ok(&k, &h, dir, &["apply", "-f", "rbac.yaml"]).await;
    ok(
        &k,
        &h,
        dir,
        &[
            "-n",
            "team",
            "create",
            "configmap",
            "settings",
            "--from-literal=a=1",
        ],
    )
    .await;
    let token = ok(&k, &h, dir, &["-n", "team", "create", "token", "robot"]).await;
    let token = format!("--token={}", token.trim());

    let out = ok(
        &k,
        &h,
        dir,
        &[&token, "-n", "team", "get", "configmap", "settings", "-o", "name"],
    )
    .await;
    assert_eq!(out.trim(), "configmap/settings");
    ok(&k, &h, dir, &[&token, "get", "namespaces"]).await;

    let denied = |args: &'static [&'static str], message: &'static str| {
        let (k, h, token) = (k.clone(), &h, token.clone());
        async move {
            let mut all = vec![token.as_str()];
            all.extend_from_slice(args);
            let out = run(&k, h, dir, &all).await;
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(!out.status.success(), "{args:?} was allowed");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
        }
    };
    // Another verb, another namespace, another resource, the cluster scope, a subresource.
    denied(
        &["-n", "team", "delete", "configmap", "settings"],
        "Error from server (Forbidden): configmaps \"settings\" is forbidden: User \"system:serviceaccount:team:robot\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"team\"",
    )
    .await;
    denied(
        &["-n", "default", "get", "configmaps"],
        "cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\"",
    )
    .await;
    denied(
        &["-n", "team", "get", "secrets"],
        "cannot list resource \"secrets\" in API group \"\" in the namespace \"team\"",
    )
    .await;
    denied(
        &["get", "clusterroles"],
        "cannot list resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope",
    )
    .await;
    denied(
        &["-n", "team", "create", "token", "robot"],
        "cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \"team\"",
    )
    .await;
    // The binding goes, and with it the permission.
    ok(
        &k,
        &h,
        dir,
        &["-n", "team", "delete", "rolebinding", "robot-reads-config"],
    )
    .await;
    denied(
        &["-n", "team", "get", "configmap", "settings"],
        "cannot get resource \"configmaps\"",
    )
    .await;
    // A made-up token is not a user at all.
    let out = run(&k, &h, dir, &["--token=not-issued", "get", "namespaces"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"));
}
