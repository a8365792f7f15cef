//! The dashboard (start page): every version that runs or is on its way, with its live status,
//! URLs, dashboard select variables and buttons; a search over all versions to deploy one with
//! a click; several versions deployed or stopped at once.

use crate::components::kept;
use crate::{
    api::{
        deployments::{DeployOrStopVersions, list_deployments, search_versions},
        projects::{SetVersionSelectValues, list_projects},
    },
    components::{
        ErrorBox, RequireRole, action_error, browser_value,
        deploy::{DeployButtons, LiveStatus, StatusBadge, StopTime},
    },
    model::{DashboardRow, DeployState, DeployStatus, ProjectId, Role, VersionHit, VersionId},
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use std::collections::{BTreeMap, HashSet};

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The start page.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Title text="Dashboard · O-Neko"/>
        <RequireRole role=Role::Viewer>
            <Dashboard/>
        </RequireRole>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let live = expect_context::<LiveStatus>();
    let project = RwSignal::new(None::<ProjectId>);
    let search = RwSignal::new(String::new());
    let refetch = RwSignal::new(0u32);
    let batch = ServerAction::<DeployOrStopVersions>::new();
    let switch = ServerAction::<SetVersionSelectValues>::new();
    let selected = RwSignal::new(HashSet::<VersionId>::new());
    // Only for the filter's choices, loaded in the browser.
    let projects = LocalResource::new(list_projects);
    let rows = Resource::new(
        move || {
            (
                project.get(),
                search.get(),
                refetch.get(),
                batch.version().get(),
                switch.version().get(),
                // Changes made before the live stream opened were not pushed here.
                live.opened.get(),
            )
        },
        |(project, search, ..)| list_deployments(project, search),
    );
    let hits = Resource::new(
        move || (search.get(), refetch.get(), live.opened.get()),
        |(text, ..)| async move {
            if text.trim().is_empty() {
                Ok(vec![])
            } else {
                search_versions(text).await
            }
        },
    );
    // A version that starts or stops running changes the list itself.
    Effect::new(move |_| {
        if let Some(ev) = live.last.get() {
            let known = rows
                .get_untracked()
                .and_then(Result::ok)
                .is_some_and(|r| r.iter().any(|row| row.version == ev.version));
            let gone = ev.status.state == DeployState::NotDeployed && !ev.status.desired;
            if known == gone {
                refetch.update(|n| *n += 1);
            }
        }
    });
    let batch_error = action_error(batch);
    Effect::new(move |_| {
        if let Some(Ok(_)) = batch.value().get() {
            selected.set(HashSet::new());
        }
    });
    view! {
        <h1>"Dashboard"</h1>
        <p class="hint" role="status">{move || if live.connected.get() {
            "Live: statuses update as they change."
        } else {
            "Connecting to live updates…"
        }}</p>
        <div class="filters">
            <label for="dashboard-project">"Project"</label>
            <select id="dashboard-project" on:change:target=move |ev| {
                project.set(ev.target().value().parse::<i64>().ok().map(ProjectId));
            }>
                <option value="">"All projects"</option>
                // No suspense inside a select: the browser's parser would not keep its markers.
                {move || browser_value(projects).and_then(Result::ok).unwrap_or_default().into_iter().map(|p| view! {
                    <option value=p.id.0.to_string()>{p.name}</option>
                }).collect_view()}
            </select>
            <label for="dashboard-search">"Search versions"</label>
            <input id="dashboard-search" type="search" placeholder="tag or project"
                on:input:target=move |ev| search.set(ev.target().value())/>
        </div>
        <div class="buttons">
            <button type="button" class="secondary" disabled=move || selected.with(HashSet::is_empty)
                on:click=move |_| { batch.dispatch(DeployOrStopVersions { ids: selected.get().into_iter().collect(), deploy: true }); }>
                {move || format!("Deploy or redeploy selected ({})", selected.with(HashSet::len))}
            </button>
            <button type="button" class="secondary" disabled=move || selected.with(HashSet::is_empty)
                on:click=move |_| { batch.dispatch(DeployOrStopVersions { ids: selected.get().into_iter().collect(), deploy: false }); }>
                {move || format!("Stop selected ({})", selected.with(HashSet::len))}
            </button>
        </div>
        {move || batch.value().get().and_then(Result::ok).map(|outcomes| {
            let refused: Vec<String> = outcomes.iter().filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.name))).collect();
            let accepted = outcomes.len() - refused.len();
            view! {
                <p class="success" role="status">{format!("{accepted} of {} accepted.", outcomes.len())}</p>
                {(!refused.is_empty()).then(|| view! { <p class="error" role="alert">{refused.join(" · ")}</p> })}
            }
        })}
        {move || batch_error.get().map(|e| view! { <ErrorBox error=e/> })}
        <Transition fallback=|| view! { <p>"Loading deployments…"</p> }>
            {kept(rows, move |loaded| match loaded {
                    Ok(list) if list.is_empty() => view! {
                        <p>"Nothing is deployed. Search for a version above, or open a project, and deploy it."</p>
                    }.into_any(),
                    Ok(list) => view! { <DeployedTable rows=list selected switch/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
        <Transition fallback=|| ()>
            {kept(hits, move |loaded| match loaded {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => view! { <SearchHits hits=list selected/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
    }
}

/// A checkbox that adds or removes a version from the selection.
#[component]
fn SelectBox(version: VersionId, name: String, selected: RwSignal<HashSet<VersionId>>) -> impl IntoView {
    view! {
        <input type="checkbox" aria-label=format!("Select {name}")
            prop:checked=move || selected.with(|s| s.contains(&version))
            on:change:target=move |ev| {
                let on = ev.target().checked();
                selected.update(|s| {
                    if on { s.insert(version); } else { s.remove(&version); }
                });
            }/>
    }
}

#[component]
fn DeployedTable(
    rows: Vec<DashboardRow>,
    selected: RwSignal<HashSet<VersionId>>,
    switch: ServerAction<SetVersionSelectValues>,
) -> impl IntoView {
    let live = expect_context::<LiveStatus>();
    let switch_error = action_error(switch);
    let count = rows.len();
    view! {
        {move || switch_error.get().map(|e| view! { <ErrorBox error=e/> })}
        <table class="list">
            <caption>{if count == 1 { "1 deployed version".to_string() } else { format!("{count} deployed versions") }}</caption>
            <thead><tr>
                <th scope="col">"Select"</th>
                <th scope="col">"Version"</th>
                <th scope="col">"Status"</th>
                <th scope="col">"Deployed"</th>
                <th scope="col">"Image built"</th>
                <th scope="col">"URLs"</th>
                <th scope="col">"Variables"</th>
                <th scope="col">"Actions"</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let name = format!("{}:{}", r.project_name, r.version_name);
                    let status = live.status(r.version, r.status.clone());
                    let vid = r.version;
                    view! {
                        <tr>
                            <td><SelectBox version=vid name=name.clone() selected/></td>
                            <th scope="row"><a href=format!("/projects/{}/versions/{}", r.project.0, r.version.0)>{name.clone()}</a></th>
                            <td><StatusBadge status/></td>
                            <td>{deployed_text(&r.status)}<br/><StopTime version=vid name=name.clone() status/></td>
                            <td>{r.image_created_at.as_ref().map_or("unknown".to_string(), when)}</td>
                            <td>{r.urls.iter().map(|u| {
                                let href = crate::model::link_href(u);
                                view! { <a href=href target="_blank" rel="noopener">{u.clone()}</a>" " }
                            }).collect_view()}</td>
                            <td>{r.variables.into_iter().map(|var| {
                                let id = format!("var-{}-{}", vid.0, var.name);
                                let var_name = var.name.clone();
                                let current = var.current.clone();
                                view! {
                                    <label for=id.clone()>{var.label.clone()}</label>
                                    <select id=id aria-label=format!("{} of {name}", var.label) on:change:target=move |ev| {
                                        switch.dispatch(SetVersionSelectValues {
                                            id: vid,
                                            values: BTreeMap::from([(var_name.clone(), ev.target().value())]),
                                        });
                                    }>
                                        {var.values.into_iter().map(|v| {
                                            let sel = v == current;
                                            let text = v.clone();
                                            view! { <option value=v selected=sel>{text}</option> }
                                        }).collect_view()}
                                    </select>
                                }
                            }).collect_view()}</td>
                            <td class="actions"><DeployButtons version=vid name=name status/></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn deployed_text(s: &DeployStatus) -> String {
    match (&s.started_at, &s.requested_by) {
        (Some(at), Some(by)) => format!("{} by {by}", when(at)),
        (Some(at), None) => when(at),
        _ => "–".into(),
    }
}

#[component]
fn SearchHits(hits: Vec<VersionHit>, selected: RwSignal<HashSet<VersionId>>) -> impl IntoView {
    let live = expect_context::<LiveStatus>();
    view! {
        <h2>"Versions found"</h2>
        <table class="list">
            <caption>{match hits.len() { 1 => "1 version matches".to_string(), n => format!("{n} versions match") }}</caption>
            <thead><tr>
                <th scope="col">"Select"</th>
                <th scope="col">"Version"</th>
                <th scope="col">"Image built"</th>
                <th scope="col">"Status"</th>
                <th scope="col">"Actions"</th>
            </tr></thead>
            <tbody>
                {hits.into_iter().map(|h| {
                    let name = format!("{}:{}", h.project_name, h.version_name);
                    let initial = DeployStatus { state: h.state, desired: h.state != DeployState::NotDeployed, ..Default::default() };
                    let status = live.status(h.version, initial);
                    view! {
                        <tr>
                            <td><SelectBox version=h.version name=name.clone() selected/></td>
                            <th scope="row"><a href=format!("/projects/{}/versions/{}", h.project.0, h.version.0)>{name.clone()}</a></th>
                            <td>{h.image_created_at.as_ref().map_or("unknown".to_string(), when)}</td>
                            <td><StatusBadge status/></td>
                            <td class="actions"><DeployButtons version=h.version name status/></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
