//! Defined namespaces against the simulated cluster (kube-sim over HTTPS, reached through a
//! kubeconfig exactly like a real cluster): created with one `on-` prefix and O-Neko's labels,
//! refused when the name belongs to someone else, deleted only when unused.

use crate::harness::TestServer;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

async fn client(sim: &kube_sim::SimHandle) -> Client {
    let kc = Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn defined_namespaces_in_the_simulated_cluster() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        kube_sim::start(kube_sim::SimConfig::default().namespace_delete_delay(Duration::from_millis(300)))
            .await
            .unwrap();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let server = TestServer::start_with(|c| c.kubeconfig = Some(kubeconfig)).await;
    let admin = server.admin().await;
    let k8s: Api<Namespace> = Api::all(client(&sim).await);

    let observer = server.user_with_role(&admin, "observer", "DOER").await;
    let (status, info) = observer.call("get_cluster_info", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["connected"], true, "{info}");
    assert_eq!(info["version"], "v1.35.0");

    // One prefix, never two; the namespace exists with O-Neko's labels.
    for (typed, name) in [
        ("Shared Deployments", "on-shared-deployments"),
        ("on-team", "on-team"),
    ] {
        let (status, body) = admin.call("create_namespace", json!({"name": typed})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], name);
        assert_eq!(body["phase"], "Active");
        let ns = k8s.get(name).await.unwrap();
        let labels = ns.metadata.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "o-neko");
        assert_eq!(labels["o-neko.io/defined"], "true");
    }
    let (status, body) = admin.call("create_namespace", json!({"name": "on-team"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already defined")
    );
    let (status, body) = admin.call("create_namespace", json!({"name": " / "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A namespace someone else made is not taken over.
    k8s.create(
        &PostParams::default(),
        &Namespace {
            metadata: ObjectMeta {
                name: Some("on-theirs".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (status, body) = admin.call("create_namespace", json!({"name": "theirs"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("did not create"),
        "{body}"
    );
    // DOERs list them; only ADMINs create.
    let (status, list) = observer.call("list_namespaces", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["on-shared-deployments", "on-team"]);
    let (status, _) = observer.call("create_namespace", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A project targets the shared namespace: its versions render into it, and the namespace
    // cannot be deleted while the project uses it.
    let reg = crate::fixtures::LocalRegistry::start(None, None);
    let (doer, viewer, project, version) = crate::config::setup(&server, &reg).await;
    let mut input = json!({"id": project["id"], "name": "Shop", "registry": project["registry"]["id"],
        "image_repository": "team/shop", "redeploy_policy": "automatic", "lifetime": "days:2",
        "tag_include": "", "tag_exclude": "", "ignore_signature_tags": true, "poll_interval_secs": "",
        "namespace": "on-nowhere"});
    let (status, body) = doer.call("save_project", json!({"project": input})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "namespace");
    input["namespace"] = json!("on-shared-deployments");
    let (status, body) = doer.call("save_project", json!({"project": input})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["namespace"], "on-shared-deployments");
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(preview["namespace"], "on-shared-deployments", "{preview}");
    let (status, body) = admin.call("delete_namespace", json!({"id": list[0]["id"]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Shop"), "{body}");
    input["namespace"] = json!("");
    let (status, _) = doer.call("save_project", json!({"project": input})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(preview["namespace"], "on-shop-feature-login-20", "{preview}");

    // A version may choose a defined namespace itself (and then holds on to it).
    let save_version = |ns: serde_json::Value| {
        json!({"version": {"id": version["id"], "redeploy_policy": "automatic",
            "overrides": {"lifetime": null, "url_templates": [], "templates": [], "values": {}, "namespace": ns}}})
    };
    let (status, body) = doer.call("save_version", save_version(json!("on-nowhere"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "overrides.namespace");
    let (status, body) = doer
        .call("save_version", save_version(json!("on-shared-deployments")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, preview) = viewer
        .call("preview_configuration", json!({"id": version["id"]}))
        .await;
    assert_eq!(preview["namespace"], "on-shared-deployments", "{preview}");
    let (status, body) = admin.call("delete_namespace", json!({"id": list[0]["id"]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Shop:Feature_Login-2.0"),
        "{body}"
    );
    let (status, _) = doer.call("save_version", save_version(json!(null))).await;
    assert_eq!(status, StatusCode::OK);

    // Deleting removes it from the cluster (after its Terminating phase).
    let id = list[1]["id"].clone();
    let (status, body) = admin.call("delete_namespace", json!({"id": id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while k8s.get_opt("on-team").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "on-team still exists");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Someone deletes the other one behind O-Neko's back: the list says so.
    k8s.delete("on-shared-deployments", &Default::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = admin.call("list_namespaces", json!({})).await;
        if list[0]["phase"] == "Missing (not in the cluster)" {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, log) = admin
        .call(
            "list_activity",
            json!({"query": {"kind": "namespace", "project": null, "page": 0}}),
        )
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 3, "{log}");
}

#[tokio::test]
async fn without_a_cluster_namespaces_say_so() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (_, info) = admin.call("get_cluster_info", json!({})).await;
    assert_eq!(info["connected"], false, "{info}");
    assert!(
        info["source"]
            .as_str()
            .unwrap()
            .contains("no cluster is configured"),
        "{info}"
    );
    let (status, body) = admin.call("create_namespace", json!({"name": "shared"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("No Kubernetes cluster"),
        "{body}"
    );
}
