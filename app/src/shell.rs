//! The HTML document, the router and the page layout (top bar, navigation).

use crate::{
    api::{
        auth::{Logout, get_current_user},
        namespaces::get_cluster_info,
    },
    components::deploy::LiveStatus,
    error::AppError,
    model::{CurrentUser, Role},
    pages::{
        account::AccountPage,
        activity::ActivityPage,
        admin_helm::HelmRegistriesPage,
        admin_namespaces::NamespacesPage,
        admin_registries::DockerRegistriesPage,
        admin_users::UsersPage,
        dashboard::DashboardPage,
        login::{LoginPage, LogoutPage},
        projects::{ProjectPage, ProjectsPage},
        version::VersionPage,
    },
};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    components::{A, Route, Router, Routes},
    path,
};

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                // The YAML editor (CodeMirror), bundled from app/js/yaml-editor.js by tools/setup.sh.
                <script src="/yaml-editor.js" defer></script>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Who is logged in, shared by every page. `refresh` refetches after login or logout.
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: Resource<Result<Option<CurrentUser>, AppError>>,
    pub refresh: RwSignal<u32>,
}

impl Auth {
    /// Refetches the current user.
    pub fn changed(&self) {
        self.refresh.update(|n| *n += 1);
    }
}

/// The application: router and layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let refresh = RwSignal::new(0u32);
    let user = Resource::new(move || refresh.get(), |_| get_current_user());
    provide_context(Auth { user, refresh });
    // Status changes pushed by the server, once someone is logged in (effects run in the browser).
    let live = LiveStatus::new();
    provide_context(live);
    let connected = StoredValue::new(false);
    Effect::new(move |_| {
        if let Some(Ok(Some(_))) = user.get()
            && !connected.get_value()
        {
            connected.set_value(true);
            live.connect();
        }
    });

    // Set only by client code: end-to-end tests wait for it to prove the WASM bundle hydrated.
    // Set from a timer, after the pending microtasks: suspended parts of the page (role-gated
    // content) finish hydrating there, and typing into them before that would be overwritten.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| set_timeout(move || hydrated.set(true), std::time::Duration::ZERO));

    view! {
        <Stylesheet id="leptos" href="/pkg/o-neko.css"/>
        <Title text="O-Neko"/>
        <Router>
            <div class="layout" data-hydrated=move || hydrated.get().to_string()>
                <TopBar/>
                <ClusterBanner/>
                <main id="main">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=DashboardPage/>
                        <Route path=path!("/login") view=LoginPage/>
                        <Route path=path!("/logout") view=LogoutPage/>
                        <Route path=path!("/account") view=AccountPage/>
                        <Route path=path!("/projects") view=ProjectsPage/>
                        <Route path=path!("/projects/:id") view=ProjectPage/>
                        <Route path=path!("/projects/:id/versions/:vid") view=VersionPage/>
                        <Route path=path!("/activity") view=ActivityPage/>
                        <Route path=path!("/admin/users") view=UsersPage/>
                        <Route path=path!("/admin/docker-registries") view=DockerRegistriesPage/>
                        <Route path=path!("/admin/helm-registries") view=HelmRegistriesPage/>
                        <Route path=path!("/admin/namespaces") view=NamespacesPage/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// Top bar: product name, navigation for the user's role, and the user menu.
#[component]
fn TopBar() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            // A full page load, not a router navigation: it drops every bit of the old user's
            // state in the browser, and cannot be held up by a page still loading.
            if window().location().set_href("/login").is_err() {
                auth.changed();
            }
        }
    });
    view! {
        <header class="topbar">
            <a class="brand" href="/">"O-Neko"</a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => {
                            let admin = user.has(Role::Admin);
                            let label = user.label().to_string();
                            let role = user.role.to_string();
                            view! {
                                <nav aria-label="Main">
                                    <A href="/">"Dashboard"</A>
                                    <A href="/projects">"Projects"</A>
                                    <A href="/activity">"Activity"</A>
                                    <Show when=move || admin>
                                        <A href="/admin/users">"Users"</A>
                                        <A href="/admin/docker-registries">"Docker registries"</A>
                                        <A href="/admin/helm-registries">"Helm registries"</A>
                                        <A href="/admin/namespaces">"Namespaces"</A>
                                    </Show>
                                </nav>
                                <div class="user-menu">
                                    <A href="/account">
                                        <span class="user-name">{label}</span>
                                        " "
                                        <span class="role-badge">{role}</span>
                                    </A>
                                    <button
                                        type="button"
                                        class="secondary"
                                        on:click=move |_| {
                                            logout.dispatch(Logout {});
                                        }
                                    >
                                        "Log out"
                                    </button>
                                </div>
                            }
                                .into_any()
                        }
                        _ => view! { <A href="/login">"Log in"</A> }.into_any(),
                    }
                })}
            </Transition>
        </header>
    }
}

/// Says so when O-Neko deploys into the simulated cluster (demo), or into none at all.
#[component]
fn ClusterBanner() -> impl IntoView {
    let auth = expect_context::<Auth>();
    // Browser-only: the banner is a hint, and must not hold up or disturb hydration.
    let info = LocalResource::new(move || async move {
        match auth.user.await {
            Ok(Some(_)) => get_cluster_info().await.ok(),
            _ => None,
        }
    });
    move || {
        info.get().flatten().and_then(|c| {
            if c.simulated {
                Some(view! {
                    <p class="banner" role="note">
                        "Demo: O-Neko deploys into a simulated Kubernetes cluster (kube-sim). Workloads, pods and logs are simulated; nothing runs for real."
                    </p>
                }.into_any())
            } else if !c.connected {
                Some(view! {
                    <p class="banner" role="note">{format!("No Kubernetes cluster: {} Deploying is not possible until one is configured.", c.source)}</p>
                }.into_any())
            } else {
                None
            }
        })
    }
}

/// The page for unknown paths; answers 404 during server rendering.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · O-Neko"/>
        <h1>"Page not found"</h1>
        <p>"There is no page at this address. " <a href="/">"Go to the dashboard"</a></p>
    }
}
