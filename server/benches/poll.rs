//! One polling cycle over many projects when nothing changed: `cargo bench -p server --bench poll`.
//!
//! Starts Debian's `docker-registry` on loopback (its storage is kept in `target/bench-registry`
//! between runs, since filling it takes a while), pushes PROJECTS repositories × TAGS tags,
//! stores the matching projects and versions in a fresh SQLite database (DEPLOYED of the versions
//! marked deployed), then runs full polling cycles and prints their time, the requests sent and
//! the process's memory. Knobs: `BENCH_PROJECTS`, `BENCH_TAGS`, `BENCH_DEPLOYED`, `BENCH_CYCLES`.

mod common;

use chrono::Utc;
use common::{fill_repo, knob, rss_mib, start_registry};
use futures::{StreamExt, stream};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use server::{
    db::{
        connect_and_migrate,
        entity::{docker_registry, project, project_version},
    },
    projects::poller::Poller,
    registry::SqlRegistries,
    secrets::SecretBox,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let projects = knob("BENCH_PROJECTS", 1000);
    let tags = knob("BENCH_TAGS", 100);
    let deployed = knob("BENCH_DEPLOYED", 100);
    let cycles = knob("BENCH_CYCLES", 3);
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let storage = target.join(format!("bench-registry-{projects}x{tags}"));
    let filled = storage.join("filled");
    let registry = start_registry(&storage);
    let http = reqwest::Client::new();

    let started = Instant::now();
    let repos: Vec<String> = (0..projects).map(|i| format!("bench/app{i:04}")).collect();
    let digests: Vec<String> = stream::iter(repos.clone())
        .map(|repo| {
            let http = http.clone();
            let base = registry.url.clone();
            // Pushing again is idempotent: it recomputes the digest when the storage is reused.
            let count = if filled.exists() { 0 } else { tags };
            async move { fill_repo(&http, &base, &repo, count).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    std::fs::write(&filled, "").unwrap();
    println!(
        "registry ready: {projects} repositories × {tags} tags in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let db = connect_and_migrate(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    ))
    .await
    .unwrap();
    let now = Utc::now();
    let reg = docker_registry::ActiveModel {
        name: Set("bench".into()),
        url: Set(registry.url.clone()),
        insecure_http: Set(true),
        auth: Set("anonymous".into()),
        skip_tls_verify: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let mut deployed_left = deployed;
    for (i, repo) in repos.iter().enumerate() {
        let p = project::ActiveModel {
            name: Set(format!("project {i}")),
            docker_registry_id: Set(reg.id),
            image_repository: Set(repo.clone()),
            redeploy_policy: Set("manual".into()),
            lifetime: Set("infinite".into()),
            tag_include: Set(String::new()),
            tag_exclude: Set(String::new()),
            ignore_signature_tags: Set(true),
            poll_failures: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let rows = (0..tags).map(|t| {
            // Spread the deployed versions over the projects.
            let is_deployed = deployed_left > 0 && t == 0 && i % projects.div_ceil(deployed).max(1) == 0;
            if is_deployed {
                deployed_left -= 1;
            }
            project_version::ActiveModel {
                project_id: Set(p.id),
                name: Set(format!("tag-{t:04}")),
                digest: Set(Some(digests[i].clone())),
                first_seen_at: Set(now),
                deployed: Set(is_deployed),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
        });
        project_version::Entity::insert_many(rows.collect::<Vec<_>>())
            .exec(&db)
            .await
            .unwrap();
    }
    let marked = deployed - deployed_left;
    println!(
        "database ready: {projects} projects, {} versions, {marked} deployed",
        projects * tags
    );

    let secrets = SecretBox::load(Some(&"00".repeat(32)), dir.path()).unwrap();
    let registries = Arc::new(SqlRegistries {
        db: db.clone(),
        secrets,
    });
    let poller = Arc::new(Poller::new(db, registries, Duration::from_secs(60), 8));
    for cycle in 1..=cycles {
        let before = poller.requests_sent();
        let t = Instant::now();
        let (ok, failed) = poller.poll_all().await;
        let took = t.elapsed();
        let sent = poller.requests_sent() - before;
        println!(
            "cycle {cycle}: {:.2} s for {ok} projects ({failed} failed), {sent} requests \
             (budget: {projects} tag lists + {marked} HEAD = {}), RSS {:.0} MiB",
            took.as_secs_f64(),
            projects + marked,
            rss_mib()
        );
    }
}
