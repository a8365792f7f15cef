//! Docker registries: administration, secrets at rest, and "Test connection" against Debian's
//! docker-registry on loopback (plain HTTP, and TLS with htpasswd).

use crate::{
    fixtures::{LocalRegistry, TestTls},
    harness::{Api, TestServer},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "p@ss!$w0rd-with-`quotes'\"";

fn registry(name: &str, url: &str) -> Value {
    json!({"id": null, "name": name, "url": url, "insecure_http": false, "auth": "anonymous",
        "username": "", "secret": null, "ca_pem": "", "skip_tls_verify": false})
}

async fn save(api: &Api, reg: Value) -> (StatusCode, Value) {
    api.call("save_docker_registry", json!({ "registry": reg })).await
}

async fn check(api: &Api, id: &Value) -> Value {
    let (status, body) = api.call("test_docker_registry", json!({ "id": id })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub fn database_bytes(server: &TestServer) -> Vec<u8> {
    let mut all = vec![];
    for f in ["o-neko.db", "o-neko.db-wal"] {
        all.extend(std::fs::read(server.config.data_dir.join(f)).unwrap_or_default());
    }
    all
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_never_sent_back() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut reg = registry("Team registry", "https://registry.example.test/");
    reg["auth"] = json!("basic");
    reg["username"] = json!("robot");
    reg["secret"] = json!(PASSWORD);
    let (status, saved) = save(&admin, reg.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        saved["url"], "https://registry.example.test",
        "trailing slash dropped"
    );
    assert_eq!(saved["secret_set"], true);
    let (_, list) = admin.call("list_docker_registries", json!({})).await;
    for body in [&saved, &list] {
        assert!(!body.to_string().contains("w0rd"), "secret leaked: {body}");
    }
    if server.config.database_url.is_none() {
        let bytes = database_bytes(&server);
        assert!(!bytes.is_empty());
        assert!(
            !bytes.windows(8).any(|w| w == b"p@ss!$w0"),
            "plaintext secret in the database file"
        );
    }

    // Saving without a secret keeps the stored one; switching to anonymous drops it.
    let mut edit = reg.clone();
    edit["id"] = saved["id"].clone();
    edit["secret"] = Value::Null;
    edit["name"] = json!("Team registry (renamed)");
    let (status, kept) = save(&admin, edit.clone()).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["secret_set"], true);
    edit["auth"] = json!("anonymous");
    let (_, anon) = save(&admin, edit).await;
    assert_eq!(anon["secret_set"], false);
    assert_eq!(anon["username"], Value::Null);

    // The activity log tells what changed, without the secret.
    let (status, page) = admin
        .call(
            "list_activity",
            json!({"query": {"kind": "docker_registry", "page": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "docker_registry.changed",
            "docker_registry.changed",
            "docker_registry.created"
        ]
    );
    assert!(
        page["items"][1]["message"]
            .as_str()
            .unwrap()
            .contains("name Team registry → Team registry (renamed)")
    );
    assert_eq!(page["items"][0]["actor"], "admin");
    assert!(!page.to_string().contains("w0rd"));

    // DOERs see names only.
    let doer = server.user_with_role(&admin, "dave", "DOER").await;
    let (status, names) = doer.call("list_docker_registry_names", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names,
        json!([{"id": saved["id"], "name": "Team registry (renamed)"}])
    );

    let (status, _) = admin
        .call("delete_docker_registry", json!({"id": saved["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = admin.call("list_docker_registries", json!({})).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn bad_registry_input_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (status, _) = save(&admin, registry("taken", "https://a.example")).await;
    assert_eq!(status, StatusCode::OK);
    let cases: Vec<(Value, &str)> = vec![
        (registry("", "https://a.example"), "name"),
        (registry("taken", "https://b.example"), "name"),
        (registry("plain", "http://a.example"), "url"),
        (registry("ftp", "ftp://a.example"), "url"),
        (registry("creds", "https://user:pw@a.example"), "url"),
        (registry("junk", "not a url"), "url"),
        (
            {
                let mut r = registry("auth", "https://a.example");
                r["auth"] = json!("kerberos");
                r
            },
            "auth",
        ),
        (
            {
                let mut r = registry("basic", "https://a.example");
                r["auth"] = json!("basic");
                r
            },
            "username",
        ),
        (
            {
                let mut r = registry("token", "https://a.example");
                r["auth"] = json!("token");
                r
            },
            "secret",
        ),
        (
            {
                let mut r = registry("ca", "https://a.example");
                r["ca_pem"] = json!("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----");
                r
            },
            "ca_pem",
        ),
    ];
    for (reg, field) in cases {
        let (status, body) = save(&admin, reg.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reg}: {body}");
        let fields: Vec<&str> = body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "{reg}: expected an error on {field}, got {body}"
        );
    }
    // http is fine with the explicit switch.
    let mut insecure = registry("insecure", "http://a.example");
    insecure["insecure_http"] = json!(true);
    assert_eq!(save(&admin, insecure).await.0, StatusCode::OK);
    let (_, list) = admin.call("list_docker_registries", json!({})).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["insecure", "taken"]);
}

#[tokio::test]
async fn test_connection_reports_exactly_what_failed() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let tls = TestTls::new();
    let plain = LocalRegistry::start(None, None);
    let secured = LocalRegistry::start(Some(&tls), Some(("robot", PASSWORD)));

    let mut reg = registry("plain", &plain.url);
    reg["insecure_http"] = json!(true);
    let (_, saved) = save(&admin, reg).await;
    let result = check(&admin, &saved["id"]).await;
    assert_eq!(result["ok"], true, "{result}");

    let with = |name: &str, user: &str, secret: &str, ca: &str, skip: bool| {
        let mut r = registry(name, &secured.url);
        r["auth"] = json!("basic");
        r["username"] = json!(user);
        r["secret"] = json!(secret);
        r["ca_pem"] = json!(ca);
        r["skip_tls_verify"] = json!(skip);
        r
    };
    let cases = [
        (with("good", "robot", PASSWORD, &tls.ca_pem, false), true, "ok"),
        (
            with("wrong-password", "robot", "nope-nope", &tls.ca_pem, false),
            false,
            "auth",
        ),
        (with("no-ca", "robot", PASSWORD, "", false), false, "tls"),
        (with("skip-verify", "robot", PASSWORD, "", true), true, "ok"),
        (
            {
                let mut r = registry("anonymous", &secured.url);
                r["ca_pem"] = json!(tls.ca_pem);
                r
            },
            false,
            "auth",
        ),
        (
            {
                let mut r = registry("nothing-listens", "http://127.0.0.1:9");
                r["insecure_http"] = json!(true);
                r
            },
            false,
            "connect",
        ),
        (
            {
                let mut r = registry("not-a-registry", &server.base);
                r["insecure_http"] = json!(true);
                r
            },
            false,
            "api",
        ),
        (
            registry("no-such-host", "https://no-such-host.invalid"),
            false,
            "dns",
        ),
    ];
    for (reg, ok, stage) in cases {
        let (status, saved) = save(&admin, reg.clone()).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        let result = check(&admin, &saved["id"]).await;
        assert_eq!(
            (result["ok"].as_bool().unwrap(), result["stage"].as_str().unwrap()),
            (ok, stage),
            "{reg}: {result}"
        );
        assert!(
            !result.to_string().contains("w0rd"),
            "secret in a message: {result}"
        );
    }
}

/// A registry set up as CNCF Distribution's documentation shows (one self-signed certificate as
/// the server's own), with that certificate pasted as its CA: Test connection trusts exactly it.
#[tokio::test]
async fn test_connection_trusts_a_pinned_self_signed_certificate() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (tls, other) = (TestTls::self_signed(), TestTls::self_signed());
    let secured = LocalRegistry::start(Some(&tls), Some(("robot", PASSWORD)));
    for (name, ca, ok, stage) in [
        ("pinned", &tls.ca_pem, true, "ok"),
        ("another-certificate", &other.ca_pem, false, "tls"),
    ] {
        let mut reg = registry(name, &secured.url);
        reg["auth"] = json!("basic");
        reg["username"] = json!("robot");
        reg["secret"] = json!(PASSWORD);
        reg["ca_pem"] = json!(ca);
        let (status, saved) = save(&admin, reg).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        let result = check(&admin, &saved["id"]).await;
        assert_eq!(
            (result["ok"].as_bool().unwrap(), result["stage"].as_str().unwrap()),
            (ok, stage),
            "{name}: {result}"
        );
    }
}

/// Issue 16: a stored secret never follows the URL to another host. Changing the host (or port)
/// without entering the secret again is refused on the `secret` field, and nothing stored
/// changes; the same host keeps it; with the secret entered again the change is saved.
#[tokio::test]
async fn a_new_url_needs_the_secret_again() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut reg = registry("Team registry", "https://registry.example.test");
    reg["auth"] = json!("basic");
    reg["username"] = json!("robot");
    reg["secret"] = json!(PASSWORD);
    let (status, saved) = save(&admin, reg.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, before) = admin.call("list_docker_registries", json!({})).await;
    let activity = || async {
        let (_, page) = admin
            .call(
                "list_activity",
                json!({"query": {"kind": "docker_registry", "page": 0}}),
            )
            .await;
        page["items"].as_array().unwrap().len()
    };
    let entries = activity().await;

    let mut edit = reg.clone();
    edit["id"] = saved["id"].clone();
    edit["secret"] = Value::Null;
    for url in [
        "https://evil.example.test",
        "https://registry.example.test:8443",
        "http://registry.example.test",
    ] {
        let mut moved = edit.clone();
        moved["url"] = json!(url);
        moved["insecure_http"] = json!(url.starts_with("http://"));
        let (status, body) = save(&admin, moved).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["fields"][0]["field"], "secret", "{body}");
        assert!(
            body["fields"][0]["message"]
                .as_str()
                .unwrap()
                .contains("enter the password again for the new URL"),
            "{body}"
        );
    }
    let mut token = edit.clone();
    token["auth"] = json!("token");
    token["url"] = json!("https://evil.example.test");
    let (status, body) = save(&admin, token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("enter the token again for the new URL"),
        "{body}"
    );
    let (_, after) = admin.call("list_docker_registries", json!({})).await;
    assert_eq!(after, before, "nothing changed");
    assert_eq!(activity().await, entries, "nothing logged");

    // The same host (written in capitals, with a trailing slash) keeps the secret.
    let mut same = edit.clone();
    same["url"] = json!("https://REGISTRY.example.test/");
    let (status, body) = save(&admin, same).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["secret_set"], true);

    // With the secret entered again, the move is saved.
    let mut moved = edit.clone();
    moved["url"] = json!("https://mirror.example.test");
    moved["secret"] = json!("a-new-password");
    let (status, body) = save(&admin, moved).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["url"].as_str(), body["secret_set"].as_bool()),
        (Some("https://mirror.example.test"), Some(true))
    );
}

/// Issue 16: whether a registry's credentials are copied into deployments is stored per
/// registry: off for a new registry unless asked for, kept when an edit does not say, logged
/// when changed.
#[tokio::test]
async fn copying_credentials_into_deployments_is_a_choice_per_registry() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut reg = registry("Team registry", "https://registry.example.test");
    reg["auth"] = json!("basic");
    reg["username"] = json!("robot");
    reg["secret"] = json!(PASSWORD);
    let (_, off) = save(&admin, reg.clone()).await;
    assert_eq!(off["copy_pull_secret"], false, "{off}");
    let mut on = reg.clone();
    on["name"] = json!("Copying registry");
    on["copy_pull_secret"] = json!(true);
    let (_, on) = save(&admin, on).await;
    assert_eq!(on["copy_pull_secret"], true, "{on}");
    let mut edit = reg.clone();
    edit["id"] = on["id"].clone();
    edit["name"] = json!("Copying registry");
    edit["secret"] = Value::Null;
    let (_, kept) = save(&admin, edit.clone()).await;
    assert_eq!(
        kept["copy_pull_secret"], true,
        "an edit that does not say keeps it: {kept}"
    );
    edit["copy_pull_secret"] = json!(false);
    let (_, changed) = save(&admin, edit).await;
    assert_eq!(changed["copy_pull_secret"], false);
    let (_, page) = admin
        .call(
            "list_activity",
            json!({"query": {"kind": "docker_registry", "page": 0}}),
        )
        .await;
    assert!(
        page["items"][0]["message"]
            .as_str()
            .unwrap()
            .contains("credentials copied into deployments off"),
        "{page}"
    );
}
