//! The HTML document, the router and the page layout (top bar, navigation).

use crate::{
    api::{auth::Logout, namespaces::get_cluster_info},
    components::{action_error, browser_value, deploy::LiveStatus},
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
    hooks::use_navigate,
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
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Who is logged in, shared by every page. Known synchronously: the server looks the session's
/// user up once per request before rendering (`auth::session` in the server), and the browser
/// receives the same answer while hydrating (a `SharedValue`), so nothing waits for it. Login
/// and logout set it.
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: RwSignal<Result<Option<CurrentUser>, AppError>>,
}

impl Auth {
    /// The logged-in user (tracked); `None` when logged out or unknown.
    pub fn current(&self) -> Option<CurrentUser> {
        self.user.get().ok().flatten()
    }

    /// After a successful login.
    pub fn logged_in(&self, user: CurrentUser) {
        self.user.set(Ok(Some(user)));
    }

    /// After a logout.
    pub fn logged_out(&self) {
        self.user.set(Ok(None));
    }
}

/// The session's user as the server looked it up for this request.
fn request_user() -> Result<Option<CurrentUser>, AppError> {
    #[cfg(feature = "ssr")]
    {
        match crate::ssr::request_user() {
            Some(crate::ssr::RequestUser(found)) => found,
            // A request the middleware skipped (a missing file rendered as "not found").
            None => Ok(None),
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        // Only reached in the browser outside hydration, which never happens: the app is always
        // hydrated from a server-rendered page.
        Ok(None)
    }
}

/// The application: router and layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // First of all, before any resource: the server serializes the value, the browser reads it
    // back while hydrating, both synchronously.
    let initial = SharedValue::new(request_user);
    let auth = Auth {
        user: RwSignal::new(initial.into_inner()),
    };
    provide_context(auth);
    // Status changes pushed by the server while someone is logged in (effects run in the
    // browser).
    let live = LiveStatus::new();
    provide_context(live);
    Effect::new(move |_| {
        if auth.current().is_some() {
            live.connect();
        } else {
            live.disconnect();
        }
    });

    // Set only by client code, once the page has hydrated (effects run after hydration):
    // end-to-end tests wait for it to prove the WASM bundle hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

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
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            // The user first: the page's role gate takes its content down at once (cleanly,
            // before the route changes), and the live stream closes (see `App`). Then the login
            // page.
            auth.logged_out();
            navigate("/login", Default::default());
        }
    });
    let logout_error = action_error(logout);
    view! {
        <header class="topbar">
            <a class="brand" href="/">"O-Neko"</a>
            {move || match auth.current() {
                Some(user) => {
                    let admin = user.has(Role::Admin);
                    let label = user.label().to_string();
                    let role = user.role.to_string();
                    view! {
                        <nav aria-label="Main">
                            <A href="/">"Dashboard"</A>
                            <A href="/projects">"Projects"</A>
                            <A href="/activity">"Activity"</A>
                            {admin.then(|| view! {
                                <A href="/admin/users">"Users"</A>
                                <A href="/admin/docker-registries">"Docker registries"</A>
                                <A href="/admin/helm-registries">"Helm registries"</A>
                                <A href="/admin/namespaces">"Namespaces"</A>
                            })}
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
                                disabled=move || logout.pending().get()
                                on:click=move |_| {
                                    logout.dispatch(Logout {});
                                }
                            >
                                "Log out"
                            </button>
                            {move || logout_error.get().map(|e| view! {
                                <span class="error" role="alert">{e.to_string()}</span>
                            })}
                        </div>
                    }
                        .into_any()
                }
                None => view! { <A href="/login">"Log in"</A> }.into_any(),
            }}
        </header>
    }
}

/// Says so when O-Neko deploys into the simulated cluster (demo), or into none at all.
#[component]
fn ClusterBanner() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let logged_in = Memo::new(move |_| auth.current().is_some());
    // Browser-only: the banner is a hint, and must not hold up or disturb hydration.
    let info = LocalResource::new(move || {
        let logged_in = logged_in.get();
        async move {
            if logged_in {
                get_cluster_info().await.ok()
            } else {
                None
            }
        }
    });
    move || {
        browser_value(info).flatten().and_then(|c| {
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
