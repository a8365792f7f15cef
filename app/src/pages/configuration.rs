//! Editors for configuration: a project's URL templates, configuration templates and variables.
//! Lists are edited in place through one signal; the list re-renders only when its length
//! changes, so typing never loses focus.

use crate::{
    api::{
        helm::{list_charts, list_helm_registry_names},
        projects::{CheckTemplate, SaveProjectConfig},
    },
    components::{ActionResult, action_error, browser_value, kept},
    error::AppError,
    model::{
        ChartList, ConfigTemplate, HelmRegistryId, HelmRegistryName, ProjectConfig, ProjectId,
        TemplateVariable,
    },
};
use leptos::{leptos_dom::helpers::TimeoutHandle, prelude::*};

/// The message of a field error whose name is computed (e.g. `templates[2].content`).
#[component]
pub fn DynFieldMessage(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: String,
    id: String,
) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| e.field(&field))
            .map(|m| view! { <p class="field-error" id=id.clone()>{m}</p> })
    }
}

/// Lines of a textarea as a list (empty lines dropped).
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The Helm registries a DOER may choose from: one browser-side read per page, shared by every
/// template editor through context.
pub fn helm_registry_names(editable: bool) -> LocalResource<Result<Vec<HelmRegistryName>, AppError>> {
    if let Some(r) = use_context::<LocalResource<Result<Vec<HelmRegistryName>, AppError>>>() {
        return r;
    }
    let r = LocalResource::new(move || async move {
        if editable {
            list_helm_registry_names().await
        } else {
            Ok(vec![])
        }
    });
    provide_context(r);
    r
}

/// Loads the YAML editor (app/js/yaml-editor.js, CodeMirror) once, and only on pages that edit
/// YAML: it is the largest script after the WASM bundle, and most pages never need it. It enhances
/// the page's YAML textareas as soon as it runs, and those added later.
fn load_yaml_editor() {
    #[cfg(feature = "hydrate")]
    {
        const ID: &str = "yaml-editor-script";
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        if doc.get_element_by_id(ID).is_some() {
            return;
        }
        let (Ok(script), Some(head)) = (doc.create_element("script"), doc.head()) else {
            return;
        };
        script.set_id(ID);
        if script.set_attribute("src", "/yaml-editor.js").is_ok() {
            let _ = head.append_child(&script);
        }
    }
}

/// One configuration template, edited in `list[i]`. `prefix` names fields in errors and ids.
#[component]
pub fn TemplateEditor(
    list: RwSignal<Vec<ConfigTemplate>>,
    i: usize,
    prefix: &'static str,
    #[prop(into)] error: Signal<Option<AppError>>,
    editable: bool,
    /// A note shown in the heading, e.g. "overrides the project's template".
    #[prop(optional, into)]
    note: Option<Signal<String>>,
    /// The user variables the template may use (checked as it is typed).
    #[prop(into)]
    variables: Signal<Vec<String>>,
) -> impl IntoView {
    let get =
        move |f: fn(&ConfigTemplate) -> String| move || list.with(|l| l.get(i).map(f).unwrap_or_default());
    let set = move |f: fn(&mut ConfigTemplate, String)| {
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            list.update(|l| {
                if let Some(t) = l.get_mut(i) {
                    f(t, v)
                }
            })
        }
    };
    let id = move |f: &str| format!("{prefix}-{i}-{f}");
    let field = move |f: &str| format!("{prefix}[{i}].{f}");
    let names = helm_registry_names(editable);
    // Effects run only in the browser, after hydration.
    Effect::new(|_| load_yaml_editor());
    // Checked on the server as it is typed (the same renderer as saving), 400 ms after the last
    // keystroke.
    let check = ServerAction::<CheckTemplate>::new();
    let content = Memo::new(move |_| list.with(|l| l.get(i).map(|t| (t.name.clone(), t.content.clone()))));
    let timer = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |_| {
        let Some((name, content)) = content.get() else {
            return;
        };
        let variables = variables.get();
        if !editable {
            return;
        }
        if let Some(h) = timer.get_value() {
            h.clear();
        }
        let h = set_timeout_with_handle(
            move || {
                check.dispatch(CheckTemplate {
                    name,
                    content,
                    variables,
                });
            },
            std::time::Duration::from_millis(400),
        )
        .ok();
        timer.set_value(h);
    });
    // The list re-renders this editor when its length changes: a check still waiting then must
    // not fire into the disposed one.
    on_cleanup(move || {
        if let Some(Some(h)) = timer.try_get_value() {
            h.clear();
        }
    });
    let check_message = move || match check.value().get() {
        Some(Ok(Some(problem))) => Some((true, problem)),
        Some(Ok(None)) => Some((false, "No problems found.".to_string())),
        _ => None,
    };
    let registry = Memo::new(move |_| list.with(|l| l.get(i).and_then(|t| t.helm_registry)));
    let refresh = RwSignal::new(0u32);
    // Charts of the chosen registry, read in the browser only (the picker is a convenience;
    // the chart field accepts any name).
    let charts = LocalResource::new(move || {
        let chosen = registry.get();
        let refresh = refresh.get() > 0;
        async move {
            match chosen {
                Some(r) if editable => list_charts(HelmRegistryId(r), refresh).await,
                _ => Err(AppError::not_found("Helm registry")),
            }
        }
    });
    let chart_list = move || browser_value(charts).and_then(Result::ok);
    let chart_versions = move || -> Vec<(String, String)> {
        let chosen = list.with(|l| l.get(i).map(|t| t.chart_name.clone()).unwrap_or_default());
        chart_list()
            .and_then(|l: ChartList| l.charts.into_iter().find(|c| c.name == chosen))
            .map(|c| {
                c.versions
                    .into_iter()
                    .map(|v| {
                        let label = if v.app_version.is_empty() {
                            String::new()
                        } else {
                            format!("app {}", v.app_version)
                        };
                        (v.version, label)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let heading = move || {
        let name = list.with(|l| l.get(i).map(|t| t.name.clone()).unwrap_or_default());
        let name = if name.is_empty() {
            format!("Template {}", i + 1)
        } else {
            name
        };
        match note.map(|n| n.get()).filter(|n| !n.is_empty()) {
            Some(n) => format!("{name} ({n})"),
            None => name,
        }
    };
    view! {
        <fieldset class="template" disabled=!editable>
            <legend>{heading}</legend>
            <div class="grid">
                <div>
                    <label for=id("name")>"Template name"</label>
                    <input id=id("name") type="text" prop:value=get(|t| t.name.clone()) on:input=set(|t, v| t.name = v)/>
                    <DynFieldMessage error field=field("name") id=id("name-error")/>
                </div>
                <div>
                    <label for=id("registry")>"Helm registry"</label>
                    <select id=id("registry") prop:value=move || registry.get().map(|r| r.to_string()).unwrap_or_default()
                        on:change=move |ev| {
                            let v = event_target_value(&ev).parse().ok();
                            list.update(|l| if let Some(t) = l.get_mut(i) { t.helm_registry = v });
                        }>
                        <option value="">"— choose —"</option>
                        {move || {
                            let known = browser_value(names).and_then(Result::ok).unwrap_or_default();
                            let current = registry.get();
                            let mut options: Vec<(i64, String)> = known.iter().map(|n| (n.id.0, format!("{} ({})", n.name, n.kind.label()))).collect();
                            if let Some(c) = current.filter(|c| !known.iter().any(|n| n.id.0 == *c)) {
                                options.push((c, format!("Helm registry #{c}")));
                            }
                            options.into_iter().map(|(v, label)| view! {
                                <option value=v.to_string() selected=move || registry.get() == Some(v)>{label}</option>
                            }).collect_view()
                        }}
                    </select>
                    <DynFieldMessage error field=field("helm_registry") id=id("registry-error")/>
                </div>
                <div>
                    <label for=id("chart")>"Chart"</label>
                    <input id=id("chart") type="text" placeholder="e.g. nginx" list=id("charts") autocomplete="off"
                        prop:value=get(|t| t.chart_name.clone()) on:input=set(|t, v| t.chart_name = v)/>
                    <datalist id=id("charts")>
                        {move || chart_list().map(|l| l.charts.into_iter().map(|c| {
                            let description = c.versions.first().map(|v| v.description.clone()).unwrap_or_default();
                            view! { <option value=c.name.clone()>{description}</option> }
                        }).collect_view())}
                    </datalist>
                    <DynFieldMessage error field=field("chart_name") id=id("chart-error")/>
                </div>
                <div>
                    <label for=id("chart-version")>"Chart version"</label>
                    <input id=id("chart-version") type="text" placeholder="latest" list=id("chart-versions") autocomplete="off"
                        prop:value=get(|t| t.chart_version.clone()) on:input=set(|t, v| t.chart_version = v)/>
                    <datalist id=id("chart-versions")>
                        {move || chart_versions().into_iter().map(|(v, label)| view! { <option value=v>{label}</option> }).collect_view()}
                    </datalist>
                    <DynFieldMessage error field=field("chart_version") id=id("chart-version-error")/>
                </div>
            </div>
            <Show when=move || editable && registry.get().is_some()>
                <p class="hint" aria-live="polite">
                    {move || match browser_value(charts) {
                        None => "Reading the registry's charts…".to_string(),
                        Some(Err(e)) => format!("Charts could not be listed: {e}"),
                        Some(Ok(l)) => {
                            let chosen = list.with(|l| l.get(i).map(|t| t.chart_name.clone()).unwrap_or_default());
                            match l.charts.iter().find(|c| c.name == chosen) {
                                Some(c) => format!("{}: {} version{}, newest {}.", c.name, c.versions.len(), if c.versions.len() == 1 { "" } else { "s" },
                                    c.versions.first().map(|v| format!("{} (app {})", v.version, v.app_version)).unwrap_or_default()),
                                None => format!("{} charts in this registry (as of {}).", l.charts.len(), l.fetched_at.format("%H:%M:%S UTC")),
                            }
                        }
                    }}
                    " "
                    <button type="button" class="secondary" aria-label=move || format!("Refresh charts for {}", heading())
                        on:click=move |_| refresh.update(|n| *n += 1)>"Refresh charts"</button>
                </p>
            </Show>
            <label for=id("description")>"Description"</label>
            <input id=id("description") type="text" prop:value=get(|t| t.description.clone())
                on:input=set(|t, v| t.description = v)/>
            <label for=id("content")>"Values (YAML with {{ VARIABLES }})"</label>
            <textarea id=id("content") rows="10" spellcheck="false" prop:value=get(|t| t.content.clone())
                data-yaml-editor="" aria-describedby=id("content-check") on:input=set(|t, v| t.content = v)></textarea>
            // Filled by the YAML editor (app/js/yaml-editor.js) once the page has hydrated.
            <div class="yaml-editor" data-yaml-editor-for=id("content")></div>
            <p id=id("content-check") aria-live="polite"
                class=move || if check_message().is_some_and(|(bad, _)| bad) { "field-error" } else { "hint" }>
                {move || check_message().map(|(_, m)| m)}
            </p>
            <DynFieldMessage error field=field("content") id=id("content-error")/>
            <Show when=move || editable>
                <button type="button" class="secondary"
                    aria-label=move || format!("Remove {}", heading())
                    on:click=move |_| list.update(|l| { if i < l.len() { l.remove(i); } })>"Remove template"</button>
            </Show>
        </fieldset>
    }
}

/// A project's configuration: read-only for VIEWERs, editable for DOERs. `config` is the page's
/// resource (created at the top of the page): the form is filled from what hydrated, and says so
/// when the configuration could not be loaded instead of showing empty fields.
#[component]
pub fn ProjectConfiguration(
    config: Resource<Result<(ProjectId, ProjectConfig), AppError>>,
    can_edit: bool,
) -> impl IntoView {
    let save = ServerAction::<SaveProjectConfig>::new();
    view! {
        <h2 id="configuration">"Configuration"</h2>
        <Transition fallback=|| view! { <p>"Loading configuration…"</p> }>
            {kept(config, move |loaded| match loaded {
                    Ok((project, c)) => view! { <ConfigForm project initial=c save can_edit/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">{format!("The configuration could not be loaded: {e}")}</p>
                    }.into_any(),
                })}
        </Transition>
    }
}

#[component]
fn ConfigForm(
    project: ProjectId,
    initial: ProjectConfig,
    save: ServerAction<SaveProjectConfig>,
    can_edit: bool,
) -> impl IntoView {
    // Provided here so that all template editors share one read.
    helm_registry_names(can_edit);
    let urls = RwSignal::new(initial.url_templates.join("\n"));
    let templates = RwSignal::new(initial.templates);
    let variables = RwSignal::new(initial.variables);
    let error = action_error(save);
    let template_count = Memo::new(move |_| templates.with(Vec::len));
    let variable_names =
        Signal::derive(move || variables.with(|l| l.iter().map(|v| v.name.trim().to_string()).collect()));
    let variable_count = Memo::new(move |_| variables.with(Vec::len));
    view! {
        <form on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(SaveProjectConfig {
                id: project,
                config: ProjectConfig {
                    url_templates: lines(&urls.get()),
                    templates: templates.get(),
                    variables: variables.get(),
                },
            });
        }>
            <fieldset disabled=!can_edit class="plain">
                <label for="url-templates">"URL templates (one per line)"</label>
                <textarea id="url-templates" rows="2" spellcheck="false" aria-describedby="url-templates-hint"
                    prop:value=move || urls.get() on:input=move |ev| urls.set(event_target_value(&ev))></textarea>
                <p class="hint" id="url-templates-hint">"Rendered per version into URLS; they see only built-in variables, e.g. shop-{{ SAFE_VERSION_NAME }}.example.com"</p>
                <DynFieldMessage error field="url_templates[0]".to_string() id="url-templates-error".to_string()/>
            </fieldset>
            <h3>"Configuration templates"</h3>
            <p class="hint">"Each template becomes one Helm release: the chart, and the values rendered from this YAML."</p>
            {move || (0..template_count.get()).map(|i| view! {
                <TemplateEditor list=templates i prefix="templates" error editable=can_edit variables=variable_names/>
            }).collect_view()}
            <Show when=move || can_edit>
                <button type="button" class="secondary" on:click=move |_| templates.update(|l| l.push(ConfigTemplate::default()))>
                    "Add template"
                </button>
            </Show>
            <h3>"Variables"</h3>
            {move || (0..variable_count.get()).map(|i| view! {
                <VariableEditor list=variables i error editable=can_edit/>
            }).collect_view()}
            <Show when=move || can_edit>
                <button type="button" class="secondary" on:click=move |_| variables.update(|l| l.push(TemplateVariable::default()))>
                    "Add variable"
                </button>
                <ActionResult error success=Signal::derive(move || {
                    matches!(save.value().get(), Some(Ok(_))).then(|| "Configuration saved.".to_string())
                })/>
                <p class="error" role="alert" hidden=move || !matches!(error.get(), Some(AppError::Invalid { .. }))>
                    "Some fields need attention; see the messages next to them."
                </p>
                <div class="buttons">
                    <button type="submit" disabled=move || save.pending().get()>"Save configuration"</button>
                </div>
            </Show>
        </form>
    }
}

#[component]
fn VariableEditor(
    list: RwSignal<Vec<TemplateVariable>>,
    i: usize,
    #[prop(into)] error: Signal<Option<AppError>>,
    editable: bool,
) -> impl IntoView {
    let get =
        move |f: fn(&TemplateVariable) -> String| move || list.with(|l| l.get(i).map(f).unwrap_or_default());
    let set = move |f: fn(&mut TemplateVariable, String)| {
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            list.update(|l| {
                if let Some(t) = l.get_mut(i) {
                    f(t, v)
                }
            })
        }
    };
    let is_select = move || list.with(|l| l.get(i).is_some_and(|v| v.use_values));
    let id = move |f: &str| format!("variables-{i}-{f}");
    let field = move |f: &str| format!("variables[{i}].{f}");
    let title = move || {
        let name = list.with(|l| l.get(i).map(|v| v.name.clone()).unwrap_or_default());
        if name.is_empty() {
            format!("Variable {}", i + 1)
        } else {
            name
        }
    };
    view! {
        <fieldset class="variable" disabled=!editable>
            <legend>{title}</legend>
            <div class="grid">
                <div>
                    <label for=id("name")>"Variable name"</label>
                    <input id=id("name") type="text" placeholder="BACKEND_URL" prop:value=get(|v| v.name.clone())
                        on:input=set(|v, x| v.name = x)/>
                    <DynFieldMessage error field=field("name") id=id("name-error")/>
                </div>
                <div>
                    <label for=id("label")>"Label"</label>
                    <input id=id("label") type="text" prop:value=get(|v| v.label.clone()) on:input=set(|v, x| v.label = x)/>
                    <DynFieldMessage error field=field("label") id=id("label-error")/>
                </div>
                <div>
                    <label for=id("default")>"Default value"</label>
                    <input id=id("default") type="text" prop:value=get(|v| v.default_value.clone())
                        on:input=set(|v, x| v.default_value = x)/>
                    <DynFieldMessage error field=field("default_value") id=id("default-error")/>
                </div>
            </div>
            <label class="check">
                <input type="checkbox" prop:checked=is_select on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    list.update(|l| if let Some(v) = l.get_mut(i) { v.use_values = on; });
                }/>
                " Select variable (a fixed list of values)"
            </label>
            <Show when=is_select>
                <label for=id("values")>"Allowed values (one per line)"</label>
                <textarea id=id("values") rows="3" spellcheck="false"
                    prop:value=move || list.with(|l| l.get(i).map(|v| v.values.join("\n")).unwrap_or_default())
                    on:input=move |ev| {
                        let vals = lines(&event_target_value(&ev));
                        list.update(|l| if let Some(v) = l.get_mut(i) { v.values = vals; });
                    }></textarea>
                <DynFieldMessage error field=field("values") id=id("values-error")/>
                <label class="check">
                    <input type="checkbox" prop:checked=move || list.with(|l| l.get(i).is_some_and(|v| v.show_on_dashboard))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            list.update(|l| if let Some(v) = l.get_mut(i) { v.show_on_dashboard = on; });
                        }/>
                    " Show on the dashboard (every role may switch it per version)"
                </label>
            </Show>
            <Show when=move || editable>
                <button type="button" class="secondary" aria-label=move || format!("Remove {}", title())
                    on:click=move |_| list.update(|l| { if i < l.len() { l.remove(i); } })>"Remove variable"</button>
            </Show>
        </fieldset>
    }
}
