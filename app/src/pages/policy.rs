//! A project's deployment policy on its page: which kinds its charts may create, which defined
//! namespaces it may use, and the Pod Security level of its namespaces. ADMINs edit it; everyone
//! else reads it as text.

use crate::components::kept;
use crate::{
    api::projects::{SaveProjectPolicy, get_project_policy},
    components::{ActionResult, ErrorBox, FieldMessage, action_error},
    error::AppError,
    model::{CurrentUser, PodSecurityLevel, ProjectId, ProjectPolicy, Role},
    pages::configuration::lines,
};
use leptos::prelude::*;

fn listed(l: &[String], empty: &str) -> String {
    if l.is_empty() {
        empty.to_string()
    } else {
        l.join(", ")
    }
}

fn namespaces_text(p: &ProjectPolicy) -> String {
    if p.namespaces.iter().any(|n| n == "*") {
        "its own per-version namespaces and every defined namespace".to_string()
    } else if p.namespaces.is_empty() {
        "only its own per-version namespaces".to_string()
    } else {
        format!("its own per-version namespaces and {}", p.namespaces.join(", "))
    }
}

/// The "Deployment policy" section. Its resource is created here, synchronously, when the
/// project page renders it.
#[component]
pub fn PolicySection(#[prop(into)] project: Signal<Option<ProjectId>>) -> impl IntoView {
    let is_admin = use_context::<CurrentUser>().is_some_and(|me| me.has(Role::Admin));
    let save = ServerAction::<SaveProjectPolicy>::new();
    let policy = Resource::new(
        move || project.get(),
        |id| async move {
            match id {
                Some(id) => get_project_policy(id).await.map(|p| (id, p)),
                None => Err(AppError::not_found("project")),
            }
        },
    );
    view! {
        <section class="policy" aria-labelledby="policy-heading">
            <h2 id="policy-heading">"Deployment policy"</h2>
            <p class="hint">"What this project's charts may create in the cluster and where. Every deploy is checked against it before anything is applied; an object it does not allow fails the deploy with its name and the rule. Only an ADMIN can change it."</p>
            <Transition fallback=|| view! { <p>"Loading the deployment policy…"</p> }>
                {kept(policy, move |loaded| match loaded {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok((id, p)) if is_admin => view! { <PolicyForm id policy=p save/> }.into_any(),
                        Ok((_, p)) => view! { <PolicyText policy=p/> }.into_any(),
                    })}
            </Transition>
        </section>
    }
}

/// The policy in words, for DOERs and VIEWERs.
#[component]
fn PolicyText(policy: ProjectPolicy) -> impl IntoView {
    view! {
        <dl class="facts">
            <dt>"Namespaced kinds"</dt><dd>{listed(&policy.kinds, "none")}</dd>
            <dt>"Cluster-scoped kinds"</dt><dd>{listed(&policy.cluster_kinds, "none")}</dd>
            <dt>"Namespaces"</dt><dd>{namespaces_text(&policy)}</dd>
            <dt>"Pod Security level"</dt><dd>{policy.pod_security.label()}</dd>
        </dl>
    }
}

/// The ADMIN's editor.
#[component]
fn PolicyForm(id: ProjectId, policy: ProjectPolicy, save: ServerAction<SaveProjectPolicy>) -> impl IntoView {
    let kinds = RwSignal::new(policy.kinds.join("\n"));
    let cluster_kinds = RwSignal::new(policy.cluster_kinds.join("\n"));
    let namespaces = RwSignal::new(policy.namespaces.join("\n"));
    let level = RwSignal::new(policy.pod_security);
    let error = action_error(save);
    let defaults = move |_| {
        let d = ProjectPolicy::default();
        kinds.set(d.kinds.join("\n"));
        cluster_kinds.set(d.cluster_kinds.join("\n"));
        namespaces.set(d.namespaces.join("\n"));
        level.set(d.pod_security);
    };
    view! {
        <form class="card" on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(SaveProjectPolicy {
                id,
                policy: ProjectPolicy {
                    kinds: lines(&kinds.get()),
                    cluster_kinds: lines(&cluster_kinds.get()),
                    namespaces: lines(&namespaces.get()),
                    pod_security: level.get(),
                },
            });
        }>
            <div class="grid">
                <div>
                    <label for="policy-kinds">"Namespaced kinds the charts may create (one per line)"</label>
                    <textarea id="policy-kinds" rows="10" spellcheck="false" aria-describedby="policy-kinds-hint" bind:value=kinds></textarea>
                    <p class="hint" id="policy-kinds-hint">"Kind (in Kubernetes' own API groups), group/Kind, group/* for a custom resource group, or * for everything. DaemonSet, Role and RoleBinding are not allowed by default."</p>
                    <FieldMessage error field="kinds" id="policy-kinds-error"/>
                </div>
                <div>
                    <label for="policy-cluster-kinds">"Cluster-scoped kinds the charts may create (one per line)"</label>
                    <textarea id="policy-cluster-kinds" rows="4" spellcheck="false" aria-describedby="policy-cluster-kinds-hint" bind:value=cluster_kinds></textarea>
                    <p class="hint" id="policy-cluster-kinds-hint">"None by default. E.g. apiextensions.k8s.io/CustomResourceDefinition; ClusterRoles and ClusterRoleBindings give rights across the cluster. Namespaces are never allowed."</p>
                    <FieldMessage error field="cluster_kinds" id="policy-cluster-kinds-error"/>
                </div>
                <div>
                    <label for="policy-namespaces">"Defined namespaces it may deploy into (one per line)"</label>
                    <textarea id="policy-namespaces" rows="3" spellcheck="false" aria-describedby="policy-namespaces-hint" bind:value=namespaces></textarea>
                    <p class="hint" id="policy-namespaces-hint">"Names of defined namespaces, or * for all of them (the default). Empty: only its own per-version namespaces."</p>
                    <FieldMessage error field="namespaces" id="policy-namespaces-error"/>
                </div>
                <div>
                    <label for="policy-level">"Pod Security level"</label>
                    <select id="policy-level" aria-describedby="policy-level-hint"
                        on:change:target=move |ev| level.set(ev.target().value().parse().unwrap_or_default())>
                        {PodSecurityLevel::ALL.into_iter().map(|l| view! {
                            <option value=l.as_str() selected=move || level.get() == l>{l.label()}</option>
                        }).collect_view()}
                    </select>
                    <p class="hint" id="policy-level-hint">"Labels every namespace O-Neko creates for the project (pod-security.kubernetes.io/enforce), which the API server enforces; O-Neko checks the same pod rules before applying."</p>
                </div>
            </div>
            <ActionResult error success=Signal::derive(move || {
                matches!(save.value().get(), Some(Ok(_))).then(|| "Deployment policy saved.".to_string())
            })/>
            <div class="buttons">
                <button type="submit" disabled=move || save.pending().get()>"Save policy"</button>
                <button type="button" class="secondary" on:click=defaults>"Reset to the defaults"</button>
            </div>
        </form>
    }
}
