//! kube-rs against the simulated API server.

mod common;

use std::time::Duration;

use common::{api_err, eventually, start};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Service};
use kube::ResourceExt;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::discovery::{Discovery, Scope};
use kube::runtime::wait::{await_condition, conditions};
use kube_sim::SimConfig;
use serde_json::{Value, json};

fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "demo"}}, "data": data}))
        .unwrap()
}

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": 8080}]}]}
            }
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_crud_and_errors() {
    let (_h, client) = start(SimConfig::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("one", json!({"a": "1"})))
        .await
        .unwrap();
    let rv1 = created.resource_version().unwrap();
    assert!(created.uid().is_some());
    assert!(created.creation_timestamp().is_some());
    assert!(
        created
            .managed_fields()
            .iter()
            .any(|m| m.operation.as_deref() == Some("Update"))
    );

    // AlreadyExists.
    let e = api_err(
        cms.create(&PostParams::default(), &cm("one", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"one\" already exists");

    // get / list with selectors.
    cms.create(&PostParams::default(), &cm("two", json!({})))
        .await
        .unwrap();
    assert_eq!(cms.get("one").await.unwrap().data.unwrap()["a"], "1");
    let l = cms.list(&ListParams::default().labels("app=demo")).await.unwrap();
    assert_eq!(l.items.len(), 2);
    let l = cms
        .list(
            &ListParams::default()
                .labels("app in (demo),app!=x")
                .fields("metadata.name=two"),
        )
        .await
        .unwrap();
    assert_eq!(
        l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(),
        vec!["two"]
    );
    let page = cms
        .list(&ListParams::default().labels("app=demo").limit(1))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let token = page.metadata.continue_.clone().expect("continue token");
    let page2 = cms
        .list(
            &ListParams::default()
                .labels("app=demo")
                .limit(1)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(page2.items[0].name_any(), "two");

    // replace, then a stale resourceVersion is a 409 Conflict.
    let mut upd = created.clone();
    upd.data = Some([("a".to_string(), "2".to_string())].into());
    let replaced = cms.replace("one", &PostParams::default(), &upd).await.unwrap();
    assert_ne!(replaced.resource_version().unwrap(), rv1);
    let e = api_err(
        cms.replace("one", &PostParams::default(), &upd)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("the object has been modified"),
        "{}",
        e.message
    );

    // 404 and 422.
    let e = api_err(cms.get("missing").await.unwrap_err());
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (404, "NotFound", "configmaps \"missing\" not found")
    );
    let e = api_err(
        cms.create(&PostParams::default(), &cm("Bad_Name", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    let cause = &e.details.as_ref().unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldValueInvalid", "metadata.name")
    );
    // Missing namespace.
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let e = api_err(
        other
            .create(&PostParams::default(), &cm("x", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );

    // dry run stores nothing.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cms.create(&dry, &cm("dry", json!({}))).await.unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());

    // Merge, JSON and strategic merge patches.
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"b": "3"}})),
    )
    .await
    .unwrap();
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/c", "value": "4"}])).unwrap();
    cms.patch("one", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    let got = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"a": null}})),
        )
        .await
        .unwrap();
    let data = got.data.unwrap();
    assert_eq!(
        (data.get("a"), data["b"].as_str(), data["c"].as_str()),
        (None, "3", "4")
    );

    // delete returns a Success status; the object is gone.
    cms.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("one").await.unwrap().is_none());
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=demo"),
    )
    .await
    .unwrap();
    assert!(
        cms.list(&ListParams::default().labels("app=demo"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let (_h, client) = start(SimConfig::default()).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("gen", "nginx:1.27", 1);
    d.status = Some(serde_json::from_value(json!({"replicas": 99})).unwrap());
    let d = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    assert_ne!(
        d.status.as_ref().and_then(|s| s.replicas),
        Some(99),
        "status is ignored on create"
    );
    // Label change: no generation bump. Spec change: bump.
    let d = deps
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = deps
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    // Main-resource writes ignore status; /status writes only status.
    deps.patch(
        "gen",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": 42}})),
    )
    .await
    .unwrap();
    deps.patch_status(
        "gen",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"observedGeneration": 1000}})),
    )
    .await
    .unwrap();
    let d = deps.get("gen").await.unwrap();
    assert_eq!(d.spec.replicas, Some(2));
    // (the controller overwrites status quickly; only check the spec was untouched)
}

#[tokio::test]
async fn deployment_rolls_out_and_becomes_available() {
    let (h, client) = start(SimConfig::default().pod_ready_delay(Duration::from_millis(100))).await;
    h.set_image_digest(
        "registry.example/web:1.0",
        "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    );
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deps.create(
        &PostParams::default(),
        &deployment("web", "registry.example/web:1.0", 2),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(15),
        await_condition(deps.clone(), "web", conditions::is_deployment_completed()),
    )
    .await
    .expect("deployment completes")
    .unwrap();
    let d = deps.get("web").await.unwrap();
    let s = d.status.clone().unwrap();
    assert_eq!(
        (
            s.replicas,
            s.ready_replicas,
            s.available_replicas,
            s.updated_replicas
        ),
        (Some(2), Some(2), Some(2), Some(2))
    );
    assert_eq!(s.observed_generation, d.metadata.generation);

    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(rs.len(), 1);
    let hash = rs[0].labels()["pod-template-hash"].clone();
    assert_eq!(rs[0].name_any(), format!("web-{hash}"));
    assert_eq!(rs[0].owner_references()[0].uid, d.uid().unwrap());

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ps = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(ps.len(), 2);
    for p in &ps {
        let st = p.status.as_ref().unwrap();
        assert_eq!(st.phase.as_deref(), Some("Running"));
        assert!(st.pod_ip.is_some());
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready);
        assert_eq!(
            cs.image_id,
            "docker-pullable://registry.example/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"
        );
        assert!(p.name_any().starts_with(&format!("web-{hash}-")));
    }

    // Logs.
    let name = ps[0].name_any();
    let logs = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.lines().count(), 1);

    // Template change: a new ReplicaSet, the old one scaled to 0.
    deps.patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "registry.example/web:2.0"}]}}}}))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(
        Duration::from_secs(15),
        await_condition(deps.clone(), "web", conditions::is_deployment_completed()),
    )
    .await
    .expect("rollout completes")
    .unwrap();
    eventually("old replicaset scaled to 0", Duration::from_secs(10), || {
        let rss = rss.clone();
        let hash = hash.clone();
        async move {
            let l = rss
                .list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
                .items;
            l.len() == 2
                && l.iter().all(|r| {
                    let old = r.labels()["pod-template-hash"] == hash;
                    let want = if old { 0 } else { 2 };
                    r.spec.replicas == Some(want) && r.status.as_ref().unwrap().replicas == want
                })
        }
    })
    .await;

    // Service gets a cluster IP.
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let svc = svcs.create(&PostParams::default(), &svc).await.unwrap();
    assert!(svc.spec.unwrap().cluster_ip.unwrap().starts_with("10.96."));

    // Background cascade: deleting the deployment removes ReplicaSets and pods.
    deps.delete("web", &DeleteParams::background()).await.unwrap();
    eventually("cascade", Duration::from_secs(10), || {
        let (rss, pods) = (rss.clone(), pods.clone());
        async move {
            rss.list(&ListParams::default()).await.unwrap().items.is_empty()
                && pods.list(&ListParams::default()).await.unwrap().items.is_empty()
        }
    })
    .await;
}

#[tokio::test]
async fn finalizers_and_foreground_deletion() {
    let (_h, client) = start(SimConfig::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut c = cm("held", json!({}));
    c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());

    // Foreground: the owner waits for its dependents.
    let owner = cms
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let mut dep = cm("dependent", json!({}));
    dep.metadata.owner_references = Some(vec![serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap(), "blockOwnerDeletion": true})).unwrap()]);
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner", &DeleteParams::foreground()).await.unwrap();
    eventually("foreground deletion", Duration::from_secs(5), || {
        let cms = cms.clone();
        async move {
            cms.get_opt("owner").await.unwrap().is_none() && cms.get_opt("dependent").await.unwrap().is_none()
        }
    })
    .await;

    // Orphan: dependents stay, without the ownerReference.
    let owner = cms
        .create(&PostParams::default(), &cm("owner2", json!({})))
        .await
        .unwrap();
    let mut dep = cm("dependent2", json!({}));
    dep.metadata.owner_references = Some(vec![
        serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner.uid().unwrap()}),
        )
        .unwrap(),
    ]);
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    eventually("orphaning", Duration::from_secs(5), || {
        let cms = cms.clone();
        async move {
            cms.get_opt("owner2").await.unwrap().is_none()
                && cms
                    .get_opt("dependent2")
                    .await
                    .unwrap()
                    .is_some_and(|d| d.owner_references().is_empty())
        }
    })
    .await;
}

#[tokio::test]
async fn server_side_apply_and_conflicts() {
    let (_h, client) = start(SimConfig::default()).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = serde_json::to_value(deployment("ssa", "nginx:1.27", 1)).unwrap();
    d["apiVersion"] = json!("apps/v1");
    d["kind"] = json!("Deployment");
    let created = deps
        .patch("ssa", &PatchParams::apply("o-neko"), &Patch::Apply(&d))
        .await
        .unwrap();
    let mf = created.managed_fields();
    assert_eq!(mf.len(), 1);
    assert_eq!(
        (
            mf[0].manager.as_deref(),
            mf[0].operation.as_deref(),
            mf[0].fields_type.as_deref()
        ),
        (Some("o-neko"), Some("Apply"), Some("FieldsV1"))
    );
    let fields = serde_json::to_value(&mf[0].fields_v1).unwrap();
    assert!(fields.pointer("/f:spec/f:replicas").is_some(), "{fields}");
    assert!(
        fields
            .pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"main\"}/f:image")
            .is_some(),
        "{fields}"
    );

    // Another manager takes spec.replicas with a different value: conflict.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa"}, "spec": {"replicas": 3}});
    let e = api_err(
        deps.patch("ssa", &PatchParams::apply("other-manager"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"o-neko\" using apps/v1: .spec.replicas"
    );
    let cause = &e.details.as_ref().unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldManagerConflict", ".spec.replicas")
    );
    // Same value: shared ownership, no conflict.
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa"}, "spec": {"replicas": 1}});
    deps.patch("ssa", &PatchParams::apply("other-manager"), &Patch::Apply(&same))
        .await
        .unwrap();
    // Forced: other-manager takes it over.
    let forced = deps
        .patch(
            "ssa",
            &PatchParams::apply("other-manager").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.replicas, Some(3));

    // o-neko stops applying a label it used to apply: removed.
    let mut with_label = d.clone();
    with_label["metadata"]["labels"] = json!({"team": "a"});
    with_label["spec"].as_object_mut().unwrap().remove("replicas");
    deps.patch("ssa", &PatchParams::apply("o-neko"), &Patch::Apply(&with_label))
        .await
        .unwrap();
    assert_eq!(deps.get("ssa").await.unwrap().labels()["team"], "a");
    let mut without = with_label.clone();
    without["metadata"].as_object_mut().unwrap().remove("labels");
    let after = deps
        .patch("ssa", &PatchParams::apply("o-neko"), &Patch::Apply(&without))
        .await
        .unwrap();
    assert!(!after.labels().contains_key("team"));
    assert_eq!(
        after.spec.replicas,
        Some(3),
        "replicas still owned by other-manager"
    );

    // Apply without a field manager is rejected like the real server does (422 Invalid).
    let e = api_err(
        deps.patch(
            "ssa",
            &PatchParams {
                field_manager: None,
                ..Default::default()
            },
            &Patch::Apply(&d),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn dynamic_objects_discovery_and_crds() {
    let (_h, client) = start(SimConfig::default()).await;
    for aggregated in [false, true] {
        let discovery = if aggregated {
            Discovery::new(client.clone()).run_aggregated().await.unwrap()
        } else {
            Discovery::new(client.clone()).run().await.unwrap()
        };
        let gvk = kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment");
        let (ar, caps) = discovery.resolve_gvk(&gvk).expect("deployments discovered");
        assert_eq!(ar.plural, "deployments");
        assert_eq!(caps.scope, Scope::Namespaced);
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("o-neko"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, _) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("CRD discoverable");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}})).unwrap();
    let w = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert_eq!(widgets.get("w1").await.unwrap().data["spec"]["size"], 3);
    let e = api_err(
        widgets
            .patch(
                "w1",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 415);
    // Unknown resources are 404.
    let bogus = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &bogus);
    let e = api_err(gadgets.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn namespace_terminating() {
    let (_h, client) = start(SimConfig::default().namespace_delete_delay(Duration::from_millis(500))).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("c", json!({})))
        .await
        .unwrap();
    nss.delete("doomed", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("doomed").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(ns.metadata.deletion_timestamp.is_some());
    assert_eq!(ns.spec.unwrap().finalizers, Some(vec!["kubernetes".to_string()]));
    let e = api_err(
        cms.create(&PostParams::default(), &cm("late", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    eventually("namespace removed", Duration::from_secs(5), || {
        let nss = nss.clone();
        async move { nss.get_opt("doomed").await.unwrap().is_none() }
    })
    .await;
    let e = api_err(nss.delete("default", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(e.code, 403);
}

#[tokio::test]
async fn raw_watch_and_gone() {
    let (_h, client) = start(SimConfig::default().watch_history(5)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("w0", json!({})))
        .await
        .unwrap();
    let old_rv = first.resource_version().unwrap();
    for i in 1..20 {
        cms.create(&PostParams::default(), &cm(&format!("w{i}"), json!({})))
            .await
            .unwrap();
    }
    use futures::StreamExt;
    let mut s = cms.watch(&WatchParams::default(), &old_rv).await.unwrap().boxed();
    match s.next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version: "),
                "{}",
                e.message
            );
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // From a current RV: only changes, with selector filtering.
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = cms
        .watch(&WatchParams::default().labels("app=demo").timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "w3",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    cms.delete("w4", &DeleteParams::default()).await.unwrap();
    match s.next().await.unwrap().unwrap() {
        WatchEvent::Modified(c) => assert_eq!(c.name_any(), "w3"),
        other => panic!("unexpected {other:?}"),
    }
    match s.next().await.unwrap().unwrap() {
        WatchEvent::Deleted(c) => assert_eq!(c.name_any(), "w4"),
        other => panic!("unexpected {other:?}"),
    }
    // Bookmarks.
    let mut s = cms
        .watch(
            &WatchParams {
                bookmarks: true,
                ..Default::default()
            }
            .timeout(10),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let mut saw_bookmark = false;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
    {
        if let WatchEvent::Bookmark(_) = ev.unwrap() {
            saw_bookmark = true;
            break;
        }
    }
    assert!(saw_bookmark);
}

#[tokio::test]
async fn watcher_and_reflector_survive_churn_and_410() {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (_h, client) = start(SimConfig::default().watch_history(30)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store::<ConfigMap>();
    // Short watch timeouts and no bookmarks: each reconnect resumes from an old RV, which
    // the churn below pushes out of the small history, so the watcher must relist after 410s.
    let cfg = watcher::Config::default()
        .labels("app=demo")
        .timeout(1)
        .disable_bookmarks();
    let stream = reflector(writer, watcher(cms.clone(), cfg)).default_backoff();
    // Counts (re)lists: the first Init, then one per 410 the churn causes.
    let inits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let task = tokio::spawn({
        let inits = inits.clone();
        async move {
            let mut s = stream.boxed();
            while let Some(ev) = s.next().await {
                if let Ok(watcher::Event::Init) = ev {
                    inits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    });
    let noise: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for round in 0..6 {
        for i in 0..10 {
            let name = format!("c{i}");
            if (i + round) % 3 == 0 {
                let _ = cms.delete(&name, &DeleteParams::default()).await;
            } else {
                let p = Patch::Apply(
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "demo"}}, "data": {"round": round.to_string()}}),
                );
                cms.patch(&name, &PatchParams::apply("test").force(), &p)
                    .await
                    .unwrap();
            }
        }
        // Unrelated churn (not matching the selector) to compact the history.
        for j in 0..40 {
            let n = format!("noise{j}");
            let p = Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": {"r": round.to_string()}}),
            );
            noise
                .patch(&n, &PatchParams::apply("noise").force(), &p)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let truth = cms.list(&ListParams::default().labels("app=demo")).await.unwrap();
    let mut want: Vec<(String, String)> = truth
        .items
        .iter()
        .map(|c| (c.name_any(), c.resource_version().unwrap()))
        .collect();
    want.sort();
    eventually("reflector matches the server", Duration::from_secs(10), || {
        let reader = reader.clone();
        let want = want.clone();
        async move {
            let mut got: Vec<(String, String)> = reader
                .state()
                .iter()
                .map(|c| (c.name_any(), c.resource_version().unwrap()))
                .collect();
            got.sort();
            got == want
        }
    })
    .await;
    // The watch was really restarted from a compacted resourceVersion (410 → relist), not
    // just resumed.
    let relists = inits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        relists >= 2,
        "expected relists after 410 Gone, saw {relists} Init events"
    );
    task.abort();
}

#[tokio::test]
async fn fault_injection_and_events() {
    let (_h, client) = start(SimConfig::default().pod_ready_delay(Duration::from_millis(100))).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deps.create(
        &PostParams::default(),
        &deployment("pull", "example/app:fault-imagepullbackoff", 1),
    )
    .await
    .unwrap();
    deps.create(
        &PostParams::default(),
        &deployment("crash", "example/app:fault-crashloop", 1),
    )
    .await
    .unwrap();
    deps.create(
        &PostParams::default(),
        &deployment("unready", "example/app:fault-never-ready", 1),
    )
    .await
    .unwrap();
    let waiting_reason = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c[0].state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
    };
    let pod_of = |app: &'static str| {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .unwrap()
                .items
                .into_iter()
                .next()
        }
    };
    eventually("ImagePullBackOff", Duration::from_secs(10), || async {
        pod_of("pull")
            .await
            .is_some_and(|p| waiting_reason(&p).as_deref() == Some("ImagePullBackOff"))
    })
    .await;
    eventually(
        "CrashLoopBackOff with restarts",
        Duration::from_secs(10),
        || async {
            pod_of("crash").await.is_some_and(|p| {
                waiting_reason(&p).as_deref() == Some("CrashLoopBackOff")
                    && p.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0].restart_count >= 1
            })
        },
    )
    .await;
    eventually("Running but never Ready", Duration::from_secs(10), || async {
        pod_of("unready").await.is_some_and(|p| {
            let s = p.status.as_ref().unwrap();
            s.phase.as_deref() == Some("Running") && !s.container_statuses.as_ref().unwrap()[0].ready
        })
    })
    .await;
    let d = deps.get("unready").await.unwrap();
    assert_eq!(d.status.unwrap().available_replicas, None);

    // Events as the kubelet records them.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let pull_pod = pod_of("pull").await.unwrap().name_any();
    let evs = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pull_pod}")))
        .await
        .unwrap()
        .items;
    assert!(
        evs.iter()
            .any(|e| e.reason.as_deref() == Some("Failed") && e.type_.as_deref() == Some("Warning")),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| e.reason.as_deref() == Some("Scheduled")));

    // Jobs: success and failure.
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job = |name: &str, image: &str| -> Job {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}}}})).unwrap()
    };
    jobs.create(&PostParams::default(), &job("ok", "example/task:1"))
        .await
        .unwrap();
    jobs.create(&PostParams::default(), &job("bad", "example/task:fault-fail"))
        .await
        .unwrap();
    let has_cond = |j: &Job, ty: &str| {
        let v = serde_json::to_value(j).unwrap();
        v.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
    };
    eventually("job Complete", Duration::from_secs(10), || {
        let jobs = jobs.clone();
        async move {
            jobs.get("ok")
                .await
                .is_ok_and(|j| has_cond(&j, "Complete") && j.status.as_ref().unwrap().succeeded == Some(1))
        }
    })
    .await;
    eventually("job Failed", Duration::from_secs(10), || {
        let jobs = jobs.clone();
        async move { jobs.get("bad").await.is_ok_and(|j| has_cond(&j, "Failed")) }
    })
    .await;
}

#[tokio::test]
async fn auth_and_malformed_requests() {
    let (h, _client) = start(SimConfig::default().tls(false).token("secret-token")).await;
    let auth = ("Authorization", "Bearer secret-token");
    let (code, body) = common::raw(
        &h,
        "GET",
        "/api/v1/namespaces",
        &[("Authorization", "Bearer wrong")],
        b"",
    )
    .await;
    assert_eq!(code, 401);
    assert_eq!(
        body,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
    );
    let (code, _) = common::raw(&h, "GET", "/api/v1/namespaces", &[], b"").await;
    assert_eq!(code, 401);
    let (code, v) = common::raw(&h, "GET", "/version", &[], b"").await;
    assert_eq!((code, v["gitVersion"].as_str()), (200, Some("v1.35.0")));
    let (code, v) = common::raw(
        &h,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[auth, ("Content-Type", "application/json")],
        b"{not json",
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (400, Some("BadRequest")));
    let (code, v) = common::raw(
        &h,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
        &[auth, ("Content-Type", "text/plain")],
        b"x",
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (415, Some("UnsupportedMediaType")));
    let big = vec![b' '; 3 * 1024 * 1024 + 10];
    let (code, v) = common::raw(
        &h,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[auth, ("Content-Type", "application/json")],
        &big,
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (413, Some("RequestEntityTooLarge")));
    let (code, v) = common::raw(&h, "GET", "/apis/nope.example.com/v1/things", &[auth], b"").await;
    assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")));
    let (code, v) = common::raw(
        &h,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        &[auth, ("Content-Type", "application/apply-patch+yaml")],
        b"apiVersion: v1\nkind: ConfigMap\n: : :\n  - [",
    )
    .await;
    assert!(code == 400 || code == 422, "{code} {v}");
    // Garbage of every kind never crashes the server.
    for body in [
        &b"null"[..],
        b"[]",
        b"\"s\"",
        b"{\"metadata\": 5}",
        b"{\"metadata\": {\"name\": 5}}",
    ] {
        for ct in [
            "application/json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/json-patch+json",
            "application/apply-patch+yaml",
        ] {
            let _ = common::raw(
                &h,
                "PATCH",
                "/api/v1/namespaces/default/configmaps/kube-root-ca.crt?fieldManager=x",
                &[auth, ("Content-Type", ct)],
                body,
            )
            .await;
            let _ = common::raw(
                &h,
                "POST",
                "/apis/apps/v1/namespaces/default/deployments",
                &[auth, ("Content-Type", ct)],
                body,
            )
            .await;
        }
    }
    // Malformed integer query parameters are 400s (not ignored: a watch would hang for 30 min).
    for path in [
        "/api/v1/namespaces/default/configmaps?limit=abc",
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=abc",
    ] {
        let (code, v) = common::raw(&h, "GET", path, &[auth], b"").await;
        assert_eq!((code, v["reason"].as_str()), (400, Some("BadRequest")), "{path}");
    }
    let (code, _) = common::raw(&h, "GET", "/healthz", &[], b"").await;
    assert_eq!(code, 200);
}
