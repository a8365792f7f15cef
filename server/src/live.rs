//! Server-sent event streams for open pages: `/live/events` pushes every deployment status
//! change (so dashboards update within a second, without reloading or polling), and
//! `/live/logs/<version>/<pod>/<container>` follows a container's log. Both need a logged-in
//! user (any role), and keep needing one: an open stream checks its session again every
//! [`RECHECK_EVERY`] (and before sending, at most once per [`RECHECK_AT_MOST`]) and ends once
//! the session is gone (logout, expiry, a password change elsewhere) or its user was deleted.
//! A user has at most [`MAX_STREAMS_PER_USER`] streams open (429 beyond), and a log line is
//! sent with at most [`MAX_LINE`](crate::cluster::logs::MAX_LINE) bytes (a longer one is cut and marked).

use crate::{
    cluster::logs::{CUT_MARK, MAX_LINE},
    state::AppState,
};
use app::{
    error::AppError,
    model::{CurrentUser, Role, UserId, VersionId},
    ssr::{RequestUser, SESSION_USER, SessionUser, look_up_session_user},
};
use axum::{
    Extension, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{AsyncBufRead, AsyncBufReadExt, Stream, StreamExt, stream};
use std::{
    collections::HashMap,
    convert::Infallible,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{sync::broadcast::error::RecvError, time::Instant};
use tower_sessions::{Session, SessionStore, session::Id};

/// Streams (events and logs together) one user may have open at once.
pub const MAX_STREAMS_PER_USER: usize = 8;
/// How often an open stream checks that its session still stands for a user.
pub const RECHECK_EVERY: Duration = Duration::from_secs(15);
/// A stream with traffic checks before sending, but at most this often.
pub const RECHECK_AT_MOST: Duration = Duration::from_secs(1);

/// The live routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/live/events", get(events))
        .route("/live/logs/{version}/{pod}/{container}", get(logs))
        // One count per server (not per process: tests run several servers in one).
        .layer(Extension(Streams::default()))
        .with_state(state)
}

/// Open streams per user.
#[derive(Clone, Default)]
struct Streams(Arc<Mutex<HashMap<UserId, usize>>>);

/// One open stream of a user's; dropped with the stream (the client went, or it ended).
struct Permit {
    streams: Streams,
    user: UserId,
}

impl Streams {
    /// A permit for one more stream of `user`'s; `None` when the user has all open already.
    fn open(&self, user: UserId) -> Option<Permit> {
        let mut open = self.0.lock().unwrap();
        let n = open.entry(user).or_default();
        if *n >= MAX_STREAMS_PER_USER {
            return None;
        }
        *n += 1;
        Some(Permit {
            streams: self.clone(),
            user,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.streams.0.lock().unwrap();
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// The answer to a stream too many.
fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(
            axum::http::header::RETRY_AFTER,
            RECHECK_EVERY.as_secs().to_string(),
        )],
        format!("You have {MAX_STREAMS_PER_USER} live views (status or logs) open already: close one first."),
    )
        .into_response()
}

/// Whether the session `id` still stands for a user who may watch (read from the store and the
/// database now, not from what the request saw).
async fn still_allowed(state: &AppState, id: Option<Id>) -> bool {
    let Some(id) = id else { return false };
    let Ok(Some(record)) = state.sessions.load(&id).await else {
        return false;
    };
    let Some(who) = record
        .data
        .get(SESSION_USER)
        .and_then(|v| serde_json::from_value::<SessionUser>(v.clone()).ok())
    else {
        return false;
    };
    matches!(state.users.session_user(who).await, Ok(Some(u)) if u.role >= Role::Viewer)
}

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// `inner` for as long as the session stays good: checked every [`RECHECK_EVERY`] and before
/// an event is sent (at most once per [`RECHECK_AT_MOST`]). When it is not, a last `end`
/// event says why and the stream ends (so the permit goes with it).
fn guarded(
    state: AppState,
    session: Option<Id>,
    permit: Permit,
    inner: Events,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    struct Open {
        state: AppState,
        session: Option<Id>,
        _permit: Permit,
        inner: Events,
        tick: tokio::time::Interval,
        checked: Instant,
    }
    let mut tick = tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = Open {
        state,
        session,
        _permit: permit,
        inner,
        tick,
        checked: Instant::now(),
    };
    stream::unfold(Some(open), |open| async move {
        let mut open = open?;
        loop {
            let next = tokio::select! {
                item = open.inner.next() => Some(item?),
                _ = open.tick.tick() => None,
            };
            if next.is_none() || open.checked.elapsed() >= RECHECK_AT_MOST {
                open.checked = Instant::now();
                if !still_allowed(&open.state, open.session).await {
                    let end = Event::default()
                        .event("end")
                        .data("signed out, or no longer allowed to watch");
                    return Some((Ok(end), None));
                }
            }
            if let Some(event) = next {
                return Some((Ok(event), Some(open)));
            }
        }
    })
}

/// A log split into lines of at most `max` bytes. A longer line is sent cut (with
/// [`CUT_MARK`]) as soon as it reaches `max`, and the rest of it up to its newline is skipped:
/// a container that writes an endless line never makes the server hold more than `max` bytes.
pub fn bounded_lines<R: AsyncBufRead + Unpin + Send + 'static>(
    reader: R,
    max: usize,
) -> impl Stream<Item = std::io::Result<String>> + Send {
    struct Lines<R> {
        reader: R,
        line: Vec<u8>,
        skipping: bool,
    }
    let text = |bytes: &[u8]| {
        let s = String::from_utf8_lossy(bytes);
        s.strip_suffix('\r').unwrap_or(&s).to_owned()
    };
    let start = Lines {
        reader,
        line: Vec::new(),
        skipping: false,
    };
    stream::unfold(Some(start), move |st| async move {
        let mut st = st?;
        loop {
            let chunk = match st.reader.fill_buf().await {
                Ok(c) => c,
                Err(e) => return Some((Err(e), None)),
            };
            if chunk.is_empty() {
                // The end: a last line without a newline.
                if st.line.is_empty() || st.skipping {
                    return None;
                }
                let last = text(&st.line);
                return Some((Ok(last), None));
            }
            let newline = chunk.iter().position(|b| *b == b'\n');
            let part = &chunk[..newline.unwrap_or(chunk.len())];
            let used = newline.map_or(chunk.len(), |i| i + 1);
            if st.skipping {
                st.reader.consume_unpin(used);
                st.skipping = newline.is_none();
                continue;
            }
            let room = max - st.line.len();
            if part.len() > room {
                st.line.extend_from_slice(&part[..room]);
                st.reader.consume_unpin(used);
                st.skipping = newline.is_none();
                let cut = format!("{}{CUT_MARK}", text(&std::mem::take(&mut st.line)));
                return Some((Ok(cut), Some(st)));
            }
            st.line.extend_from_slice(part);
            st.reader.consume_unpin(used);
            if newline.is_some() {
                let line = text(&std::mem::take(&mut st.line));
                return Some((Ok(line), Some(st)));
            }
        }
    })
}

fn refuse(e: AppError) -> Response {
    let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, e.to_string()).into_response()
}

/// The logged-in user: the one the middleware looked up for this request (see
/// `auth::session`), or, should it not have, looked up now.
async fn user(
    state: &AppState,
    session: &Session,
    known: Option<Extension<RequestUser>>,
) -> Result<CurrentUser, AppError> {
    let found = match known {
        Some(Extension(RequestUser(found))) => found,
        None => look_up_session_user(&*state.users, session).await,
    };
    found?.ok_or(AppError::Unauthenticated)
}

/// Every status change, as `status` events with a `LiveEvent` JSON body.
async fn events(
    State(state): State<AppState>,
    Extension(streams): Extension<Streams>,
    session: Session,
    known: Option<Extension<RequestUser>>,
) -> Response {
    let me = match user(&state, &session, known).await {
        Ok(me) => me,
        Err(e) => return refuse(e),
    };
    let Some(permit) = streams.open(me.id) else {
        return too_many();
    };
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
        Some((event, rx))
    });
    let stream = guarded(state, session.id(), permit, Box::pin(stream));
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
    Extension(streams): Extension<Streams>,
    session: Session,
    known: Option<Extension<RequestUser>>,
    Path((version, pod, container)): Path<(i64, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let me = match user(&state, &session, known).await {
        Ok(me) => me,
        Err(e) => return refuse(e),
    };
    let Some(permit) = streams.open(me.id) else {
        return too_many();
    };
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
                message: crate::error::kube_message(&e),
            });
        }
    };
    let lines = bounded_lines(Box::pin(reader), MAX_LINE).map(|line| match line {
        Ok(l) => Event::default().event("line").data(l),
        Err(e) => Event::default().event("error").data(e.to_string()),
    });
    let lines = guarded(state, session.id(), permit, Box::pin(lines));
    Sse::new(lines)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    async fn all(bytes: Vec<u8>, max: usize) -> Vec<String> {
        bounded_lines(Cursor::new(bytes), max)
            .map(|l| l.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn lines_are_split_and_cut() {
        assert_eq!(all(b"a\r\nb\n\nlast".to_vec(), 8).await, ["a", "b", "", "last"]);
        // Exactly the limit passes; one byte more is cut there and marked.
        assert_eq!(
            all(b"12345678\n123456789\nok\n".to_vec(), 8).await,
            ["12345678".to_string(), format!("12345678{CUT_MARK}"), "ok".into()]
        );
        // A cut in the middle of a character reads as a replacement character, never a panic.
        let lines = all("ééééé\n".as_bytes().to_vec(), 5).await;
        assert!(
            lines[0].starts_with("éé") && lines[0].ends_with(CUT_MARK),
            "{lines:?}"
        );
    }

    /// A line of 64 MiB: sent cut at 16 KiB as soon as that much came, the rest skipped up to
    /// its newline, and the next line comes whole.
    #[tokio::test]
    async fn an_endless_line_is_never_held() {
        struct Endless {
            left: usize,
            tail: &'static [u8],
        }
        impl futures::AsyncRead for Endless {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let n = if self.left > 0 {
                    let n = buf.len().min(self.left);
                    buf[..n].fill(b'x');
                    self.left -= n;
                    n
                } else {
                    let n = buf.len().min(self.tail.len());
                    buf[..n].copy_from_slice(&self.tail[..n]);
                    self.tail = &self.tail[n..];
                    n
                };
                std::task::Poll::Ready(Ok(n))
            }
        }
        let reader = futures::io::BufReader::new(Endless {
            left: 64 << 20,
            tail: b"\nafter\n",
        });
        let lines: Vec<String> = bounded_lines(reader, MAX_LINE)
            .map(|l| l.unwrap())
            .collect()
            .await;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE + CUT_MARK.len());
        assert!(lines[0].ends_with(CUT_MARK));
        assert_eq!(lines[1], "after");
    }
}
