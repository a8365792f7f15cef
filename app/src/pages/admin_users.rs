//! User administration: list, create, edit, delete, reset password (ADMIN).

use crate::components::kept;
use crate::{
    api::users::{CreateUser, DeleteUser, ResetUserPassword, UpdateUser, list_users},
    components::{ActionResult, ErrorBox, FieldMessage, RequireRole, action_error},
    model::{NewUser, Role, User, UserUpdate},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// The users page.
#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users · O-Neko"/>
        <RequireRole role=Role::Admin>
            <UsersAdmin/>
        </RequireRole>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateUser>,
    update: ServerAction<UpdateUser>,
    delete: ServerAction<DeleteUser>,
    reset: ServerAction<ResetUserPassword>,
}

#[component]
fn UsersAdmin() -> impl IntoView {
    let actions = Actions {
        create: ServerAction::new(),
        update: ServerAction::new(),
        delete: ServerAction::new(),
        reset: ServerAction::new(),
    };
    provide_context(actions);
    let users = Resource::new(
        move || {
            (
                actions.create.version().get(),
                actions.update.version().get(),
                actions.delete.version().get(),
                actions.reset.version().get(),
            )
        },
        |_| list_users(),
    );
    view! {
        <h1>"Users"</h1>
        <Transition fallback=|| view! { <p>"Loading users…"</p> }>
            {kept(users, move |loaded| match loaded {
                    Ok(list) => view! { <UserTable users=list/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
        </Transition>
        <ActionResult error=action_error(actions.delete) success=Signal::derive(move || {
            matches!(actions.delete.value().get(), Some(Ok(()))).then(|| "User deleted.".to_string())
        })/>
        <ActionResult error=action_error(actions.reset) success=Signal::derive(move || {
            matches!(actions.reset.value().get(), Some(Ok(()))).then(|| "Password reset.".to_string())
        })/>
        <CreateUserForm/>
        <super::tokens::ApiTokens all=true/>
    }
}

#[component]
fn UserTable(users: Vec<User>) -> impl IntoView {
    view! {
        <table class="list">
            <caption>{format!("{} users", users.len())}</caption>
            <thead>
                <tr>
                    <th scope="col">"Username"</th>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Email"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Signs in with"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {users.into_iter().map(|u| view! { <UserRow user=u/> }).collect_view()}
            </tbody>
        </table>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum RowMode {
    View,
    Edit,
    ConfirmDelete,
    ResetPassword,
}

#[component]
fn UserRow(user: User) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let mode = RwSignal::new(RowMode::View);
    let user = StoredValue::new(user);
    let name = user.with_value(|u| u.username.clone());
    // Single sign-on users have no password here to reset.
    let sso = user.with_value(|u| u.single_sign_on);
    view! {
        <tr>
            <th scope="row">{name.clone()}</th>
            <td>{user.with_value(|u| u.display_name.clone().unwrap_or_default())}</td>
            <td>{user.with_value(|u| u.email.clone().unwrap_or_default())}</td>
            <td><span class="role-badge">{user.with_value(|u| u.role.to_string())}</span></td>
            <td>{if sso { "Single sign-on" } else { "Password" }}</td>
            <td><time>{user.with_value(|u| u.created_at.format("%Y-%m-%d %H:%M").to_string())}</time></td>
            <td class="actions">
                {move || match mode.get() {
                    RowMode::View => {
                        let n1 = name.clone();
                        let n2 = name.clone();
                        let n3 = name.clone();
                        view! {
                            <button type="button" aria-label=format!("Edit {n1}")
                                on:click=move |_| mode.set(RowMode::Edit)>"Edit"</button>
                            {(!sso).then(|| view! {
                                <button type="button" aria-label=format!("Reset password of {n2}")
                                    on:click=move |_| mode.set(RowMode::ResetPassword)>"Reset password"</button>
                            })}
                            <button type="button" class="danger" aria-label=format!("Delete {n3}")
                                on:click=move |_| mode.set(RowMode::ConfirmDelete)>"Delete"</button>
                        }.into_any()
                    }
                    RowMode::ConfirmDelete => {
                        let id = user.with_value(|u| u.id);
                        view! {
                            <span>{format!("Delete {}?", name)}</span>
                            <button type="button" class="danger" on:click=move |_| {
                                actions.delete.dispatch(DeleteUser { id });
                                mode.set(RowMode::View);
                            }>"Confirm delete"</button>
                            <button type="button" on:click=move |_| mode.set(RowMode::View)>"Cancel"</button>
                        }.into_any()
                    }
                    RowMode::Edit => view! { <EditUser user=user.get_value() mode/> }.into_any(),
                    RowMode::ResetPassword => view! { <ResetPassword user=user.get_value() mode/> }.into_any(),
                }}
            </td>
        </tr>
    }
}

#[component]
fn EditUser(user: User, mode: RwSignal<RowMode>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let display_name = RwSignal::new(user.display_name.clone().unwrap_or_default());
    let email = RwSignal::new(user.email.clone().unwrap_or_default());
    let role = RwSignal::new(user.role.to_string());
    let error = action_error(actions.update);
    let id = user.id;
    let dispatched = RwSignal::new(false);
    Effect::new(move |_| {
        if dispatched.get() && matches!(actions.update.value().get(), Some(Ok(_))) {
            mode.set(RowMode::View);
        }
    });
    view! {
        <form class="inline" on:submit=move |ev| {
            ev.prevent_default();
            dispatched.set(true);
            actions.update.dispatch(UpdateUser {
                update: UserUpdate { id, display_name: display_name.get(), email: email.get(), role: role.get() },
            });
        }>
            <label for="edit-name">"Name"</label>
            <input id="edit-name" type="text" bind:value=display_name/>
            <FieldMessage error field="display_name" id="edit-name-error"/>
            <label for="edit-email">"Email"</label>
            <input id="edit-email" type="email" bind:value=email/>
            <FieldMessage error field="email" id="edit-email-error"/>
            <label for="edit-role">"Role"</label>
            <RoleSelect id="edit-role" role/>
            <FieldMessage error field="role" id="edit-role-error"/>
            <ActionResult error/>
            <button type="submit">"Save"</button>
            <button type="button" on:click=move |_| mode.set(RowMode::View)>"Cancel"</button>
        </form>
    }
}

#[component]
fn ResetPassword(user: User, mode: RwSignal<RowMode>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let password = RwSignal::new(String::new());
    let error = action_error(actions.reset);
    let id = user.id;
    let dispatched = RwSignal::new(false);
    Effect::new(move |_| {
        if dispatched.get() && matches!(actions.reset.value().get(), Some(Ok(_))) {
            mode.set(RowMode::View);
        }
    });
    view! {
        <form class="inline" on:submit=move |ev| {
            ev.prevent_default();
            dispatched.set(true);
            actions.reset.dispatch(ResetUserPassword { id, password: password.get() });
        }>
            <label for="reset-password">{format!("New password for {}", user.username)}</label>
            <input id="reset-password" type="password" autocomplete="new-password" required bind:value=password/>
            <FieldMessage error field="password" id="reset-password-error"/>
            <button type="submit">"Set password"</button>
            <button type="button" on:click=move |_| mode.set(RowMode::View)>"Cancel"</button>
        </form>
    }
}

#[component]
fn RoleSelect(id: &'static str, role: RwSignal<String>) -> impl IntoView {
    view! {
        <select id=id on:change:target=move |ev| role.set(ev.target().value()) prop:value=move || role.get()>
            {Role::ALL
                .iter()
                .map(|r| {
                    let v = r.as_str();
                    view! { <option value=v selected=move || role.get() == v>{v}</option> }
                })
                .collect_view()}
        </select>
    }
}

#[component]
fn CreateUserForm() -> impl IntoView {
    let actions = expect_context::<Actions>();
    let username = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer.to_string());
    let error = action_error(actions.create);
    let success = Signal::derive(move || match actions.create.value().get() {
        Some(Ok(u)) => Some(format!("User {} created.", u.username)),
        _ => None,
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = actions.create.value().get() {
            for s in [username, display_name, email, password] {
                s.set(String::new());
            }
        }
    });
    view! {
        <section class="card">
            <h2>"Create user"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                actions.create.dispatch(CreateUser {
                    user: NewUser {
                        username: username.get(),
                        display_name: display_name.get(),
                        email: email.get(),
                        role: role.get(),
                        password: password.get(),
                    },
                });
            }>
                <div class="grid">
                    <div>
                        <label for="new-username">"Username"</label>
                        <input id="new-username" type="text" required autocomplete="off" bind:value=username/>
                        <FieldMessage error field="username" id="new-username-error"/>
                    </div>
                    <div>
                        <label for="new-display-name">"Name (optional)"</label>
                        <input id="new-display-name" type="text" bind:value=display_name/>
                        <FieldMessage error field="display_name" id="new-display-name-error"/>
                    </div>
                    <div>
                        <label for="new-email">"Email (optional)"</label>
                        <input id="new-email" type="email" bind:value=email/>
                        <FieldMessage error field="email" id="new-email-error"/>
                    </div>
                    <div>
                        <label for="new-role">"Role"</label>
                        <RoleSelect id="new-role" role/>
                        <FieldMessage error field="role" id="new-role-error"/>
                    </div>
                    <div>
                        <label for="new-password">"Initial password"</label>
                        <input id="new-password" type="password" autocomplete="new-password" required bind:value=password/>
                        <FieldMessage error field="password" id="new-password-error"/>
                    </div>
                </div>
                <ActionResult error success/>
                <button type="submit" disabled=move || actions.create.pending().get()>"Create user"</button>
            </form>
        </section>
    }
}
