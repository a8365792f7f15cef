//! API tokens: the account page lists and creates the user's own; the users page lists
//! everyone's for an ADMIN. Both revoke.

use crate::components::kept;
use crate::{
    api::tokens::{CreateToken, RevokeToken, list_all_tokens, list_my_tokens},
    components::{ActionResult, ErrorBox, FieldMessage, action_error},
    model::{ApiToken, CurrentUser, NewApiToken, Role},
};
use leptos::prelude::*;

fn when(at: Option<chrono::DateTime<chrono::Utc>>, none: &'static str) -> String {
    at.map_or_else(
        || none.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The token list (the user's own, or with `all` everyone's), with revoke buttons; for one's own
/// also the form that creates one.
#[component]
pub fn ApiTokens(all: bool) -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        move |_| async move {
            if all {
                list_all_tokens().await
            } else {
                list_my_tokens().await
            }
        },
    );
    let revoked = Signal::derive(move || {
        matches!(revoke.value().get(), Some(Ok(()))).then(|| "Token revoked: it no longer works.".to_string())
    });
    view! {
        <section class="card">
            <h2>{if all { "API tokens of all users" } else { "API tokens" }}</h2>
            {(!all).then(|| view! {
                <p>"A token lets a script or CI pipeline use the REST API (/api/v1/) as you: send it as "
                <code>"Authorization: Bearer onk_…"</code>". Keep it secret like a password."</p>
            })}
            <Transition fallback=|| view! { <p>"Loading tokens…"</p> }>
                {kept(tokens, move |loaded| match loaded {
                    Ok(list) => view! { <TokenTable tokens=list all revoke/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
            </Transition>
            <ActionResult error=action_error(revoke) success=revoked/>
            {(!all).then(|| view! { <NewTokenForm create/> })}
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<ApiToken>, all: bool, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p>"No API tokens."</p> }.into_any();
    }
    view! {
        <table class="list">
            <caption>{match tokens.len() { 1 => "1 API token".to_string(), n => format!("{n} API tokens") }}</caption>
            <thead>
                <tr>
                    {all.then(|| view! { <th scope="col">"User"</th> })}
                    <th scope="col">"Name"</th>
                    <th scope="col">"Acts as"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {tokens.into_iter().map(|t| {
                    let label = if all { format!("Revoke token {} of {}", t.name, t.owner) } else { format!("Revoke token {}", t.name) };
                    let id = t.id;
                    view! {
                        <tr>
                            {all.then(|| view! { <td>{t.owner.clone()}</td> })}
                            <th scope="row">{t.name.clone()}</th>
                            <td>{t.role_cap.map_or_else(|| if all { "Its owner's role" } else { "Your role" }.to_string(), |r| format!("At most {r}"))}</td>
                            <td>{when(Some(t.created_at), "")}</td>
                            <td>{when(t.expires_at, "Never")}</td>
                            <td>{when(t.last_used_at, "Not yet")}</td>
                            <td class="actions">
                                <button type="button" class="danger" aria-label=label
                                    on:click=move |_| { revoke.dispatch(RevokeToken { id }); }>"Revoke"</button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn NewTokenForm(create: ServerAction<CreateToken>) -> impl IntoView {
    let me = expect_context::<CurrentUser>();
    let name = RwSignal::new(String::new());
    let days = RwSignal::new("90".to_string());
    let cap = RwSignal::new(String::new());
    let error = action_error(create);
    let secret = Signal::derive(move || match create.value().get() {
        Some(Ok(created)) => Some(created.secret),
        _ => None,
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            name.set(String::new());
        }
    });
    let caps: Vec<Role> = Role::ALL.into_iter().filter(|r| *r <= me.role).collect();
    view! {
        <form on:submit=move |ev| {
            ev.prevent_default();
            create.dispatch(CreateToken { token: NewApiToken { name: name.get(), expires_in_days: days.get(), role_cap: cap.get() } });
        }>
            <h3>"New token"</h3>
            <label for="token-name">"Token name"</label>
            <input id="token-name" required maxlength="100" placeholder="e.g. ci-deploy" bind:value=name/>
            <FieldMessage error field="name" id="token-name-error"/>
            <label for="token-days">"Expires after (days; empty: never)"</label>
            <input id="token-days" inputmode="numeric" bind:value=days/>
            <FieldMessage error field="expires_in_days" id="token-days-error"/>
            <label for="token-role">"Acts as"</label>
            <select id="token-role" on:change=move |ev| cap.set(event_target_value(&ev)) prop:value=move || cap.get()>
                <option value="">{format!("My role ({})", me.role)}</option>
                {caps.into_iter().map(|r| view! { <option value=r.as_str()>{format!("At most {r}")}</option> }).collect_view()}
            </select>
            <FieldMessage error field="role_cap" id="token-role-error"/>
            <ActionResult error/>
            <button type="submit" disabled=move || create.pending().get()>"Create token"</button>
        </form>
        {move || secret.get().map(|s| view! {
            <div class="token-created" role="status">
                <p>"Token created. Copy it now: it is not shown again."</p>
                <label for="token-secret">"New token"</label>
                <input id="token-secret" readonly value=s spellcheck="false"/>
            </div>
        })}
    }
}
