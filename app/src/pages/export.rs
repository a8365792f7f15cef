//! Export a project as JSON (the original O-Neko's format) and import one.

use crate::{
    api::{
        projects::{ExportProject, ImportProject},
        registries::list_docker_registry_names,
    },
    components::{ActionResult, FieldMessage, action_error, browser_value},
    model::{DockerRegistryId, ProjectId, ProjectImport},
};
use leptos::prelude::*;

/// Percent-encodes text for a `data:` URL.
fn data_url(json: &str) -> String {
    let mut out = String::from("data:application/json;charset=utf-8,");
    for b in json.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// "Export": the project's JSON, shown and offered as a download.
#[component]
pub fn ExportPanel(project: ProjectId) -> impl IntoView {
    let export = ServerAction::<ExportProject>::new();
    let file = format!("project-{}.o-neko.json", project.0);
    view! {
        <h2>"Export"</h2>
        <p class="hint">"The project's settings, templates and variables as JSON in the original O-Neko's export format; import it here or in another installation."</p>
        <button type="button" class="secondary" disabled=move || export.pending().get()
            on:click=move |_| { export.dispatch(ExportProject { id: project }); }>"Export project"</button>
        <ActionResult error=action_error(export)/>
        {move || export.value().get().and_then(Result::ok).map(|json| {
            let href = data_url(&json);
            view! {
                <p><a href=href download=file.clone()>{format!("Download {file}")}</a></p>
                <label for="export-json">"Exported project (JSON)"</label>
                <textarea id="export-json" rows="12" readonly spellcheck="false">{json}</textarea>
            }
        })}
    }
}

/// "Import project": paste an export, optionally rename it and choose its Docker registry.
#[component]
pub fn ImportForm(import: ServerAction<ImportProject>, on_done: Callback<()>) -> impl IntoView {
    let json = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let registry = RwSignal::new(String::new());
    let registries = LocalResource::new(list_docker_registry_names);
    let error = action_error(import);
    view! {
        <section class="card">
            <h2>"Import project"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                import.dispatch(ImportProject {
                    import: ProjectImport {
                        json: json.get(),
                        name: name.get(),
                        registry: registry.get().parse().ok().map(DockerRegistryId),
                    },
                });
            }>
                <label for="import-json">"Exported project (JSON)"</label>
                <textarea id="import-json" rows="8" spellcheck="false" required bind:value=json></textarea>
                <FieldMessage error field="json" id="import-json-error"/>
                <div class="grid">
                    <div>
                        <label for="import-name">"Name (empty: as in the export)"</label>
                        <input id="import-name" type="text" bind:value=name/>
                        <FieldMessage error field="name" id="import-name-error"/>
                    </div>
                    <div>
                        <label for="import-registry">"Docker registry (empty: as in the export)"</label>
                        <select id="import-registry" on:change:target=move |ev| registry.set(ev.target().value())>
                            <option value="">"— as in the export —"</option>
                            {move || browser_value(registries).and_then(Result::ok).unwrap_or_default().into_iter().map(|r| view! {
                                <option value=r.id.0.to_string()>{r.name}</option>
                            }).collect_view()}
                        </select>
                        <FieldMessage error field="registry" id="import-registry-error"/>
                    </div>
                </div>
                <ActionResult error/>
                {move || import.value().get().and_then(Result::ok).map(|r| view! {
                    <div role="status">
                        <p class="success">"Imported " <a href=format!("/projects/{}", r.project.id.0)>{r.project.name.clone()}</a> "."</p>
                        {(!r.warnings.is_empty()).then(|| view! {
                            <p class="notice">"Needs attention:"</p>
                            <ul aria-label="Import warnings">
                                {r.warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                            </ul>
                        })}
                    </div>
                })}
                <div class="buttons">
                    <button type="submit" disabled=move || import.pending().get()>"Import"</button>
                    <button type="button" class="secondary" on:click=move |_| on_done.run(())>"Close"</button>
                </div>
            </form>
        </section>
    }
}
