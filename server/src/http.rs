//! The axum router: Leptos pages and server functions, health endpoints, sessions, and the
//! middleware that guards the internal API (CSRF check, error status codes, body limit).

use crate::{auth::session::SESSION_COOKIE, state::AppState};
use app::{error::AppError, shell::shell, ssr::ServerCtx};
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use server_fn::error::SERVER_FN_ERROR_HEADER;
use tower_http::{
    CompressionLevel, compression::CompressionLayer, limit::RequestBodyLimitLayer, trace::TraceLayer,
};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

/// Largest accepted request body (server-function arguments are small).
const MAX_BODY: usize = 1 << 20;

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    let ctx = ServerCtx {
        users: state.users.clone(),
        tokens: state.tokens.clone(),
        registries: state.registries.clone(),
        helm_registries: state.helm_registries.clone(),
        namespaces: state.namespaces.clone(),
        activity: state.activity.clone(),
        projects: state.projects.clone(),
        deployments: state.deployments.clone(),
        login: state.login,
    };
    let context = move || provide_context(ctx.clone());
    let options = state.leptos.clone();
    let routes = generate_route_list(app::shell::App);
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(state.config.session_hours),
        ));

    let leptos = Router::new()
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback({
            let app = leptos_axum::file_and_error_handler_with_context::<leptos::config::LeptosOptions, _>(
                context, shell,
            );
            move |uri: Uri, State(options): State<LeptosOptions>, req: Request| {
                let app = app.clone();
                async move {
                    // Method and headers only: a borrowed request would keep the future from `Send`.
                    let (method, headers) = (req.method().clone(), req.headers().clone());
                    match static_file(&options, &uri, &method, &headers).await {
                        Some(res) => res,
                        None => app(uri, State(options), req).await,
                    }
                }
            }
        })
        .with_state(options);

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::projects::webhook::router(state.hooks.clone()))
        .merge(crate::live::router(state.clone()))
        .merge(crate::sso::router(state.oidc.clone()))
        .merge(crate::rest::router(crate::rest::RestState {
            tokens: state.tokens.clone(),
            projects: state.projects.clone(),
            deployments: state.deployments.clone(),
        }))
        .merge(leptos)
        // Layers run bottom-up for requests: the trace span wraps everything.
        // The session's user, looked up once per request (after the CSRF check, inside sessions).
        .layer(middleware::from_fn_with_state(
            state.users.clone(),
            crate::auth::session::look_up_user,
        ))
        .layer(middleware::from_fn(api_guard))
        .layer(middleware::from_fn(timed))
        .layer(sessions)
        // Who the client is (the peer, or a trusted proxy's X-Forwarded-For), and the session
        // cookie made Secure for https requests: outside the session layer, which sets the cookie.
        .layer(middleware::from_fn_with_state(
            crate::auth::proxy::ProxySettings {
                trusted: state.config.trusted_proxies.clone().into(),
                secure_cookies: state.config.secure_cookies(),
            },
            crate::auth::proxy::client_address,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        // Pages and server-function answers at a fast level (they are made per request); static
        // files come precompressed at the best level. Live streams (text/event-stream) and
        // responses that are already encoded are left alone by the default predicate.
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(4)))
        .layer(TraceLayer::new_for_http())
}

/// A file of the site (the WASM bundle, its JS and CSS, `public/`), or `None` for the app's own
/// 404 page. The precompressed `.br`/`.gz` copies that `cargo leptos build --precompress` writes
/// are sent when the browser takes them, unless they are older than the file (a later build
/// without `--precompress` left them stale): then the file is compressed on the way out. Every
/// file is revalidated on each visit (`no-cache` with `Last-Modified`, answered by 304), so an
/// upgrade is never mixed with a cached bundle and a repeat visit transfers almost nothing.
async fn static_file(
    options: &LeptosOptions,
    uri: &Uri,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Response> {
    use tower::ServiceExt;
    if !matches!(*method, Method::GET | Method::HEAD) {
        return None;
    }
    let root = std::path::Path::new(&*options.site_root);
    let mut probe = Request::builder().method(method).uri(uri.clone());
    for name in [
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
        header::RANGE,
        header::IF_RANGE,
    ] {
        if let Some(v) = headers.get(&name) {
            probe = probe.header(name, v);
        }
    }
    if let Some(v) = headers.get(header::ACCEPT_ENCODING)
        && !stale_precompressed(root, uri.path()).await
    {
        probe = probe.header(header::ACCEPT_ENCODING, v);
    }
    let probe = probe.body(Body::empty()).ok()?;
    let Ok(mut res) = tower_http::services::ServeDir::new(root)
        .precompressed_br()
        .precompressed_gzip()
        .oneshot(probe)
        .await;
    if !matches!(
        res.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    ) {
        return None;
    }
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    Some(res.map(Body::new))
}

/// Whether `path` (a URL path under `root`) has a `.br` or `.gz` copy older than itself.
async fn stale_precompressed(root: &std::path::Path, path: &str) -> bool {
    let relative = std::path::Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return false;
    }
    let file = root.join(relative);
    let Ok(modified) = tokio::fs::metadata(&file).await.and_then(|m| m.modified()) else {
        return false;
    };
    for ext in ["br", "gz"] {
        let mut copy = file.clone().into_os_string();
        copy.push(".");
        copy.push(ext);
        if let Ok(copied) = tokio::fs::metadata(&copy).await.and_then(|m| m.modified())
            && copied < modified
        {
            return true;
        }
    }
    false
}

/// Ready when the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Prometheus metrics (unauthenticated, like most scrape targets: expose it only inside the
/// cluster). Deployment states and leadership are read at scrape time.
async fn metrics(State(state): State<AppState>) -> Response {
    use crate::db::entity::deployment;
    use sea_orm::{EntityTrait, QuerySelect};
    let mut states: std::collections::BTreeMap<String, f64> = app::model::DeployState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0.0))
        .collect();
    if let Ok(rows) = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::State)
        .into_tuple::<String>()
        .all(&state.db)
        .await
    {
        for s in rows {
            *states.entry(s).or_default() += 1.0;
        }
    }
    let gauges = [
        (
            "oneko_deployments",
            states.into_iter().map(|(s, n)| (vec![("state", s)], n)).collect(),
        ),
        (
            "oneko_scheduler_leader",
            vec![(vec![], if state.leadership.is_leader() { 1.0 } else { 0.0 })],
        ),
    ];
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::global().render(&gauges),
    )
        .into_response()
}

/// Times every request by method, route (the matched pattern, never raw ids) and status class.
/// Labels come only from known values, so requests to made-up paths or with made-up methods
/// (anyone can send them, unauthenticated) cannot create new series.
async fn timed(req: Request, next: Next) -> Response {
    let method = crate::metrics::method_label(req.method());
    let route = crate::metrics::route_label(
        req.extensions()
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str),
        req.uri().path(),
    );
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = format!("{}xx", resp.status().as_u16() / 100);
    crate::metrics::global().observe(
        "oneko_http_request_duration_seconds",
        vec![("method", method.into()), ("route", route), ("status", status)],
        started.elapsed(),
    );
    resp
}

/// Whether a request was sent by a page of another site. Browsers send `Sec-Fetch-Site`
/// (and `Origin` on every cross-origin POST); non-browser clients send neither and are not
/// exposed to CSRF.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin == "null" || !origin_host.eq_ignore_ascii_case(host)
        }
    }
}

/// Guards `/api/*`: refuses cross-site calls, and gives typed errors their HTTP status (the
/// server-function framework answers every error with 500).
async fn api_guard(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    if req.method() != Method::GET && is_cross_site(req.headers()) {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        return error_response(&AppError::forbidden("cross-site requests are refused"));
    }
    let resp = next.run(req).await;
    if !resp.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error_response(&crate::error::internal("reading error body", "too large")),
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        crate::metrics::global().inc("oneko_server_function_errors_total", vec![("kind", kind)]);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn error_response(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(err).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_cross_site;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_site_detection() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://a.test:3000"),
            ("host", "a.test:3000")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "http://evil.test"),
            ("host", "a.test:3000")
        ])));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "a.test")])));
    }
}

#[cfg(test)]
mod static_files {
    use super::static_file;
    use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
    use leptos::config::LeptosOptions;
    use std::time::{Duration, SystemTime};

    fn site() -> (tempfile::TempDir, LeptosOptions) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        let options = LeptosOptions::builder()
            .output_name("o-neko")
            .site_root(dir.path().to_string_lossy().as_ref())
            .build();
        (dir, options)
    }

    fn write(path: &std::path::Path, bytes: &[u8], modified: SystemTime) {
        std::fs::write(path, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }

    async fn get(
        options: &LeptosOptions,
        path: &str,
        pairs: &[(header::HeaderName, &str)],
    ) -> Option<axum::response::Response> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(k, v.parse().unwrap());
        }
        static_file(options, &path.parse::<Uri>().unwrap(), &Method::GET, &headers).await
    }

    #[tokio::test]
    async fn precompressed_copies_are_sent_only_while_fresh_and_files_are_revalidated() {
        let (dir, options) = site();
        let wasm = dir.path().join("pkg/o-neko.wasm");
        let built = SystemTime::now() - Duration::from_secs(3600);
        write(&wasm, &[0u8; 4096], built);
        write(&dir.path().join("pkg/o-neko.wasm.br"), b"brotli", built);
        let br = [(header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")];

        let res = get(&options, "/pkg/o-neko.wasm", &br).await.expect("served");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        let modified = res.headers()[header::LAST_MODIFIED].to_str().unwrap().to_owned();

        // A repeat visit: not modified, no body.
        let res = get(
            &options,
            "/pkg/o-neko.wasm",
            &[(header::IF_MODIFIED_SINCE, modified.as_str())],
        )
        .await
        .expect("served");
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

        // A later build without --precompress: the stale copy is never sent.
        write(&wasm, &[1u8; 4096], SystemTime::now());
        let res = get(&options, "/pkg/o-neko.wasm", &br).await.expect("served");
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers().get(header::CONTENT_ENCODING).is_none(),
            "{:?}",
            res.headers()
        );
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&body[..], &[1u8; 4096][..]);

        // What is not a file is the app's (its 404 page); so are other methods and escapes.
        assert!(get(&options, "/pkg/missing.js", &br).await.is_none());
        assert!(get(&options, "/pkg", &br).await.is_none());
        assert!(get(&options, "/../etc/passwd", &br).await.is_none());
        let headers = HeaderMap::new();
        let uri = "/pkg/o-neko.wasm".parse::<Uri>().unwrap();
        assert!(
            static_file(&options, &uri, &Method::POST, &headers)
                .await
                .is_none()
        );
    }
}
