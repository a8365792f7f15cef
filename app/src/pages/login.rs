//! The login page.

use crate::{
    api::auth::{Login, Logout},
    components::{ActionResult, FieldMessage, action_error},
    shell::Auth,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

/// Username and password form; goes to the dashboard after a successful login.
#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let login = ServerAction::<Login>::new();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = action_error(login);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(user)) = login.value().get() {
            auth.logged_in(user);
            navigate("/", Default::default());
        }
    });
    view! {
        <Title text="Log in · O-Neko"/>
        <section class="card narrow">
            <h1>"Log in to O-Neko"</h1>
            <form on:submit=move |ev| {
                ev.prevent_default();
                login.dispatch(Login { username: username.get(), password: password.get() });
            }>
                <label for="login-username">"Username"</label>
                <input id="login-username" name="username" type="text" autocomplete="username"
                    required bind:value=username/>
                <FieldMessage error field="username" id="login-username-error"/>
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password"
                    autocomplete="current-password" required bind:value=password/>
                <FieldMessage error field="password" id="login-password-error"/>
                <ActionResult error/>
                <button type="submit" disabled=move || login.pending().get()>"Log in"</button>
            </form>
        </section>
    }
}

/// Logs out when opened (a link target for "log out" anywhere) and says so.
#[component]
pub fn LogoutPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let logout = ServerAction::<Logout>::new();
    // Only in the browser: rendering the page on the server must not end the session by itself.
    Effect::new(move |_| {
        logout.dispatch(Logout {});
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            auth.logged_out();
        }
    });
    view! {
        <Title text="Logged out · O-Neko"/>
        <section class="card narrow">
            <h1>"Log out"</h1>
            {move || match logout.value().get() {
                Some(Ok(())) => view! {
                    <p role="status">"You are logged out. " <a href="/login">"Log in again"</a></p>
                }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                None => view! { <p role="status">"Logging out…"</p> }.into_any(),
            }}
        </section>
    }
}
