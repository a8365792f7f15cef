//! Tags and digests with oci-client against Debian's docker-registry: the test pushes its own
//! images (one per tag, a multi-arch index with an attestation), pages through more tags than
//! one page holds, overwrites a tag and deletes one.

use crate::fixtures::{LocalRegistry, TestTls};
use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol, Config, ImageLayer},
    secrets::RegistryAuth,
};
use server::registry::{
    check::{Credentials, RegistryConn},
    tags::TagClient,
};

pub fn host(reg: &LocalRegistry) -> String {
    reg.url.split_once("://").unwrap().1.to_owned()
}

pub fn pusher(reg: &LocalRegistry) -> Client {
    let protocol = if reg.url.starts_with("http://") {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        accept_invalid_certificates: true,
        ..Default::default()
    })
}

fn config_json(arch: &str, created: &str) -> Vec<u8> {
    serde_json::json!({"architecture": arch, "os": "linux", "created": created,
        "rootfs": {"type": "layers", "diff_ids": []}, "config": {}})
    .to_string()
    .into_bytes()
}

/// Pushes a one-layer image; returns its manifest digest.
pub async fn push_image(
    (client, auth, host): (&Client, &RegistryAuth, &str),
    (repo, tag): (&str, &str),
    arch: &str,
    created: &str,
    content: &str,
) -> String {
    let reference = Reference::with_tag(host.into(), repo.into(), tag.into());
    let layer = ImageLayer::oci_v1(content.as_bytes().to_vec(), None);
    let config = Config::oci_v1(config_json(arch, created), None);
    client
        .push(&reference, &[layer], config, auth, None)
        .await
        .expect("push image");
    client.fetch_manifest_digest(&reference, auth).await.unwrap()
}

fn conn(reg: &LocalRegistry, auth: Credentials, ca: Option<&str>) -> RegistryConn {
    RegistryConn {
        url: reg.url.clone(),
        ca_pem: ca.map(str::to_owned),
        skip_tls_verify: false,
        auth,
    }
}

#[tokio::test]
async fn tags_digests_and_creation_dates() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reg = LocalRegistry::start(None, None);
    let h = host(&reg);
    let push = pusher(&reg);
    let anon = RegistryAuth::Anonymous;
    for i in 0..25 {
        push_image(
            (&push, &anon, &h),
            ("team/app", &format!("v{i:02}")),
            "amd64",
            "2026-01-02T03:04:05Z",
            &format!("layer {i}"),
        )
        .await;
    }
    let tags = TagClient::new(&conn(&reg, Credentials::Anonymous, None)).unwrap();
    let listed = tags.list_tags("team/app", 10).await.unwrap();
    assert_eq!(listed.len(), 25, "three pages of 10: {listed:?}");
    assert_eq!(listed[0], "v00");
    assert_eq!(listed[24], "v24");

    // The digest is the manifest's, and it changes when the tag is overwritten.
    let before = tags.digest("team/app", "v03").await.unwrap().unwrap();
    assert!(before.starts_with("sha256:"));
    let pushed = push_image(
        (&push, &anon, &h),
        ("team/app", "v03"),
        "amd64",
        "2026-02-03T04:05:06Z",
        "new content",
    )
    .await;
    let after = tags.digest("team/app", "v03").await.unwrap().unwrap();
    assert_ne!(before, after);
    assert_eq!(after, pushed);
    let created = tags.created("team/app", "v03").await.unwrap().unwrap();
    assert_eq!(created.to_rfc3339(), "2026-02-03T04:05:06+00:00");

    // A multi-arch index with an attestation: the tag's digest is the index digest, the date comes
    // from the first real platform image.
    let amd = push_image(
        (&push, &anon, &h),
        ("team/multi", "tmp-amd64"),
        "amd64",
        "2026-03-01T00:00:00Z",
        "amd",
    )
    .await;
    let arm = push_image(
        (&push, &anon, &h),
        ("team/multi", "tmp-arm64"),
        "arm64",
        "2026-03-02T00:00:00Z",
        "arm",
    )
    .await;
    let att = push_image(
        (&push, &anon, &h),
        ("team/multi", "tmp-att"),
        "unknown",
        "2026-03-03T00:00:00Z",
        "att",
    )
    .await;
    let size = |d: &str| {
        let r = Reference::with_digest(h.clone(), "team/multi".into(), d.into());
        let push = &push;
        async move {
            push.pull_manifest_raw(
                &r,
                &RegistryAuth::Anonymous,
                &[oci_client::manifest::OCI_IMAGE_MEDIA_TYPE],
            )
            .await
            .unwrap()
            .0
            .len()
        }
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": att, "size": size(&att).await,
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": size(&amd).await,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": size(&arm).await,
             "platform": {"os": "linux", "architecture": "arm64"}},
        ]
    });
    let multi = Reference::with_tag(h.clone(), "team/multi".into(), "multi".into());
    let index_digest = push
        .push_manifest_raw(
            &multi,
            index.to_string().into_bytes(),
            "application/vnd.oci.image.index.v1+json".parse().unwrap(),
        )
        .await
        .unwrap();
    let digest = tags.digest("team/multi", "multi").await.unwrap().unwrap();
    assert!(
        index_digest.ends_with(digest.trim_start_matches("sha256:")),
        "{index_digest} vs {digest}"
    );
    assert_ne!(digest, amd);
    let created = tags.created("team/multi", "multi").await.unwrap().unwrap();
    assert_eq!(
        created.to_rfc3339(),
        "2026-03-01T00:00:00+00:00",
        "from amd64, not the attestation"
    );

    // Deleting the manifest removes its tag.
    let http = reqwest::Client::new();
    let del = http
        .delete(format!("{}/v2/team/app/manifests/{after}", reg.url))
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success(), "{}", del.status());
    let listed = tags.list_tags("team/app", 100).await.unwrap();
    assert!(!listed.contains(&"v03".to_string()));
    assert_eq!(listed.len(), 24);
}

#[tokio::test]
async fn tags_over_tls_with_basic_auth() {
    tags_over_tls(TestTls::new()).await;
}

/// The registry's own self-signed certificate, pasted as its CA: trusted exactly.
#[tokio::test]
async fn tags_over_tls_with_a_pinned_self_signed_certificate() {
    tags_over_tls(TestTls::self_signed()).await;
    // Another self-signed certificate for the same name is not the pinned one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (served, other) = (TestTls::self_signed(), TestTls::self_signed());
    let reg = LocalRegistry::start(Some(&served), None);
    let client = TagClient::new(&conn(&reg, Credentials::Anonymous, Some(&other.ca_pem))).unwrap();
    let e = client
        .list_tags("private/app", 100)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("certificate"), "{e}");
}

async fn tags_over_tls(tls: TestTls) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reg = LocalRegistry::start(Some(&tls), Some(("robot", "robot-secret-1")));
    let h = host(&reg);
    let auth = RegistryAuth::Basic("robot".into(), "robot-secret-1".into());
    push_image(
        (&pusher(&reg), &auth, &h),
        ("private/app", "main"),
        "amd64",
        "2026-01-01T00:00:00Z",
        "x",
    )
    .await;

    let good = TagClient::new(&conn(
        &reg,
        Credentials::Basic("robot".into(), "robot-secret-1".into()),
        Some(&tls.ca_pem),
    ))
    .unwrap();
    assert_eq!(good.list_tags("private/app", 100).await.unwrap(), ["main"]);
    assert!(good.digest("private/app", "main").await.unwrap().is_some());
    assert_eq!(
        good.created("private/app", "main")
            .await
            .unwrap()
            .map(|d| d.to_rfc3339()),
        Some("2026-01-01T00:00:00+00:00".into())
    );

    let wrong = TagClient::new(&conn(
        &reg,
        Credentials::Basic("robot".into(), "nope".into()),
        Some(&tls.ca_pem),
    ))
    .unwrap();
    let e = wrong.list_tags("private/app", 100).await.unwrap_err().to_string();
    assert!(e.contains("private/app"), "{e}");
    assert!(!e.contains("nope"), "no secret in messages: {e}");

    let no_ca = TagClient::new(&conn(
        &reg,
        Credentials::Basic("robot".into(), "robot-secret-1".into()),
        None,
    ))
    .unwrap();
    assert!(
        no_ca.list_tags("private/app", 100).await.is_err(),
        "an unknown CA is not trusted"
    );
}
