//! The user's own account: change password, API tokens.

use crate::{
    api::auth::ChangeOwnPassword,
    components::{ActionResult, FieldMessage, RequireRole, action_error},
    error::AppError,
    model::{CurrentUser, Role},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// Account page, for every logged-in user.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Your account · O-Neko"/>
        <RequireRole role=Role::Viewer>
            <AccountDetails/>
        </RequireRole>
    }
}

#[component]
fn AccountDetails() -> impl IntoView {
    let me = expect_context::<CurrentUser>();
    let change = ServerAction::<ChangeOwnPassword>::new();
    let old = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let mismatch = RwSignal::new(None::<AppError>);
    let server_error = action_error(change);
    let error = Signal::derive(move || mismatch.get().or_else(|| server_error.get()));
    let success = Signal::derive(move || {
        matches!(change.value().get(), Some(Ok(()))).then(|| "Your password was changed.".to_string())
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = change.value().get() {
            old.set(String::new());
            new.set(String::new());
            confirm.set(String::new());
        }
    });
    view! {
        <h1>"Your account"</h1>
        <dl class="facts">
            <dt>"Username"</dt><dd>{me.username.clone()}</dd>
            <dt>"Role"</dt><dd>{me.role.to_string()}</dd>
        </dl>
        <section class="card narrow">
            <h2>"Change password"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                if new.get() != confirm.get() {
                    mismatch.set(Some(AppError::invalid("confirm", "The two new passwords differ.")));
                    return;
                }
                mismatch.set(None);
                change.dispatch(ChangeOwnPassword { old_password: old.get(), new_password: new.get() });
            }>
                <label for="old-password">"Current password"</label>
                <input id="old-password" type="password" autocomplete="current-password" required bind:value=old/>
                <FieldMessage error field="old_password" id="old-password-error"/>
                <label for="new-password">"New password"</label>
                <input id="new-password" type="password" autocomplete="new-password" required bind:value=new/>
                <FieldMessage error field="new_password" id="new-password-error"/>
                <label for="confirm-password">"Repeat new password"</label>
                <input id="confirm-password" type="password" autocomplete="new-password" required bind:value=confirm/>
                <FieldMessage error field="confirm" id="confirm-password-error"/>
                <ActionResult error success/>
                <button type="submit" disabled=move || change.pending().get()>"Change password"</button>
            </form>
        </section>
        <super::tokens::ApiTokens all=false/>
    }
}
