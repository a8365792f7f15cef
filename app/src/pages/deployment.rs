//! The deployment part of a version's page: live status with Deploy/Redeploy/Stop, where it
//! runs, its URLs, pods (ready containers, restarts, the image each one really runs), recent
//! events, and container logs (the last lines, or followed live).

use crate::components::kept;
use crate::{
    api::deployments::PodLogs,
    components::{
        ErrorBox,
        deploy::{DeployButtons, LiveStatus, LogFollower, StatusBadge, StopTime, follow_logs},
    },
    error::AppError,
    model::{DeployStatus, DeploymentDetail, PodInfo, VersionDetail, VersionId},
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What runs of a version, with the version it belongs to.
pub type RunningResource = Resource<Result<(VersionId, DeploymentDetail), AppError>>;

/// The deployment section of the version page: status and buttons (from the version's detail),
/// then what runs. Both resources belong to the page (created at its top); each part has its own
/// `<Transition>`, so a pushed change refetches what runs without touching the rest.
#[component]
pub fn DeploymentSection(
    detail: Resource<Result<VersionDetail, AppError>>,
    running: RunningResource,
) -> impl IntoView {
    view! {
        <section aria-labelledby="deployment-heading">
            <h2 id="deployment-heading">"Deployment"</h2>
            <Transition fallback=|| ()>
                {kept(detail, move |loaded| match loaded {
                        Ok(d) => view! {
                            <DeploymentStatus
                                version=d.version.id
                                name=format!("{}:{}", d.project.name, d.version.name)
                                initial=d.version.status
                            />
                        }.into_any(),
                        // The page's heading says why.
                        Err(_) => ().into_any(),
                    })}
            </Transition>
            <Transition fallback=|| view! { <p>"Loading what runs…"</p> }>
                {kept(running, move |loaded| match loaded {
                        Ok((version, d)) => view! { <Running version detail=d/> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    })}
            </Transition>
        </section>
    }
}

/// Status (live), buttons, where it runs and when it stops.
#[component]
fn DeploymentStatus(version: VersionId, name: String, initial: DeployStatus) -> impl IntoView {
    let live = expect_context::<LiveStatus>();
    let status = live.status(version, initial);
    let stop_name = name.clone();
    view! {
        <p role="status" class="deployment-status">"Status: " <StatusBadge status/></p>
        <DeployButtons version name status/>
        <dl class="facts">
            <dt>"Namespace"</dt><dd>{move || status.get().namespace.unwrap_or_else(|| "–".into())}</dd>
            <dt>"Deployed"</dt><dd>{move || {
                let s = status.get();
                match (s.started_at, s.requested_by) {
                    (Some(at), Some(by)) => format!("{} (last request by {by})", when(&at)),
                    _ => "never".into(),
                }
            }}</dd>
            <dt>"Last applied"</dt><dd>{move || status.get().applied_at.as_ref().map_or("–".into(), when)}</dd>
            <dt>"Stops"</dt><dd><StopTime version name=stop_name status/>
                {move || (!status.get().desired).then_some("–")}</dd>
        </dl>
    }
}

#[component]
fn Running(version: VersionId, detail: DeploymentDetail) -> impl IntoView {
    let pods = detail.pods.clone();
    view! {
        {(!detail.urls.is_empty()).then(|| view! {
            <h3>"URLs"</h3>
            <ul>
                {detail.urls.iter().map(|u| {
                    let href = crate::model::link_href(u);
                    view! { <li><a href=href target="_blank" rel="noopener">{u.clone()}</a></li> }
                }).collect_view()}
            </ul>
        })}
        {(!detail.pods.is_empty()).then(|| view! {
            <table class="list">
                <caption>"Pods"</caption>
                <thead><tr>
                    <th scope="col">"Pod"</th>
                    <th scope="col">"Phase"</th>
                    <th scope="col">"Ready"</th>
                    <th scope="col">"Restarts"</th>
                    <th scope="col">"Containers (image running)"</th>
                </tr></thead>
                <tbody>
                    {detail.pods.iter().map(|p| view! {
                        <tr>
                            <th scope="row">{p.name.clone()}</th>
                            <td>{p.phase.clone()}{p.problem.clone().map(|m| view! { <span class="error">{m}</span> })}</td>
                            <td>{format!("{}/{}", p.ready, p.total)}</td>
                            <td>{p.restarts}</td>
                            <td>{p.containers.iter().map(|c| view! {
                                <div>{format!("{}: {} ", c.name, c.state)}<code>{if c.image_id.is_empty() { c.image.clone() } else { c.image_id.clone() }}</code>
                                    {c.log_link.clone().map(|l| view! { " " <a href=l target="_blank" rel="noopener">{format!("External logs of {}", c.name)}</a> })}
                                </div>
                            }).collect_view()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
        {(!detail.events.is_empty()).then(|| view! {
            <details>
                <summary>{format!("Recent events ({})", detail.events.len())}</summary>
                <table class="list">
                    <caption>"Events, newest first"</caption>
                    <thead><tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Object"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Message"</th>
                    </tr></thead>
                    <tbody>
                        {detail.events.iter().map(|e| view! {
                            <tr>
                                <td>{e.at.as_ref().map_or("–".into(), when)}</td>
                                <td>{e.kind.clone()}</td>
                                <td>{e.object.clone()}</td>
                                <td>{e.reason.clone()}</td>
                                <td>{if e.count > 1 { format!("{} (×{})", e.message, e.count) } else { e.message.clone() }}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        })}
        {(!detail.objects.is_empty()).then(|| view! {
            <details>
                <summary>{format!("Objects applied ({})", detail.objects.len())}</summary>
                <ul>{detail.objects.iter().map(|o| view! { <li><code>{o.clone()}</code></li> }).collect_view()}</ul>
            </details>
        })}
        {(!pods.is_empty()).then(|| view! { <Logs version pods/> })}
    }
}

/// Container logs: pick a pod and container, show the last lines, or follow them live.
#[component]
fn Logs(version: VersionId, pods: Vec<PodInfo>) -> impl IntoView {
    let pods = StoredValue::new(pods);
    // A running pod first: that is whose log people want (a finished hook's is there too).
    let first = pods.with_value(|p| {
        p.iter()
            .find(|p| p.phase == "Running")
            .or(p.first())
            .map(|p| p.name.clone())
            .unwrap_or_default()
    });
    let pod = RwSignal::new(first);
    let containers = move || {
        pods.with_value(|all| {
            all.iter()
                .find(|p| p.name == pod.get())
                .map(|p| p.containers.iter().map(|c| c.name.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let container = RwSignal::new(containers().first().cloned().unwrap_or_default());
    let tail = RwSignal::new("100".to_string());
    let fetch = ServerAction::<PodLogs>::new();
    let lines = RwSignal::new(String::new());
    let ended = RwSignal::new(None::<String>);
    let follower = StoredValue::new(None::<LogFollower>);
    let following = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(text)) = fetch.value().get() {
            lines.set(text);
        }
    });
    let stop_following = move || {
        follower.update_value(|f| *f = None);
        following.set(false);
    };
    on_cleanup(move || follower.update_value(|f| *f = None));
    view! {
        <h3>"Logs"</h3>
        <div class="filters">
            <label for="log-pod">"Pod"</label>
            <select id="log-pod" on:change:target=move |ev| {
                pod.set(ev.target().value());
                container.set(containers().first().cloned().unwrap_or_default());
                stop_following();
            }>
                {pods.with_value(|all| all.iter().map(|p| {
                    let selected = p.name == pod.get_untracked();
                    view! { <option value=p.name.clone() selected=selected>{p.name.clone()}</option> }
                }).collect_view())}
            </select>
            <label for="log-container">"Container"</label>
            <select id="log-container" prop:value=move || container.get() on:change:target=move |ev| {
                container.set(ev.target().value());
                stop_following();
            }>
                {move || containers().into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
            </select>
            <label for="log-tail">"Lines"</label>
            <input id="log-tail" type="number" min="1" max="5000" bind:value=tail/>
            <button type="button" on:click=move |_| {
                stop_following();
                fetch.dispatch(PodLogs {
                    id: version,
                    pod: pod.get(),
                    container: container.get(),
                    tail: tail.get().trim().parse().unwrap_or(100),
                });
            }>"Show logs"</button>
            <button type="button" class="secondary" aria-pressed=move || following.get().to_string() on:click=move |_| {
                if following.get() {
                    stop_following();
                    return;
                }
                lines.set(String::new());
                ended.set(None);
                let url = format!(
                    "/live/logs/{}/{}/{}?tail={}",
                    version.0,
                    pod.get(),
                    container.get(),
                    tail.get().trim().parse::<u32>().unwrap_or(100)
                );
                let f = follow_logs(
                    &url,
                    move |line| lines.update(|l| {
                        l.push_str(&line);
                        l.push('\n');
                        // Keep the view bounded while following for a long time.
                        if l.len() > 512 * 1024 {
                            let cut = l.len() - 256 * 1024;
                            let at = l[cut..].find('\n').map_or(cut, |i| cut + i + 1);
                            l.drain(..at);
                        }
                    }),
                    move |why| {
                        ended.set(Some(why));
                        following.set(false);
                    },
                );
                following.set(f.is_some());
                follower.set_value(f);
            }>{move || if following.get() { "Stop following" } else { "Follow live" }}</button>
        </div>
        {move || fetch.value().get().and_then(Result::err).map(|e| view! { <ErrorBox error=e/> })}
        {move || ended.get().map(|m| view! { <p class="hint" role="status">{m}</p> })}
        <pre class="values logs" aria-label=move || format!("Log of {} / {}", pod.get(), container.get())>{move || lines.get()}</pre>
    }
}
