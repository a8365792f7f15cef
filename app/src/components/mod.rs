//! Reusable views.

pub mod deploy;

use crate::{
    error::AppError,
    model::{CurrentUser, Role},
    shell::Auth,
};
use leptos::prelude::*;

/// What the role gate decided.
#[derive(Clone, PartialEq)]
enum Gate {
    Allowed(CurrentUser),
    Refused,
    LoggedOut,
    Failed(AppError),
}

/// Renders `children` for a user holding at least `role`; otherwise says why not. The server
/// refuses the data anyway: this is only so the page explains itself. Synchronous (the user is
/// known before the page renders, see `shell::Auth`), so the page's resources and
/// `<Transition>`s are created once, in the same order on the server and in the browser.
#[component]
pub fn RequireRole(role: Role, children: ChildrenFn) -> impl IntoView {
    let auth = expect_context::<Auth>();
    // Re-renders the page only when the answer changes.
    let gate = Memo::new(move |_| match auth.user.get() {
        Ok(Some(user)) if user.has(role) => Gate::Allowed(user),
        Ok(Some(_)) => Gate::Refused,
        Ok(None) => Gate::LoggedOut,
        Err(e) => Gate::Failed(e),
    });
    move || match gate.get() {
        Gate::Allowed(user) => {
            provide_context::<CurrentUser>(user);
            children().into_any()
        }
        Gate::Refused => view! {
            <section class="refused" role="alert">
                <h1>"Access denied"</h1>
                <p>{format!("This page needs the {role} role.")}</p>
            </section>
        }
        .into_any(),
        Gate::LoggedOut => view! {
            <section class="refused">
                <h1>"Please log in"</h1>
                <p>"You need to be logged in to see this page. " <a href="/login">"Log in"</a></p>
            </section>
        }
        .into_any(),
        Gate::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
    }
}

/// A browser-only resource's value: `None` while it loads, and always during a server render.
/// The server never loads a `LocalResource`, and reading one inside a `<Transition>` makes the
/// server give up on the whole boundary (it renders the fallback and leaves the rest to the
/// browser); in the browser the value is `None` while hydrating too, so both render the same.
pub fn browser_value<T: Clone + 'static>(resource: LocalResource<T>) -> Option<T> {
    #[cfg(feature = "ssr")]
    {
        let _ = resource;
        None
    }
    #[cfg(not(feature = "ssr"))]
    {
        resource.get()
    }
}

/// The children of a `<Transition>`: `view` of what `resource` resolves to, built under an
/// owner that lives as long as that view is shown.
///
/// When a resource refetches, Leptos disposes the owner of the previous view at once but keeps
/// the view mounted (with its render effects) until the new data arrives. A live status pushed
/// in between re-ran those effects, which then read disposed signals and the WASM panicked,
/// leaving the page dead. Here each view gets a child of the boundary's owner instead, replaced
/// (and disposed) only together with the view.
pub fn kept<R, T, V>(
    resource: R,
    view: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> impl Fn() -> Suspend<leptos::tachys::reactive_graph::OwnedView<V>> + Send + Sync + 'static
where
    R: std::future::IntoFuture<Output = T> + Copy + Send + Sync + 'static,
    R::IntoFuture: Send,
    T: 'static,
    V: Send + 'static,
{
    // Called where the boundary builds its children: its owner provides the boundary's context.
    let owner = Owner::current().unwrap_or_default();
    move || {
        let owner = owner.clone();
        let view = view.clone();
        Suspend::new(async move {
            let value = resource.await;
            let child = owner.child();
            let built = child.with(|| view(value));
            leptos::tachys::reactive_graph::OwnedView::new_with_owner(built, child)
        })
    }
}

/// An error message as an alert.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

/// The message for one input field of a failed action, shown below the field.
#[component]
pub fn FieldMessage(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: &'static str,
    id: &'static str,
) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| e.field(field))
            .map(|m| view! { <p class="field-error" id=id>{m}</p> })
    }
}

/// The error of a failed action that is not about one field, or a success note.
#[component]
pub fn ActionResult(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(into, optional)] success: Option<Signal<Option<String>>>,
) -> impl IntoView {
    move || {
        if let Some(e) = error.get().filter(|e| !matches!(e, AppError::Invalid { .. })) {
            return Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any());
        }
        success
            .and_then(|s| s.get())
            .map(|m| view! { <p class="success" role="status">{m}</p> }.into_any())
    }
}

/// The error of an action's last result, as a signal.
pub fn action_error<I, O>(action: ServerAction<I>) -> Signal<Option<AppError>>
where
    I: server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}

/// "Entries 51–100 of 230" for a page of a paged list.
pub fn page_caption(what: &str, page: u64, page_size: u64, shown: usize, total: u64) -> String {
    let first = page * page_size + 1;
    format!("{what} {first}–{} of {total}", first + shown as u64 - 1)
}

/// Back and forward buttons for a paged list; `page` is the zero-based page shown.
#[component]
pub fn Pager(
    page: RwSignal<u64>,
    current: u64,
    page_size: u64,
    total: u64,
    label: &'static str,
    back: &'static str,
    forward: &'static str,
) -> impl IntoView {
    let last = (current + 1) * page_size >= total;
    view! {
        <nav class="pager" aria-label=label>
            <button type="button" disabled=current == 0 on:click=move |_| page.update(|n| *n = n.saturating_sub(1))>{back}</button>
            <button type="button" disabled=last on:click=move |_| page.update(|n| *n += 1)>{forward}</button>
        </nav>
    }
}

/// A delete button that asks once more: "Delete" turns into "Confirm delete" and "Cancel".
/// `confirm_label` is the confirm button's accessible name (default: "Confirm delete <name>").
#[component]
pub fn ConfirmDelete(
    name: String,
    #[prop(optional, into)] confirm_label: Option<String>,
    on_confirm: Callback<()>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let confirm_label = confirm_label.unwrap_or_else(|| format!("Confirm delete {name}"));
    let labels = StoredValue::new((format!("Delete {name}"), confirm_label));
    view! {
        <Show when=move || !asking.get() fallback=move || view! {
            <button type="button" class="danger" aria-label=labels.with_value(|l| l.1.clone())
                on:click=move |_| {
                    on_confirm.run(());
                    asking.set(false);
                }>"Confirm delete"</button>
            <button type="button" on:click=move |_| asking.set(false)>"Cancel"</button>
        }>
            <button type="button" class="danger" aria-label=labels.with_value(|l| l.0.clone())
                on:click=move |_| asking.set(true)>"Delete"</button>
        </Show>
    }
}
