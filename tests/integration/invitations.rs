//! Invitations (issue 9): people join with their own password, through a one-time link
//! an owner or admin makes. Includes the pre-claim attack across two workspaces.

use crate::support::*;
use leadline::model::Role;
use reqwest::StatusCode;
use serde_json::Value;

/// Invites `email` as `role` through Settings; returns the link's token.
async fn invite(by: &Browser, email: &str, role: &str) -> String {
    let reply = by.call("settings/invite", &[("email", email), ("role", role)]).await;
    let body = reply.expect(StatusCode::OK);
    let url = body["url"].as_str().unwrap();
    assert!(url.contains("/invite?token="), "{url}");
    url.split("token=").nth(1).unwrap().to_string()
}

async fn accept(app: &TestApp, token: &str, mode: &str, password: &str, confirm: &str) -> Reply {
    Browser::anonymous(app)
        .post_form(
            "/invite/accept",
            &[("token", token), ("mode", mode), ("password", password), ("password_confirm", confirm)],
        )
        .await
}

fn location(reply: &Reply) -> String {
    reply.headers.get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

fn signed_in(app: &TestApp, reply: &Reply) -> Browser {
    Browser { cookie: Some(session_cookie(reply).expect("a session")), ..Browser::anonymous(app) }
}

const THEIR_PASSWORD: &str = "my very own password";

on_both_engines! {
    async fn an_invitee_sets_their_own_password_and_lands_in_the_workspace(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let token = invite(&owner, "Sari@Toko.example", "agent").await;
        let settings = owner.call("settings", &[]).await.expect(StatusCode::OK).clone();
        let pending = settings["invitations"].as_array().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0]["email"], "sari@toko.example");
        assert_eq!(pending[0]["role"], "agent");
        assert!(!settings.to_string().contains(&token), "the token is shown once, not listed");
        // Only the token's digest is stored.
        let stored: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM invitations WHERE token_sha256 = $1")
            .bind(&token).fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(stored, 0);
        // The link's page says what it is for.
        let page = Browser::anonymous(&app).get(&format!("/invite?token={token}")).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.body.as_str().unwrap();
        assert!(html.contains("Toko Maju") && html.contains("sari@toko.example"), "{html}");
        // Typos are caught before anything is made.
        let mismatch = accept(&app, &token, "create", THEIR_PASSWORD, "something else!").await;
        assert!(location(&mismatch).contains("error=mismatch"));
        let weak = accept(&app, &token, "create", "short", "short").await;
        assert!(location(&weak).contains("error=weak"));
        assert_eq!(app.count("users").await, 1);
        // Accepted: their own account, signed in, in the Database.
        let accepted = accept(&app, &token, "create", THEIR_PASSWORD, THEIR_PASSWORD).await;
        assert_eq!(accepted.status, StatusCode::SEE_OTHER);
        assert_eq!(location(&accepted), "/leads");
        let sari = signed_in(&app, &accepted);
        let me = sari.call("me", &[]).await.expect(StatusCode::OK).clone();
        assert_eq!(me["email"], "sari@toko.example");
        assert_eq!(me["role"], "agent");
        assert_eq!(me["workspace"]["id"], app.workspace.id.as_str());
        assert_eq!(sari.get("/leads").await.status, StatusCode::OK);
        // The link worked once.
        let again = accept(&app, &token, "create", "another password!", "another password!").await;
        assert!(location(&again).contains("error=closed"), "{}", location(&again));
        let page = Browser::anonymous(&app).get(&format!("/invite?token={token}")).await;
        assert_eq!(page.status, StatusCode::GONE);
        assert_eq!(owner.call("settings", &[]).await.body["invitations"], serde_json::json!([]));
        // And they sign in with the password they chose.
        Browser::sign_in(&app, "sari@toko.example", THEIR_PASSWORD).await;
    }

    async fn settings_answers_the_same_whether_or_not_the_email_has_an_account(app: TestApp) {
        let (other, _, _) = app.second_workspace("555000999").await;
        app.member("known@elsewhere.example", Role::Agent, Some(&other)).await;
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let shape = |reply: &Reply, email: &str| {
            assert_eq!(reply.status, StatusCode::OK);
            let text = reply.body.to_string().replace(email, "EMAIL");
            let token = reply.body["url"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
            text.replace(&token, "TOKEN")
        };
        let known = owner.call("settings/invite", &[("email", "known@elsewhere.example"), ("role", "agent")]).await;
        let unknown = owner.call("settings/invite", &[("email", "nobody@elsewhere.example"), ("role", "agent")]).await;
        assert_eq!(shape(&known, "known@elsewhere.example"), shape(&unknown, "nobody@elsewhere.example"));
        // The page the form shows without JavaScript, too.
        let page = |email: &'static str| {
            let owner = owner.clone();
            async move {
                let posted = owner.submit_form("/api/settings/invite", &[("email", email), ("role", "agent")]).await;
                assert!(posted.status.is_redirection(), "{}", posted.status);
                let html = owner.get("/settings").await.body.as_str().unwrap().to_string();
                // What the page says about this invitation: the block with the link.
                let shown = html.split("<div role=\"status\" class=\"revealed\">").nth(1).unwrap();
                let shown = shown.split("</div>").next().unwrap().to_string();
                let token = shown.split("token=").nth(1).unwrap().split('"').next().unwrap().to_string();
                assert!(shown.contains(email), "{shown}");
                shown.replace(email, "EMAIL").replace(&token, "TOKEN")
            }
        };
        let known_page = page("known@elsewhere.example").await;
        let unknown_page = page("nobody@elsewhere.example").await;
        assert_eq!(known_page, unknown_page);
        // Inviting looked nothing up and changed nothing about accounts.
        assert_eq!(app.count("users").await, 2);
    }

    async fn an_existing_account_accepts_by_signing_in_with_its_own_password(app: TestApp) {
        let (other, _, _) = app.second_workspace("555000999").await;
        let other_owner = app.member("boss@lain.example", Role::Owner, Some(&other)).await;
        app.member("sari@toko.example", Role::Agent, None).await;
        let token = invite(&other_owner, "sari@toko.example", "admin").await;
        // Creating a second account for the email is refused; nothing is made.
        let create = accept(&app, &token, "create", THEIR_PASSWORD, THEIR_PASSWORD).await;
        assert!(location(&create).contains("error=exists"));
        // A wrong password does not accept it.
        let wrong = accept(&app, &token, "sign_in", "not the password", "").await;
        assert!(location(&wrong).contains("error=wrong"));
        assert!(session_cookie(&wrong).is_none());
        let accepted = accept(&app, &token, "sign_in", PASSWORD, "").await;
        assert_eq!(location(&accepted), "/leads");
        let sari = signed_in(&app, &accepted);
        let me = sari.call("me", &[]).await.expect(StatusCode::OK).clone();
        assert_eq!(me["workspace"]["id"], other.id.as_str(), "signed in to the workspace that invited them");
        assert_eq!(me["role"], "admin");
        assert_eq!(me["workspaces"].as_array().unwrap().len(), 2);
        sari.post_form("/workspace", &[("workspace_id", app.workspace.id.as_str())]).await;
        assert_eq!(sari.call("me", &[]).await.body["workspace"]["id"], app.workspace.id.as_str());
        assert_eq!(app.count("users").await, 2);
    }

    async fn revoked_and_expired_invitation_links_open_nothing(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let revoked = invite(&owner, "late@toko.example", "agent").await;
        let id = owner.call("settings", &[]).await.body["invitations"][0]["id"].as_str().unwrap().to_string();
        owner.call("settings/revoke-invitation", &[("id", &id)]).await.expect(StatusCode::OK);
        assert!(location(&accept(&app, &revoked, "create", THEIR_PASSWORD, THEIR_PASSWORD).await).contains("error=closed"));
        assert_eq!(Browser::anonymous(&app).call("invite/show", &[("token", &revoked)]).await.body["status"], "revoked");
        let expired = invite(&owner, "slow@toko.example", "agent").await;
        sqlx::query("UPDATE invitations SET expires_at = $1 WHERE email = 'slow@toko.example'")
            .bind(leadline::server::clock::now_ms() - 1).execute(&app.db.pool).await.unwrap();
        assert!(location(&accept(&app, &expired, "create", THEIR_PASSWORD, THEIR_PASSWORD).await).contains("error=closed"));
        assert_eq!(Browser::anonymous(&app).get(&format!("/invite?token={expired}")).await.status, StatusCode::GONE);
        // Links are valid for seven days.
        let fresh = invite(&owner, "new@toko.example", "agent").await;
        let row: (i64, i64) = sqlx::query_as("SELECT created_at, expires_at FROM invitations WHERE email = 'new@toko.example'")
            .fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(row.1 - row.0, 7 * 24 * 3600 * 1000);
        // Inviting the same email again replaces the pending link.
        let replaced = invite(&owner, "new@toko.example", "admin").await;
        assert!(location(&accept(&app, &fresh, "create", THEIR_PASSWORD, THEIR_PASSWORD).await).contains("error=closed"));
        assert_eq!(location(&accept(&app, &replaced, "create", THEIR_PASSWORD, THEIR_PASSWORD).await), "/leads");
        assert_eq!(app.count("users").await, 2);
        // A member is not invited again.
        owner.call("settings/invite", &[("email", "new@toko.example"), ("role", "agent")]).await.expect(StatusCode::CONFLICT);
    }

    // Issue 9, attack 1: an admin of workspace A makes an account for someone else's
    // email with a password the admin chose, removes it, and waits for workspace B to
    // invite the same email. With invitations, that account opens nothing in B.
    async fn the_pre_claim_attack_across_two_workspaces_gets_the_attacker_nothing(app: TestApp) {
        let attacker = app.member("admin@a.example", Role::Owner, None).await;
        // Pre-claim: invite the victim's email and accept the link oneself.
        let token = invite(&attacker, "victim@b.example", "agent").await;
        let claimed = accept(&app, &token, "create", "attacker chose this", "attacker chose this").await;
        assert_eq!(location(&claimed), "/leads");
        let as_victim = signed_in(&app, &claimed);
        let victim_id = attacker.call("settings", &[]).await.body["members"].as_array().unwrap().iter()
            .find(|m| m["email"] == "victim@b.example").unwrap()["user_id"].as_str().unwrap().to_string();
        attacker.call("settings/remove-member", &[("user_id", &victim_id)]).await.expect(StatusCode::OK);
        // Removal ended the session it had in A.
        assert_eq!(as_victim.call("me", &[]).await.body, Value::Null);
        // Workspace B invites the real person.
        let (b, _, _) = app.second_workspace("555000999").await;
        let b_owner = app.member("owner@b.example", Role::Owner, Some(&b)).await;
        let b_token = invite(&b_owner, "victim@b.example", "admin").await;
        // The attacker's password opens no workspace: the account belongs to none.
        let attempt = Browser::anonymous(&app)
            .post_form("/login", &[("email", "victim@b.example"), ("password", "attacker chose this")])
            .await;
        assert!(location(&attempt).starts_with("/login?error=no_workspace"), "{}", location(&attempt));
        assert!(session_cookie(&attempt).is_none());
        // Without B's link the attacker cannot join B; their own links only open A.
        let a_again = invite(&attacker, "victim@b.example", "agent").await;
        assert_ne!(a_again, b_token);
        // The victim, holding B's link, cannot be signed in with the attacker's password
        // by anyone but the holder of that link; they get a reset from the operator and
        // accept with their own password. The attacker's password stops working.
        let (_, reset) = leadline::server::passwords::issue_reset(&app.db, "victim@b.example").await.unwrap();
        let done = Browser::anonymous(&app).post_form("/reset-password", &[
            ("token", &reset), ("new_password", THEIR_PASSWORD), ("new_password_confirm", THEIR_PASSWORD),
        ]).await;
        assert_eq!(location(&done), "/login?notice=password_reset");
        let accepted = accept(&app, &b_token, "sign_in", THEIR_PASSWORD, "").await;
        assert_eq!(location(&accepted), "/leads");
        let victim = signed_in(&app, &accepted);
        assert_eq!(victim.call("me", &[]).await.body["workspace"]["id"], b.id.as_str());
        let stale = Browser::anonymous(&app)
            .post_form("/login", &[("email", "victim@b.example"), ("password", "attacker chose this")])
            .await;
        assert!(location(&stale).starts_with("/login?error=invalid"), "{}", location(&stale));
        // Nobody in A sees B's people.
        let a_members = attacker.call("settings", &[]).await.body["members"].to_string();
        assert!(!a_members.contains("owner@b.example"));
    }
}
