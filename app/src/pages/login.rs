//! The login page.

use crate::{
    api::auth::{Login, Logout, login_options},
    components::{ActionResult, FieldMessage, action_error},
    model::LoginOptions,
    shell::Auth,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

/// The login page: single sign-on when configured, and the password form (only for the
/// break-glass administrator when password login is turned off).
#[component]
pub fn LoginPage() -> impl IntoView {
    // Blocking: the server reads (and takes out of the session) a failed sign-in's message before
    // the response starts, so the session store saves that it was shown.
    let options = Resource::new_blocking(|| (), |_| login_options());
    view! {
        <Title text="Log in · O-Neko"/>
        <section class="card narrow">
            <h1>"Log in to O-Neko"</h1>
            <Suspense fallback=|| view! { <p role="status">"Loading…"</p> }>
                {move || options.get().map(|found| match found {
                    Ok(options) => view! { <LoginChoices options/> }.into_any(),
                    // The password form still works when the options could not be read.
                    Err(e) => view! {
                        <p class="error" role="alert">{e.to_string()}</p>
                        <PasswordForm/>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn LoginChoices(options: LoginOptions) -> impl IntoView {
    let password = if options.break_glass_only {
        view! {
            <details class="break-glass">
                <summary>"Administrator login with a password (break-glass)"</summary>
                <PasswordForm/>
            </details>
        }
        .into_any()
    } else if options.single_sign_on {
        view! {
            <p class="login-or">"Or with a password:"</p>
            <PasswordForm/>
        }
        .into_any()
    } else {
        view! { <PasswordForm/> }.into_any()
    };
    view! {
        {options.error.map(|e| view! {
            <p class="error" role="alert">"Single sign-on failed: " {e}</p>
        })}
        {options.single_sign_on.then(|| view! {
            // A full page load (rel="external"): the browser leaves for the identity provider.
            <p><a class="button" href="/auth/oidc/login" rel="external">"Log in with single sign-on"</a></p>
        })}
        {password}
    }
}

/// Username and password; goes to the dashboard after a successful login.
#[component]
fn PasswordForm() -> impl IntoView {
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
