//! Projects: the list (everyone), the project form (DOER+), and a project's page with its poll
//! status, "Poll now" and its versions.

use crate::components::kept;
use crate::{
    api::{
        namespaces::list_namespaces,
        projects::{
            DeleteProject, ImportProject, PollProject, SaveProject, get_project, get_project_config,
            list_projects, list_versions,
        },
        registries::list_docker_registry_names,
    },
    components::{
        ActionResult, ErrorBox, FieldMessage, Pager, RequireRole, action_error, browser_value,
        deploy::{DeployButtons, LiveStatus, StatusBadge},
        page_caption,
    },
    error::AppError,
    model::{
        CurrentUser, Lifetime, PollStatus, Project, ProjectId, ProjectInput, RedeployPolicy, Role,
        VersionPage, VersionQuery, VersionSort,
    },
    pages::{
        configuration::ProjectConfiguration,
        export::{ExportPanel, ImportForm},
    },
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The poll status in words (never only a colour).
fn poll_text(p: &PollStatus) -> String {
    match (&p.last_error, &p.last_poll_at) {
        (Some(e), Some(at)) => format!("Last poll failed at {} because {e}", when(at)),
        (None, Some(at)) => format!("Polled at {}", when(at)),
        _ => "Not polled yet".into(),
    }
}

fn poll_class(p: &PollStatus) -> &'static str {
    match (&p.last_error, &p.last_poll_at) {
        (Some(_), _) => "status failing",
        (None, Some(_)) => "status ok",
        _ => "status pending",
    }
}

/// The projects page.
#[component]
pub fn ProjectsPage() -> impl IntoView {
    view! {
        <Title text="Projects · O-Neko"/>
        <RequireRole role=Role::Viewer>
            <ProjectList/>
        </RequireRole>
    }
}

#[component]
fn ProjectList() -> impl IntoView {
    let me = expect_context::<CurrentUser>();
    let import = ServerAction::<ImportProject>::new();
    // A version whose state changes can change its project's status: refetch then (not on
    // every pushed event: pods starting and stopping push many).
    let refetch = RwSignal::new(0u32);
    let projects = Resource::new(
        move || (import.version().get(), refetch.get()),
        |_| list_projects(),
    );
    if let Some(live) = use_context::<LiveStatus>() {
        let seen = StoredValue::new(std::collections::HashMap::new());
        Effect::new(move |_| {
            if let Some(ev) = live.last.get() {
                let before = seen
                    .try_update_value(|m| m.insert(ev.version, ev.status.state))
                    .flatten();
                if before != Some(ev.status.state) {
                    refetch.update(|n| *n += 1);
                }
            }
        });
    }
    let search = RwSignal::new(String::new());
    let creating = RwSignal::new(false);
    let importing = RwSignal::new(false);
    let can_edit = me.has(Role::Doer);
    view! {
        <h1>"Projects"</h1>
        <div class="filters">
            <label for="project-search">"Search projects"</label>
            <input id="project-search" type="search" bind:value=search/>
            <Show when=move || can_edit && !creating.get()>
                <button type="button" on:click=move |_| creating.set(true)>"New project"</button>
            </Show>
            <Show when=move || can_edit && !importing.get()>
                <button type="button" class="secondary" on:click=move |_| importing.set(true)>"Import project"</button>
            </Show>
        </div>
        <Show when=move || creating.get()>
            <ProjectForm editing=None on_done=Callback::new(move |_| creating.set(false))/>
        </Show>
        <Show when=move || importing.get()>
            <ImportForm import on_done=Callback::new(move |_| importing.set(false))/>
        </Show>
        <Transition fallback=|| view! { <p>"Loading projects…"</p> }>
            {kept(projects, move |loaded| match loaded {
                    Ok(list) if list.is_empty() => view! { <p>"No projects yet."</p> }.into_any(),
                    Ok(list) => view! { <ProjectTable projects=list search/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
    }
}

#[component]
fn ProjectTable(projects: Vec<Project>, search: RwSignal<String>) -> impl IntoView {
    let projects = StoredValue::new(projects);
    let shown = move || {
        let q = search.get().to_lowercase();
        projects.with_value(|all| {
            all.iter()
                .filter(|p| {
                    q.is_empty()
                        || p.name.to_lowercase().contains(&q)
                        || p.image_repository.to_lowercase().contains(&q)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <table class="list">
            <caption>{move || match shown().len() {
                1 => "1 project".to_string(),
                n => format!("{n} projects"),
            }}</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Image"</th>
                    <th scope="col">"Versions"</th>
                    <th scope="col">"Deployed"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Tag polling"</th>
                </tr>
            </thead>
            <tbody>
                {move || shown().into_iter().map(|p| view! {
                    <tr>
                        <th scope="row"><a href=format!("/projects/{}", p.id.0)>{p.name.clone()}</a></th>
                        <td>{format!("{} / {}", p.registry.name, p.image_repository)}</td>
                        <td>{p.versions}</td>
                        <td>{p.deployed_versions}</td>
                        // The worst state of its versions.
                        <td><span class=format!("state {}", p.state.as_str().replace('_', "-"))>{p.state.label()}</span></td>
                        <td><span class=poll_class(&p.poll)>{poll_text(&p.poll)}</span></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Creates a project, or edits `editing`. `on_done` runs after a successful save or on cancel.
#[component]
fn ProjectForm(editing: Option<Project>, on_done: Callback<()>) -> impl IntoView {
    let save = ServerAction::<SaveProject>::new();
    // A local resource: this form only renders in the browser, and a hydrated `Resource` created
    // after hydration can pick up another resource's server data.
    let registries = LocalResource::new(list_docker_registry_names);
    let id = editing.as_ref().map(|p| p.id);
    let e = editing.as_ref();
    let name = RwSignal::new(e.map(|p| p.name.clone()).unwrap_or_default());
    let registry = RwSignal::new(e.map(|p| p.registry.id.0.to_string()).unwrap_or_default());
    let repository = RwSignal::new(e.map(|p| p.image_repository.clone()).unwrap_or_default());
    let policy = RwSignal::new(
        e.map_or(RedeployPolicy::Automatic, |p| p.redeploy_policy)
            .as_str()
            .to_string(),
    );
    let (kind, count) = e.map_or(Lifetime::Infinite, |p| p.lifetime).form_parts();
    let lifetime_kind = RwSignal::new(kind.to_string());
    let lifetime_count = RwSignal::new(count);
    let include = RwSignal::new(e.map(|p| p.tag_include.clone()).unwrap_or_default());
    let exclude = RwSignal::new(e.map(|p| p.tag_exclude.clone()).unwrap_or_default());
    let ignore_signatures = RwSignal::new(e.is_none_or(|p| p.ignore_signature_tags));
    let interval = RwSignal::new(
        e.and_then(|p| p.poll_interval_secs)
            .map(|s| s.to_string())
            .unwrap_or_default(),
    );
    let namespace = RwSignal::new(e.and_then(|p| p.namespace.clone()).unwrap_or_default());
    let namespaces = LocalResource::new(list_namespaces);
    let error = action_error(save);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(p)) = save.value().get() {
            // Navigate first: closing the form (`on_done`) disposes this effect's owner.
            if id.is_none() {
                navigate(&format!("/projects/{}", p.id.0), Default::default());
            }
            on_done.run(());
        }
    });
    let title = if id.is_some() {
        "Edit project"
    } else {
        "New project"
    };
    view! {
        <section class="card">
            <h2>{title}</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let lifetime = match lifetime_kind.get().as_str() {
                    k @ ("hours" | "days" | "at") => Lifetime::form_encode(k, &lifetime_count.get()),
                    k => k.to_string(),
                };
                save.dispatch(SaveProject {
                    project: ProjectInput {
                        id,
                        name: name.get(),
                        registry: registry.get().parse().ok().map(crate::model::DockerRegistryId),
                        image_repository: repository.get(),
                        redeploy_policy: policy.get(),
                        lifetime,
                        tag_include: include.get(),
                        tag_exclude: exclude.get(),
                        ignore_signature_tags: ignore_signatures.get(),
                        poll_interval_secs: interval.get(),
                        namespace: namespace.get(),
                    },
                });
            }>
                <div class="grid">
                    <div>
                        <label for="project-name">"Name"</label>
                        <input id="project-name" type="text" required bind:value=name/>
                        <FieldMessage error field="name" id="project-name-error"/>
                    </div>
                    <div>
                        <label for="project-registry">"Docker registry"</label>
                        <select id="project-registry" required
                            on:change:target=move |ev| registry.set(ev.target().value())>
                            <option value="">"Choose a registry"</option>
                            // Read directly (the form only ever renders in the browser): a
                            // suspense boundary inside a <select> lost its options now and then.
                            {move || browser_value(registries).and_then(Result::ok).unwrap_or_default().into_iter().map(|r| {
                                let value = r.id.0.to_string();
                                let v2 = value.clone();
                                view! { <option value=value selected=move || registry.get() == v2>{r.name}</option> }
                            }).collect_view()}
                        </select>
                        <FieldMessage error field="registry" id="project-registry-error"/>
                    </div>
                    <div>
                        <label for="project-repository">"Image repository"</label>
                        <input id="project-repository" type="text" placeholder="team/app" required
                            aria-describedby="project-repository-hint" bind:value=repository/>
                        <p class="hint" id="project-repository-hint">"The path inside the registry, without host or tag. Every tag becomes a version."</p>
                        <FieldMessage error field="image_repository" id="project-repository-error"/>
                    </div>
                    <div>
                        <label for="project-policy">"When a version's image changes"</label>
                        <select id="project-policy" on:change:target=move |ev| policy.set(ev.target().value())>
                            {RedeployPolicy::ALL.into_iter().map(|p| view! {
                                <option value=p.as_str() selected=move || policy.get() == p.as_str()>{p.label()}</option>
                            }).collect_view()}
                        </select>
                        <FieldMessage error field="redeploy_policy" id="project-policy-error"/>
                    </div>
                    <div>
                        <label for="project-lifetime">"Default lifetime of deployments"</label>
                        <select id="project-lifetime" on:change:target=move |ev| lifetime_kind.set(ev.target().value())>
                            {Lifetime::FORM_KINDS
                                .into_iter()
                                .map(|(v, l)| view! { <option value=v selected=move || lifetime_kind.get() == v>{l}</option> })
                                .collect_view()}
                        </select>
                        <Show when=move || matches!(lifetime_kind.get().as_str(), "hours" | "days")>
                            <label for="project-lifetime-count">{move || format!("Number of {}", lifetime_kind.get())}</label>
                            <input id="project-lifetime-count" type="number" min="1" bind:value=lifetime_count/>
                        </Show>
                        <Show when=move || lifetime_kind.get() == "at">
                            <label for="project-lifetime-at">"Stop at (UTC)"</label>
                            <input id="project-lifetime-at" type="datetime-local" bind:value=lifetime_count/>
                        </Show>
                        <FieldMessage error field="lifetime" id="project-lifetime-error"/>
                    </div>
                    <div>
                        <label for="project-namespace">"Target namespace"</label>
                        <select id="project-namespace" prop:value=move || namespace.get()
                            on:change:target=move |ev| namespace.set(ev.target().value())>
                            <option value="">"A new on- namespace per version"</option>
                            {move || {
                                let mut names: Vec<String> = browser_value(namespaces).and_then(Result::ok).unwrap_or_default()
                                    .into_iter().map(|n| n.name).collect();
                                let current = namespace.get_untracked();
                                if !current.is_empty() && !names.contains(&current) {
                                    names.push(current);
                                }
                                names.into_iter().map(|n| {
                                    let v = n.clone();
                                    view! { <option value=n.clone() selected=move || namespace.get() == v>{format!("Shared: {n}")}</option> }
                                }).collect_view()
                            }}
                        </select>
                        <FieldMessage error field="namespace" id="project-namespace-error"/>
                    </div>
                    <div>
                        <label for="project-interval">"Poll interval in seconds"</label>
                        <input id="project-interval" type="number" min="5" placeholder="server default"
                            bind:value=interval/>
                        <FieldMessage error field="poll_interval_secs" id="project-interval-error"/>
                    </div>
                    <div>
                        <label for="project-include">"Only tags matching (regular expression)"</label>
                        <input id="project-include" type="text" placeholder="e.g. ^(main|feature-.*)$" bind:value=include/>
                        <FieldMessage error field="tag_include" id="project-include-error"/>
                    </div>
                    <div>
                        <label for="project-exclude">"Skip tags matching (regular expression)"</label>
                        <input id="project-exclude" type="text" bind:value=exclude/>
                        <FieldMessage error field="tag_exclude" id="project-exclude-error"/>
                    </div>
                </div>
                <label class="check"><input type="checkbox" bind:checked=ignore_signatures/>
                    " Ignore signature and attestation tags (sha256-….sig, .att, .sbom)"</label>
                <ActionResult error success=Signal::derive(move || {
                    matches!(save.value().get(), Some(Ok(_))).then(|| "Project saved.".to_string())
                })/>
                <div class="buttons">
                    <button type="submit" disabled=move || save.pending().get()>"Save project"</button>
                    <button type="button" class="secondary" on:click=move |_| on_done.run(())>"Cancel"</button>
                </div>
            </form>
        </section>
    }
}

/// A project's page.
#[component]
pub fn ProjectPage() -> impl IntoView {
    view! {
        <Title text="Project · O-Neko"/>
        <RequireRole role=Role::Viewer>
            <ProjectDetail/>
        </RequireRole>
    }
}

/// The project's page body. Every resource and `<Transition>` of the page is created here,
/// synchronously and keyed on the route's id, and handed down: nothing below creates one after
/// an `.await` (a server render may run a `<Transition>`'s children more than once).
#[component]
fn ProjectDetail() -> impl IntoView {
    let me = expect_context::<CurrentUser>();
    let can_edit = me.has(Role::Doer);
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .map(ProjectId)
    });
    let poll = ServerAction::<PollProject>::new();
    let delete = ServerAction::<DeleteProject>::new();
    let editing = RwSignal::new(false);
    let saved = RwSignal::new(0u32);
    // Refreshes the poll status and the versions every few seconds (not while the form is open,
    // which a refresh would reset). Effects run only in the browser.
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                if !editing.get_untracked() {
                    tick.update(|n| *n += 1);
                }
            },
            std::time::Duration::from_secs(5),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    });
    let project = Resource::new(
        move || (id.get(), poll.version().get(), saved.get(), tick.get()),
        |(id, _, _, _)| async move {
            match id {
                Some(id) => get_project(id).await,
                None => Err(AppError::not_found("project")),
            }
        },
    );
    // The versions, refreshed with the project (polls find new ones).
    let query = VersionsQuery::default();
    let versions = Resource::new(
        move || {
            (
                id.get(),
                query.filter.get(),
                query.include_removed.get(),
                query.sort.get(),
                query.page.get(),
                poll.version().get(),
                tick.get(),
            )
        },
        |(id, filter, include_removed, sort, page, ..)| async move {
            match id {
                Some(project) => {
                    list_versions(VersionQuery {
                        project,
                        filter,
                        include_removed,
                        sort,
                        page,
                        tag: None,
                        page_size: None,
                    })
                    .await
                }
                None => Err(AppError::not_found("project")),
            }
        },
    );
    // Loaded once per project: after a save the form already holds what was saved, and after a
    // refused save it must keep what the user typed.
    let config = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_project_config(id).await.map(|c| (id, c)),
                None => Err(AppError::not_found("project")),
            }
        },
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/projects", Default::default());
        }
    });
    let poll_result = move || {
        poll.value().get().map(|r| match r {
            Ok(r) => {
                let mut parts = vec![format!("{} tags seen", r.tags_seen)];
                for (names, what) in [
                    (&r.new_versions, "new"),
                    (&r.removed_versions, "removed"),
                    (&r.restored_versions, "back"),
                    (&r.digest_changes, "with a new image"),
                    (&r.skipped_tags, "skipped, not valid tags"),
                ] {
                    if !names.is_empty() {
                        parts.push(format!("{} {what}: {}", names.len(), names.join(", ")));
                    }
                }
                view! { <p class="success" role="status">{format!("{}.", parts.join("; "))}</p> }.into_any()
            }
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <Transition fallback=|| view! { <p>"Loading project…"</p> }>
            {kept(project, move |loaded| match loaded {
                    Err(e) => view! { <h1>"Project"</h1><ErrorBox error=e/> }.into_any(),
                    Ok(p) => {
                        let pid = p.id;
                        let edit_copy = StoredValue::new(p.clone());
                        let confirm = RwSignal::new(false);
                        let running = p.deployed_versions;
                        let confirm_text = StoredValue::new(if running > 0 {
                            format!("Stop {running} deployed version{} and delete", if running == 1 { "" } else { "s" })
                        } else {
                            "Confirm delete".to_string()
                        });
                        view! {
                            <Title text=format!("{} · O-Neko", p.name)/>
                            <h1>{p.name.clone()}</h1>
                            {p.deleting.then(|| view! {
                                <p class="notice" role="status">"Being deleted: its deployed versions are being stopped; then the project goes."</p>
                            })}
                            <dl class="facts">
                                <dt>"Deployments"</dt><dd>{format!("{} of {} versions deployed; {}", p.deployed_versions, p.versions, p.state.label())}</dd>
                                <dt>"Image"</dt><dd>{format!("{} / {}", p.registry.name, p.image_repository)}</dd>
                                <dt>"When the image changes"</dt><dd>{p.redeploy_policy.label()}</dd>
                                <dt>"Default lifetime"</dt><dd>{p.lifetime.label()}</dd>
                                <dt>"Tag filter"</dt><dd>{filter_text(&p)}</dd>
                                <dt>"Deploys into"</dt><dd>{p.namespace.clone().map_or("a new on- namespace per version".to_string(), |n| format!("the shared namespace {n}"))}</dd>
                                <dt>"Poll interval"</dt><dd>{p.poll_interval_secs.map_or("server default".to_string(), |s| format!("{s} s"))}</dd>
                                <dt>"Tag polling"</dt><dd><span class=poll_class(&p.poll)>{poll_text(&p.poll)}</span>
                                    {p.poll.next_poll_at.map(|t| format!(" · next poll at {}", when(&t)))}</dd>
                            </dl>
                            <p><a href=format!("/activity?project={}", pid.0)>"Activity of this project"</a></p>
                            <Show when=move || can_edit>
                                <div class="buttons">
                                    <button type="button" disabled=move || poll.pending().get()
                                        on:click=move |_| { poll.dispatch(PollProject { id: pid }); }>
                                        {move || if poll.pending().get() { "Polling…" } else { "Poll now" }}
                                    </button>
                                    <button type="button" class="secondary" on:click=move |_| editing.set(true)>"Edit project"</button>
                                    <Show when=move || !confirm.get() fallback=move || view! {
                                        <button type="button" class="danger" on:click=move |_| {
                                            delete.dispatch(DeleteProject { id: pid, confirm: running > 0 });
                                            confirm.set(false);
                                        }>{confirm_text.get_value()}</button>
                                        <button type="button" on:click=move |_| confirm.set(false)>"Cancel"</button>
                                    }>
                                        <button type="button" class="danger" on:click=move |_| confirm.set(true)>"Delete project"</button>
                                    </Show>
                                </div>
                            </Show>
                            <div aria-live="polite">{poll_result}</div>
                            <ActionResult error=action_error(delete)/>
                            <Show when=move || editing.get()>
                                <ProjectForm editing=Some(edit_copy.get_value()) on_done=Callback::new(move |_| {
                                    editing.set(false);
                                    saved.update(|n| *n += 1);
                                })/>
                            </Show>
                        }.into_any()
                    }
                })}
        </Transition>
        // Outside the refreshing part above, so a refresh never resets what is being edited.
        <Versions versions query/>
        <ProjectConfiguration config can_edit/>
        <crate::pages::policy::PolicySection project=id/>
        {move || id.get().map(|pid| view! { <ExportPanel project=pid/> })}
    }
}

fn filter_text(p: &Project) -> String {
    let mut parts = vec![];
    if !p.tag_include.is_empty() {
        parts.push(format!("only {}", p.tag_include));
    }
    if !p.tag_exclude.is_empty() {
        parts.push(format!("skip {}", p.tag_exclude));
    }
    if p.ignore_signature_tags {
        parts.push("signature tags ignored".into());
    }
    if parts.is_empty() {
        "every tag".into()
    } else {
        parts.join("; ")
    }
}

/// What the version list shows: set by its filters, read by the page's versions resource.
#[derive(Clone, Copy)]
struct VersionsQuery {
    filter: RwSignal<String>,
    include_removed: RwSignal<bool>,
    sort: RwSignal<VersionSort>,
    page: RwSignal<u64>,
}

impl Default for VersionsQuery {
    fn default() -> Self {
        VersionsQuery {
            filter: RwSignal::new(String::new()),
            include_removed: RwSignal::new(false),
            sort: RwSignal::new(VersionSort::Newest),
            page: RwSignal::new(0),
        }
    }
}

/// The project's versions, with their filters.
#[component]
fn Versions(versions: Resource<Result<VersionPage, AppError>>, query: VersionsQuery) -> impl IntoView {
    let live = expect_context::<LiveStatus>();
    let VersionsQuery {
        filter,
        include_removed,
        sort,
        page,
    } = query;
    view! {
        <h2>"Versions"</h2>
        <div class="filters">
            <label for="version-filter">"Filter tags"</label>
            <input id="version-filter" type="search" on:input:target=move |ev| {
                filter.set(ev.target().value());
                page.set(0);
            }/>
            <label for="version-sort">"Sort by"</label>
            <select id="version-sort" on:change:target=move |ev| {
                sort.set(if ev.target().value() == "name" { VersionSort::Name } else { VersionSort::Newest });
            }>
                <option value="newest">"Newest image first"</option>
                <option value="name">"Tag name"</option>
            </select>
            <label class="check"><input type="checkbox" bind:checked=include_removed/>" Show removed versions"</label>
        </div>
        <Transition fallback=|| view! { <p>"Loading versions…"</p> }>
            {kept(versions, move |loaded| match loaded {
                    Ok(p) if p.items.is_empty() => view! { <p>"No versions (yet)."</p> }.into_any(),
                    Ok(p) => {
                        let caption = page_caption("Versions", p.page, p.page_size, p.items.len(), p.total);
                        view! {
                            <table class="list">
                                <caption>{caption}</caption>
                                <thead><tr>
                                    <th scope="col">"Tag"</th>
                                    <th scope="col">"Image built"</th>
                                    <th scope="col">"Digest"</th>
                                    <th scope="col">"Image updated"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Actions"</th>
                                </tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|v| {
                                        let digest = v.digest.clone().unwrap_or_else(|| "unknown".into());
                                        let short = digest.trim_start_matches("sha256:").chars().take(12).collect::<String>();
                                        let status = live.status(v.id, v.status.clone());
                                        // On the project's page the tag names the version.
                                        let name = v.name.clone();
                                        view! {
                                            <tr>
                                                <th scope="row"><a href=format!("/projects/{}/versions/{}", v.project.0, v.id.0)>{v.name.clone()}</a></th>
                                                <td>{v.image_created_at.as_ref().map_or("unknown".to_string(), when)}</td>
                                                <td><code title=digest>{short}</code></td>
                                                <td>{v.image_updated_at.as_ref().map_or("–".to_string(), |t| format!("image updated at {}", when(t)))}</td>
                                                <td>{match &v.removed_at {
                                                    Some(at) => view! { <span>{format!("Removed from the registry at {}", when(at))}</span> }.into_any(),
                                                    None => view! { <StatusBadge status/> }.into_any(),
                                                }}</td>
                                                <td class="actions">{v.removed_at.is_none().then(|| view! {
                                                    <DeployButtons version=v.id name status/>
                                                })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager page current=p.page page_size=p.page_size total=p.total
                                label="Version pages" back="Previous" forward="Next"/>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
    }
}
