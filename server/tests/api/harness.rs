//! Starts the real server on a loopback port with a fresh database: a SQLite file in a temp
//! dir, or, when `ONEKO_TEST_POSTGRES_URL` names a PostgreSQL server, a new database on it.

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use server::{Running, config::Config};
use std::sync::Once;
use tempfile::TempDir;

pub const ADMIN_PASSWORD: &str = "admin-test-password";

static LOG: Once = Once::new();

/// A running server and the database it uses.
pub struct TestServer {
    pub base: String,
    pub config: Config,
    running: Option<Running>,
    _dir: TempDir,
}

/// A fresh database URL: PostgreSQL if configured, else `None` (SQLite in the data dir).
pub async fn fresh_database() -> Option<String> {
    let admin_url = std::env::var("ONEKO_TEST_POSTGRES_URL").ok()?;
    use sea_orm::{ConnectionTrait, Database};
    let name = format!("oneko_test_{:016x}", rand::random::<u64>());
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to test PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("postgres URL with a database path");
    Some(format!("{base}/{name}"))
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `tweak` adjusted its configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        LOG.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("warn,server=info")
                .with_test_writer()
                .try_init();
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests(dir.path().join("data"), fresh_database().await);
        config.admin_password = Some(ADMIN_PASSWORD.into());
        tweak(&mut config);
        let running = server::start(config.clone()).await.expect("server starts");
        TestServer {
            base: format!("http://{}", running.addr),
            config,
            running: Some(running),
            _dir: dir,
        }
    }

    /// Stops the server and starts it again on the same database (new port).
    pub async fn restart(mut self) -> Self {
        self.pause().await;
        self.resume().await;
        self
    }

    /// Stops the server cleanly; its state stays for [`TestServer::resume`].
    pub async fn pause(&mut self) {
        self.running
            .take()
            .expect("running")
            .shutdown()
            .await
            .expect("clean shutdown");
    }

    /// Starts a paused server again on the same database (new port: log in again).
    pub async fn resume(&mut self) {
        let running = server::start(self.config.clone()).await.expect("server restarts");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// A client with its own cookie jar.
    pub fn client(&self) -> Api {
        Api {
            client: Client::builder().cookie_store(true).build().expect("client"),
            base: self.base.clone(),
        }
    }

    /// A client logged in as `username`.
    pub async fn login(&self, username: &str, password: &str) -> Api {
        let api = self.client();
        let (status, body) = api
            .call("login", json!({"username": username, "password": password}))
            .await;
        assert_eq!(status, StatusCode::OK, "login as {username}: {body}");
        api
    }

    /// A client logged in as the bootstrap admin.
    pub async fn admin(&self) -> Api {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user (as admin) and returns a client logged in as that user.
    pub async fn user_with_role(&self, admin: &Api, username: &str, role: &str) -> Api {
        let password = format!("{username}-password");
        let (status, body) = admin
            .call(
                "create_user",
                json!({"user": {"username": username, "display_name": "", "email": "",
                "role": role, "password": password}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create {username}: {body}");
        self.login(username, &password).await
    }
}

/// An HTTP client for the server functions.
pub struct Api {
    pub client: Client,
    pub base: String,
}

impl Api {
    /// POSTs JSON to `/api/{endpoint}`; returns the status and the decoded JSON body.
    pub async fn call(&self, endpoint: &str, body: Value) -> (StatusCode, Value) {
        self.raw(endpoint, body.to_string(), &[]).await
    }

    /// POSTs a raw body with extra headers.
    pub async fn raw(&self, endpoint: &str, body: String, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}/api/{endpoint}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// The usernames the admin API lists.
    pub async fn usernames(&self) -> Vec<String> {
        let (status, body) = self.call("list_users", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    }
}
