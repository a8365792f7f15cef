//! The session's user, looked up once per request: a middleware reads the session and the user
//! before any handler runs and keeps the answer in the request ([`RequestUser`]). Page renders
//! (the role gate, the top bar), server functions (`authorize`) and the live streams all read
//! that one answer.

use app::ssr::{RequestUser, Users, look_up_session_user};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use std::sync::Arc;
use tower_sessions::Session;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "oneko_session";

/// Whether a request needs to know its session's user: not static files, health checks,
/// metrics, registry webhooks or the REST API (which have no session, or, for the API, a token
/// instead, and must not touch the session store).
pub fn needs_user(path: &str) -> bool {
    const SKIPPED: [&str; 6] = ["/pkg/", "/hooks/", "/healthz", "/readyz", "/metrics", "/api/v1/"];
    if SKIPPED.iter().any(|p| path.starts_with(p)) {
        return false;
    }
    // Files served from the site root (favicon, the YAML editor's bundle) have an extension;
    // page paths never do.
    let last = path.rsplit('/').next().unwrap_or_default();
    !last.contains('.')
}

/// The middleware: looks the session's user up (once) and stores it in the request's extensions.
/// Runs inside the session layer.
pub async fn look_up_user(State(users): State<Arc<dyn Users>>, mut req: Request, next: Next) -> Response {
    if needs_user(req.uri().path())
        && let Some(session) = req.extensions().get::<Session>().cloned()
    {
        let found = look_up_session_user(&*users, &session).await;
        req.extensions_mut().insert(RequestUser(found));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::needs_user;

    #[test]
    fn pages_servers_functions_and_streams_need_the_user() {
        for path in [
            "/",
            "/projects/1/versions/3",
            "/admin/users",
            "/api/get_project",
            "/live/events",
            "/no/such/page",
        ] {
            assert!(needs_user(path), "{path}");
        }
        for path in [
            "/pkg/o-neko.wasm",
            "/favicon.svg",
            "/yaml-editor.js",
            "/healthz",
            "/metrics",
            "/hooks/registry/x",
            "/api/v1/versions/3",
        ] {
            assert!(!needs_user(path), "{path}");
        }
    }
}
