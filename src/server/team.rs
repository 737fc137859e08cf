//! The server side of Settings' people: members and their roles, invitations, and the
//! pages an invitation or a reset link opens. Thin: role checks here, queries in
//! `accounts` and `invitations`, sessions ended through `auth::end_sessions`.

use crate::app::api::{InvitationView, IssuedInvitation, MemberView, PendingInvitation, SettingsView, UiError};
use crate::model::Role;
use crate::server::{
    accounts,
    auth::{self, EndSessions},
    clock::{local_display, now_ms},
    error::AppError,
    ids::UserId,
    invitations::{self, InviteStatus},
    passwords,
    web::{member, posted_without_javascript, public_url, refuse, state, workspace_info},
};

pub async fn settings() -> Result<SettingsView, UiError> {
    let (state, member) = member().await?;
    let zone = &member.workspace.time_zone;
    let members = accounts::members(&state.db, &member.workspace.id)
        .await
        .map_err(refuse)?
        .into_iter()
        .map(|m| MemberView {
            is_me: m.user_id == member.user_id,
            user_id: m.user_id.to_string(),
            email: m.email,
            role: m.role,
            joined_local: local_display(m.joined_at, zone),
        })
        .collect();
    let invitations = if member.role.can_manage_members() {
        invitations::pending(&state.db, &member.workspace.id)
            .await
            .map_err(refuse)?
            .into_iter()
            .map(|i| PendingInvitation {
                id: i.id,
                email: i.email,
                role: i.role,
                invited_by: i.invited_by,
                expires_local: local_display(i.expires_at, zone),
            })
            .collect()
    } else {
        Vec::new()
    };
    let revealed = state.revealed.take(&member.user_id);
    let issued_invitation = state.issued_invitations.take(&member.user_id);
    Ok(SettingsView {
        workspace: workspace_info(&member.workspace),
        my_role: member.role,
        members,
        revealed,
        invitations,
        issued_invitation,
    })
}

fn parse_role(role: &str) -> Result<Role, UiError> {
    Role::parse(role.trim()).ok_or_else(|| refuse(AppError::Unprocessable(format!("unknown role `{}`", role.trim()))))
}

/// Creates an invitation. Nothing about the email's account (whether there is one) is
/// looked up or said.
pub async fn invite(email: String, role: String) -> Result<IssuedInvitation, UiError> {
    let (state, member) = member().await?;
    let role = parse_role(&role)?;
    member
        .require(member.role.can_manage_members() && member.role.can_assign(role), "invite people with this role")
        .map_err(refuse)?;
    let (invitation, token) =
        invitations::create(&state.db, &member.workspace.id, &email, role, &member.user_id).await.map_err(refuse)?;
    tracing::info!(workspace = %member.workspace.id, invitation = %invitation.id, role = %role, "invitation created");
    let issued = IssuedInvitation {
        email: invitation.email,
        role,
        url: format!("{}/invite?token={token}", public_url()),
        expires_local: local_display(invitation.expires_at, &member.workspace.time_zone),
    };
    if posted_without_javascript() {
        state.issued_invitations.hold(&member.user_id, issued.clone());
        leptos_axum::redirect("/settings");
    }
    Ok(issued)
}

pub async fn revoke_invitation(id: String) -> Result<(), UiError> {
    let (state, member) = member().await?;
    member.require(member.role.can_manage_members(), "revoke invitations").map_err(refuse)?;
    let invitation = invitations::find(&state.db, id.trim(), &member.workspace.id)
        .await
        .map_err(refuse)?
        .ok_or_else(|| refuse(AppError::not_found("invitation")))?;
    member.require(member.role.can_assign(invitation.role), "revoke an owner's invitation").map_err(refuse)?;
    invitations::revoke(&state.db, &member.workspace.id, &invitation.id).await.map_err(refuse)?;
    if posted_without_javascript() {
        leptos_axum::redirect("/settings");
    }
    Ok(())
}

pub async fn change_role(user_id: String, role: String) -> Result<(), UiError> {
    let (state, member) = member().await?;
    let role = parse_role(&role)?;
    member.require(member.role.can_manage_members(), "change roles").map_err(refuse)?;
    let target = UserId::parse(&user_id).ok_or_else(|| refuse(AppError::not_found("member")))?;
    let current = accounts::role_in(&state.db, &member.workspace.id, &target)
        .await
        .map_err(refuse)?
        .ok_or_else(|| refuse(AppError::not_found("member")))?;
    member
        .require(member.role.can_assign(current) && member.role.can_assign(role), "give or take away ownership")
        .map_err(refuse)?;
    accounts::change_role(&state.db, &member.workspace.id, &target, role).await.map_err(refuse)?;
    tracing::info!(workspace = %member.workspace.id, user = %target, role = %role, "role changed");
    if posted_without_javascript() {
        leptos_axum::redirect("/settings");
    }
    Ok(())
}

pub async fn remove_member(user_id: String) -> Result<(), UiError> {
    let (state, member) = member().await?;
    member.require(member.role.can_manage_members(), "remove members").map_err(refuse)?;
    let target = UserId::parse(&user_id).ok_or_else(|| refuse(AppError::not_found("member")))?;
    let role = accounts::role_in(&state.db, &member.workspace.id, &target)
        .await
        .map_err(refuse)?
        .ok_or_else(|| refuse(AppError::not_found("member")))?;
    member.require(member.role.can_assign(role), "remove an owner").map_err(refuse)?;
    accounts::remove_member(&state.db, &member.workspace.id, &target).await.map_err(refuse)?;
    auth::end_sessions(&state, &target, EndSessions::InWorkspace(&member.workspace.id)).await.map_err(refuse)?;
    tracing::info!(workspace = %member.workspace.id, user = %target, "member removed");
    Ok(())
}

/// What an invitation link is for; 404 for a token that is no invitation.
pub async fn show_invitation(token: String) -> Result<InvitationView, UiError> {
    let state = state()?;
    let invitation = invitations::find_by_token(&state.db, &token)
        .await
        .map_err(refuse)?
        .ok_or_else(|| refuse(AppError::not_found("invitation")))?;
    let status = match invitation.status(now_ms()) {
        InviteStatus::Open => "open",
        InviteStatus::Accepted => "accepted",
        InviteStatus::Revoked => "revoked",
        InviteStatus::Expired => "expired",
    };
    Ok(InvitationView {
        workspace_name: invitation.workspace_name,
        email: invitation.email,
        role: invitation.role,
        invited_by: invitation.invited_by,
        status: status.to_string(),
    })
}

pub async fn check_password_reset(token: String) -> Result<Option<String>, UiError> {
    let state = state()?;
    passwords::reset_is_open(&state.db, &token).await.map_err(refuse)
}
