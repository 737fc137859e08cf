//! The account lifecycle (issue 9): changing one's password, signing out everywhere,
//! the operator's reset link, and a workspace that can never lose its last owner.

use crate::support::*;
use leadline::model::Role;
use reqwest::StatusCode;
use serde_json::Value;

const NEW_PASSWORD: &str = "a brand new password";

fn location(reply: &Reply) -> String {
    reply.headers.get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

async fn change(browser: &Browser, current: &str, new: &str, confirm: &str) -> Reply {
    browser
        .post_form(
            "/account/password",
            &[("current_password", current), ("new_password", new), ("new_password_confirm", confirm)],
        )
        .await
}

async fn user_id(app: &TestApp, email: &str) -> String {
    leadline::server::accounts::find_user_by_email(&app.db, email).await.unwrap().unwrap().id.to_string()
}

on_both_engines! {
    async fn changing_your_password_needs_the_current_one_and_ends_your_other_sessions(app: TestApp) {
        let here = app.member("sari@toko.example", Role::Agent, None).await;
        let phone = Browser::sign_in(&app, "sari@toko.example", PASSWORD).await;
        assert_eq!(here.get("/account").await.status, StatusCode::OK);
        let wrong = change(&here, "not my password", NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(location(&wrong), "/account?error=wrong");
        let mismatch = change(&here, PASSWORD, NEW_PASSWORD, "a different one!").await;
        assert_eq!(location(&mismatch), "/account?error=mismatch");
        let weak = change(&here, PASSWORD, "short", "short").await;
        assert_eq!(location(&weak), "/account?error=weak");
        assert_eq!(phone.call("me", &[]).await.body["email"], "sari@toko.example", "nothing changed yet");
        let done = change(&here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(location(&done), "/account?done=password");
        assert_eq!(here.call("me", &[]).await.body["email"], "sari@toko.example", "this session stays");
        assert_eq!(phone.call("me", &[]).await.body, Value::Null, "the other session ended");
        Browser::sign_in(&app, "sari@toko.example", NEW_PASSWORD).await;
        let old = Browser::anonymous(&app).post_form("/login", &[("email", "sari@toko.example"), ("password", PASSWORD)]).await;
        assert!(location(&old).starts_with("/login?error=invalid"));
    }

    async fn guessing_the_current_password_is_limited_like_signing_in(app: TestApp) {
        let thief = app.member("sari@toko.example", Role::Agent, None).await;
        for i in 0..5 {
            let reply = change(&thief, &format!("guess number {i}"), NEW_PASSWORD, NEW_PASSWORD).await;
            assert_eq!(location(&reply), "/account?error=wrong");
        }
        let locked = change(&thief, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(location(&locked), "/account?error=too_many");
    }

    async fn sign_out_everywhere_ends_every_session_of_the_person_only(app: TestApp) {
        let laptop = app.member("sari@toko.example", Role::Agent, None).await;
        let phone = Browser::sign_in(&app, "sari@toko.example", PASSWORD).await;
        let colleague = app.member("budi@toko.example", Role::Agent, None).await;
        let out = laptop.post_form("/logout/everywhere", &[]).await;
        assert_eq!(location(&out), "/login?notice=signed_out_everywhere");
        assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(laptop.call("me", &[]).await.body, Value::Null);
        assert_eq!(phone.call("me", &[]).await.body, Value::Null);
        assert_eq!(colleague.call("me", &[]).await.body["email"], "budi@toko.example");
        // From another site it is refused (it changes state).
        let forged = laptop.http.post(format!("{}/logout/everywhere", laptop.base_url))
            .header("cookie", colleague.cookie.clone().unwrap())
            .header("origin", "https://evil.example")
            .send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        assert_eq!(colleague.call("me", &[]).await.body["email"], "budi@toko.example");
    }

    async fn an_operators_reset_link_sets_a_new_password_once_and_ends_every_session(app: TestApp) {
        let phone = app.member("sari@toko.example", Role::Agent, None).await;
        let (_, token) = leadline::server::passwords::issue_reset(&app.db, "Sari@toko.example").await.unwrap();
        assert_eq!(Browser::anonymous(&app).get(&format!("/reset-password?token={token}")).await.status, StatusCode::OK);
        let anonymous = Browser::anonymous(&app);
        let post = |token: String, new: &'static str, confirm: &'static str| {
            let anonymous = anonymous.clone();
            async move {
                anonymous.post_form("/reset-password", &[("token", &token), ("new_password", new), ("new_password_confirm", confirm)]).await
            }
        };
        assert!(location(&post(token.clone(), NEW_PASSWORD, "not the same pw").await).contains("error=mismatch"));
        let done = post(token.clone(), NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(location(&done), "/login?notice=password_reset");
        assert_eq!(phone.call("me", &[]).await.body, Value::Null, "every session ended");
        Browser::sign_in(&app, "sari@toko.example", NEW_PASSWORD).await;
        // Once only.
        assert!(location(&post(token.clone(), "yet another pass", "yet another pass").await).contains("error=closed"));
        assert_eq!(Browser::anonymous(&app).get(&format!("/reset-password?token={token}")).await.status, StatusCode::GONE);
        // A newer link replaces an older unused one; an expired one does nothing.
        let (_, first) = leadline::server::passwords::issue_reset(&app.db, "sari@toko.example").await.unwrap();
        let (_, second) = leadline::server::passwords::issue_reset(&app.db, "sari@toko.example").await.unwrap();
        assert!(location(&post(first, "yet another pass", "yet another pass").await).contains("error=closed"));
        sqlx::query("UPDATE password_resets SET expires_at = 1").execute(&app.db.pool).await.unwrap();
        assert!(location(&post(second, "yet another pass", "yet another pass").await).contains("error=closed"));
        Browser::sign_in(&app, "sari@toko.example", NEW_PASSWORD).await;
        assert!(leadline::server::passwords::issue_reset(&app.db, "nobody@toko.example").await.is_err());
    }

    async fn the_last_owner_can_be_neither_demoted_nor_removed(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let me = user_id(&app, "owner@toko.example").await;
        for role in ["admin", "agent"] {
            let reply = owner.call("settings/role", &[("user_id", &me), ("role", role)]).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
            assert!(reply.body["Invalid"].as_str().unwrap().contains("at least one owner"), "{}", reply.body);
        }
        let reply = owner.call("settings/remove-member", &[("user_id", &me)]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert_eq!(owner.call("me", &[]).await.body["role"], "owner");
        // With a second owner, one may step down.
        app.member("second@toko.example", Role::Owner, None).await;
        owner.call("settings/role", &[("user_id", &me), ("role", "admin")]).await.expect(StatusCode::OK);
        assert_eq!(owner.call("me", &[]).await.body["role"], "admin");
        // The CLI cannot demote the last owner either.
        let second = user_id(&app, "second@toko.example").await;
        let demoted = leadline::server::accounts::set_membership(
            &app.db, &app.workspace.id, &leadline::server::ids::UserId::parse(&second).unwrap(), Role::Agent,
        ).await;
        assert!(demoted.is_err());
    }

    async fn two_owners_removing_each_other_at_once_leave_one_owner(app: TestApp) {
        let mut survivor = app.member("first@toko.example", Role::Owner, None).await;
        let mut survivor_email = "first@toko.example".to_string();
        for round in 0..6 {
            let email = format!("owner{round}@toko.example");
            let newcomer = app.member(&email, Role::Owner, None).await;
            let (a, b) = (user_id(&app, &survivor_email).await, user_id(&app, &email).await);
            let demote = round % 2 == 1;
            let act = |by: Browser, target: String| async move {
                if demote {
                    by.call("settings/role", &[("user_id", &target), ("role", "agent")]).await
                } else {
                    by.call("settings/remove-member", &[("user_id", &target)]).await
                }
            };
            let (one, two) = tokio::join!(act(survivor.clone(), b.clone()), act(newcomer.clone(), a.clone()));
            let owners: i64 = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
            )
            .bind(app.workspace.id.as_str())
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
            assert_eq!(owners, 1, "round {round}: {} {} / {} {}", one.status, one.body, two.status, two.body);
            let succeeded = [&one, &two].iter().filter(|r| r.status == StatusCode::OK).count();
            assert_eq!(succeeded, 1, "round {round}: {} {} / {} {}", one.status, one.body, two.status, two.body);
            if one.status == StatusCode::OK {
                continue;
            }
            survivor = newcomer;
            survivor_email = email;
        }
    }
}

/// The operator's command prints a link, not a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_password_command_prints_a_one_time_link() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    app.member_without_sign_in("sari@toko.example", Role::Agent).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["user", "reset-password", "--email", "sari@toko.example"])
        .env("DATABASE_URL", &app.database.url)
        .env("PUBLIC_URL", "https://crm.example")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let url = printed["reset_url"].as_str().unwrap();
    assert!(url.starts_with("https://crm.example/reset-password?token="), "{url}");
    let token = url.split("token=").nth(1).unwrap();
    assert_eq!(
        Browser::anonymous(&app).call("password-reset/check", &[("token", token)]).await.body,
        "sari@toko.example"
    );
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["user", "reset-password", "--email", "nobody@toko.example"])
        .env("DATABASE_URL", &app.database.url)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account"));
}
