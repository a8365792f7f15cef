//! Single sign-on with OpenID Connect against a real OpenID Provider (npm `oidc-provider`,
//! `end2end/idp.mjs`): the whole authorization code flow with PKCE over HTTP, as a browser does
//! it (cookies, redirects, the provider's login form), and what goes wrong: a wrong issuer, a bad
//! state, an expired code, groups that map to no role, a role that changes at the next sign-in.

use crate::{
    fixtures::TestIdp,
    harness::{ADMIN_PASSWORD, Api, TestServer},
};
use app::model::Role;
use reqwest::{Client, StatusCode, header, redirect::Policy};
use serde_json::{Value, json};
use server::config::PasswordLogin;

/// O-Neko configured for the provider on `idp_port` (alice's group is ADMIN, bob's DOER, carol's
/// VIEWER; no default role).
async fn server(idp_port: u16, tweak: impl FnOnce(&mut server::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.oidc_issuer = Some(format!("http://127.0.0.1:{idp_port}"));
        c.oidc_client_id = Some("o-neko".into());
        c.oidc_client_secret = Some("o-neko-secret".into());
        c.oidc_scopes = ["openid", "profile", "email", "groups"]
            .map(String::from)
            .to_vec();
        c.oidc_roles = ["oneko-admins=ADMIN", "developers=DOER", "staff=VIEWER"]
            .iter()
            .map(|m| m.parse().unwrap())
            .collect();
        tweak(c);
    })
    .await
}

/// O-Neko and its provider, each knowing the other.
async fn pair(idp_env: &[(&str, &str)]) -> (TestServer, TestIdp) {
    let port = TestIdp::port();
    let server = server(port, |_| {}).await;
    let idp = TestIdp::start(port, &format!("{}/auth/oidc/callback", server.base), idp_env);
    (server, idp)
}

/// A browser: its own cookie jar, redirects followed by hand so each step can be looked at.
struct Browser {
    http: Client,
    server: String,
}

impl Browser {
    fn new(server: &TestServer) -> Self {
        Browser {
            http: Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            server: server.base.clone(),
        }
    }

    /// The same cookie jar, for server functions.
    fn api(&self) -> Api {
        Api {
            client: self.http.clone(),
            base: self.server.clone(),
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// Where a redirect points, made absolute against `from`.
    fn location(from: &str, res: &reqwest::Response) -> String {
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "a redirect from {from}");
        let to = res.headers()[header::LOCATION].to_str().unwrap();
        reqwest::Url::parse(from).unwrap().join(to).unwrap().to_string()
    }

    /// Clicks "Log in with single sign-on" and signs in at the provider as `login`; returns the
    /// callback URL the provider sends the browser to (not yet opened).
    async fn sign_in_at_provider(&self, login: &str) -> String {
        let start = format!("{}/auth/oidc/login", self.server);
        let authorize = Self::location(&start, &self.get(&start).await);
        let form_page = Self::location(&authorize, &self.get(&authorize).await);
        let html = self.get(&form_page).await.text().await.unwrap();
        assert!(
            html.contains("name=\"login\""),
            "the provider's login form: {html}"
        );
        let action = regex::Regex::new(r#"<form[^>]*action="([^"]+)""#)
            .unwrap()
            .captures(&html)
            .expect("a form action")[1]
            .to_owned();
        let action = reqwest::Url::parse(&form_page)
            .unwrap()
            .join(&action)
            .unwrap()
            .to_string();
        let posted = self
            .http
            .post(&action)
            .form(&[("prompt", "login"), ("login", login), ("password", "any")])
            .send()
            .await
            .unwrap();
        let resume = Self::location(&action, &posted);
        let callback = Self::location(&resume, &self.get(&resume).await);
        assert!(
            callback.starts_with(&format!("{}/auth/oidc/callback?", self.server)),
            "the provider sends the browser back: {callback}"
        );
        callback
    }

    /// Opens the callback; where O-Neko sends the browser next (`/` or `/login`).
    async fn finish(&self, callback: &str) -> String {
        let res = self.get(callback).await;
        let to = Self::location(callback, &res);
        to.strip_prefix(&self.server).unwrap().to_owned()
    }

    /// Opens the callback and expects the login page again, not logged in, with a message that
    /// says `why`.
    async fn refused(&self, callback: &str, why: &str) {
        assert_eq!(self.finish(callback).await, "/login");
        let message = self.login_error().await.expect("a message on the login page");
        assert!(message.contains(why), "{message}");
        assert_eq!(self.current_user().await, Value::Null);
    }

    async fn current_user(&self) -> Value {
        let (status, body) = self.api().call("get_current_user", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The login page's message about the last sign-in (shown once).
    async fn login_error(&self) -> Option<String> {
        let (status, body) = self.api().call("login_options", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["error"].as_str().map(str::to_owned)
    }
}

/// The activity log's first page, as text to search.
async fn activity(server: &TestServer) -> String {
    let (status, log) = server
        .admin()
        .await
        .call(
            "list_activity",
            json!({"query": {"kind": null, "project": null, "page": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log.to_string()
}

async fn user_named(server: &TestServer, name: &str) -> Option<Value> {
    let (_, users) = server.admin().await.call("list_users", json!({})).await;
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .cloned()
}

#[tokio::test]
async fn a_first_sign_in_creates_the_user_with_the_mapped_role_and_logout_ends_the_session() {
    let (server, idp) = pair(&[]).await;
    let browser = Browser::new(&server);
    let (_, options) = browser.api().call("login_options", json!({})).await;
    assert_eq!(options["single_sign_on"], true, "{options}");
    assert_eq!(options["break_glass_only"], false);

    let callback = browser.sign_in_at_provider("alice").await;
    assert!(
        callback.contains(&format!("iss={}", urlencode(&idp.issuer))),
        "{callback}"
    );
    assert_eq!(browser.finish(&callback).await, "/");
    let me = browser.current_user().await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["role"], "ADMIN");
    // An ADMIN indeed: an admin-only server function answers.
    let (status, _) = browser.api().call("list_users", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    let alice = user_named(&server, "alice").await.expect("alice exists");
    assert_eq!(alice["single_sign_on"], true);
    assert_eq!(alice["email"], "alice@example.test");
    assert_eq!(alice["display_name"], "Alice");
    // Nobody can log in as her with a password (she has none), and ADMINs cannot give her one.
    let (status, body) = server
        .client()
        .call("login", json!({"username": "alice", "password": "any-password"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = server
        .admin()
        .await
        .call(
            "reset_user_password",
            json!({"id": alice["id"], "password": "a-new-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("single sign-on"), "{body}");

    let log = activity(&server).await;
    assert!(
        log.contains(
            "User alice created at their first single sign-on with role ADMIN (groups oneko-admins)"
        ),
        "{log}"
    );

    // A second sign-in is the same user.
    let again = Browser::new(&server);
    assert_eq!(again.finish(&again.sign_in_at_provider("alice").await).await, "/");
    assert_eq!(again.current_user().await["id"], me["id"]);

    let (status, _) = browser.api().call("logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(browser.current_user().await, Value::Null, "logged out");

    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"oneko_sign_ins_total{outcome="ok"} 2"#),
        "{metrics}"
    );
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", s)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_owned()
}

#[tokio::test]
async fn the_role_follows_the_groups_at_every_sign_in() {
    let (server, idp) = pair(&[]).await;
    let first = Browser::new(&server);
    assert_eq!(first.finish(&first.sign_in_at_provider("bob").await).await, "/");
    assert_eq!(first.current_user().await["role"], "DOER");

    idp.set_groups("bob", &["staff"]).await;
    let second = Browser::new(&server);
    assert_eq!(second.finish(&second.sign_in_at_provider("bob").await).await, "/");
    let me = second.current_user().await;
    assert_eq!(me["role"], "VIEWER");
    // The role is the user's, not the session's: the older session is demoted too.
    assert_eq!(first.current_user().await["role"], "VIEWER");
    let (status, _) = second.api().call("list_users", json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no longer an ADMIN's or DOER's rights"
    );

    idp.set_groups("bob", &["staff", "oneko-admins"]).await;
    let third = Browser::new(&server);
    assert_eq!(third.finish(&third.sign_in_at_provider("bob").await).await, "/");
    assert_eq!(
        third.current_user().await["role"],
        "ADMIN",
        "the highest mapped role wins"
    );

    let log = activity(&server).await;
    assert!(
        log.contains("Role of bob DOER → VIEWER at sign-in (groups staff)"),
        "{log}"
    );
    assert!(
        log.contains("Role of bob VIEWER → ADMIN at sign-in (groups staff, oneko-admins)"),
        "{log}"
    );
}

#[tokio::test]
async fn losing_every_mapped_group_ends_the_sessions_and_revokes_the_tokens() {
    let (server, idp) = pair(&[]).await;
    let first = Browser::new(&server);
    assert_eq!(first.finish(&first.sign_in_at_provider("bob").await).await, "/");
    let me = first.current_user().await;
    let (status, created) = first
        .api()
        .call(
            "create_token",
            json!({"token": {"name": "ci", "expires_in_days": "", "role_cap": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let with_token = || async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/projects", server.base))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(with_token().await, StatusCode::OK);

    idp.set_groups("bob", &["marketing"]).await;
    let second = Browser::new(&server);
    let callback = second.sign_in_at_provider("bob").await;
    second
        .refused(&callback, "bob has no O-Neko role (groups: marketing)")
        .await;
    assert_eq!(first.current_user().await, Value::Null, "the open session ended");
    assert_eq!(
        with_token().await,
        StatusCode::UNAUTHORIZED,
        "the token was revoked"
    );
    let log = activity(&server).await;
    assert!(
        log.contains(
            "bob was refused at sign-in (groups: marketing map to no role): their sessions ended and 1 API token(s) were revoked"
        ),
        "{log}"
    );

    // Given a mapped group again, the same user signs in.
    idp.set_groups("bob", &["developers"]).await;
    let third = Browser::new(&server);
    assert_eq!(third.finish(&third.sign_in_at_provider("bob").await).await, "/");
    assert_eq!(third.current_user().await["id"], me["id"]);
}

#[tokio::test]
async fn groups_that_map_to_no_role_are_refused_with_a_message() {
    let (server, _idp) = pair(&[]).await;
    let browser = Browser::new(&server);
    let callback = browser.sign_in_at_provider("mallory").await;
    browser
        .refused(&callback, "mallory has no O-Neko role (groups: marketing)")
        .await;
    assert_eq!(browser.login_error().await, None, "shown once");
    assert!(
        user_named(&server, "mallory").await.is_none(),
        "no user was created"
    );

    // Someone with no groups at all is told so.
    let nobody = Browser::new(&server);
    let callback = nobody.sign_in_at_provider("dave").await;
    nobody
        .refused(&callback, "dave has no O-Neko role (no 'groups' claim)")
        .await;
}

#[tokio::test]
async fn a_default_role_admits_unmapped_users_and_groups_may_come_from_userinfo() {
    let port = TestIdp::port();
    let server = server(port, |c| c.oidc_default_role = Some(Role::Viewer)).await;
    // The provider keeps profile, email and groups out of the ID token: O-Neko asks /userinfo.
    let _idp = TestIdp::start(
        port,
        &format!("{}/auth/oidc/callback", server.base),
        &[("IDP_CLAIMS_IN_USERINFO", "1")],
    );
    let browser = Browser::new(&server);
    assert_eq!(
        browser
            .finish(&browser.sign_in_at_provider("mallory").await)
            .await,
        "/"
    );
    assert_eq!(browser.current_user().await["role"], "VIEWER");
    let admin = Browser::new(&server);
    admin.finish(&admin.sign_in_at_provider("alice").await).await;
    assert_eq!(
        admin.current_user().await["role"],
        "ADMIN",
        "groups read from userinfo"
    );
    assert_eq!(
        user_named(&server, "alice").await.unwrap()["email"],
        "alice@example.test"
    );
}

#[tokio::test]
async fn a_provider_naming_another_issuer_is_refused() {
    let port = TestIdp::port();
    let server = server(port, |_| {}).await;
    // Reached at 127.0.0.1, but it calls itself localhost: discovery must not accept that.
    let _idp = TestIdp::start(
        port,
        &format!("{}/auth/oidc/callback", server.base),
        &[("IDP_ISSUER_HOST", "localhost")],
    );
    let browser = Browser::new(&server);
    let res = browser.get(&format!("{}/auth/oidc/login", server.base)).await;
    assert_eq!(
        Browser::location(&server.base, &res),
        format!("{}/login", server.base)
    );
    let message = browser.login_error().await.expect("a message");
    assert!(
        message.contains("the identity provider could not be used"),
        "{message}"
    );
    assert!(
        message.contains(&format!("http://localhost:{port}")),
        "names the other issuer: {message}"
    );
}

#[tokio::test]
async fn keys_rotated_at_the_provider_are_read_again() {
    let (server, idp) = pair(&[]).await;
    let first = Browser::new(&server);
    assert_eq!(first.finish(&first.sign_in_at_provider("bob").await).await, "/");
    // O-Neko keeps the keys it read; the provider now signs with one it has not seen (read
    // again only when the keys it has are older than 5 s).
    idp.rotate_keys().await;
    tokio::time::sleep(std::time::Duration::from_millis(5500)).await;
    let second = Browser::new(&server);
    assert_eq!(
        second.finish(&second.sign_in_at_provider("bob").await).await,
        "/",
        "{:?}",
        second.login_error().await
    );
    assert_eq!(second.current_user().await["username"], "bob");
}

#[tokio::test]
async fn a_provider_that_is_down_is_reported_and_used_once_it_is_up() {
    let port = TestIdp::port();
    let server = server(port, |_| {}).await;
    let browser = Browser::new(&server);
    let start = format!("{}/auth/oidc/login", server.base);
    let res = browser.get(&start).await;
    assert_eq!(Browser::location(&start, &res), format!("{}/login", server.base));
    let message = browser.login_error().await.expect("a message");
    assert!(
        message.contains("the identity provider could not be used: discovery at"),
        "{message}"
    );

    let _idp = TestIdp::start(port, &format!("{}/auth/oidc/callback", server.base), &[]);
    // The failure is answered from memory for 10 s (no pile-up of sign-ins waiting on a provider
    // that hangs), then the provider is asked again.
    let res = browser.get(&start).await;
    assert_eq!(Browser::location(&start, &res), format!("{}/login", server.base));
    assert_eq!(browser.login_error().await, Some(message));
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    assert_eq!(
        browser.finish(&browser.sign_in_at_provider("carol").await).await,
        "/"
    );
    assert_eq!(browser.current_user().await["role"], "VIEWER");
}

#[tokio::test]
async fn a_bad_or_replayed_state_is_refused() {
    let (server, _idp) = pair(&[]).await;
    let browser = Browser::new(&server);
    let callback = browser.sign_in_at_provider("alice").await;
    let tampered = regex::Regex::new("state=[^&]+")
        .unwrap()
        .replace(&callback, "state=forged")
        .into_owned();
    browser.refused(&tampered, "the state does not match").await;
    // The sign-in in progress was used up by the forged answer: the real one fails too.
    browser.refused(&callback, "the state does not match").await;

    // A callback in a browser that never started a sign-in (a link sent to a victim).
    let other = Browser::new(&server);
    let stolen = other.sign_in_at_provider("alice").await;
    let victim = Browser::new(&server);
    victim
        .refused(&stolen, "not started in this browser session")
        .await;

    // A good sign-in cannot be replayed.
    assert_eq!(other.finish(&stolen).await, "/");
    let (status, _) = other.api().call("logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    other.refused(&stolen, "the state does not match").await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let (server, _idp) = pair(&[("IDP_CODE_TTL", "1")]).await;
    let browser = Browser::new(&server);
    let callback = browser.sign_in_at_provider("alice").await;
    // The code lives one second at this provider.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    browser
        .refused(&callback, "took too long or was used already")
        .await;
}

#[tokio::test]
async fn password_login_can_be_limited_to_the_break_glass_admin() {
    let port = TestIdp::port();
    let server = server(port, |c| c.password_login = PasswordLogin::BreakGlass).await;
    let (_, options) = server.client().call("login_options", json!({})).await;
    assert_eq!(options["break_glass_only"], true, "{options}");
    // The break-glass admin logs in with a password and may create local users...
    let admin = server.login("admin", ADMIN_PASSWORD).await;
    let (status, body) = admin
        .call(
            "create_user",
            json!({"user": {"username": "erin", "display_name": "", "email": "",
            "role": "DOER", "password": "erin-password"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ...who cannot log in with it.
    let (status, body) = server
        .client()
        .call("login", json!({"username": "erin", "password": "erin-password"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("Password login is turned off"),
        "{body}"
    );
}

#[tokio::test]
async fn turning_password_login_off_ends_the_local_users_sessions() {
    let port = TestIdp::port();
    let mut server = server(port, |_| {}).await;
    let admin = server.admin().await;
    let erin = server.user_with_role(&admin, "erin", "DOER").await;
    server.pause().await;
    server.config.password_login = PasswordLogin::BreakGlass;
    server.resume().await;
    // The same cookies, at the restarted server's new address.
    let at = |api: &Api| Api {
        client: api.client.clone(),
        base: server.base.clone(),
    };
    let (_, me) = at(&erin).call("get_current_user", json!({})).await;
    assert_eq!(me, Value::Null, "erin's password session ended");
    let (_, me) = at(&admin).call("get_current_user", json!({})).await;
    assert_eq!(me["username"], "admin", "the break-glass admin's session goes on");
}

#[tokio::test]
async fn a_local_users_name_is_not_taken_over() {
    let (server, _idp) = pair(&[]).await;
    let admin = server.admin().await;
    server.user_with_role(&admin, "carol", "ADMIN").await;
    let browser = Browser::new(&server);
    let callback = browser.sign_in_at_provider("carol").await;
    browser
        .refused(&callback, "The username 'carol' belongs to another O-Neko user")
        .await;
}

#[tokio::test]
async fn half_a_configuration_does_not_start() {
    use server::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let base = || Config::for_tests(dir.path().join("data"), None);
    let mut no_client = base();
    no_client.oidc_issuer = Some("http://127.0.0.1:1".into());
    no_client.oidc_roles = vec!["x=VIEWER".parse().unwrap()];
    let err = server::start(no_client).await.err().unwrap().to_string();
    assert!(err.contains("--oidc-issuer needs --oidc-client-id"), "{err}");

    let mut no_roles = base();
    no_roles.oidc_issuer = Some("http://127.0.0.1:1".into());
    no_roles.oidc_client_id = Some("o-neko".into());
    let err = server::start(no_roles).await.err().unwrap().to_string();
    assert!(err.contains("--oidc-roles or --oidc-default-role"), "{err}");

    let mut locked_out = base();
    locked_out.password_login = PasswordLogin::BreakGlass;
    let err = server::start(locked_out).await.err().unwrap().to_string();
    assert!(
        err.contains("--password-login break-glass needs single sign-on"),
        "{err}"
    );
}
