//! Namespaces (ADMIN): the cluster O-Neko deploys to, and the shared `on-` namespaces projects
//! may target instead of one namespace per version.

use crate::components::kept;
use crate::{
    api::namespaces::{CreateNamespace, DeleteNamespace, get_cluster_info, list_namespaces},
    components::{ActionResult, ConfirmDelete, ErrorBox, FieldMessage, RequireRole, action_error},
    model::{DefinedNamespace, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// The namespaces page.
#[component]
pub fn NamespacesPage() -> impl IntoView {
    view! {
        <Title text="Namespaces · O-Neko"/>
        <RequireRole role=Role::Admin>
            <NamespacesAdmin/>
        </RequireRole>
    }
}

#[component]
fn NamespacesAdmin() -> impl IntoView {
    let create = ServerAction::<CreateNamespace>::new();
    let delete = ServerAction::<DeleteNamespace>::new();
    let cluster = Resource::new(|| (), |_| get_cluster_info());
    let namespaces = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_namespaces(),
    );
    let name = RwSignal::new(String::new());
    let error = action_error(create);
    view! {
        <h1>"Namespaces"</h1>
        <Transition fallback=|| view! { <p>"Reading the cluster…"</p> }>
            {kept(cluster, move |loaded| match loaded {
                    Ok(c) if c.connected => view! {
                        <p class="status ok" role="status">{format!("Cluster: connected through {} (Kubernetes {}).", c.source, c.version)}</p>
                    }.into_any(),
                    Ok(c) => view! { <p class="status failing" role="status">{format!("Cluster: not connected; {}", c.source)}</p> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
        <p>"By default every deployed version gets its own namespace. A project may instead deploy all its versions into a shared namespace defined here; stopping a version then removes only that version's objects."</p>
        <Transition fallback=|| view! { <p>"Loading namespaces…"</p> }>
            {kept(namespaces, move |loaded| match loaded {
                    Ok(list) if list.is_empty() => view! { <p>"No namespaces defined."</p> }.into_any(),
                    Ok(list) => view! { <NamespaceTable list delete/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
        <ActionResult error=action_error(delete) success=Signal::derive(move || {
            matches!(delete.value().get(), Some(Ok(()))).then(|| "Namespace deleted.".to_string())
        })/>
        <section class="card">
            <h2>"Define a namespace"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(CreateNamespace { name: name.get() });
            }>
                <label for="ns-name">"Name"</label>
                <input id="ns-name" type="text" required aria-describedby="ns-name-hint" bind:value=name/>
                <p class="hint" id="ns-name-hint">"Lower case letters, digits and dashes; O-Neko adds the on- prefix unless the name has it."</p>
                <FieldMessage error field="name" id="ns-name-error"/>
                <ActionResult error success=Signal::derive(move || {
                    create.value().get().and_then(Result::ok).map(|n| format!("Namespace {} created.", n.name))
                })/>
                <div class="buttons">
                    <button type="submit" disabled=move || create.pending().get()>"Create namespace"</button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn NamespaceTable(list: Vec<DefinedNamespace>, delete: ServerAction<DeleteNamespace>) -> impl IntoView {
    view! {
        <table class="list">
            <caption>{format!("{} namespaces", list.len())}</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"In the cluster"</th>
                    <th scope="col">"Used by"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|n| {
                    let id = n.id;
                    let name = n.name.clone();
                    let used = if n.used_by.is_empty() { "No project".to_string() } else { n.used_by.join(", ") };
                    view! {
                        <tr>
                            <th scope="row">{n.name.clone()}</th>
                            <td>{n.phase.clone()}</td>
                            <td>{used}</td>
                            <td>{format!("{} by {}", n.created_at.format("%Y-%m-%d %H:%M UTC"), n.created_by)}</td>
                            <td class="actions">
                                <ConfirmDelete name=name.clone()
                                    confirm_label=format!("Confirm delete {name} and everything in it")
                                    on_confirm=Callback::new(move |_| { delete.dispatch(DeleteNamespace { id }); })/>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
