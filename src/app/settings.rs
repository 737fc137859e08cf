//! Settings (`/settings`): the workspace's Kapso connection, its secrets (owners rotate
//! them; a new value is shown once) and its members (owners and admins invite people,
//! change roles and remove members; see `team.rs` for the invitations).

use super::account::SecretList;
use super::api::{
    workspace_settings, ChangeMemberRole, InviteMember, MemberView, RemoveMember, RevealedSecrets, RevokeInvitation,
    RotateSecret, SettingsView,
};
use super::i18n::{role_label, t};
use super::team::{InviteForm, PendingInvitations};
use super::ErrorNotice;
use crate::model::Role;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let actions = TeamActions {
        invite: ServerAction::<InviteMember>::new(),
        remove: ServerAction::<RemoveMember>::new(),
        revoke: ServerAction::<RevokeInvitation>::new(),
        role: ServerAction::<ChangeMemberRole>::new(),
    };
    let settings = Resource::new(
        move || {
            (
                actions.invite.version().get(),
                actions.remove.version().get(),
                actions.revoke.version().get(),
                actions.role.version().get(),
            )
        },
        |_| workspace_settings(),
    );
    view! {
        <Title text=t().settings_title/>
        <div class="page-header"><h1>{t().settings_title}</h1></div>
        <Transition fallback=|| view! { <p class="loading">{t().loading}</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(view) => view! { <SettingsBody view actions/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Transition>
        // Its own resource beside the page's, not nested in it: a suspense inside
        // another's resolved content loses its hydration markers on the server.
        <super::kapso_settings::KapsoSettings/>
        <super::webhook_health::WebhookHealth/>
    }
}

/// The forms of the members section, shared so that any of them refreshes the page.
#[derive(Clone, Copy)]
pub struct TeamActions {
    pub invite: ServerAction<InviteMember>,
    pub remove: ServerAction<RemoveMember>,
    pub revoke: ServerAction<RevokeInvitation>,
    pub role: ServerAction<ChangeMemberRole>,
}

#[component]
fn SettingsBody(view: SettingsView, actions: TeamActions) -> impl IntoView {
    let strings = t();
    let TeamActions { remove, role, .. } = actions;
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
        <section class="card" aria-labelledby="members-title">
            <h2 id="members-title">{strings.members_section}</h2>
            <div class="table-scroll">
                <table class="members">
                    <thead><tr><th scope="col">{strings.email}</th><th scope="col">{strings.role}</th><th scope="col">{strings.joined}</th><th scope="col"><span class="visually-hidden">{strings.remove}</span></th></tr></thead>
                    <tbody>
                        {view.members.into_iter().map(|member| view! { <MemberRow member my_role remove role/> }).collect_view()}
                    </tbody>
                </table>
            </div>
            {move || match remove.value().get().or_else(|| role.value().get()) {
                Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
                _ => None,
            }}
            {my_role.can_manage_members().then(|| view! {
                <PendingInvitations invitations=view.invitations.clone() my_role revoke=actions.revoke/>
                <InviteForm invite=actions.invite my_role issued=view.issued_invitation.clone()/>
            })}
        </section>
    }
}

#[component]
fn MemberRow(
    member: MemberView,
    my_role: Role,
    remove: ServerAction<RemoveMember>,
    role: ServerAction<ChangeMemberRole>,
) -> impl IntoView {
    let manageable = my_role.can_manage_members() && my_role.can_assign(member.role);
    let can_remove = manageable && !member.is_me;
    let select_id = format!("role-{}", member.user_id);
    let select_label = format!("{} {}", t().role, member.email);
    let (role_user_id, current_role) = (member.user_id.clone(), member.role);
    view! {
        <tr>
            <td class="member-email">{member.email.clone()}{member.is_me.then_some(" (you)")}</td>
            <td>
                {if manageable {
                    view! {
                        <ActionForm action=role attr:class="role-form">
                            <input type="hidden" name="user_id" value=role_user_id/>
                            <label for=select_id.clone() class="visually-hidden">{select_label}</label>
                            <select id=select_id name="role">
                                {Role::ALL
                                    .into_iter()
                                    .filter(|r| my_role.can_assign(*r))
                                    .map(|r| view! { <option value=r.as_str() selected=r == current_role>{role_label(r)}</option> })
                                    .collect_view()}
                            </select>
                            <button type="submit" class="link-button">{t().change_role}</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <span>{role_label(member.role)}</span> }.into_any()
                }}
            </td>
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
