//! Access control, table-driven: every page, server function, the live stream and the
//! JSON API, asked (a) anonymously, (b) by a member of workspace B for workspace A's
//! objects, (c) by an agent for owner-only actions. Plus sessions: fixation, expiry,
//! cross-site requests, brute force, and the security headers.

use crate::support::*;
use leadline::model::Role;
use reqwest::StatusCode;
use serde_json::Value;

/// Workspace A with one lead and conversation; returns (lead id, conversation id).
pub(crate) async fn seed(app: &TestApp) -> (String, String) {
    app.deliver(&v2_text("wamid.ACL1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "rahasia A"), None)
        .await
        .expect(StatusCode::OK);
    (app.lead_row("+6281234567890").await["id"].as_str().unwrap().to_string(), CONVERSATION_ID.to_string())
}

/// Every server function with arguments naming workspace A's objects.
pub(crate) fn server_functions<'a>(
    lead: &'a str,
    conversation: &'a str,
) -> Vec<(&'static str, Vec<(&'static str, &'a str)>)> {
    vec![
        ("leads/list", vec![("query[q]", "")]),
        ("leads/row", vec![("id", lead), ("query[q]", "")]),
        ("leads/rename", vec![("lead_id", lead), ("name", "taken over")]),
        ("leads/status", vec![("lead_id", lead), ("lead_status", "lost")]),
        ("leads/edit", vec![("lead_id", lead), ("name", "taken over"), ("lead_status", "lost")]),
        ("leads/detail", vec![("id", lead)]),
        ("inbox/list", vec![("q", ""), ("cursor", "")]),
        ("inbox/open", vec![("conversation", conversation)]),
        ("settings", vec![]),
        ("settings/invite", vec![("email", "intruder@evil.example"), ("role", "owner")]),
        ("settings/revoke-invitation", vec![("id", "00000000-0000-7000-8000-000000000000")]),
        ("settings/role", vec![("user_id", "00000000-0000-7000-8000-000000000000"), ("role", "owner")]),
        ("settings/remove-member", vec![("user_id", "00000000-0000-7000-8000-000000000000")]),
        ("settings/rotate", vec![("which", "webhook_secret")]),
        ("setup/revealed", vec![]),
        ("inbox/contact-lead", vec![("message_id", lead), ("card", "0"), ("phone", "0")]),
        ("settings/webhook-health", vec![]),
        ("live/status", vec![]),
        ("inbox/needs-reply-count", vec![]),
        ("inbox/reply", vec![("lead_id", lead), ("text", "taken over"), ("client_key", ""), ("back", "")]),
        ("inbox/template", vec![("lead_id", lead), ("template", "promo|id"), ("client_key", ""), ("back", "")]),
        ("inbox/retry", vec![("message_id", lead), ("back", "")]),
        ("inbox/templates", vec![]),
        ("leads/merge-preview", vec![("lead_id", lead), ("other_id", lead)]),
        ("leads/merge", vec![("lead_id", lead), ("other_id", lead), ("lead_status", "")]),
        ("settings/kapso", vec![]),
        (
            "import/view",
            vec![
                ("id", "00000000-0000-7000-8000-000000000000"),
                ("phone", ""),
                ("name", ""),
                ("status", ""),
                ("fill_empty_names", ""),
                ("set_status", ""),
                ("check", "false"),
            ],
        ),
    ]
}

pub(crate) fn pages(lead: &str, conversation: &str) -> Vec<String> {
    vec![
        "/".into(),
        "/leads".into(),
        format!("/leads/{lead}"),
        "/inbox".into(),
        format!("/inbox/{conversation}"),
        "/settings".into(),
        "/account".into(),
    ]
}

/// Plain-form routes that act on the signed-in person (not server functions).
pub(crate) fn signed_in_forms() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "taken over pw"),
                ("new_password_confirm", "taken over pw"),
            ],
        ),
        ("/logout/everywhere", vec![]),
    ]
}

on_both_engines! {
    async fn anonymous_requests_are_refused_everywhere(app: TestApp) {
        let (lead, conversation) = seed(&app).await;
        let anonymous = Browser::anonymous(&app);
        for page in pages(&lead, &conversation) {
            let reply = anonymous.get(&page).await;
            assert!(reply.status.is_redirection(), "{page}: {}", reply.status);
            let location = reply.headers["location"].to_str().unwrap();
            if page != "/" {
                assert!(location.starts_with("/login?next="), "{page} → {location}");
            }
            assert!(!reply.body.to_string().contains("Budi"), "{page} leaks nothing");
        }
        for (endpoint, args) in server_functions(&lead, &conversation) {
            let reply = anonymous.call(endpoint, &args).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{endpoint}: {}", reply.body);
            assert_eq!(reply.body, Value::from("SignedOut"), "{endpoint}");
        }
        for (path, form) in signed_in_forms() {
            let reply = anonymous.post_form(path, &form).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}: {}", reply.body);
        }
        // The links' own pages need no session (the token is the credential), and an
        // unknown token opens nothing.
        for (endpoint, args) in [("invite/show", vec![("token", "f00d")]), ("password-reset/check", vec![("token", "f00d")])] {
            let reply = anonymous.call(endpoint, &args).await;
            assert!(reply.status == StatusCode::NOT_FOUND || reply.body == Value::Null, "{endpoint}: {}", reply.body);
        }
        for (path, form) in [
            ("/invite/accept", vec![("token", "f00d"), ("mode", "create"), ("password", PASSWORD), ("password_confirm", PASSWORD)]),
            ("/reset-password", vec![("token", "f00d"), ("new_password", PASSWORD), ("new_password_confirm", PASSWORD)]),
        ] {
            let reply = anonymous.post_form(path, &form).await;
            assert!(reply.headers["location"].to_str().unwrap().contains("error=closed"), "{path}");
            assert!(session_cookie(&reply).is_none());
        }
        assert_eq!(app.count("users").await, 0, "no account was made");
        assert_eq!(anonymous.get("/api/live").await.status, StatusCode::UNAUTHORIZED);
        for path in ["/api/v1/leads".to_string(), format!("/api/v1/leads/{lead}"), format!("/api/v1/leads/{lead}/messages")] {
            let reply = anonymous.get(&path).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        }
        assert_eq!(app.lead_row("+6281234567890").await["name"], Value::Null, "nothing changed");
    }

    async fn another_workspaces_member_sees_nothing_of_ours(app: TestApp) {
        let (lead, conversation) = seed(&app).await;
        let (other, _, other_token) = app.second_workspace("555000999").await;
        let outsider = app.member("b-owner@other.example", Role::Owner, Some(&other)).await;
        for (endpoint, args) in server_functions(&lead, &conversation) {
            let reply = outsider.call(endpoint, &args).await;
            let text = reply.body.to_string();
            assert!(!text.contains("Budi") && !text.contains("rahasia"), "{endpoint} leaks: {text}");
            match endpoint {
                "leads/row" | "leads/rename" | "leads/status" | "leads/edit" | "leads/detail" | "inbox/open"
                | "inbox/contact-lead" | "inbox/reply" | "inbox/template" | "inbox/retry" | "import/view" => {
                    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{endpoint}: {}", reply.body)
                }
                // A lead named twice is refused before anything is looked up (merges across
                // workspaces are refused with 404: identity.rs).
                "leads/merge-preview" | "leads/merge" => {
                    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{endpoint}: {}", reply.body)
                }
                "leads/list" => assert_eq!(reply.body["total"], 0),
                "inbox/list" => assert_eq!(reply.body["rows"], serde_json::json!([])),
                // Their own workspace's settings; the member or invitation is not theirs.
                "settings/remove-member" | "settings/role" | "settings/revoke-invitation" => {
                    assert_eq!(reply.status, StatusCode::NOT_FOUND)
                }
                _ => {}
            }
        }
        for page in [format!("/leads/{lead}"), format!("/inbox/{conversation}")] {
            let reply = outsider.get(&page).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{page}");
            assert!(!reply.body.to_string().contains("rahasia"));
        }
        for path in [format!("/api/v1/leads/{lead}"), format!("/api/v1/leads/{lead}/messages")] {
            app.api_as(&other_token, reqwest::Method::GET, &path, None).await.expect(StatusCode::NOT_FOUND);
        }
        // Our secret was not rotated by them (they rotated their own).
        app.deliver(&v2_text("wamid.ACL2", "+6281234567890", CONVERSATION_ID, None, "masih"), None).await.expect(StatusCode::OK);
        assert_eq!(app.lead_row("+6281234567890").await["name"], Value::Null);
    }

    async fn agents_cannot_do_what_owners_do(app: TestApp) {
        seed(&app).await;
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        for (endpoint, args) in [
            ("settings/rotate", vec![("which", "webhook_secret")]),
            ("settings/rotate", vec![("which", "api_token")]),
            ("settings/webhook-health", vec![]),
            ("settings/invite", vec![("email", "friend@toko.example"), ("role", "agent")]),
            ("settings/invite", vec![("email", "friend@toko.example"), ("role", "owner")]),
            ("settings/role", vec![("user_id", "00000000-0000-7000-8000-000000000000"), ("role", "agent")]),
            ("settings/revoke-invitation", vec![("id", "00000000-0000-7000-8000-000000000000")]),
        ] {
            let reply = agent.call(endpoint, &args).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{endpoint} {args:?}: {}", reply.body);
            assert!(reply.body["Forbidden"].is_string());
        }
        let settings = agent.call("settings", &[]).await;
        let owner_id = {
            let owner = app.member("owner@toko.example", Role::Owner, None).await;
            let list = owner.call("settings", &[]).await;
            list.expect(StatusCode::OK)["members"].as_array().unwrap().iter().find(|m| m["email"] == "owner@toko.example").unwrap()["user_id"].as_str().unwrap().to_string()
        };
        agent.call("settings/remove-member", &[("user_id", &owner_id)]).await.expect(StatusCode::FORBIDDEN);
        agent.call("settings/role", &[("user_id", &owner_id), ("role", "agent")]).await.expect(StatusCode::FORBIDDEN);
        // Admins manage people but not ownership: no owner invitations, no touching owners.
        let admin = app.member("admin@toko.example", Role::Admin, None).await;
        admin.call("settings/invite", &[("email", "boss@toko.example"), ("role", "owner")]).await.expect(StatusCode::FORBIDDEN);
        admin.call("settings/role", &[("user_id", &owner_id), ("role", "agent")]).await.expect(StatusCode::FORBIDDEN);
        admin.call("settings/remove-member", &[("user_id", &owner_id)]).await.expect(StatusCode::FORBIDDEN);
        let me = admin.call("settings", &[]).await.expect(StatusCode::OK).clone();
        let admin_id = me["members"].as_array().unwrap().iter().find(|m| m["email"] == "admin@toko.example").unwrap()["user_id"].as_str().unwrap().to_string();
        admin.call("settings/role", &[("user_id", &admin_id), ("role", "owner")]).await.expect(StatusCode::FORBIDDEN);
        assert_eq!(app.count("invitations").await, 0, "nobody was invited");
        assert_eq!(settings.status, StatusCode::OK, "agents may read settings");
        // What agents may do: edit leads and use the inbox.
        let (lead, conversation) = (app.lead_row("+6281234567890").await["id"].as_str().unwrap().to_string(), CONVERSATION_ID);
        agent.call("leads/status", &[("lead_id", &lead), ("lead_status", "hot")]).await.expect(StatusCode::OK);
        agent.call("inbox/open", &[("conversation", conversation)]).await.expect(StatusCode::OK);
        assert_eq!(app.count("users").await, 3, "nobody was added");
    }

    async fn a_planted_session_cookie_is_never_promoted(app: TestApp) {
        app.member("owner@toko.example", Role::Owner, None).await;
        let mut browser = Browser::anonymous(&app);
        browser.cookie = Some("leadline_session=attacker-chosen-value".into());
        let reply = browser.post_form("/login", &[("email", "owner@toko.example"), ("password", PASSWORD)]).await;
        let issued = session_cookie(&reply).unwrap();
        assert_ne!(issued, "leadline_session=attacker-chosen-value");
        let set_cookie = reply.headers["set-cookie"].to_str().unwrap();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"), "{set_cookie}");
        // The planted value grants nothing.
        browser.call("me", &[]).await.expect(StatusCode::OK);
        assert_eq!(browser.call("me", &[]).await.body, Value::Null);
        browser.cookie = Some(issued);
        assert_eq!(browser.call("me", &[]).await.expect(StatusCode::OK)["email"], "owner@toko.example");
        // Signing out ends the session on the server, not only in the browser.
        let out = browser.post_form("/logout", &[]).await;
        assert!(out.status.is_redirection());
        assert_eq!(browser.call("me", &[]).await.body, Value::Null);
        assert!(browser.get("/leads").await.status.is_redirection());
    }

    async fn expired_sessions_are_refused(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        owner.call("settings", &[]).await.expect(StatusCode::OK);
        let now = leadline::server::clock::now_ms();
        // Idle too long.
        sqlx::query("UPDATE sessions SET last_seen_at = $1").bind(now - 4 * 24 * 3600 * 1000).execute(&app.db.pool).await.unwrap();
        owner.call("settings", &[]).await.expect(StatusCode::UNAUTHORIZED);
        assert_eq!(app.count("sessions").await, 0, "an expired session is deleted");
        // Past its absolute lifetime, however active.
        let again = Browser::sign_in(&app, "owner@toko.example", PASSWORD).await;
        sqlx::query("UPDATE sessions SET expires_at = $1").bind(now - 1000).execute(&app.db.pool).await.unwrap();
        again.call("settings", &[]).await.expect(StatusCode::UNAUTHORIZED);
        assert!(again.get("/leads").await.status.is_redirection());
    }

    async fn cross_site_requests_are_refused(app: TestApp) {
        let (lead, _) = seed(&app).await;
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let forged = |origin: Option<&'static str>, fetch_site: Option<&'static str>| {
            let mut request = owner.http.post(format!("{}/api/leads/rename", owner.base_url))
                .header("cookie", owner.cookie.clone().unwrap())
                .form(&[("lead_id", lead.as_str()), ("name", "forged")]);
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            if let Some(site) = fetch_site {
                request = request.header("sec-fetch-site", site);
            }
            async move { Reply::from(request.send().await.unwrap()).await }
        };
        for (origin, site) in [
            (Some("https://evil.example"), Some("cross-site")),
            (Some("https://evil.example"), None),
            (None, Some("cross-site")),
            (None, Some("same-site")),
            (Some("null"), None),
            (None, None),
        ] {
            let reply = forged(origin, site).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "origin {origin:?} site {site:?}");
        }
        // The same request from our own page goes through.
        owner.call("leads/rename", &[("lead_id", &lead), ("name", "genuine")]).await.expect(StatusCode::OK);
        assert_eq!(app.lead_row("+6281234567890").await["name"], "genuine");
        // Sign-in and sign-out forms are protected too.
        let login = owner.http.post(format!("{}/login", owner.base_url)).header("origin", "https://evil.example")
            .form(&[("email", "owner@toko.example"), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(login.status(), StatusCode::FORBIDDEN);
    }

    async fn brute_force_sign_in_is_slowed_with_one_message_for_all(app: TestApp) {
        app.member("owner@toko.example", Role::Owner, None).await;
        let browser = Browser::anonymous(&app);
        let attempt = |email: &'static str, password: &'static str| {
            let browser = browser.clone();
            async move { browser.post_form("/login", &[("email", email), ("password", password)]).await }
        };
        let unknown = attempt("nobody@toko.example", "whatever whatever").await;
        let wrong = attempt("owner@toko.example", "wrong password!").await;
        let location = |r: &Reply| r.headers["location"].to_str().unwrap().to_string();
        assert!(location(&unknown).starts_with("/login?error=invalid"));
        assert!(location(&wrong).starts_with("/login?error=invalid"), "the same answer for a wrong password as for no account");
        for _ in 0..4 {
            attempt("owner@toko.example", "wrong password!").await;
        }
        // Five failures: even the right password is refused for a while.
        let locked = attempt("owner@toko.example", PASSWORD).await;
        assert!(location(&locked).starts_with("/login?error=too_many"), "{}", location(&locked));
        assert!(session_cookie(&locked).is_none());
        // Other accounts from elsewhere are unaffected (per-account limit)...
        app.member("agent@toko.example", Role::Agent, None).await;
    }

    async fn pages_carry_security_headers(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let page = owner.get("/leads").await;
        let csp = page.headers["content-security-policy"].to_str().unwrap().to_string();
        let html = page.body.as_str().unwrap();
        let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
        assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the policy's nonce");
        for part in ["default-src 'self'", "frame-ancestors 'none'", "'wasm-unsafe-eval'", "object-src 'none'"] {
            assert!(csp.contains(part), "{part} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["referrer-policy"], "strict-origin-when-cross-origin");
        let api = app.get("/api/v1/leads").await;
        assert_eq!(api.headers["x-content-type-options"], "nosniff");
        assert!(api.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    }
}

/// The live stream carries a workspace's changes to its members only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_reach_only_the_workspace_they_belong_to() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (other, _, _) = app.second_workspace("555000999").await;
    let ours = app.member("owner@toko.example", Role::Owner, None).await;
    let theirs = app.member("b-owner@other.example", Role::Owner, Some(&other)).await;
    let open = |browser: Browser| async move {
        browser
            .http
            .get(format!("{}/api/live", browser.base_url))
            .header("cookie", browser.cookie.unwrap())
            .send()
            .await
            .unwrap()
    };
    let mut our_stream = open(ours).await;
    let mut their_stream = open(theirs).await;
    assert_eq!(our_stream.headers()["content-type"], "text/event-stream");
    app.deliver(&v2_text("wamid.LIVE1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None)
        .await
        .expect(StatusCode::OK);
    let lead = app.lead_row("+6281234567890").await["id"].as_str().unwrap().to_string();
    let ours_got = read_stream_until(&mut our_stream, &lead, std::time::Duration::from_secs(5))
        .await
        .expect("our page hears about our new lead");
    assert!(ours_got.contains("event: lead") && ours_got.contains("\"created\":true"), "{ours_got}");
    let theirs_got = tokio::time::timeout(std::time::Duration::from_millis(1500), their_stream.chunk()).await;
    if let Ok(Ok(Some(chunk))) = theirs_got {
        let text = String::from_utf8_lossy(&chunk);
        assert!(!text.contains(&lead), "another workspace heard about our lead: {text}");
    }
}

on_both_engines! {
    async fn members_of_several_workspaces_switch_between_them(app: TestApp) {
        seed(&app).await;
        let (other, _, _) = app.second_workspace("555000999").await;
        let person = app.member("both@toko.example", Role::Agent, None).await;
        app.member("both@toko.example", Role::Admin, Some(&other)).await;
        let me = person.call("me", &[]).await;
        let me = me.expect(StatusCode::OK).clone();
        assert_eq!(me["workspaces"].as_array().unwrap().len(), 2);
        let before = me["workspace"]["id"].as_str().unwrap().to_string();
        let target = if before == other.id.as_str() { app.workspace.id.to_string() } else { other.id.to_string() };
        let switched = person.post_form("/workspace", &[("workspace_id", &target)]).await;
        assert!(switched.status.is_redirection());
        let now = person.call("me", &[]).await;
        assert_eq!(now.expect(StatusCode::OK)["workspace"]["id"], target.as_str());
        // Not a member: not found, and the session stays where it was.
        let (stranger, _, _) = app.second_workspace("555000888").await;
        person.post_form("/workspace", &[("workspace_id", stranger.id.as_str())]).await.expect(StatusCode::NOT_FOUND);
        assert_eq!(person.call("me", &[]).await.expect(StatusCode::OK)["workspace"]["id"], target.as_str());
    }
}

/// Two replicas sharing PostgreSQL: a delivery taken by one reaches a page whose live
/// stream is served by the other (NOTIFY relay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_cross_replicas_through_postgres() {
    let first = TestApp::spawn(Engine::Postgres).await;
    let owner = first.member("owner@toko.example", Role::Owner, None).await;
    let second = second_replica(&first).await;
    let mut stream = owner
        .http
        .get(format!("{second}/api/live"))
        .header("cookie", owner.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    first
        .deliver(&v2_text("wamid.RELAY1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None)
        .await
        .expect(StatusCode::OK);
    let lead = first.lead_row("+6281234567890").await["id"].as_str().unwrap().to_string();
    let heard = read_stream_until(&mut stream, &lead, std::time::Duration::from_secs(5)).await;
    assert!(heard.is_some(), "the other replica's page heard about the new lead");
}
