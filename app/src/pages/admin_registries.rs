//! Docker registries (ADMIN): list, create, edit, delete, test connection. Secrets are
//! write-only: the form shows whether one is set and offers to replace it.

use crate::components::kept;
use crate::{
    api::registries::{DeleteDockerRegistry, SaveDockerRegistry, TestDockerRegistry, list_docker_registries},
    components::{ActionResult, ConfirmDelete, ErrorBox, FieldMessage, RequireRole, action_error},
    model::{DockerRegistry, DockerRegistryInput, RegistryAuth, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// The Docker registries page.
#[component]
pub fn DockerRegistriesPage() -> impl IntoView {
    view! {
        <Title text="Docker registries · O-Neko"/>
        <RequireRole role=Role::Admin>
            <RegistriesAdmin/>
        </RequireRole>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    save: ServerAction<SaveDockerRegistry>,
    delete: ServerAction<DeleteDockerRegistry>,
    test: ServerAction<TestDockerRegistry>,
    /// The registry being edited (`None`: the form creates a new one).
    editing: RwSignal<Option<DockerRegistry>>,
}

#[component]
fn RegistriesAdmin() -> impl IntoView {
    let actions = Actions {
        save: ServerAction::new(),
        delete: ServerAction::new(),
        test: ServerAction::new(),
        editing: RwSignal::new(None),
    };
    provide_context(actions);
    let registries = Resource::new(
        move || (actions.save.version().get(), actions.delete.version().get()),
        |_| list_docker_registries(),
    );
    let test_result = move || {
        actions.test.value().get().map(|r| match r {
            Ok(c) if c.ok => view! { <p class="success" role="status">{format!("Connection OK: {}", c.message)}</p> }.into_any(),
            Ok(c) => view! {
                <p class="error" role="status">{format!("Connection failed at stage “{}”: {}", c.stage, c.message)}</p>
            }.into_any(),
            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
        })
    };
    view! {
        <h1>"Docker registries"</h1>
        <p>"Registries that project images come from. Passwords and tokens are stored encrypted and never shown again."</p>
        <Transition fallback=|| view! { <p>"Loading registries…"</p> }>
            {kept(registries, move |loaded| match loaded {
                    Ok(list) if list.is_empty() => view! { <p>"No registries yet."</p> }.into_any(),
                    Ok(list) => view! { <RegistryTable registries=list/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
        <div aria-live="polite">{test_result}</div>
        <ActionResult error=action_error(actions.delete) success=Signal::derive(move || {
            matches!(actions.delete.value().get(), Some(Ok(()))).then(|| "Registry deleted.".to_string())
        })/>
        {move || {
            let editing = actions.editing.get();
            view! { <RegistryForm editing/> }
        }}
    }
}

#[component]
fn RegistryTable(registries: Vec<DockerRegistry>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    view! {
        <table class="list">
            <caption>{format!("{} registries", registries.len())}</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"URL"</th>
                    <th scope="col">"Credentials"</th>
                    <th scope="col">"Pull secret"</th>
                    <th scope="col">"TLS"</th>
                    <th scope="col">"Webhook"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {registries
                    .into_iter()
                    .map(|r| {
                        let id = r.id;
                        let name = r.name.clone();
                        let credentials = match r.auth {
                            RegistryAuth::Anonymous => "Anonymous".to_string(),
                            auth => format!(
                                "{}{} (secret {})",
                                auth.label(),
                                r.username.as_deref().map(|u| format!(": {u}")).unwrap_or_default(),
                                if r.secret_set { "set" } else { "not set" }
                            ),
                        };
                        let tls = if r.url.starts_with("http://") {
                            "Plain HTTP (insecure)".to_string()
                        } else if r.skip_tls_verify {
                            "Verification OFF".to_string()
                        } else if r.ca_pem.is_some() {
                            "Custom CA".to_string()
                        } else {
                            "System CAs".to_string()
                        };
                        let edit = StoredValue::new(r.clone());
                        view! {
                            <tr>
                                <th scope="row">{name.clone()}</th>
                                <td>{r.url.clone()}</td>
                                <td>{credentials}</td>
                                <td>{match (r.auth, r.copy_pull_secret) {
                                    (RegistryAuth::Anonymous, _) => "None needed",
                                    (_, true) => "Copied into deployments",
                                    (_, false) => "Not copied",
                                }}</td>
                                <td>{tls}</td>
                                <td>{match (&r.webhook_path, r.webhook_secret_set) {
                                    (Some(p), true) => p.clone(),
                                    _ => "Off (no secret set)".to_string(),
                                }}</td>
                                <td class="actions">
                                    <button type="button" aria-label=format!("Test connection to {name}")
                                        disabled=move || actions.test.pending().get()
                                        on:click=move |_| { actions.test.dispatch(TestDockerRegistry { id }); }>
                                        "Test connection"
                                    </button>
                                    <button type="button" aria-label=format!("Edit {name}")
                                        on:click=move |_| actions.editing.set(Some(edit.get_value()))>"Edit"</button>
                                    <ConfirmDelete name=name.clone() on_confirm=Callback::new(move |_| {
                                        actions.delete.dispatch(DeleteDockerRegistry { id });
                                    })/>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RegistryForm(editing: Option<DockerRegistry>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let id = editing.as_ref().map(|r| r.id);
    let secret_set = editing.as_ref().is_some_and(|r| r.secret_set);
    let name = RwSignal::new(editing.as_ref().map(|r| r.name.clone()).unwrap_or_default());
    let url = RwSignal::new(editing.as_ref().map(|r| r.url.clone()).unwrap_or_default());
    let insecure_http = RwSignal::new(editing.as_ref().is_some_and(|r| r.insecure_http));
    let auth = RwSignal::new(
        editing
            .as_ref()
            .map_or(RegistryAuth::Anonymous, |r| r.auth)
            .as_str()
            .to_string(),
    );
    let username = RwSignal::new(
        editing
            .as_ref()
            .and_then(|r| r.username.clone())
            .unwrap_or_default(),
    );
    let secret = RwSignal::new(String::new());
    let ca_pem = RwSignal::new(
        editing
            .as_ref()
            .and_then(|r| r.ca_pem.clone())
            .unwrap_or_default(),
    );
    let skip_tls_verify = RwSignal::new(editing.as_ref().is_some_and(|r| r.skip_tls_verify));
    // Off for a new registry: credentials reach deployments only when an ADMIN says so.
    let copy_pull_secret = RwSignal::new(editing.as_ref().is_some_and(|r| r.copy_pull_secret));
    let webhook_secret = RwSignal::new(String::new());
    let webhook_set = editing.as_ref().is_some_and(|r| r.webhook_secret_set);
    let webhook_path = editing.as_ref().and_then(|r| r.webhook_path.clone());
    let error = action_error(actions.save);
    let dispatched = RwSignal::new(false);
    let success = Signal::derive(move || match (dispatched.get(), actions.save.value().get()) {
        (true, Some(Ok(r))) => Some(format!("Registry {} saved.", r.name)),
        _ => None,
    });
    Effect::new(move |_| {
        if dispatched.get() && matches!(actions.save.value().get(), Some(Ok(_))) && id.is_some() {
            actions.editing.set(None);
        }
    });
    let title = if id.is_some() {
        "Edit registry"
    } else {
        "Add registry"
    };
    let secret_label = move || {
        if auth.get() == "token" {
            "Token"
        } else {
            "Password"
        }
    };
    let secret_hint = if secret_set {
        "A secret is set. Leave empty to keep it."
    } else {
        "No secret is set."
    };
    view! {
        <section class="card">
            <h2>{title}</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                dispatched.set(true);
                let s = secret.get();
                actions.save.dispatch(SaveDockerRegistry {
                    registry: DockerRegistryInput {
                        id,
                        name: name.get(),
                        url: url.get(),
                        insecure_http: insecure_http.get(),
                        auth: auth.get(),
                        username: username.get(),
                        secret: (!s.is_empty()).then_some(s),
                        ca_pem: ca_pem.get(),
                        skip_tls_verify: skip_tls_verify.get(),
                        webhook_secret: Some(webhook_secret.get()).filter(|s| !s.is_empty()),
                        copy_pull_secret: Some(copy_pull_secret.get()),
                    },
                });
                secret.set(String::new());
                webhook_secret.set(String::new());
            }>
                <div class="grid">
                    <div>
                        <label for="reg-name">"Name"</label>
                        <input id="reg-name" type="text" required bind:value=name/>
                        <FieldMessage error field="name" id="reg-name-error"/>
                    </div>
                    <div>
                        <label for="reg-url">"Base URL"</label>
                        <input id="reg-url" type="url" placeholder="https://registry.example.com" required bind:value=url/>
                        <FieldMessage error field="url" id="reg-url-error"/>
                    </div>
                    <div>
                        <label for="reg-auth">"Credentials"</label>
                        <select id="reg-auth" on:change:target=move |ev| auth.set(ev.target().value())
                            prop:value=move || auth.get()>
                            {[RegistryAuth::Anonymous, RegistryAuth::Basic, RegistryAuth::Token]
                                .into_iter()
                                .map(|a| view! { <option value=a.as_str() selected=move || auth.get() == a.as_str()>{a.label()}</option> })
                                .collect_view()}
                        </select>
                        <FieldMessage error field="auth" id="reg-auth-error"/>
                    </div>
                    <Show when=move || auth.get() == "basic">
                        <div>
                            <label for="reg-username">"Username"</label>
                            <input id="reg-username" type="text" autocomplete="off" bind:value=username/>
                            <FieldMessage error field="username" id="reg-username-error"/>
                        </div>
                    </Show>
                    <Show when=move || auth.get() != "anonymous">
                        <div>
                            <label for="reg-secret">{secret_label}</label>
                            <input id="reg-secret" type="password" autocomplete="new-password"
                                aria-describedby="reg-secret-hint" bind:value=secret/>
                            <p class="hint" id="reg-secret-hint">{secret_hint}</p>
                            <FieldMessage error field="secret" id="reg-secret-error"/>
                        </div>
                    </Show>
                </div>
                <label for="reg-ca">"CA certificate (PEM, optional)"</label>
                <textarea id="reg-ca" rows="3" bind:value=ca_pem></textarea>
                <FieldMessage error field="ca_pem" id="reg-ca-error"/>
                <label class="check"><input type="checkbox" bind:checked=insecure_http/>" Allow plain HTTP (insecure)"</label>
                <label class="check"><input type="checkbox" bind:checked=skip_tls_verify/>" Skip TLS certificate verification (insecure)"</label>
                <label class="check"><input id="reg-copy-pull-secret" type="checkbox" aria-describedby="reg-copy-pull-secret-hint"
                    bind:checked=copy_pull_secret/>" Copy credentials into deployments as an image pull secret"</label>
                <p class="hint" id="reg-copy-pull-secret-hint">
                    "On: every deployment of a project using this registry gets these credentials as a Secret (named by IMAGE_PULL_SECRET, o-neko-pull-<name>) in its namespace, which the chart's pods can read. \
                    Off: O-Neko copies nothing and IMAGE_PULL_SECRET is empty; pods pull with the nodes' credentials, or with a pull secret a cluster admin made in a defined namespace (or a policy copies in) that the chart names itself."
                </p>
                <label for="reg-webhook-secret">"Webhook secret"</label>
                <input id="reg-webhook-secret" type="password" autocomplete="new-password"
                    aria-describedby="reg-webhook-hint" bind:value=webhook_secret/>
                <p class="hint" id="reg-webhook-hint">
                    {if webhook_set {
                        "A webhook secret is set. Leave empty to keep it."
                    } else {
                        "No webhook secret is set: push notifications are refused until one is."
                    }}
                    {webhook_path.map(|p| format!(" Notifications go to {p}"))}
                </p>
                <FieldMessage error field="webhook_secret" id="reg-webhook-error"/>
                <ActionResult error success/>
                <div class="buttons">
                    <button type="submit" disabled=move || actions.save.pending().get()>"Save registry"</button>
                    <Show when=move || id.is_some()>
                        <button type="button" class="secondary" on:click=move |_| actions.editing.set(None)>"Cancel"</button>
                    </Show>
                </div>
            </form>
        </section>
    }
}
