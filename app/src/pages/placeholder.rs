//! Pages whose capabilities are not built yet. They say so plainly instead of pretending.

use crate::{components::RequireRole, model::Role};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn NotBuiltYet(title: &'static str, role: Role, what: &'static str) -> impl IntoView {
    view! {
        <Title text=format!("{title} · O-Neko")/>
        <RequireRole role>
            <h1>{title}</h1>
            <p class="notice" role="status">{format!("Not available yet: {what}")}</p>
        </RequireRole>
    }
}

/// Start page.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! { <NotBuiltYet title="Dashboard" role=Role::Viewer
    what="deployed versions will be listed here once deploying is built."/> }
}
