//! Helm registries (ADMIN): chart repositories over HTTP(S), OCI registries and GCS buckets.
//! Passwords and service-account keys are write-only; "Show charts" reads the registry now.

use crate::components::kept;
use crate::{
    api::helm::{DeleteHelmRegistry, ListCharts, SaveHelmRegistry, list_helm_registries},
    components::{ActionResult, ConfirmDelete, ErrorBox, FieldMessage, RequireRole, action_error},
    model::{ChartList, HelmRegistry, HelmRegistryInput, HelmRegistryKind, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// The Helm registries page.
#[component]
pub fn HelmRegistriesPage() -> impl IntoView {
    view! {
        <Title text="Helm registries · O-Neko"/>
        <RequireRole role=Role::Admin>
            <HelmAdmin/>
        </RequireRole>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    save: ServerAction<SaveHelmRegistry>,
    delete: ServerAction<DeleteHelmRegistry>,
    charts: ServerAction<ListCharts>,
    /// The registry being edited (`None`: the form creates a new one).
    editing: RwSignal<Option<HelmRegistry>>,
}

#[component]
fn HelmAdmin() -> impl IntoView {
    let actions = Actions {
        save: ServerAction::new(),
        delete: ServerAction::new(),
        charts: ServerAction::new(),
        editing: RwSignal::new(None),
    };
    provide_context(actions);
    let registries = Resource::new(
        move || (actions.save.version().get(), actions.delete.version().get()),
        |_| list_helm_registries(),
    );
    view! {
        <h1>"Helm registries"</h1>
        <p>"Where configuration templates' charts come from. Passwords and keys are stored encrypted and never shown again."</p>
        <Transition fallback=|| view! { <p>"Loading Helm registries…"</p> }>
            {kept(registries, move |loaded| match loaded {
                    Ok(list) if list.is_empty() => view! { <p>"No Helm registries yet."</p> }.into_any(),
                    Ok(list) => view! { <HelmTable registries=list/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
        <div aria-live="polite">
            {move || actions.charts.value().get().map(|r| match r {
                Ok(list) => view! { <ChartTable list/> }.into_any(),
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
        </div>
        <ActionResult error=action_error(actions.delete) success=Signal::derive(move || {
            matches!(actions.delete.value().get(), Some(Ok(()))).then(|| "Helm registry deleted.".to_string())
        })/>
        {move || {
            let editing = actions.editing.get();
            view! { <HelmForm editing/> }
        }}
    }
}

#[component]
fn ChartTable(list: ChartList) -> impl IntoView {
    let count = list.charts.len();
    view! {
        <table class="list">
            <caption>{format!(
                "{count} charts, read {}",
                list.fetched_at.format("%Y-%m-%d %H:%M:%S UTC")
            )}</caption>
            <thead>
                <tr>
                    <th scope="col">"Chart"</th>
                    <th scope="col">"Newest version"</th>
                    <th scope="col">"App version"</th>
                    <th scope="col">"Versions"</th>
                    <th scope="col">"Description"</th>
                </tr>
            </thead>
            <tbody>
                {list.charts.into_iter().map(|c| {
                    let newest = c.versions.first().cloned();
                    view! {
                        <tr>
                            <th scope="row">{c.name}</th>
                            <td>{newest.as_ref().map(|v| v.version.clone())}</td>
                            <td>{newest.as_ref().map(|v| v.app_version.clone())}</td>
                            <td>{c.versions.len()}</td>
                            <td>{newest.map(|v| v.description)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn HelmTable(registries: Vec<HelmRegistry>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    view! {
        <table class="list">
            <caption>{format!("{} Helm registries", registries.len())}</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Kind"</th>
                    <th scope="col">"Location"</th>
                    <th scope="col">"Credentials"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {registries.into_iter().map(|r| {
                    let id = r.id;
                    let name = r.name.clone();
                    let credentials = match (r.kind, r.secret_set) {
                        (_, false) => "None (anonymous)".to_string(),
                        (HelmRegistryKind::Gcs, true) => "Service-account key set".to_string(),
                        (_, true) => format!("{} (password set)", r.username.clone().unwrap_or_default()),
                    };
                    let location = if r.plain_http { format!("{} (plain HTTP)", r.url) } else { r.url.clone() };
                    let edit = StoredValue::new(r.clone());
                    view! {
                        <tr>
                            <th scope="row">{name.clone()}</th>
                            <td>{r.kind.label()}</td>
                            <td>{location}</td>
                            <td>{credentials}</td>
                            <td class="actions">
                                <button type="button" aria-label=format!("Show charts of {name}")
                                    disabled=move || actions.charts.pending().get()
                                    on:click=move |_| { actions.charts.dispatch(ListCharts { id, refresh: true }); }>
                                    "Show charts"
                                </button>
                                <button type="button" aria-label=format!("Edit {name}")
                                    on:click=move |_| actions.editing.set(Some(edit.get_value()))>"Edit"</button>
                                <ConfirmDelete name=name.clone() on_confirm=Callback::new(move |_| {
                                    actions.delete.dispatch(DeleteHelmRegistry { id });
                                })/>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn HelmForm(editing: Option<HelmRegistry>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let id = editing.as_ref().map(|r| r.id);
    let stored_kind = editing.as_ref().map(|r| r.kind);
    let secret_set = editing.as_ref().is_some_and(|r| r.secret_set);
    let field = |f: fn(&HelmRegistry) -> Option<String>| {
        RwSignal::new(editing.as_ref().and_then(f).unwrap_or_default())
    };
    let name = field(|r| Some(r.name.clone()));
    let kind = RwSignal::new(stored_kind.unwrap_or(HelmRegistryKind::Http).as_str().to_string());
    let url = field(|r| Some(r.url.clone()));
    let username = field(|r| r.username.clone());
    let ca_pem = field(|r| r.ca_pem.clone());
    let plain_http = RwSignal::new(editing.as_ref().is_some_and(|r| r.plain_http));
    let secret = RwSignal::new(String::new());
    let error = action_error(actions.save);
    let dispatched = RwSignal::new(false);
    let success = Signal::derive(move || match (dispatched.get(), actions.save.value().get()) {
        (true, Some(Ok(r))) => Some(format!("Helm registry {} saved.", r.name)),
        _ => None,
    });
    Effect::new(move |_| {
        if dispatched.get() && matches!(actions.save.value().get(), Some(Ok(_))) && id.is_some() {
            actions.editing.set(None);
        }
    });
    let is_gcs = move || kind.get() == "gcs";
    let placeholder = move || match kind.get().as_str() {
        "oci" => "oci://registry.example.com/charts",
        "gcs" => "gs://bucket/path",
        _ => "https://charts.example.com/stable",
    };
    let secret_hint = move || {
        let same_kind = stored_kind.is_some_and(|k| k.as_str() == kind.get());
        match (secret_set && same_kind, is_gcs()) {
            (true, _) => "A secret is set. Leave empty to keep it.",
            (false, true) => "Paste the service account's JSON key; leave empty for a public bucket.",
            (false, false) => "Leave empty for anonymous access.",
        }
    };
    view! {
        <section class="card">
            <h2>{if id.is_some() { "Edit Helm registry" } else { "Add Helm registry" }}</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                dispatched.set(true);
                let s = secret.get();
                actions.save.dispatch(SaveHelmRegistry {
                    registry: HelmRegistryInput {
                        id,
                        name: name.get(),
                        kind: kind.get(),
                        url: url.get(),
                        username: username.get(),
                        secret: (!s.is_empty()).then_some(s),
                        ca_pem: ca_pem.get(),
                        plain_http: plain_http.get(),
                    },
                });
                secret.set(String::new());
            }>
                <div class="grid">
                    <div>
                        <label for="helm-name">"Name"</label>
                        <input id="helm-name" type="text" required bind:value=name/>
                        <FieldMessage error field="name" id="helm-name-error"/>
                    </div>
                    <div>
                        <label for="helm-kind">"Kind"</label>
                        <select id="helm-kind" on:change:target=move |ev| kind.set(ev.target().value())
                            prop:value=move || kind.get()>
                            {HelmRegistryKind::ALL.into_iter().map(|k| view! {
                                <option value=k.as_str() selected=move || kind.get() == k.as_str()>{k.label()}</option>
                            }).collect_view()}
                        </select>
                        <FieldMessage error field="kind" id="helm-kind-error"/>
                    </div>
                    <div>
                        <label for="helm-url">"Location"</label>
                        <input id="helm-url" type="text" required placeholder=placeholder bind:value=url/>
                        <FieldMessage error field="url" id="helm-url-error"/>
                    </div>
                    <Show when=move || !is_gcs()>
                        <div>
                            <label for="helm-username">"Username (optional)"</label>
                            <input id="helm-username" type="text" autocomplete="off" bind:value=username/>
                            <FieldMessage error field="username" id="helm-username-error"/>
                        </div>
                    </Show>
                </div>
                <Show when=move || !is_gcs() fallback=move || view! {
                    <label for="helm-key">"Service-account key (JSON)"</label>
                    <textarea id="helm-key" rows="4" autocomplete="off" aria-describedby="helm-secret-hint"
                        bind:value=secret></textarea>
                }>
                    <label for="helm-secret">"Password"</label>
                    <input id="helm-secret" type="password" autocomplete="new-password"
                        aria-describedby="helm-secret-hint" bind:value=secret/>
                </Show>
                <p class="hint" id="helm-secret-hint">{secret_hint}</p>
                <FieldMessage error field="secret" id="helm-secret-error"/>
                <Show when=move || !is_gcs()>
                    <label for="helm-ca">"CA certificate (PEM, optional)"</label>
                    <textarea id="helm-ca" rows="3" bind:value=ca_pem></textarea>
                    <FieldMessage error field="ca_pem" id="helm-ca-error"/>
                    <label class="check"><input type="checkbox" bind:checked=plain_http/>" Allow plain HTTP (insecure)"</label>
                </Show>
                <ActionResult error success/>
                <div class="buttons">
                    <button type="submit" disabled=move || actions.save.pending().get()>"Save Helm registry"</button>
                    <Show when=move || id.is_some()>
                        <button type="button" class="secondary" on:click=move |_| actions.editing.set(None)>"Cancel"</button>
                    </Show>
                </div>
            </form>
        </section>
    }
}
