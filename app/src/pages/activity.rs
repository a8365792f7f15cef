//! The activity log: what happened, who did it. Every role may read it.

use crate::{
    api::activity::list_activity,
    components::{ErrorBox, RequireRole},
    model::{ActivityQuery, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;

const KINDS: [(&str, &str); 3] = [
    ("", "Everything"),
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
    let entries = Resource::new(
        move || (kind.get(), page.get()),
        |(kind, page)| {
            list_activity(ActivityQuery {
                kind: (!kind.is_empty()).then_some(kind),
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
        </div>
        <Transition fallback=|| view! { <p>"Loading activity…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Ok(p) if p.items.is_empty() => view! { <p>"Nothing has happened yet."</p> }.into_any(),
                    Ok(p) => {
                        let last_page = (p.page + 1) * p.page_size >= p.total;
                        let first = p.page * p.page_size + 1;
                        let shown = p.items.len() as u64;
                        view! {
                            <table class="list">
                                <caption>{format!("Entries {first}–{} of {}", first + shown - 1, p.total)}</caption>
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
                            <nav class="pager" aria-label="Activity pages">
                                <button type="button" disabled=p.page == 0 on:click=move |_| page.update(|n| *n = n.saturating_sub(1))>"Newer"</button>
                                <button type="button" disabled=last_page on:click=move |_| page.update(|n| *n += 1)>"Older"</button>
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}
