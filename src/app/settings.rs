//! Settings (`/settings`): the workspace's Kapso connection, its secrets (owners rotate
//! them; a new value is shown once) and its members (owners and admins manage them).

use super::account::SecretList;
use super::api::{
    workspace_settings, AddMember, MemberView, RemoveMember, RevealedSecrets, RotateSecret, SettingsView,
};
use super::i18n::{role_label, t};
use super::ErrorNotice;
use crate::model::Role;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let add = ServerAction::<AddMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let settings = Resource::new(move || (add.version().get(), remove.version().get()), |_| workspace_settings());
    view! {
        <Title text=t().settings_title/>
        <div class="page-header"><h1>{t().settings_title}</h1></div>
        <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(view) => view! { <SettingsBody view add remove/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SettingsBody(view: SettingsView, add: ServerAction<AddMember>, remove: ServerAction<RemoveMember>) -> impl IntoView {
    let strings = t();
    let workspace = view.workspace.clone();
    let my_role = view.my_role;
    view! {
        <section class="card" aria-labelledby="ws-title">
            <h2 id="ws-title">{strings.workspace_section}</h2>
            <dl class="facts">
                <dt>{strings.workspace_name}</dt><dd>{workspace.name.clone()}</dd>
                <dt>{strings.phone_number_id}</dt><dd><code>{workspace.phone_number_id.clone()}</code></dd>
                <dt>{strings.region}</dt><dd>{workspace.region.clone()}</dd>
                <dt>{strings.time_zone}</dt><dd>{workspace.time_zone.clone()}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="kapso-title">
            <h2 id="kapso-title">{strings.kapso_section}</h2>
            <dl class="facts">
                <dt>{strings.webhook_url_label}</dt>
                <dd><code class="copyable" data-testid="webhook-url">{workspace.webhook_url.clone()}</code></dd>
            </dl>
            {if my_role.can_manage_secrets() {
                view! { <Rotation revealed=view.revealed.clone()/> }.into_any()
            } else {
                view! { <p class="muted">{strings.owner_only}</p> }.into_any()
            }}
        </section>
        {my_role.can_manage_secrets().then(|| view! { <super::webhook_health::WebhookHealth/> })}
        <section class="card" aria-labelledby="members-title">
            <h2 id="members-title">{strings.members_section}</h2>
            <table class="members">
                <thead><tr><th scope="col">{strings.email}</th><th scope="col">{strings.role}</th><th scope="col">{strings.joined}</th><th scope="col"><span class="visually-hidden">{strings.remove}</span></th></tr></thead>
                <tbody>
                    {view.members.into_iter().map(|member| view! { <MemberRow member my_role remove/> }).collect_view()}
                </tbody>
            </table>
            {move || match remove.value().get() {
                Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
                _ => None,
            }}
            {my_role.can_manage_members().then(|| view! { <AddMemberForm add my_role/> })}
        </section>
    }
}

#[component]
fn MemberRow(member: MemberView, my_role: Role, remove: ServerAction<RemoveMember>) -> impl IntoView {
    let can_remove = my_role.can_manage_members() && my_role.can_assign(member.role) && !member.is_me;
    view! {
        <tr>
            <td>{member.email.clone()}{member.is_me.then_some(" (you)")}</td>
            <td>{role_label(member.role)}</td>
            <td>{member.joined_local.clone()}</td>
            <td>
                {can_remove.then(|| view! {
                    <ActionForm action=remove>
                        <input type="hidden" name="user_id" value=member.user_id.clone()/>
                        <button type="submit" class="link-button danger" aria-label=format!("{} {}", t().remove, member.email)>
                            {t().remove}
                        </button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

#[component]
fn AddMemberForm(add: ServerAction<AddMember>, my_role: Role) -> impl IntoView {
    let strings = t();
    view! {
        <h3>{strings.add_member}</h3>
        <p class="hint">{strings.add_member_intro}</p>
        <ActionForm action=add attr:class="inline-form">
            <div class="field grow">
                <label for="member-email">{strings.email}</label>
                <input id="member-email" name="email" type="email" required/>
            </div>
            <div class="field">
                <label for="member-role">{strings.role}</label>
                <select id="member-role" name="role">
                    {Role::ALL
                        .into_iter()
                        .filter(|role| my_role.can_assign(*role))
                        .map(|role| view! { <option value=role.as_str() selected=role == Role::Agent>{role_label(role)}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="member-password">{strings.initial_password}</label>
                <input id="member-password" name="password" type="password" autocomplete="new-password"/>
            </div>
            <button type="submit" class="button primary">{strings.add_member}</button>
        </ActionForm>
        {move || match add.value().get() {
            Some(Ok(())) => view! { <p class="notice" role="status">{t().member_added}</p> }.into_any(),
            Some(Err(error)) => view! { <p class="alert" role="alert">{error.to_string()}</p> }.into_any(),
            None => ().into_any(),
        }}
    }
}

/// `revealed`: secrets a plain form post (no JavaScript) just rotated.
#[component]
fn Rotation(revealed: Option<RevealedSecrets>) -> impl IntoView {
    let strings = t();
    let rotate = ServerAction::<RotateSecret>::new();
    let buttons = [
        ("webhook_secret", strings.webhook_secret),
        ("verify_token", strings.verify_token),
        ("api_token", strings.api_token),
    ];
    view! {
        <p class="hint">{strings.rotate_intro}</p>
        <div class="rotate-buttons">
            {buttons.into_iter().map(|(which, label)| view! {
                <ActionForm action=rotate>
                    <input type="hidden" name="which" value=which/>
                    <button type="submit" class="button secondary">{format!("{} {}", t().rotate, label)}</button>
                </ActionForm>
            }).collect_view()}
        </div>
        {move || match rotate.value().get().or_else(|| revealed.clone().map(Ok)) {
            Some(Ok(secrets)) => view! {
                <div class="revealed" role="status">
                    <SecretList secrets/>
                    <p class="hint">{t().shown_once}</p>
                </div>
            }.into_any(),
            Some(Err(error)) => view! { <p class="alert" role="alert">{error.to_string()}</p> }.into_any(),
            None => ().into_any(),
        }}
    }
}
