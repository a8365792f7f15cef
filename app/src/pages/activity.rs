//! The activity log: what happened, who did it. Every role may read it.

use crate::components::kept;
use crate::{
    api::{activity::list_activity, projects::list_projects},
    components::{ErrorBox, Pager, RequireRole, browser_value, page_caption},
    model::{ActivityQuery, ProjectId, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const KINDS: [(&str, &str); 12] = [
    ("", "Everything"),
    ("project", "Projects"),
    ("version", "Versions"),
    ("version.deploy", "Deploys (and failures)"),
    ("version.stop", "Stops (and failures)"),
    ("version.extended", "Extensions"),
    ("version.image_changed", "Image changes"),
    ("version.variables_changed", "Dashboard variables"),
    ("docker_registry", "Docker registries"),
    ("helm_registry", "Helm registries"),
    ("namespace", "Namespaces"),
    ("user", "Users"),
];

/// A `datetime-local` value (UTC) as a moment.
fn moment(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let v = v.trim();
    let full = if v.len() == 16 {
        format!("{v}:00Z")
    } else {
        format!("{v}Z")
    };
    chrono::DateTime::parse_from_rfc3339(&full)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The activity page.
#[component]
pub fn ActivityPage() -> impl IntoView {
    view! {
        <Title text="Activity · O-Neko"/>
        <RequireRole role=Role::Viewer>
            <ActivityLog/>
        </RequireRole>
    }
}

#[component]
fn ActivityLog() -> impl IntoView {
    let kind = RwSignal::new(String::new());
    let page = RwSignal::new(0u64);
    // `?project=<id>` links here from a project page.
    let initial = use_query_map().with_untracked(|q| q.get("project").and_then(|p| p.parse::<i64>().ok()));
    let project = RwSignal::new(initial);
    let projects = LocalResource::new(list_projects);
    let actor = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    // New entries appear without a reload: the first page is read again every few seconds
    // (effects run only in the browser).
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                if page.get_untracked() == 0 {
                    tick.update(|n| *n += 1);
                }
            },
            std::time::Duration::from_secs(3),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    });
    let entries = Resource::new(
        move || {
            (
                kind.get(),
                project.get(),
                page.get(),
                actor.get(),
                since.get(),
                until.get(),
                tick.get(),
            )
        },
        |(kind, project, page, actor, since, until, _)| {
            list_activity(ActivityQuery {
                kind: (!kind.is_empty()).then_some(kind),
                project: project.map(ProjectId),
                page,
                actor: (!actor.trim().is_empty()).then_some(actor),
                since: moment(&since),
                until: moment(&until),
            })
        },
    );
    view! {
        <h1>"Activity"</h1>
        <div class="filters">
            <label for="activity-kind">"Show"</label>
            <select id="activity-kind" on:change:target=move |ev| { kind.set(ev.target().value()); page.set(0); }>
                {KINDS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
            </select>
            <label for="activity-project">"Project"</label>
            <select id="activity-project" on:change:target=move |ev| {
                project.set(ev.target().value().parse().ok());
                page.set(0);
            }>
                <option value="">"All projects"</option>
                // No suspense inside a select: the browser's parser would not keep its markers.
                {move || browser_value(projects).and_then(Result::ok).unwrap_or_default().into_iter().map(|p| {
                    let id = p.id.0;
                    view! { <option value=id.to_string() selected=move || project.get() == Some(id)>{p.name}</option> }
                }).collect_view()}
            </select>
            <label for="activity-actor">"Actor"</label>
            <input id="activity-actor" type="search" placeholder="user, scheduler, webhook"
                on:change:target=move |ev| { actor.set(ev.target().value()); page.set(0); }/>
            <label for="activity-since">"From (UTC)"</label>
            <input id="activity-since" type="datetime-local"
                on:change:target=move |ev| { since.set(ev.target().value()); page.set(0); }/>
            <label for="activity-until">"To (UTC)"</label>
            <input id="activity-until" type="datetime-local"
                on:change:target=move |ev| { until.set(ev.target().value()); page.set(0); }/>
        </div>
        <Transition fallback=|| view! { <p>"Loading activity…"</p> }>
            {kept(entries, move |loaded| match loaded {
                    Ok(p) if p.items.is_empty() => view! { <p>"Nothing has happened yet."</p> }.into_any(),
                    Ok(p) => {
                        let caption = page_caption("Entries", p.page, p.page_size, p.items.len(), p.total);
                        view! {
                            <table class="list">
                                <caption>{caption}</caption>
                                <thead><tr>
                                    <th scope="col">"Time (UTC)"</th>
                                    <th scope="col">"Severity"</th>
                                    <th scope="col">"Actor"</th>
                                    <th scope="col">"What"</th>
                                    <th scope="col">"Message"</th>
                                </tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|a| view! {
                                        <tr>
                                            <td><time datetime=a.at.to_rfc3339()>{a.at.format("%Y-%m-%d %H:%M:%S").to_string()}</time></td>
                                            <td><span class=format!("severity {}", a.severity.as_str().to_lowercase())>{a.severity.as_str()}</span></td>
                                            <td>{a.actor}</td>
                                            <td>{a.kind}" · "{a.subject}</td>
                                            <td>{a.message}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager page current=p.page page_size=p.page_size total=p.total
                                label="Activity pages" back="Newer" forward="Older"/>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
    }
}
