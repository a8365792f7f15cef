//! Server-sent event streams for open pages: `/live/events` pushes every deployment status
//! change (so dashboards update within a second, without reloading or polling), and
//! `/live/logs/<version>/<pod>/<container>` follows a container's log. Both need a logged-in
//! user (any role).

use crate::state::AppState;
use app::{
    error::AppError,
    model::{CurrentUser, VersionId},
    ssr::{SESSION_USER, SessionUser},
};
use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{AsyncBufReadExt, StreamExt, stream};
use std::{convert::Infallible, time::Duration};
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::Session;

/// The live routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/live/events", get(events))
        .route("/live/logs/{version}/{pod}/{container}", get(logs))
        .with_state(state)
}

fn refuse(e: AppError) -> Response {
    let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, e.to_string()).into_response()
}

async fn user(state: &AppState, session: &Session) -> Result<CurrentUser, AppError> {
    let who: Option<SessionUser> = session
        .get(SESSION_USER)
        .await
        .map_err(|e| crate::backend::internal("reading the session", e))?;
    match who {
        Some(who) => state
            .backend
            .session_user(who)
            .await?
            .ok_or(AppError::Unauthenticated),
        None => Err(AppError::Unauthenticated),
    }
}

/// Every status change, as `status` events with a `LiveEvent` JSON body.
async fn events(State(state): State<AppState>, session: Session) -> Response {
    if let Err(e) = user(&state, &session).await {
        return refuse(e);
    }
    let rx = state.deployer.live().subscribe();
    let stream = stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(e) => Event::default()
                .event("status")
                .json_data(&e)
                .unwrap_or_else(|_| Event::default().comment("unencodable")),
            // A slow page missed some: tell it to reload what it shows.
            Err(RecvError::Lagged(_)) => Event::default().event("lagged").data("reload"),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(serde::Deserialize)]
struct LogQuery {
    #[serde(default)]
    tail: Option<i64>,
}

/// A container's log, followed: one `line` event per log line.
async fn logs(
    State(state): State<AppState>,
    session: Session,
    Path((version, pod, container)): Path<(i64, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    if let Err(e) = user(&state, &session).await {
        return refuse(e);
    }
    let (namespace, pod, container) = match state
        .deployer
        .log_target(VersionId(version), &pod, &container)
        .await
    {
        Ok(t) => t,
        Err(e) => return refuse(e),
    };
    let client = match state.deployer.client() {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &namespace);
    let params = kube::api::LogParams {
        container: Some(container),
        follow: true,
        tail_lines: Some(q.tail.unwrap_or(100).clamp(1, 5000)),
        ..Default::default()
    };
    let reader = match api.log_stream(&pod, &params).await {
        Ok(r) => r,
        Err(e) => {
            return refuse(AppError::Upstream {
                service: "Kubernetes".into(),
                message: crate::cluster::apply::api_message(&e),
            });
        }
    };
    let lines = reader.lines().map(|line| {
        Ok::<_, Infallible>(match line {
            Ok(l) => Event::default().event("line").data(l),
            Err(e) => Event::default().event("error").data(e.to_string()),
        })
    });
    Sse::new(lines)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
