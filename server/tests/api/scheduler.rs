//! The scheduler against the simulated cluster and the loopback registry: timed stops and
//! extending, redeploys when a deployed tag's image changes (or "newer image available"),
//! vanished tags, a namespace deleted behind O-Neko's back, and one leader among replicas.

use crate::deploy::{World, push_tag};
use chrono::{DateTime, Utc};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace};
use kube::Api as KubeApi;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use server::config::RemovedTagAction;
use std::time::{Duration, Instant};

const WEB: &str = "image: \"{{ IMAGE }}\"\n";

fn config(w: &World) -> Value {
    json!({"url_templates": [], "variables": [], "templates": [w.template("web", WEB)]})
}

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

async fn set_version(w: &World, v: &Value, policy: &str, lifetime: Value) {
    let (status, body) = w
        .doer
        .call(
            "save_version",
            json!({"version": {"id": v["id"], "redeploy_policy": policy, "overrides": {
                "lifetime": lifetime, "url_templates": [], "values": {}, "templates": [], "namespace": null}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn lifetimes_stop_on_time_and_extend() {
    let w = World::start().await;
    let (_, versions) = w
        .project("Timed", "team/timed", &["soon", "later"], config(&w), "")
        .await;
    let (soon, later) = (&versions[0], &versions[1]);
    let due = Utc::now() + chrono::Duration::seconds(3);
    set_version(
        &w,
        soon,
        "automatic",
        json!({"kind": "at", "n": due.to_rfc3339()}),
    )
    .await;
    set_version(&w, later, "automatic", json!({"kind": "hours", "n": 1})).await;
    for v in [soon, later] {
        w.deploy(&w.viewer, v).await;
        w.wait_for(v, "running", |_| true).await;
    }
    let d = w.deployment(soon).await;
    assert_eq!(at(&d["status"]["stop_at"]).timestamp(), due.timestamp(), "{d}");
    // Stopped by the scheduler within its interval after the time.
    let d = w.wait_for(soon, "not_deployed", |_| true).await;
    assert_eq!(d["status"]["desired"], false);
    let stopped = w.activity("version.stopped").await;
    assert_eq!(stopped[0]["actor"], "scheduler", "{stopped:?}");
    assert!(
        stopped[0]["message"].as_str().unwrap().contains("lifetime ended"),
        "{}",
        stopped[0]
    );

    // "1 hour" counts from the deploy; Extend to a chosen time, or by the lifetime again.
    let d = w.deployment(later).await;
    let started = at(&d["status"]["started_at"]);
    assert_eq!(at(&d["status"]["stop_at"]), started + chrono::Duration::hours(1));
    let target = Utc::now() + chrono::Duration::days(2);
    let (status, body) = w
        .viewer
        .call(
            "extend_version",
            json!({"id": later["id"], "until": target.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a VIEWER may extend: {body}");
    assert_eq!(at(&body["stop_at"]).timestamp(), target.timestamp());
    let (status, body) = w
        .viewer
        .call(
            "extend_version",
            json!({"id": later["id"], "until": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let before = Utc::now();
    let (_, body) = w.viewer.call("extend_version", json!({"id": later["id"]})).await;
    let stop = at(&body["stop_at"]);
    assert!(
        stop >= before + chrono::Duration::hours(1) && stop <= Utc::now() + chrono::Duration::hours(1),
        "{body}"
    );
    // A DOER changes the version's lifetime: the stop time follows, counted from the deploy.
    set_version(&w, later, "automatic", json!({"kind": "days", "n": 2})).await;
    let d = w.deployment(later).await;
    assert_eq!(
        at(&d["status"]["stop_at"]),
        at(&d["status"]["started_at"]) + chrono::Duration::days(2),
        "{d}"
    );
    let extended = w.activity("version.extended").await;
    assert_eq!(extended.len(), 2);
    assert_eq!(extended[0]["actor"], "viewer");
}

#[tokio::test]
async fn image_changes_redeploy_automatically_or_are_offered() {
    let mut w = World::start().await;
    let (project, versions) = w
        .project("Images", "team/images", &["auto", "manual"], config(&w), "")
        .await;
    let (auto, manual) = (versions[0].clone(), versions[1].clone());
    set_version(&w, &manual, "manual", Value::Null).await;
    for v in [&auto, &manual] {
        w.deploy(&w.viewer, v).await;
        w.wait_for(v, "running", |_| true).await;
    }
    let deployments = KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-images-auto");
    let uid = deployments.get("web").await.unwrap().metadata.uid;
    let started = w.deployment(&auto).await["status"]["started_at"].clone();

    // New content under both tags.
    let new_auto = push_tag(&w.reg, "team/images", "auto", "auto v2").await;
    push_tag(&w.reg, "team/images", "manual", "manual v2").await;
    w.doer.call("poll_project", json!({"id": project["id"]})).await;

    // "auto" is redeployed in place with the new image, by the scheduler, without restarting
    // its lifetime; "manual" says a newer image is available.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let web = deployments.get("web").await.unwrap();
        let image = web.spec.template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        if image.ends_with(&new_auto) {
            assert_eq!(web.metadata.uid, uid, "in place");
            break;
        }
        assert!(Instant::now() < deadline, "not redeployed: {image}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Recorded when the redeploy finished, which can be a moment after the cluster shows it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let deployed = loop {
        let deployed = w.activity("version.deployed").await;
        if deployed.iter().any(|e| e["actor"] == "scheduler") {
            break deployed;
        }
        assert!(
            Instant::now() < deadline,
            "the redeploy was not recorded: {deployed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_scheduler: Vec<&Value> = deployed.iter().filter(|e| e["actor"] == "scheduler").collect();
    assert_eq!(by_scheduler.len(), 1, "{deployed:?}");
    assert!(
        by_scheduler[0]["message"]
            .as_str()
            .unwrap()
            .contains("image changed from sha256:"),
        "{}",
        by_scheduler[0]
    );
    let d = w.wait_for(&auto, "running", |_| true).await;
    assert_eq!(
        d["status"]["started_at"], started,
        "an automatic redeploy does not extend the lifetime"
    );
    assert_eq!(d["status"]["newer_image"], false);
    let m = w
        .wait_for(&manual, "running", |d| d["status"]["newer_image"] == true)
        .await;
    assert_eq!(m["status"]["newer_image"], true);

    // A restart redeploys nothing more.
    w.server = w.server.restart().await;
    w.admin = w.server.admin().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = w.activity("version.deployed").await;
    assert_eq!(
        again.len(),
        deployed.len(),
        "no redeploy storm after a restart: {again:?}"
    );
}

/// While the server is down a stop time passes and a deployed tag gets a new image; after the
/// start the scheduler stops the one and redeploys the other (the due time and the deployed
/// digest are stored, not kept in memory), and purges activity past its retention.
#[tokio::test]
async fn what_came_due_while_the_server_was_down_is_done_after_the_start() {
    let mut w = World::start_with(|c| c.poll_interval = 5).await;
    let (_, versions) = w
        .project("Down", "team/down", &["auto", "timed"], config(&w), "")
        .await;
    let (auto, timed) = (versions[0].clone(), versions[1].clone());
    let due = Utc::now() + chrono::Duration::seconds(12);
    set_version(
        &w,
        &timed,
        "automatic",
        json!({"kind": "at", "n": due.to_rfc3339()}),
    )
    .await;
    for v in [&auto, &timed] {
        w.deploy(&w.viewer, v).await;
        w.wait_for(v, "running", |_| true).await;
    }
    let db = server::db::connect_and_migrate(&w.server.config.database_url())
        .await
        .unwrap();
    use sea_orm::ActiveModelTrait;
    let old = server::db::entity::activity::ActiveModel {
        at: sea_orm::ActiveValue::Set(Utc::now() - chrono::Duration::days(31)),
        actor: sea_orm::ActiveValue::Set("someone".into()),
        kind: sea_orm::ActiveValue::Set("project.changed".into()),
        subject: sea_orm::ActiveValue::Set("Down".into()),
        message: sea_orm::ActiveValue::Set("an entry past the 30 days of retention".into()),
        severity: sea_orm::ActiveValue::Set("INFO".into()),
        project_id: sea_orm::ActiveValue::Set(None),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();

    assert!(
        Utc::now() < due - chrono::Duration::seconds(1),
        "the set-up took too long to see the stop time pass while the server is down"
    );
    w.server.pause().await;
    let new_auto = push_tag(&w.reg, "team/down", "auto", "auto v2").await;
    let wait = due - Utc::now() + chrono::Duration::seconds(1);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    w.server.resume().await;
    w.follow_server();

    let d = w.wait_for(&timed, "not_deployed", |_| true).await;
    assert_eq!(d["status"]["desired"], false, "{d}");
    let stopped = w.activity("version.stopped").await;
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert_eq!(stopped[0]["actor"], "scheduler");
    assert!(
        stopped[0]["message"].as_str().unwrap().contains("lifetime ended"),
        "{}",
        stopped[0]
    );

    let deployments = KubeApi::<Deployment>::namespaced(w.k8s.clone(), "on-down-auto");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let web = deployments.get("web").await.unwrap();
        let image = web.spec.template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        if image.ends_with(&new_auto) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not redeployed after the start: {image}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The redeploy is recorded when it finished (after the apply the cluster shows).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let by_scheduler: Vec<Value> = w
            .activity("version.deployed")
            .await
            .into_iter()
            .filter(|e| e["actor"] == "scheduler")
            .collect();
        if !by_scheduler.is_empty() {
            assert_eq!(by_scheduler.len(), 1, "{by_scheduler:?}");
            assert!(
                by_scheduler[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("image changed from"),
                "{}",
                by_scheduler[0]
            );
            break;
        }
        assert!(Instant::now() < deadline, "the redeploy was not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        server::db::entity::activity::Entity::find_by_id(old.id)
            .one(&db)
            .await
            .unwrap()
            .is_none(),
        "purged at the start"
    );
    // A start is not a change outside O-Neko: the watchers list the cluster before workloads
    // are judged missing or changed.
    let outside = w.activity("version.changed_outside").await;
    assert!(outside.is_empty(), "{outside:?}");
}

#[tokio::test]
async fn vanished_tags_are_stopped_and_later_removed() {
    let w = World::start_with(|c| c.removed_version_retention_days = 0).await;
    let (project, versions) = w
        .project("Vanish", "team/vanish", &["gone"], config(&w), "")
        .await;
    let gone = &versions[0];
    w.deploy(&w.viewer, gone).await;
    w.wait_for(gone, "running", |_| true).await;
    let digest = gone["digest"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .delete(format!("{}/v2/team/vanish/manifests/{digest}", w.reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    w.doer.call("poll_project", json!({"id": project["id"]})).await;
    // Stopped, then (retention 0 days) removed; the history stays.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = w
            .doer
            .call(
                "list_versions",
                json!({"query": {"project": project["id"], "filter": "", "include_removed": true, "sort": "name", "page": 0}}),
            )
            .await;
        if page["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        KubeApi::<Namespace>::all(w.k8s.clone())
            .get_opt("on-vanish-gone")
            .await
            .unwrap()
            .is_none()
    );
    let stopped = w.activity("version.stopped").await;
    assert!(
        stopped[0]["message"]
            .as_str()
            .unwrap()
            .contains("tag was removed"),
        "{}",
        stopped[0]
    );
    assert_eq!(stopped[0]["actor"], "scheduler");
    let deleted = w.activity("version.deleted").await;
    assert_eq!(deleted.len(), 1, "{deleted:?}");
}

#[tokio::test]
async fn vanished_tags_can_be_kept_running() {
    let w = World::start_with(|c| c.removed_tag_action = RemovedTagAction::Keep).await;
    let (project, versions) = w.project("Keep", "team/keep", &["kept"], config(&w), "").await;
    let kept = &versions[0];
    w.deploy(&w.viewer, kept).await;
    w.wait_for(kept, "running", |_| true).await;
    let digest = kept["digest"].as_str().unwrap();
    reqwest::Client::new()
        .delete(format!("{}/v2/team/keep/manifests/{digest}", w.reg.url))
        .send()
        .await
        .unwrap();
    w.doer.call("poll_project", json!({"id": project["id"]})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.activity("version.removed_but_running").await.is_empty() {
        assert!(Instant::now() < deadline, "no warning");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let d = w.deployment(kept).await;
    assert_eq!(d["status"]["state"], "running", "{d}");
    assert_eq!(
        w.activity("version.removed_but_running").await[0]["severity"],
        "WARNING"
    );
}

#[tokio::test]
async fn a_namespace_deleted_outside_is_restored() {
    let w = World::start().await;
    let (_, versions) = w.project("Drift", "team/drift", &["main"], config(&w), "").await;
    let main = &versions[0];
    w.deploy(&w.viewer, main).await;
    w.wait_for(main, "running", |_| true).await;
    let namespaces = KubeApi::<Namespace>::all(w.k8s.clone());
    namespaces
        .delete("on-drift-main", &Default::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let deployed = w.activity("version.deployed").await;
        if deployed.iter().any(|e| e["actor"] == "scheduler") {
            assert!(
                deployed[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("was missing from the cluster"),
                "{}",
                deployed[0]
            );
            break;
        }
        assert!(Instant::now() < deadline, "not restored: {deployed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.wait_for(main, "running", |_| true).await;
    namespaces.get("on-drift-main").await.expect("deployed again");
}

async fn leader(db: &sea_orm::DatabaseConnection) -> Option<String> {
    server::db::entity::lease::Entity::find_by_id(server::scheduler::LEASE.to_string())
        .one(db)
        .await
        .unwrap()
        .map(|l| l.owner)
}

/// A server named `replica-a` with a 3-second scheduler lease, and its database.
async fn replica_a() -> (World, sea_orm::DatabaseConnection) {
    let w = World::start_with(|c| {
        c.replica_id = Some("replica-a".into());
        c.lease_seconds = 3;
    })
    .await;
    let db = server::db::connect_and_migrate(&w.server.config.database_url())
        .await
        .unwrap();
    (w, db)
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over() {
    let (w, db) = replica_a().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while leader(&db).await.as_deref() != Some("replica-a") {
        assert!(Instant::now() < deadline, "a did not lead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let b = w.replica("replica-b", |c| c.lease_seconds = 3).await;
    // A version stops in a few seconds: exactly one replica's scheduler does it.
    let (_, versions) = w
        .project("Leader", "team/leader", &["main"], config(&w), "")
        .await;
    let due = Utc::now() + chrono::Duration::seconds(2);
    set_version(
        &w,
        &versions[0],
        "automatic",
        json!({"kind": "at", "n": due.to_rfc3339()}),
    )
    .await;
    w.deploy(&w.viewer, &versions[0]).await;
    w.wait_for(&versions[0], "not_deployed", |d| d["status"]["desired"] == false)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(w.activity("version.stopped").await.len(), 1, "no double action");
    assert_eq!(
        leader(&db).await.as_deref(),
        Some("replica-a"),
        "the leader keeps its lease"
    );

    // The leader goes; the other takes over within the lease time.
    let gone = Instant::now();
    drop(w.server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while leader(&db).await.as_deref() != Some("replica-b") {
        assert!(Instant::now() < deadline, "b did not take over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone.elapsed() < Duration::from_secs(3 + 2),
        "took over after {:?}",
        gone.elapsed()
    );
    drop(b);
}

/// A replica whose lease another one took (say, after a long pause) stops acting at once: a due
/// stop waits until it leads again.
#[tokio::test]
async fn a_replica_that_lost_the_lease_does_nothing_until_it_leads_again() {
    let (w, db) = replica_a().await;
    let (_, versions) = w
        .project("Usurped", "team/usurped", &["main"], config(&w), "")
        .await;
    let main = &versions[0];
    w.deploy(&w.viewer, main).await;
    w.wait_for(main, "running", |_| true).await;
    while leader(&db).await.as_deref() != Some("replica-a") {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let take = |owner: &'static str, until: DateTime<Utc>| {
        let db = db.clone();
        async move {
            use sea_orm::{ActiveModelTrait, ActiveValue::Set};
            server::db::entity::lease::ActiveModel {
                name: Set(server::scheduler::LEASE.into()),
                owner: Set(owner.into()),
                until: Set(until),
            }
            .update(&db)
            .await
            .unwrap();
        }
    };
    take("replica-z", Utc::now() + chrono::Duration::hours(1)).await;
    let due = Utc::now() + chrono::Duration::seconds(2);
    set_version(
        &w,
        main,
        "automatic",
        json!({"kind": "at", "n": due.to_rfc3339()}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let d = w.deployment(main).await;
    assert_eq!(
        d["status"]["state"], "running",
        "not stopped by a replica that does not lead: {d}"
    );
    assert_eq!(leader(&db).await.as_deref(), Some("replica-z"));

    // The other replica's lease runs out: replica-a leads again and does what is due.
    take("replica-z", Utc::now() - chrono::Duration::seconds(1)).await;
    w.wait_for(main, "not_deployed", |_| true).await;
    assert_eq!(leader(&db).await.as_deref(), Some("replica-a"));
    assert_eq!(w.activity("version.stopped").await[0]["actor"], "scheduler");
}

#[tokio::test]
async fn a_lifetime_out_of_range_is_refused() {
    let w = World::start().await;
    let (_, versions) = w
        .project("Bounds", "team/bounds", &["main"], config(&w), "")
        .await;
    let (status, body) = w
        .doer
        .call(
            "save_version",
            json!({"version": {"id": versions[0]["id"], "redeploy_policy": "automatic", "overrides": {
                "lifetime": {"kind": "hours", "n": 4294967295u64}, "url_templates": [], "values": {},
                "templates": [], "namespace": null}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "lifetime", "{body}");
}
