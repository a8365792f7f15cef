//! The activity log: what happened, who did it. Every role may read it.

use crate::{
    api::{activity::list_activity, projects::list_projects},
    components::{ErrorBox, Pager, RequireRole, page_caption},
    model::{ActivityQuery, ProjectId, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const KINDS: [(&str, &str); 5] = [
    ("", "Everything"),
    ("project", "Projects"),
    ("version", "Versions"),
    ("docker_registry", "Docker registries"),
    ("user", "Users"),
];

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
    let entries = Resource::new(
        move || (kind.get(), project.get(), page.get()),
        |(kind, project, page)| {
            list_activity(ActivityQuery {
                kind: (!kind.is_empty()).then_some(kind),
                project: project.map(ProjectId),
                page,
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
                {move || projects.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|p| {
                    let id = p.id.0;
                    view! { <option value=id.to_string() selected=move || project.get() == Some(id)>{p.name}</option> }
                }).collect_view()}
            </select>
        </div>
        <Transition fallback=|| view! { <p>"Loading activity…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
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
                }
            })}
        </Transition>
    }
}
