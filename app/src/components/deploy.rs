//! Deployment status and buttons, shared by the dashboard, the version list and the version page,
//! and the live status every open page receives from the server (`/live/events`).

use crate::{
    api::deployments::{DeployVersion, StopVersion},
    components::action_error,
    model::{DeployState, DeployStatus, LiveEvent, VersionId},
};
use leptos::prelude::*;
use std::collections::HashMap;

/// The newest status of each version, as the server pushed it since the page loaded.
#[derive(Clone, Copy)]
pub struct LiveStatus {
    pub statuses: RwSignal<HashMap<VersionId, DeployStatus>>,
    /// The last event, for pages that refetch when something appears or goes.
    pub last: RwSignal<Option<LiveEvent>>,
    /// Whether the event stream is open.
    pub connected: RwSignal<bool>,
    /// Counts the stream's (re)connections: what changed before one was not pushed to this
    /// page, so pages refetch when it moves.
    pub opened: RwSignal<u32>,
    /// The open stream (in the browser, while someone is logged in).
    stream: StoredValue<Option<EventStream>>,
}

/// An open event stream, closed when dropped. Empty on the server. `Send`, so it lives in
/// thread-safe storage: the server drops a rendered page on whichever thread it is on, and
/// thread-local storage dropped there panics.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct EventStream {
    #[cfg(feature = "hydrate")]
    es: send_wrapper::SendWrapper<web_sys::EventSource>,
}

#[cfg(feature = "hydrate")]
impl Drop for EventStream {
    fn drop(&mut self) {
        self.es.close();
    }
}

impl LiveStatus {
    pub fn new() -> Self {
        LiveStatus {
            statuses: RwSignal::new(HashMap::new()),
            last: RwSignal::new(None),
            connected: RwSignal::new(false),
            opened: RwSignal::new(0),
            stream: StoredValue::new(None),
        }
    }

    /// A version's status: the pushed one if newer than `initial` (what the page loaded).
    /// "Outdated" is computed on load only, so it holds until the version is applied again.
    pub fn status(self, version: VersionId, initial: DeployStatus) -> Signal<DeployStatus> {
        Signal::derive(move || match self.statuses.with(|m| m.get(&version).cloned()) {
            Some(mut s) => {
                s.outdated = initial.outdated && s.applied_at == initial.applied_at;
                s
            }
            None => initial.clone(),
        })
    }

    /// Closes the event stream (after logout). What it pushed is forgotten when it opens again:
    /// not here, where the old user's pages, being taken down, still listen.
    pub fn disconnect(self) {
        if self.stream.with_value(Option::is_none) {
            return;
        }
        self.stream.set_value(None);
        self.connected.set(false);
    }

    /// Opens the event stream (in the browser, once logged in); does nothing when it is open.
    pub fn connect(self) {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::{JsCast, closure::Closure};
            if self.stream.with_value(Option::is_some) {
                return;
            }
            // Statuses pushed to an earlier login are stale (the pages load fresh ones).
            if self.statuses.with_untracked(|m| !m.is_empty()) {
                self.statuses.set(HashMap::new());
            }
            if self.last.with_untracked(Option::is_some) {
                self.last.set(None);
            }
            let Ok(es) = web_sys::EventSource::new("/live/events") else {
                return;
            };
            let on_status =
                Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                    if let Some(text) = e.data().as_string()
                        && let Ok(ev) = serde_json::from_str::<LiveEvent>(&text)
                    {
                        self.statuses.update(|m| {
                            m.insert(ev.version, ev.status.clone());
                        });
                        self.last.set(Some(ev));
                    }
                });
            let _ = es.add_event_listener_with_callback("status", on_status.as_ref().unchecked_ref());
            on_status.forget();
            let on_open = Closure::<dyn FnMut()>::new(move || {
                self.connected.set(true);
                self.opened.update(|n| *n += 1);
            });
            es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            on_open.forget();
            // The browser reconnects by itself; until then the page says it is not live.
            let on_error = Closure::<dyn FnMut()>::new(move || self.connected.set(false));
            es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            on_error.forget();
            // Open until logout (or as long as the page).
            self.stream.set_value(Some(EventStream {
                es: send_wrapper::SendWrapper::new(es),
            }));
        }
    }
}

impl Default for LiveStatus {
    fn default() -> Self {
        Self::new()
    }
}

/// The status in words: the state, its reason, and what needs attention.
pub fn status_text(s: &DeployStatus) -> String {
    let mut text = s.state.label().to_string();
    if !s.message.is_empty() && s.state != DeployState::Running {
        text.push_str(": ");
        text.push_str(&s.message);
    }
    let mut notes: Vec<&str> = vec![];
    if s.queued {
        notes.push("a request is queued");
    }
    if let Some(d) = &s.changed_outside
        && !s.message.contains("outside O-Neko")
    {
        notes.push(d);
    }
    if s.outdated {
        notes.push("configuration changed since it was deployed");
    }
    if s.newer_image {
        notes.push("a newer image is available");
    }
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join("; ")));
    }
    text
}

/// A version's status as text (colour only reinforces it), updated live.
#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<DeployStatus>) -> impl IntoView {
    view! {
        <span class=move || format!("state {}", status.get().state.as_str().replace('_', "-"))>
            {move || status_text(&status.get())}
        </span>
    }
}

/// Deploy (or Redeploy) and Stop for one version; `name` (`project:tag`) names the buttons for
/// assistive technology.
#[component]
pub fn DeployButtons(
    version: VersionId,
    name: String,
    #[prop(into)] status: Signal<DeployStatus>,
) -> impl IntoView {
    let deploy = ServerAction::<DeployVersion>::new();
    let stop = ServerAction::<StopVersion>::new();
    let deploy_error = action_error(deploy);
    let stop_error = action_error(stop);
    // The answer is the new status: show it at once, even before the pushed event arrives.
    if let Some(live) = use_context::<LiveStatus>() {
        Effect::new(move |_| {
            for value in [deploy.value().get(), stop.value().get()] {
                if let Some(Ok(s)) = value {
                    live.statuses.update(|m| {
                        m.insert(version, s);
                    });
                }
            }
        });
    }
    let names = StoredValue::new((
        format!("Deploy {name}"),
        format!("Redeploy {name}"),
        format!("Stop {name}"),
    ));
    let running = move || {
        let s = status.get();
        s.desired || !matches!(s.state, DeployState::NotDeployed)
    };
    view! {
        <span class="deploy-buttons">
            <button type="button"
                aria-label=move || names.with_value(|n| if running() { n.1.clone() } else { n.0.clone() })
                disabled=move || deploy.pending().get()
                on:click=move |_| { deploy.dispatch(DeployVersion { id: version }); }>
                {move || if running() { "Redeploy" } else { "Deploy" }}
            </button>
            <Show when=running>
                <button type="button" class="secondary" aria-label=names.with_value(|n| n.2.clone())
                    disabled=move || stop.pending().get()
                    on:click=move |_| { stop.dispatch(StopVersion { id: version }); }>
                    "Stop"
                </button>
            </Show>
            {move || deploy_error.get().or(stop_error.get()).map(|e| view! {
                <span class="error" role="alert">{e.to_string()}</span>
            })}
        </span>
    }
}

/// A followed log: an open event stream, closed when dropped. Empty on the server. `Send`, so it
/// lives in thread-safe storage: the server drops a rendered page on whichever thread it is on,
/// and thread-local storage dropped there panics.
pub struct LogFollower {
    #[cfg(feature = "hydrate")]
    es: send_wrapper::SendWrapper<web_sys::EventSource>,
}

#[cfg(feature = "hydrate")]
impl Drop for LogFollower {
    fn drop(&mut self) {
        self.es.close();
    }
}

/// Follows a container's log from `url` (`/live/logs/…`), calling `on_line` for every line and
/// `on_end` with a reason when the stream fails. Only in the browser.
pub fn follow_logs(
    url: &str,
    on_line: impl Fn(String) + 'static,
    on_end: impl Fn(String) + 'static,
) -> Option<LogFollower> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{JsCast, closure::Closure};
        let es = web_sys::EventSource::new(url).ok()?;
        let line = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(text) = e.data().as_string() {
                on_line(text);
            }
        });
        let _ = es.add_event_listener_with_callback("line", line.as_ref().unchecked_ref());
        line.forget();
        let source = es.clone();
        let end = Closure::<dyn FnMut()>::new(move || {
            // The server ends the stream when the container stops; do not reconnect.
            source.close();
            on_end("The log stream ended (the container stopped or the connection was lost).".into());
        });
        es.set_onerror(Some(end.as_ref().unchecked_ref()));
        end.forget();
        Some(LogFollower {
            es: send_wrapper::SendWrapper::new(es),
        })
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (url, on_line, on_end);
        None
    }
}

/// "in 20 s", "in 5 min", "in 3 h", "in 2 days" until `t`; "now" once it has passed.
pub fn until_text(t: &chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (*t - now).num_seconds();
    match secs {
        s if s <= 0 => "now".into(),
        s if s < 90 => format!("in {s} s"),
        s if s < 90 * 60 => format!("in {} min", (s + 59) / 60),
        s if s < 48 * 3600 => format!("in {} h", (s + 1800) / 3600),
        s => format!("in {} days", (s + 43_200) / 86_400),
    }
}

/// When a deployed version stops, relative with the exact time on hover, and Extend: by its
/// lifetime again, or to a chosen moment. Every role may, as every role may deploy.
#[component]
pub fn StopTime(
    version: VersionId,
    name: String,
    #[prop(into)] status: Signal<DeployStatus>,
) -> impl IntoView {
    use crate::api::deployments::ExtendVersion;
    let extend = ServerAction::<ExtendVersion>::new();
    let error = action_error(extend);
    let until = RwSignal::new(String::new());
    let names = StoredValue::new((
        format!("Extend {name}"),
        format!("Stop time of {name} (UTC)"),
        format!("Set the stop time of {name}"),
    ));
    if let Some(live) = use_context::<LiveStatus>() {
        Effect::new(move |_| {
            if let Some(Ok(s)) = extend.value().get() {
                live.statuses.update(|m| {
                    m.insert(version, s);
                });
            }
        });
    }
    let input_id = format!("stop-time-{}", version.0);
    // "Stops in …" counts down in the browser (effects run only there).
    let now = RwSignal::new(chrono::Utc::now());
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || now.set(chrono::Utc::now()),
            std::time::Duration::from_secs(5),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    });
    view! {
        <span class="stop-time">
            {move || {
                let s = status.get();
                match (s.desired, s.stop_at) {
                    (true, Some(t)) => view! {
                        "Stops "
                        <time datetime=t.to_rfc3339() title=t.format("%Y-%m-%d %H:%M:%S UTC").to_string()>
                            {move || until_text(&t, now.get())}
                        </time>
                        " "
                        <button type="button" class="secondary" aria-label=names.with_value(|n| n.0.clone())
                            disabled=move || extend.pending().get()
                            on:click=move |_| { extend.dispatch(ExtendVersion { id: version, until: None }); }>"Extend"</button>
                    }.into_any(),
                    (true, None) => view! { "Runs until stopped" }.into_any(),
                    _ => ().into_any(),
                }
            }}
            <Show when=move || status.get().desired>
                <details class="stop-at">
                    <summary>"Stop at…"</summary>
                    <label for=input_id.clone()>{names.with_value(|n| n.1.clone())}</label>
                    <input id=input_id.clone() type="datetime-local" step="1" bind:value=until/>
                    <button type="button" class="secondary" aria-label=names.with_value(|n| n.2.clone())
                        disabled=move || until.get().is_empty() || extend.pending().get()
                        on:click=move |_| {
                            let v = until.get();
                            let v = if v.len() == 16 { format!("{v}:00Z") } else { format!("{v}Z") };
                            match chrono::DateTime::parse_from_rfc3339(&v) {
                                Ok(t) => { extend.dispatch(ExtendVersion { id: version, until: Some(t.with_timezone(&chrono::Utc)) }); }
                                Err(_) => until.set(String::new()),
                            }
                        }>"Set stop time"</button>
                </details>
            </Show>
            {move || error.get().map(|e| view! { <span class="error" role="alert">{e.to_string()}</span> })}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::until_text;
    use chrono::{Duration, Utc};

    #[test]
    fn relative_stop_times() {
        let now = Utc::now();
        assert_eq!(until_text(&(now + Duration::seconds(10)), now), "in 10 s");
        assert_eq!(until_text(&now, now), "now");
        assert_eq!(until_text(&(now + Duration::minutes(5)), now), "in 5 min");
        assert_eq!(until_text(&(now + Duration::hours(3)), now), "in 3 h");
        assert_eq!(until_text(&(now + Duration::days(3)), now), "in 3 days");
        assert_eq!(until_text(&(now - Duration::hours(1)), now), "now");
    }
}
