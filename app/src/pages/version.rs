//! A version's page: its facts, the dashboard select variables (every role), its overrides
//! (DOER+), and "Show configuration".

use crate::components::kept;
use crate::{
    api::{
        deployments::get_deployment,
        namespaces::list_namespaces,
        projects::{PreviewConfiguration, SaveVersion, SetVersionSelectValues, get_version},
    },
    components::{
        ActionResult, ErrorBox, FieldMessage, RequireRole, action_error, browser_value, deploy::LiveStatus,
    },
    error::AppError,
    model::{
        ConfigTemplate, CurrentUser, Lifetime, RedeployPolicy, Role, VersionDetail, VersionId, VersionInput,
        VersionOverrides,
    },
    pages::{
        configuration::{DynFieldMessage, TemplateEditor, helm_registry_names, lines},
        deployment::DeploymentSection,
    },
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use std::collections::BTreeMap;

/// The version page.
#[component]
pub fn VersionPage() -> impl IntoView {
    view! {
        <Title text="Version · O-Neko"/>
        <RequireRole role=Role::Viewer>
            <VersionView/>
        </RequireRole>
    }
}

/// The version page's body. Every resource and `<Transition>` of the page is created here,
/// synchronously and keyed on the route's version id, and handed down: nothing below creates one
/// after an `.await` (a server render may run a `<Transition>`'s children more than once).
#[component]
fn VersionView() -> impl IntoView {
    let me = expect_context::<CurrentUser>();
    let live = expect_context::<LiveStatus>();
    let can_edit = me.has(Role::Doer);
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("vid")
            .and_then(|s| s.parse::<i64>().ok())
            .map(VersionId)
    });
    let select = ServerAction::<SetVersionSelectValues>::new();
    let save = ServerAction::<SaveVersion>::new();
    // Refetched after a successful save only: a refused save keeps what the user typed.
    let saved_ok = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            saved_ok.update(|n| *n += 1);
        }
    });
    let detail = Resource::new(
        move || (id.get(), saved_ok.get()),
        |(id, _)| async move {
            match id {
                Some(id) => get_version(id).await,
                None => Err(AppError::not_found("version")),
            }
        },
    );
    // What runs: refetched whenever the server pushes a change of this version, and when the
    // live stream (re)opens (what changed before was not pushed).
    let changes = Memo::new(move |n: Option<&u32>| {
        let mine = live.last.get().is_some_and(|e| Some(e.version) == id.get());
        n.copied().unwrap_or(0) + u32::from(mine)
    });
    let running = Resource::new(
        move || (id.get(), changes.get(), live.opened.get()),
        |(id, ..)| async move {
            match id {
                Some(id) => get_deployment(id).await.map(|d| (id, d)),
                None => Err(AppError::not_found("version")),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p>"Loading version…"</p> }>
            {kept(detail, move |loaded| match loaded {
                    Err(e) => view! { <h1>"Version"</h1><ErrorBox error=e/> }.into_any(),
                    Ok(d) => view! { <VersionHeader detail=d/> }.into_any(),
                })}
        </Transition>
        <DeploymentSection detail running/>
        <Transition fallback=|| ()>
            {kept(detail, move |loaded| match loaded {
                    // Said at the top of the page.
                    Err(_) => ().into_any(),
                    Ok(d) => view! { <VersionSettings detail=d select save can_edit/> }.into_any(),
                })}
        </Transition>
    }
}

fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The version's name and facts.
#[component]
fn VersionHeader(detail: VersionDetail) -> impl IntoView {
    let v = detail.version;
    let p = detail.project;
    view! {
        <Title text=format!("{}:{} · O-Neko", p.name, v.name)/>
        <p><a href=format!("/projects/{}", p.id.0)>{format!("← {}", p.name)}</a></p>
        <h1>{format!("{} : {}", p.name, v.name)}</h1>
        <dl class="facts">
            <dt>"Digest"</dt><dd><code>{v.digest.clone().unwrap_or_else(|| "unknown".into())}</code></dd>
            <dt>"Image built"</dt><dd>{v.image_created_at.as_ref().map_or("unknown".into(), when)}</dd>
            <dt>"Image updated"</dt><dd>{v.image_updated_at.as_ref().map_or("never since it was found".into(), |t| format!("image updated at {}", when(t)))}</dd>
            <dt>"In the registry"</dt><dd>{match &v.removed_at {
                Some(at) => format!("Removed from the registry at {}", when(at)),
                None => "Yes".to_string(),
            }}</dd>
            <dt>"When the image changes"</dt><dd>{v.redeploy_policy.label()}</dd>
        </dl>
    }
}

/// The dashboard select variables (every role), the version's settings (DOER+) and its
/// rendered configuration.
#[component]
fn VersionSettings(
    detail: VersionDetail,
    select: ServerAction<SetVersionSelectValues>,
    save: ServerAction<SaveVersion>,
    can_edit: bool,
) -> impl IntoView {
    let vid = detail.version.id;
    let dashboard_vars: Vec<_> = detail
        .project_config
        .variables
        .iter()
        .filter(|x| x.use_values && x.show_on_dashboard)
        .cloned()
        .collect();
    let select_error = action_error(select);
    let current_values = detail.overrides.values.clone();
    let overrides_detail = StoredValue::new(detail);
    view! {
        <Show when={
            let any = !dashboard_vars.is_empty();
            move || any
        }>
            <h2>"Variables"</h2>
            <div class="filters">
                {dashboard_vars.iter().map(|var| {
                    let name = var.name.clone();
                    let current = current_values.get(&var.name).cloned().unwrap_or(var.default_value.clone());
                    let id = format!("select-{}", var.name);
                    let label = if var.label.is_empty() { var.name.clone() } else { var.label.clone() };
                    view! {
                        <label for=id.clone()>{label}</label>
                        <select id=id on:change=move |ev| {
                            select.dispatch(SetVersionSelectValues {
                                id: vid,
                                values: BTreeMap::from([(name.clone(), event_target_value(&ev))]),
                            });
                        }>
                            {var.values.iter().map(|val| {
                                let selected = *val == current;
                                view! { <option value=val.clone() selected=selected>{val.clone()}</option> }
                            }).collect_view()}
                        </select>
                    }
                }).collect_view()}
            </div>
            <ActionResult error=select_error success=Signal::derive(move || {
                matches!(select.value().get(), Some(Ok(_))).then(|| "Variable switched.".to_string())
            })/>
        </Show>
        <Show when=move || can_edit>
            <OverridesForm detail=overrides_detail.get_value() save/>
        </Show>
        <Preview id=vid refresh=Signal::derive(move || select.version().get() + save.version().get())/>
    }
}

#[component]
fn OverridesForm(detail: VersionDetail, save: ServerAction<SaveVersion>) -> impl IntoView {
    let vid = detail.version.id;
    let o = detail.overrides.clone();
    helm_registry_names(true);
    let project_templates = StoredValue::new(detail.project_config.templates.clone());
    let policy = RwSignal::new(detail.version.redeploy_policy.as_str().to_string());
    let (kind, count) = o.lifetime.map_or(("", String::new()), Lifetime::form_parts);
    let lifetime_kind = RwSignal::new(kind.to_string());
    let lifetime_count = RwSignal::new(count);
    let urls = RwSignal::new(o.url_templates.join("\n"));
    // Values of project variables, one signal each; extras as NAME=value lines.
    let project_vars = detail.project_config.variables.clone();
    let var_values: Vec<(String, RwSignal<String>)> = project_vars
        .iter()
        .map(|var| {
            (
                var.name.clone(),
                RwSignal::new(o.values.get(&var.name).cloned().unwrap_or_default()),
            )
        })
        .collect();
    let extras = RwSignal::new(
        o.values
            .iter()
            .filter(|(k, _)| !project_vars.iter().any(|v| &v.name == *k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let templates = RwSignal::new(o.templates.clone());
    let template_count = Memo::new(move |_| templates.with(Vec::len));
    let namespace = RwSignal::new(o.namespace.clone().unwrap_or_else(|| "inherit".into()));
    let namespaces = LocalResource::new(list_namespaces);
    let project_var_names: Vec<String> = project_vars.iter().map(|v| v.name.clone()).collect();
    let variable_names = Signal::derive(move || {
        let mut names = project_var_names.clone();
        names.extend(
            lines(&extras.get())
                .into_iter()
                .map(|l| l.split('=').next().unwrap_or_default().trim().to_string()),
        );
        names
    });
    let error = action_error(save);
    let var_values_submit = var_values.clone();
    view! {
        <h2>"Settings of this version"</h2>
        <p class="hint">"Everything left empty is inherited from the project."</p>
        <form on:submit=move |ev| {
            ev.prevent_default();
            let mut values = BTreeMap::new();
            for (name, sig) in &var_values_submit {
                let v = sig.get();
                if !v.is_empty() {
                    values.insert(name.clone(), v);
                }
            }
            for line in lines(&extras.get()) {
                let (k, v) = line.split_once('=').unwrap_or((line.as_str(), ""));
                values.insert(k.trim().to_string(), v.trim().to_string());
            }
            let lifetime = match lifetime_kind.get().as_str() {
                "" => None,
                kind => Lifetime::form_encode(kind, &lifetime_count.get()).parse().ok(),
            };
            save.dispatch(SaveVersion {
                version: VersionInput {
                    id: Some(vid),
                    redeploy_policy: policy.get(),
                    overrides: VersionOverrides {
                        lifetime,
                        url_templates: lines(&urls.get()),
                        templates: templates.get(),
                        values,
                        namespace: match namespace.get().as_str() {
                            "inherit" => None,
                            other => Some(other.to_string()),
                        },
                    },
                },
            });
        }>
            <div class="grid">
                <div>
                    <label for="version-policy">"When the image changes"</label>
                    <select id="version-policy" on:change=move |ev| policy.set(event_target_value(&ev))>
                        {RedeployPolicy::ALL.into_iter().map(|p| view! {
                            <option value=p.as_str() selected=move || policy.get() == p.as_str()>{p.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="version-lifetime">"Lifetime"</label>
                    <select id="version-lifetime" on:change=move |ev| lifetime_kind.set(event_target_value(&ev))>
                        {std::iter::once(("", "As the project")).chain(Lifetime::FORM_KINDS)
                            .map(|(v, l)| view! { <option value=v selected=move || lifetime_kind.get() == v>{l}</option> })
                            .collect_view()}
                    </select>
                    <Show when=move || matches!(lifetime_kind.get().as_str(), "hours" | "days")>
                        <label for="version-lifetime-count">{move || format!("Number of {}", lifetime_kind.get())}</label>
                        <input id="version-lifetime-count" type="number" min="1" bind:value=lifetime_count/>
                    </Show>
                    <Show when=move || lifetime_kind.get() == "at">
                        <label for="version-lifetime-at">"Stop at (UTC)"</label>
                        <input id="version-lifetime-at" type="datetime-local" bind:value=lifetime_count/>
                    </Show>
                </div>
                <div>
                    <label for="version-namespace">"Namespace"</label>
                    <select id="version-namespace" prop:value=move || namespace.get()
                        on:change=move |ev| namespace.set(event_target_value(&ev))>
                        <option value="inherit">"As the project"</option>
                        <option value="">"Its own on- namespace"</option>
                        {move || {
                            let mut names: Vec<String> = browser_value(namespaces).and_then(Result::ok).unwrap_or_default()
                                .into_iter().map(|n| n.name).collect();
                            let current = namespace.get_untracked();
                            if !matches!(current.as_str(), "inherit" | "") && !names.contains(&current) {
                                names.push(current);
                            }
                            names.into_iter().map(|n| {
                                let v = n.clone();
                                view! { <option value=n.clone() selected=move || namespace.get() == v>{format!("Shared: {n}")}</option> }
                            }).collect_view()
                        }}
                    </select>
                    <FieldMessage error field="overrides.namespace" id="version-namespace-error"/>
                </div>
            </div>
            <h3>"Variable values"</h3>
            <div class="grid">
                {project_vars.iter().zip(var_values.iter()).map(|(var, (_, sig))| {
                    let sig = *sig;
                    let id = format!("value-{}", var.name);
                    let label = format!("{} ({})", if var.label.is_empty() { &var.name } else { &var.label }, var.name);
                    let field = format!("values.{}", var.name);
                    let err_id = format!("value-{}-error", var.name);
                    if var.use_values {
                        let options = var.values.clone();
                        let default = var.default_value.clone();
                        view! {
                            <div>
                                <label for=id.clone()>{label}</label>
                                <select id=id on:change=move |ev| sig.set(event_target_value(&ev))>
                                    <option value="" selected=move || sig.get().is_empty()>{format!("As the project ({default})")}</option>
                                    {options.into_iter().map(|val| {
                                        let v2 = val.clone();
                                        let text = val.clone();
                                        view! { <option value=val selected=move || sig.get() == v2>{text}</option> }
                                    }).collect_view()}
                                </select>
                                <DynFieldMessage error field id=err_id/>
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <div>
                                <label for=id.clone()>{label}</label>
                                <input id=id type="text" placeholder=format!("inherited: {}", var.default_value) bind:value=sig/>
                                <DynFieldMessage error field id=err_id/>
                            </div>
                        }.into_any()
                    }
                }).collect_view()}
            </div>
            <label for="version-extras">"Extra variables of this version (NAME=value, one per line)"</label>
            <textarea id="version-extras" rows="2" spellcheck="false" bind:value=extras></textarea>
            <label for="version-urls">"URL templates (one per line; replaces the project's when set)"</label>
            <textarea id="version-urls" rows="2" spellcheck="false" bind:value=urls></textarea>
            <DynFieldMessage error field="url_templates[0]".to_string() id="version-urls-error".to_string()/>
            <h3>"Configuration templates"</h3>
            <p class="hint">"A template with a project template's name overrides it; other names add a release."</p>
            {move || project_templates.with_value(|pts| pts.iter().filter(|t| !templates.with(|o| o.iter().any(|x| x.name == t.name))).map(|t| {
                let t = t.clone();
                let name = t.name.clone();
                view! {
                    <p>{format!("{} (from the project, chart {})", t.name, t.chart_name)}" "
                        <button type="button" class="secondary" aria-label=format!("Override {name}")
                            on:click=move |_| templates.update(|o| o.push(t.clone()))>"Override"</button>
                    </p>
                }
            }).collect_view())}
            {move || (0..template_count.get()).map(|i| {
                let note = Signal::derive(move || {
                    let name = templates.with(|o| o.get(i).map(|t| t.name.clone()).unwrap_or_default());
                    if project_templates.with_value(|p| p.iter().any(|t| t.name == name)) {
                        "overrides the project's template".to_string()
                    } else {
                        "only in this version".to_string()
                    }
                });
                view! { <TemplateEditor list=templates i prefix="templates" error editable=true note variables=variable_names/> }
            }).collect_view()}
            <button type="button" class="secondary" on:click=move |_| templates.update(|o| o.push(ConfigTemplate::default()))>
                "Add template to this version"
            </button>
            <ActionResult error success=Signal::derive(move || {
                matches!(save.value().get(), Some(Ok(_))).then(|| "Version settings saved.".to_string())
            })/>
            <div class="buttons">
                <button type="submit" disabled=move || save.pending().get()>"Save version settings"</button>
            </div>
        </form>
    }
}

#[component]
fn Preview(id: VersionId, #[prop(into)] refresh: Signal<usize>) -> impl IntoView {
    // An action, not a resource: rendered on demand in the browser, re-rendered when the
    // version's values change while it is shown.
    let shown = RwSignal::new(false);
    let render = ServerAction::<PreviewConfiguration>::new();
    Effect::new(move |_| {
        refresh.track();
        if shown.get() {
            render.dispatch(PreviewConfiguration { id });
        }
    });
    view! {
        <h2>"Configuration"</h2>
        <button type="button" aria-expanded=move || shown.get().to_string()
            on:click=move |_| shown.update(|s| *s = !*s)>
            {move || if shown.get() { "Hide configuration" } else { "Show configuration" }}
        </button>
        {move || shown.get().then(|| view! {
            <p hidden=move || !render.pending().get()>"Rendering…"</p>
            {move || {
                match render.value().get() {
                    None => ().into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    Some(Ok(p)) => view! {
                        <section class="preview" aria-label="Rendered configuration">
                            {p.error.clone().map(|e| view! { <p class="error" role="alert">{format!("This version cannot be rendered: {e}")}</p> })}
                            <p>{format!("Namespace: {}", p.namespace)}</p>
                            {(!p.urls.is_empty()).then(|| view! {
                                <p>"URLs: " {p.urls.join(", ")}</p>
                            })}
                            {(!p.variables.is_empty()).then(|| view! {
                                <table class="list">
                                    <caption>"Effective variables"</caption>
                                    <thead><tr><th scope="col">"Variable"</th><th scope="col">"Value"</th></tr></thead>
                                    <tbody>
                                        {p.variables.iter().map(|(k, v)| view! {
                                            <tr><th scope="row"><code>{k.clone()}</code></th><td><code>{v.clone()}</code></td></tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            })}
                            {p.templates.iter().map(|t| view! {
                                <h3>{format!("{} (release {}, chart {}, from {})", t.name, t.release_name, t.chart, t.origin)}</h3>
                                <pre class="values" aria-label=format!("Values of {}", t.name)>{t.values.clone()}</pre>
                                {t.manifests_error.clone().map(|e| view! {
                                    <p class="error" role="status">{format!("No manifests for {}: {e}", t.name)}</p>
                                })}
                                {t.manifests.clone().map(|m| view! {
                                    <details>
                                        <summary>{format!("Kubernetes manifests of {} ({} objects, from helm template)", t.name,
                                            m.lines().filter(|l| l.starts_with("kind:")).count())}</summary>
                                        <pre class="values" aria-label=format!("Manifests of {}", t.name)>{m}</pre>
                                    </details>
                                })}
                            }).collect_view()}
                        </section>
                    }.into_any(),
                }
            }}
        })}
    }
}
