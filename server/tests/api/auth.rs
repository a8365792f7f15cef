//! Login, sessions, throttling, CSRF, health and malformed requests.

use crate::harness::{ADMIN_PASSWORD, TestServer};
use reqwest::{StatusCode, header};
use serde_json::json;
use std::time::Duration;

fn session_cookie(resp_headers: &reqwest::header::HeaderMap) -> Option<String> {
    resp_headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("oneko_session="))
        .map(str::to_owned)
}

/// Logs in with a cookie-less client and returns the raw Set-Cookie header.
async fn login_cookie(server: &TestServer, user: &str, password: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/login", server.base))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    session_cookie(resp.headers()).expect("login sets the session cookie")
}

/// Calls `get_current_user` with an explicit cookie; returns the username, if logged in.
async fn whoami(server: &TestServer, cookie: &str) -> Option<String> {
    let pair = cookie.split(';').next().unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/get_current_user", server.base))
        .header(header::COOKIE, pair)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["username"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn login_sets_a_safe_cookie_and_logout_ends_the_session_on_the_server() {
    let server = TestServer::start().await;
    let cookie = login_cookie(&server, "ADMIN", ADMIN_PASSWORD).await; // usernames are case-insensitive
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP deployment: {cookie}");
    assert_eq!(whoami(&server, &cookie).await.as_deref(), Some("admin"));

    let pair = cookie.split(';').next().unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/logout", server.base))
        .header(header::COOKIE, pair)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Replaying the old cookie does not work: the session is gone from the store.
    assert_eq!(whoami(&server, &cookie).await, None);
}

#[tokio::test]
async fn secure_cookie_behind_https() {
    let server = TestServer::start_with(|c| c.public_url = Some("https://oneko.example".into())).await;
    let cookie = login_cookie(&server, "admin", ADMIN_PASSWORD).await;
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn session_id_rotates_at_login() {
    let server = TestServer::start().await;
    let first = login_cookie(&server, "admin", ADMIN_PASSWORD).await;
    // Logging in again within the same session must hand out a new id and void the old one.
    let pair = first.split(';').next().unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/login", server.base))
        .header(header::COOKIE, pair)
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let second = session_cookie(resp.headers()).expect("new cookie");
    assert_ne!(first.split(';').next(), second.split(';').next());
    assert_eq!(whoami(&server, &first).await, None, "the pre-login id is void");
    assert_eq!(whoami(&server, &second).await.as_deref(), Some("admin"));
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let server = TestServer::start().await;
    let cookie = login_cookie(&server, "admin", ADMIN_PASSWORD).await;
    let server = server.restart().await;
    assert_eq!(whoami(&server, &cookie).await.as_deref(), Some("admin"));
}

/// Failures of one (username, client) pair slow that pair down; see
/// `an_attackers_failures_do_not_lock_the_user_out_from_another_client` for other clients.
#[tokio::test]
async fn repeated_failures_slow_down_logins_for_the_user() {
    let server = TestServer::start_with(|c| {
        c.login_free_attempts = 3;
        c.login_backoff_ms = 1500;
    })
    .await;
    let api = server.client();
    for _ in 0..3 {
        let (status, body) = api
            .call("login", json!({"username": "admin", "password": "wrong-guess"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["kind"], "invalid");
    }
    // Now even the right password is refused until the delay has passed.
    let (status, body) = api
        .call("login", json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["kind"], "rate_limited");
    assert!(body["retry_after_secs"].as_u64().unwrap() >= 1);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, body) = api
        .call("login", json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::OK, "after the delay: {body}");
}

#[tokio::test]
async fn repeated_failures_from_one_address_slow_down_guessing_other_usernames() {
    let server = TestServer::start_with(|c| {
        c.login_free_attempts = 2;
        c.login_backoff_ms = 60_000;
    })
    .await;
    let api = server.client();
    for i in 0..8 {
        let (status, _) = api
            .call(
                "login",
                json!({"username": format!("guess{i}"), "password": "wrong-guess"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, body) = api
        .call("login", json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

/// A server that believes `X-Forwarded-For` from 127.0.0.1, the address the tests connect from,
/// so a test can speak for several clients.
async fn behind_a_trusted_proxy(tweak: impl FnOnce(&mut server::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        tweak(c);
    })
    .await
}

/// A login attempt as the client at `client` (sent as `X-Forwarded-For`, which the server believes
/// only from a trusted proxy) with a fresh cookie jar.
async fn login_as_client(
    server: &TestServer,
    client: &str,
    user: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    server
        .client()
        .raw(
            "login",
            json!({"username": user, "password": password}).to_string(),
            &[("x-forwarded-for", client)],
        )
        .await
}

#[tokio::test]
async fn an_attackers_failures_do_not_lock_the_user_out_from_another_client() {
    let server = behind_a_trusted_proxy(|c| c.login_backoff_ms = 60_000).await;
    let attacker = "203.0.113.7";
    let mut statuses = vec![];
    for _ in 0..30 {
        let (status, body) = login_as_client(&server, attacker, "admin", "wrong-guess").await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}: {body}"
        );
        statuses.push(status);
    }
    let guessed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!(
        guessed, 5,
        "the attacker's free attempts, then waits: {statuses:?}"
    );
    // The attacker itself is slowed down, even with the right password, and claiming another
    // address to the left of the one the proxy appended does not help.
    let (status, body) = login_as_client(&server, attacker, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let spoofed = format!("198.51.100.9, {attacker}");
    let (status, _) = login_as_client(&server, &spoofed, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The administrator at another address logs in at once.
    let (status, body) = login_as_client(&server, "198.51.100.9", "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "admin");
    // And from an IPv6 address.
    let (status, body) = login_as_client(&server, "2001:db8::1", "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_headers_are_ignored() {
    let server = TestServer::start_with(|c| {
        c.login_free_attempts = 3;
        c.login_backoff_ms = 60_000;
    })
    .await;
    for _ in 0..3 {
        let (status, _) = login_as_client(&server, "203.0.113.7", "admin", "wrong-guess").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Claiming another address changes nothing: every request comes from 127.0.0.1.
    let (status, body) = login_as_client(&server, "198.51.100.9", "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Nor does X-Forwarded-Proto make the cookie Secure.
    let other = TestServer::start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/login", other.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = session_cookie(resp.headers()).unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn secure_cookie_when_a_trusted_proxy_says_https() {
    let server = behind_a_trusted_proxy(|_| {}).await;
    let login = |proto: Option<&'static str>| {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/login", server.base))
            .header("x-forwarded-for", "198.51.100.9")
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}));
        if let Some(p) = proto {
            req = req.header("x-forwarded-proto", p);
        }
        req.send()
    };
    let resp = login(Some("https")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = session_cookie(resp.headers()).unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(whoami(&server, &cookie).await.as_deref(), Some("admin"));
    let resp = login(Some("http")).await.unwrap();
    let cookie = session_cookie(resp.headers()).unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let resp = login(None).await.unwrap();
    let cookie = session_cookie(resp.headers()).unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn an_overlong_username_is_refused_at_once_and_counts_for_nothing() {
    let server = TestServer::start_with(|c| c.login_free_attempts = 1).await;
    let api = server.client();
    // Just under the 1 MiB body limit.
    let huge = "x".repeat((1 << 20) - 100);
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let (status, body) = api
            .call("login", json!({"username": huge, "password": "wrong-guess"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["fields"][0]["field"], "username", "{body}");
        assert_eq!(
            body["fields"][0]["message"],
            "A username has at most 64 characters."
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let (status, body) = api
        .call(
            "login",
            json!({"username": "admin", "password": "x".repeat(2000)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "password", "{body}");
    // Nothing was counted against this client (one free failure only).
    server.admin().await;
}

#[tokio::test]
async fn the_failure_table_stays_bounded_after_many_usernames() {
    use app::ssr::Users;
    use server::auth::throttle::{HashGate, Limits, LoginThrottle};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = server::db::connect_and_migrate(&url).await.unwrap();
    server::users::bootstrap_admin(&db, Some(ADMIN_PASSWORD))
        .await
        .unwrap();
    let throttle = std::sync::Arc::new(LoginThrottle::with_limits(
        Limits {
            capacity: 40,
            ..Limits::new(5, Duration::from_secs(60))
        },
        HashGate::new(4, 1000),
    ));
    let backend = server::users::SqlUsers::new(db, throttle.clone()).unwrap();
    // 120 distinct usernames from 120 addresses: 240 entries' worth of failures.
    for chunk in (0u32..120).collect::<Vec<_>>().chunks(8) {
        let tries = chunk.iter().map(|i| {
            let client = std::net::IpAddr::from([10, 9, (i / 256) as u8, (i % 256) as u8]);
            let name = format!("nobody-{i}");
            let backend = &backend;
            async move { backend.authenticate(&name, "wrong-guess", Some(client)).await }
        });
        for result in futures::future::join_all(tries).await {
            let err = result.unwrap_err();
            assert_eq!(
                err.field("password").as_deref(),
                Some("Wrong username or password.")
            );
        }
        assert!(throttle.len() <= 40, "{} entries", throttle.len());
    }
    assert!(throttle.len() >= 30, "{} entries", throttle.len());
    let (user, _) = backend
        .authenticate("admin", ADMIN_PASSWORD, Some([10, 9, 200, 1].into()))
        .await
        .unwrap();
    assert_eq!(user.username, "admin");
}

#[tokio::test]
async fn healthz_answers_and_logins_work_during_a_login_flood() {
    let server = behind_a_trusted_proxy(|_| {}).await;
    let client = reqwest::Client::new();
    // 150 attempts at once, each from its own address for its own username, so the throttle lets
    // every one through to the password check: the hashing gate runs a few and refuses the rest.
    let flood = (0..150).map(|i| {
        let (client, base) = (client.clone(), server.base.clone());
        tokio::spawn(async move {
            let resp = client
                .post(format!("{base}/api/login"))
                .header("x-forwarded-for", format!("10.7.{}.{}", i / 200, i % 200 + 1))
                .json(&json!({"username": format!("guess{i}"), "password": "wrong-guess"}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        })
    });
    let flood: Vec<_> = flood.collect();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let healthz = client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(healthz.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    let mut busy = 0;
    for task in flood {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(body["kind"], "invalid"),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["kind"], "rate_limited", "{body}");
                assert_eq!(body["retry_after_secs"], 1, "{body}");
                busy += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(
        busy > 0,
        "the hashing gate refused some attempts rather than queueing all"
    );
    let (status, body) = login_as_client(&server, "198.51.100.9", "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_wrong_current_password_is_throttled_like_a_login() {
    let server = behind_a_trusted_proxy(|c| {
        c.login_free_attempts = 2;
        c.login_backoff_ms = 60_000;
    })
    .await;
    let admin = server.admin().await;
    // Carol's session comes from 127.0.0.1 (no forwarded address).
    let carol = server.user_with_role(&admin, "carol", "VIEWER").await;
    for _ in 0..2 {
        let (status, body) = carol
            .call(
                "change_own_password",
                json!({"old_password": "wrong-guess", "new_password": "brand-new-pw"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["fields"][0]["field"], "old_password");
    }
    // Now even the right current password waits, and so does a login as carol from here.
    let (status, body) = carol
        .call(
            "change_own_password",
            json!({"old_password": "carol-password", "new_password": "brand-new-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _) = server
        .client()
        .call(
            "login",
            json!({"username": "carol", "password": "carol-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Nothing changed: carol's password is the old one, from another client.
    let (status, body) = login_as_client(&server, "198.51.100.9", "carol", "carol-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = login_as_client(&server, "198.51.100.10", "carol", "brand-new-pw").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn cross_site_calls_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let own_origin = server.base.clone();
    let (status, body) = admin
        .raw("list_users", "{}".into(), &[("origin", "http://evil.example")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["kind"], "forbidden");
    let (status, _) = admin
        .raw("list_users", "{}".into(), &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A cross-site attempt to create a user changes nothing.
    let (status, _) = admin
        .raw(
            "create_user",
            json!({"user": {"username": "mallory", "display_name": "", "email": "", "role": "ADMIN",
                "password": "mallory-password"}})
            .to_string(),
            &[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = admin
        .raw(
            "list_users",
            "{}".into(),
            &[("origin", own_origin.as_str()), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "same origin ({host}) is fine");
    assert_eq!(admin.usernames().await, ["admin"]);
}

#[tokio::test]
async fn malformed_requests_get_a_clear_4xx() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (status, body) = admin.raw("create_user", "{not json".into(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["kind"], "bad_request");
    let (status, body) = admin.raw("delete_user", r#"{"id":"seven"}"#.into(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server.client().call("login", json!({"username": "admin"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "missing field: {body}");
    let big = "x".repeat(2 << 20);
    let (status, _) = admin.raw("login", big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(admin.usernames().await, ["admin"]);
}

#[tokio::test]
async fn health_readiness_and_not_found() {
    let server = TestServer::start().await;
    let get = |path: &str| reqwest::get(format!("{}{path}", server.base));
    let healthz = get("/healthz").await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    let readyz = get("/readyz").await.unwrap();
    assert_eq!(readyz.status(), StatusCode::OK);
    assert_eq!(readyz.text().await.unwrap(), "ready");
    let missing = get("/no/such/page").await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("Page not found"));
    let login = get("/login").await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let html = login.text().await.unwrap();
    assert!(html.contains("Log in to O-Neko") && html.contains(r#"for="login-username""#));
}

#[tokio::test]
async fn change_own_password_needs_the_old_one_and_ends_other_sessions() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let viewer = server.user_with_role(&admin, "carol", "VIEWER").await;
    let other_session = login_cookie(&server, "carol", "carol-password").await;
    let (status, body) = viewer
        .call(
            "change_own_password",
            json!({"old_password": "nope-nope", "new_password": "brand-new-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"][0]["field"] == "old_password", "{body}");
    let (status, body) = viewer
        .call(
            "change_own_password",
            json!({"old_password": "carol-password", "new_password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = viewer
        .call(
            "change_own_password",
            json!({"old_password": "carol-password", "new_password": "brand-new-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // This client stays logged in; the other session is void; the new password works.
    let (_, me) = viewer.call("get_current_user", json!({})).await;
    assert_eq!(me["username"], "carol");
    assert_eq!(whoami(&server, &other_session).await, None);
    server.login("carol", "brand-new-pw").await;
    let (status, _) = server
        .client()
        .call(
            "login",
            json!({"username": "carol", "password": "carol-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn bootstrap_admin_gets_a_random_password_never_a_fixed_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let db = server::db::connect_and_migrate(&url).await.unwrap();
    let generated = server::users::bootstrap_admin(&db, None)
        .await
        .unwrap()
        .expect("created")
        .expect("random");
    assert_eq!(generated.len(), 24);
    assert!(
        server::users::bootstrap_admin(&db, None).await.unwrap().is_none(),
        "only once"
    );
    let other = tempfile::tempdir().unwrap();
    let url2 = format!("sqlite://{}?mode=rwc", other.path().join("b.db").display());
    let db2 = server::db::connect_and_migrate(&url2).await.unwrap();
    let second = server::users::bootstrap_admin(&db2, None)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_ne!(generated, second);
    // A too-short configured password is refused rather than silently accepted.
    let third = tempfile::tempdir().unwrap();
    let url3 = format!("sqlite://{}?mode=rwc", third.path().join("b.db").display());
    let db3 = server::db::connect_and_migrate(&url3).await.unwrap();
    assert!(server::users::bootstrap_admin(&db3, Some("short")).await.is_err());
}
