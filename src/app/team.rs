//! Invitations in the UI: the Settings form that makes a link and the list of pending
//! ones (owners and admins), and the page the link opens (`/invite?token=…`), where the
//! invitee creates their account or signs in with theirs. Plain forms throughout: they
//! work without JavaScript.

use super::api::{show_invitation, InviteMember, IssuedInvitation, PendingInvitation, RevokeInvitation};
use super::i18n::{role_label, t};
use super::ErrorNotice;
use crate::model::Role;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Invite by email and role. The answer is the same whether or not the email has an
/// account: a link to send.
#[component]
pub fn InviteForm(
    invite: ServerAction<InviteMember>,
    my_role: Role,
    issued: Option<IssuedInvitation>,
) -> impl IntoView {
    let strings = t();
    view! {
        <h3>{strings.invite_title}</h3>
        <p class="hint">{strings.invite_intro}</p>
        <ActionForm action=invite attr:class="inline-form">
            <div class="field grow">
                <label for="invite-email">{strings.email}</label>
                <input id="invite-email" name="email" type="email" required maxlength="254" autocomplete="off"/>
            </div>
            <div class="field">
                <label for="invite-role">{strings.role}</label>
                <select id="invite-role" name="role">
                    {Role::ALL
                        .into_iter()
                        .filter(|role| my_role.can_assign(*role))
                        .map(|role| view! { <option value=role.as_str() selected=role == Role::Agent>{role_label(role)}</option> })
                        .collect_view()}
                </select>
            </div>
            <button type="submit" class="button primary">{strings.invite_button}</button>
        </ActionForm>
        {move || match invite.value().get().or_else(|| issued.clone().map(Ok)) {
            Some(Ok(link)) => view! { <IssuedLink link/> }.into_any(),
            Some(Err(error)) => view! { <p class="alert" role="alert">{error.to_string()}</p> }.into_any(),
            None => ().into_any(),
        }}
    }
}

#[component]
fn IssuedLink(link: IssuedInvitation) -> impl IntoView {
    let strings = t();
    let label = format!("{} {} ({})", strings.invite_link_for, link.email, role_label(link.role));
    view! {
        <div class="revealed" role="status">
            <label for="invite-link">{label.clone()}</label>
            <input id="invite-link" class="secret" readonly value=link.url.clone() data-testid="invite-link"/>
            <p class="hint">{format!("{} {}.", strings.invite_link_hint, link.expires_local)}</p>
        </div>
    }
}

#[component]
pub fn PendingInvitations(
    invitations: Vec<PendingInvitation>,
    my_role: Role,
    revoke: ServerAction<RevokeInvitation>,
) -> impl IntoView {
    let strings = t();
    view! {
        <h3>{strings.pending_invitations}</h3>
        {if invitations.is_empty() {
            view! { <p class="muted">{strings.no_pending_invitations}</p> }.into_any()
        } else {
            view! {
                <ul class="invitations" data-testid="pending-invitations">
                    {invitations.into_iter().map(|invitation| {
                        let can_revoke = my_role.can_assign(invitation.role);
                        view! {
                            <li>
                                <span class="member-email">{invitation.email.clone()}</span>
                                <span class="muted">
                                    {format!(" · {} · {} {}", role_label(invitation.role), strings.expires, invitation.expires_local)}
                                    {invitation.invited_by.clone().map(|by| format!(" · {} {by}", strings.invited_by))}
                                </span>
                                {can_revoke.then(|| view! {
                                    <ActionForm action=revoke attr:class="inline">
                                        <input type="hidden" name="id" value=invitation.id.clone()/>
                                        <button type="submit" class="link-button danger" aria-label=format!("{} {}", t().revoke, invitation.email)>
                                            {t().revoke}
                                        </button>
                                    </ActionForm>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        {move || match revoke.value().get() {
            Some(Err(error)) => Some(view! { <p class="alert" role="alert">{error.to_string()}</p> }),
            _ => None,
        }}
    }
}

/// `/invite?token=…`: what the invitation is for, and two ways to accept it. Both are
/// always shown; the page does not say whether the email already has an account.
#[component]
pub fn InvitePage() -> impl IntoView {
    let strings = t();
    let url = use_query_map();
    let token = move || url.read().get("token").unwrap_or_default();
    let invitation = Resource::new(token, show_invitation);
    let error = move || {
        url.read().get("error").map(|code| match code.as_str() {
            "mismatch" => strings.err_mismatch,
            "weak" => strings.err_weak,
            "exists" => strings.invite_err_exists,
            "wrong" => strings.invite_err_wrong,
            "too_many" => strings.sign_in_too_many,
            "busy" => strings.err_busy,
            _ => strings.invite_closed,
        })
    };
    view! {
        <Title text=strings.invite_page_title/>
        <main id="main" class="auth-page">
            <Suspense fallback=|| view! { <p class="loading">{t().loading}</p> }>
                {move || Suspend::new(async move {
                    match invitation.await {
                        Ok(invitation) if invitation.status == "open" => view! {
                            <div class="auth-card wide">
                                <div class="brand big"><span class="brand-mark" aria-hidden="true">"L"</span>{strings.app_name}</div>
                                <h1>{strings.invite_page_title}</h1>
                                <p>{strings.invite_page_intro}</p>
                                <dl class="facts">
                                    <dt>{strings.workspace_name}</dt><dd data-testid="invite-workspace">{invitation.workspace_name.clone()}</dd>
                                    <dt>{strings.email}</dt><dd data-testid="invite-email">{invitation.email.clone()}</dd>
                                    <dt>{strings.role}</dt><dd>{role_label(invitation.role)}</dd>
                                </dl>
                                {error().map(|message| view! { <p class="alert" role="alert">{message}</p> })}
                                <form method="post" action="/invite/accept" class="stacked">
                                    <h2>{strings.invite_new_title}</h2>
                                    <input type="hidden" name="token" value=token()/>
                                    <input type="hidden" name="mode" value="create"/>
                                    // For password managers: the account this password belongs to.
                                    <input type="hidden" name="username" autocomplete="username" value=invitation.email.clone()/>
                                    <label for="new-password">{strings.new_password}</label>
                                    <input id="new-password" name="password" type="password" autocomplete="new-password" required minlength="10" maxlength="512"/>
                                    <label for="new-password-confirm">{strings.confirm_password}</label>
                                    <input id="new-password-confirm" name="password_confirm" type="password" autocomplete="new-password" required minlength="10" maxlength="512"/>
                                    <button type="submit" class="button primary wide">{strings.invite_create_button}</button>
                                </form>
                                <form method="post" action="/invite/accept" class="stacked">
                                    <h2>{strings.invite_existing_title}</h2>
                                    <input type="hidden" name="token" value=token()/>
                                    <input type="hidden" name="mode" value="sign_in"/>
                                    <label for="existing-password">{strings.password}</label>
                                    <input id="existing-password" name="password" type="password" autocomplete="current-password" required/>
                                    <button type="submit" class="button secondary wide">{strings.invite_sign_in_button}</button>
                                    <p class="hint">{strings.forgot_password}</p>
                                </form>
                            </div>
                        }.into_any(),
                        Ok(_) | Err(super::api::UiError::NotFound(_)) => {
                            super::set_status(410);
                            view! {
                                <div class="auth-card">
                                    <h1>{strings.invite_page_title}</h1>
                                    <p class="alert" role="alert">{strings.invite_closed}</p>
                                    <a class="button primary" href="/login">{strings.sign_in}</a>
                                </div>
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
