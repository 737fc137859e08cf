//! The pages' server functions, called over HTTP exactly as the hydrated pages call
//! them, including their refusals of bad input; and what the server renders.

use crate::support::*;
use leadline::model::Role;
use reqwest::StatusCode;
use serde_json::Value;

fn query_form<'a>(
    q: &'a str,
    status: &'a str,
    sort: &'a str,
    order: &'a str,
    cursor: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("query[q]", q),
        ("query[status]", status),
        ("query[sort]", sort),
        ("query[order]", order),
        ("query[cursor]", cursor),
    ]
}

async fn lead_id(app: &TestApp, phone: &str) -> String {
    app.lead_row(phone).await["id"].as_str().unwrap().to_string()
}

on_both_engines! {
    async fn list_leads_pages_filters_and_refuses_bad_queries(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        for i in 0..60 {
            app.deliver(&v2_text(&format!("wamid.LS{i}"), &format!("+62812{:07}", 2_000_000 + i), &format!("c{i}"), Some(&format!("Pelanggan {i:02}")), "halo"), None)
                .await
                .expect(StatusCode::OK);
        }
        let first = owner.call("leads/list", &query_form("", "", "", "", "")).await;
        let first = first.expect(StatusCode::OK).clone();
        assert_eq!(first["total"], 60);
        assert_eq!(first["rows"].as_array().unwrap().len(), 50);
        assert_eq!(first["rows"][0]["display_name"], "Pelanggan 59", "newest activity first");
        let cursor = first["next_cursor"].as_str().unwrap().to_string();
        let second = owner.call("leads/list", &query_form("", "", "", "", &cursor)).await;
        assert_eq!(second.expect(StatusCode::OK)["rows"].as_array().unwrap().len(), 10);

        let search = owner.call("leads/list", &query_form("0812 2000 005", "", "", "", "")).await;
        let rows = search.expect(StatusCode::OK)["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["phone"], "+62 812-2000-005");

        let by_name = owner.call("leads/list", &query_form("", "", "name", "asc", "")).await;
        assert_eq!(by_name.expect(StatusCode::OK)["rows"][0]["display_name"], "Pelanggan 00");

        let bad_status = owner.call("leads/list", &query_form("", "boiling", "", "", "")).await;
        assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
        assert!(bad_status.body["Invalid"].as_str().unwrap().contains("boiling"), "{}", bad_status.body);
        owner.call("leads/list", &query_form("", "", "phone", "", "")).await.expect(StatusCode::BAD_REQUEST);
        owner.call("leads/list", &query_form("", "", "", "", "not-a-cursor")).await.expect(StatusCode::BAD_REQUEST);
    }

    async fn update_lead_validates_edits_and_records_who_changed_what(app: TestApp) {
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        app.deliver(&v2_text("wamid.U1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None).await.expect(StatusCode::OK);
        let id = lead_id(&app, "+6281234567890").await;

        let saved = agent.call("leads/rename", &[("lead_id", &id), ("name", "  Pak Budi  ")]).await;
        let saved = saved.expect(StatusCode::OK);
        assert_eq!(saved["manual_name"], "Pak Budi");
        assert_eq!(saved["display_name"], "Pak Budi");
        assert_eq!(saved["profile_name"], "Budi");

        for (endpoint, field, value) in [("leads/rename", "name", &"x".repeat(121)[..]), ("leads/rename", "name", "bad\u{1}name"), ("leads/status", "lead_status", "boiling")] {
            let refused = agent.call(endpoint, &[("lead_id", &id), (field, value)]).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value:?}: {}", refused.body);
            assert!(refused.body["Invalid"].is_string());
        }
        assert_eq!(app.lead_row("+6281234567890").await["name"], "Pak Budi", "refusals change nothing");

        agent.call("leads/status", &[("lead_id", &id), ("lead_status", "hot")]).await.expect(StatusCode::OK);
        // Saving the same values again is not a change.
        agent.call("leads/edit", &[("lead_id", &id), ("name", "Pak Budi"), ("lead_status", "hot")]).await.expect(StatusCode::OK);
        let cleared = agent.call("leads/rename", &[("lead_id", &id), ("name", "")]).await;
        assert_eq!(cleared.expect(StatusCode::OK)["display_name"], "Budi", "clearing shows the WhatsApp name again");

        let detail = agent.call("leads/detail", &[("id", &id)]).await;
        let changes = detail.expect(StatusCode::OK)["changes"].as_array().unwrap().clone();
        let summary: Vec<(String, Value, Value, String)> = changes
            .iter()
            .map(|c| (c["field"].as_str().unwrap().to_string(), c["old_value"].clone(), c["new_value"].clone(), c["actor"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(summary, vec![
            ("name".into(), Value::from("Pak Budi"), Value::Null, "agent@toko.example".into()),
            ("lead_status".into(), Value::from("new"), Value::from("hot"), "agent@toko.example".into()),
            ("name".into(), Value::Null, Value::from("Pak Budi"), "agent@toko.example".into()),
        ]);
        // Webhook updates are not edits.
        app.deliver(&v2_text("wamid.U2", "+6281234567890", CONVERSATION_ID, Some("Budi Baru"), "lagi"), None).await.expect(StatusCode::OK);
        let detail = agent.call("leads/detail", &[("id", &id)]).await;
        assert_eq!(detail.expect(StatusCode::OK)["changes"].as_array().unwrap().len(), 3);

        agent.call("leads/rename", &[("lead_id", "not-an-id"), ("name", "x")]).await.expect(StatusCode::NOT_FOUND);
        agent.call("leads/detail", &[("id", "00000000-0000-7000-8000-000000000000")]).await.expect(StatusCode::NOT_FOUND);
    }

    async fn the_api_token_edits_are_audited_too(app: TestApp) {
        app.deliver(&v2_text("wamid.AT1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None).await.expect(StatusCode::OK);
        let id = lead_id(&app, "+6281234567890").await;
        app.api(reqwest::Method::PATCH, &format!("/api/v1/leads/{id}"), Some(serde_json::json!({ "lead_status": "warm" }))).await.expect(StatusCode::OK);
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let detail = owner.call("leads/detail", &[("id", &id)]).await;
        assert_eq!(detail.expect(StatusCode::OK)["changes"][0]["actor"], "API token");
    }

    async fn lead_row_answers_for_live_updates(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        app.deliver(&v2_text("wamid.LR1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None).await.expect(StatusCode::OK);
        let id = lead_id(&app, "+6281234567890").await;
        let mut form = query_form("", "", "", "", "");
        form.push(("id", &id));
        let found = owner.call("leads/row", &form).await;
        assert_eq!(found.expect(StatusCode::OK)["display_name"], "Budi");
        let mut filtered = query_form("", "lost", "", "", "");
        filtered.push(("id", &id));
        assert_eq!(owner.call("leads/row", &filtered).await.expect(StatusCode::OK), &Value::Null, "filtered out");
    }

    async fn the_inbox_lists_opens_and_marks_read(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        app.deliver(&v2_text("wamid.IN1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None).await.expect(StatusCode::OK);
        let mut reply = v2_text("wamid.IN2", "+6281234567890", CONVERSATION_ID, Some("Budi"), "ini jawabannya");
        reply["message"]["context"] = serde_json::json!({ "id": "wamid.IN1" });
        app.deliver(&reply, None).await.expect(StatusCode::OK);
        let mut image = v2_text("wamid.IN3", "+6285712345678", "conv-sari", Some("Sari"), "");
        image["message"]["type"] = "image".into();
        image["message"]["image"] = serde_json::json!({ "caption": "fotonya" });
        app.deliver(&image, None).await.expect(StatusCode::OK);

        let list = owner.call("inbox/list", &[("q", ""), ("cursor", "")]).await;
        let rows = list.expect(StatusCode::OK)["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["display_name"], "Sari", "newest first");
        assert_eq!(rows[0]["preview"], "[Image] fotonya");
        assert_eq!(rows[1]["unread"], 2);
        let searched = owner.call("inbox/list", &[("q", "budi"), ("cursor", "")]).await;
        assert_eq!(searched.expect(StatusCode::OK)["rows"].as_array().unwrap().len(), 1);

        let thread = owner.call("inbox/open", &[("conversation", CONVERSATION_ID)]).await;
        let thread = thread.expect(StatusCode::OK).clone();
        let messages = thread["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1]["quoted"]["text"], "halo");
        assert_eq!(thread["conversation"]["unread"], 0);
        assert_eq!(app.lead_row("+6281234567890").await["unread"], 0, "opening marks it read");

        let sari = owner.call("inbox/open", &[("conversation", "conv-sari")]).await;
        let sari = sari.expect(StatusCode::OK).clone();
        assert_eq!(sari["messages"][0]["label"], "[Image]");
        assert_eq!(sari["messages"][0]["text"], "fotonya");

        let missing = owner.call("inbox/open", &[("conversation", "no-such-conversation")]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body["NotFound"].is_string());
    }

    async fn settings_members_and_secrets(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let admin = app.member("admin@toko.example", Role::Admin, None).await;
        let settings = owner.call("settings", &[]).await;
        let settings = settings.expect(StatusCode::OK).clone();
        assert_eq!(settings["members"].as_array().unwrap().len(), 2);
        assert!(settings["workspace"]["webhook_url"].as_str().unwrap().ends_with("/api/webhook/kapso"));

        // New people are invited (issue 9): they choose their own password.
        owner.call("settings/invite", &[("email", "not an email"), ("role", "agent")]).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
        owner.call("settings/invite", &[("email", "x@toko.example"), ("role", "emperor")]).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
        let invited = owner.call("settings/invite", &[("email", "New@Toko.example"), ("role", "agent")]).await;
        let url = invited.expect(StatusCode::OK)["url"].as_str().unwrap().to_string();
        let token = url.split("token=").nth(1).unwrap();
        let accepted = Browser::anonymous(&app)
            .post_form("/invite/accept", &[("token", token), ("mode", "create"), ("password", PASSWORD), ("password_confirm", PASSWORD)])
            .await;
        assert_eq!(accepted.headers["location"], "/leads");
        Browser::sign_in(&app, "new@toko.example", PASSWORD).await;

        // Admins manage agents and admins, not owners.
        admin.call("settings/invite", &[("email", "boss@toko.example"), ("role", "owner")]).await.expect(StatusCode::FORBIDDEN);
        let owner_id = settings["members"].as_array().unwrap().iter().find(|m| m["email"] == "owner@toko.example").unwrap()["user_id"].as_str().unwrap().to_string();
        admin.call("settings/remove-member", &[("user_id", &owner_id)]).await.expect(StatusCode::FORBIDDEN);
        // The last owner stays.
        owner.call("settings/remove-member", &[("user_id", &owner_id)]).await.expect(StatusCode::UNPROCESSABLE_ENTITY);

        // Removing someone ends their sessions in this workspace at once.
        let list = owner.call("settings", &[]).await;
        let new_id = list.expect(StatusCode::OK)["members"].as_array().unwrap().iter().find(|m| m["email"] == "new@toko.example").unwrap()["user_id"].as_str().unwrap().to_string();
        let newcomer = Browser::sign_in(&app, "new@toko.example", PASSWORD).await;
        newcomer.call("settings", &[]).await.expect(StatusCode::OK);
        owner.call("settings/remove-member", &[("user_id", &new_id)]).await.expect(StatusCode::OK);
        newcomer.call("settings", &[]).await.expect(StatusCode::UNAUTHORIZED);

        // Rotation: the new secret is shown once and the old one stops working.
        let rotated = owner.call("settings/rotate", &[("which", "webhook_secret")]).await;
        let secret = rotated.expect(StatusCode::OK)["webhook_secret"].as_str().unwrap().to_string();
        app.deliver(&v2_text("wamid.SR1", "+6281234567890", CONVERSATION_ID, None, "x"), None).await.expect(StatusCode::UNAUTHORIZED);
        app.webhook_secret = secret;
        app.deliver(&v2_text("wamid.SR1", "+6281234567890", CONVERSATION_ID, None, "x"), None).await.expect(StatusCode::OK);
        let token = owner.call("settings/rotate", &[("which", "api_token")]).await;
        let token = token.expect(StatusCode::OK)["api_token"].as_str().unwrap().to_string();
        app.get("/api/v1/leads").await.expect(StatusCode::UNAUTHORIZED);
        app.api_as(&token, reqwest::Method::GET, "/api/v1/leads", None).await.expect(StatusCode::OK);
        owner.call("settings/rotate", &[("which", "everything")]).await.expect(StatusCode::BAD_REQUEST);
        admin.call("settings/rotate", &[("which", "api_token")]).await.expect(StatusCode::FORBIDDEN);
    }

    async fn the_server_renders_names_and_messages_as_text(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        app.deliver(&v2_text("wamid.X1", "+6281234567890", CONVERSATION_ID, Some("<img src=x onerror=alert(1)>"), "<script>alert(2)</script>"), None)
            .await
            .expect(StatusCode::OK);
        let page = owner.get("/leads").await;
        let html = page.expect(StatusCode::OK).as_str().unwrap().to_string();
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "the name is escaped");
        assert!(!html.contains("<img src=x"));
        let thread = owner.get(&format!("/inbox/{CONVERSATION_ID}")).await;
        let html = thread.expect(StatusCode::OK).as_str().unwrap().to_string();
        assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert(2)"));
    }

    async fn pages_render_with_real_status_codes(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        owner.get("/leads").await.expect(StatusCode::OK);
        owner.get("/inbox").await.expect(StatusCode::OK);
        owner.get("/settings").await.expect(StatusCode::OK);
        let missing = owner.get("/inbox/no-such-conversation").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.as_str().unwrap().contains("Page not found"));
        owner.get("/leads/00000000-0000-7000-8000-000000000000").await.expect(StatusCode::NOT_FOUND);
        owner.get("/no/such/page").await.expect(StatusCode::NOT_FOUND);
        let root = owner.get("/").await;
        assert!(root.status.is_redirection());
        assert_eq!(root.headers["location"], "/leads");
    }

    async fn who_am_i(app: TestApp) {
        let anonymous = Browser::anonymous(&app);
        assert_eq!(anonymous.call("me", &[]).await.expect(StatusCode::OK), &Value::Null);
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let me = owner.call("me", &[]).await;
        let me = me.expect(StatusCode::OK);
        assert_eq!(me["email"], "owner@toko.example");
        assert_eq!(me["role"], "owner");
        assert_eq!(me["workspace"]["name"], "Toko Maju");
    }
}

/// A fresh install: a server with no workspace and no account, and its setup link.
async fn fresh_install() -> (TestDatabase, leadline::server::db::Db, Browser, String) {
    let database = TestDatabase::create(Engine::Sqlite).await;
    let db = leadline::server::db::Db::open(&database.url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = leadline::server::http::AppState::new(db.clone(), leptos_options(addr), None).await.unwrap();
    let router = leadline::server::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = leadline::server::accounts::issue_setup_token(&db).await.unwrap();
    (database, db, Browser::anonymous_at(&format!("http://{addr}")), token)
}

/// The first run: no accounts, a one-time link, a workspace and its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_setup_creates_workspace_and_owner_once() {
    let (_database, _db, browser, token) = fresh_install().await;
    assert_eq!(browser.call("setup/status", &[("token", &token)]).await.expect(StatusCode::OK), &Value::Bool(true));
    assert_eq!(browser.call("setup/status", &[("token", "guess")]).await.expect(StatusCode::OK), &Value::Bool(false));
    let form = |password: &'static str, token: String| {
        vec![
            ("token", token),
            ("workspace_name", "Warung Sari".to_string()),
            ("phone_number_id", "777000111".to_string()),
            ("region", "ID".to_string()),
            ("time_zone", "Asia/Jakarta".to_string()),
            ("email", "sari@warung.example".to_string()),
            ("password", password.to_string()),
        ]
    };
    let call = |fields: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.call("setup/complete", &pairs).await
        }
    };
    // A refusal does not use the link up.
    call(form("short", token.clone())).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
    let done = call(form(PASSWORD, token.clone())).await;
    let secrets = done.expect(StatusCode::OK).clone();
    assert!(secrets["webhook_secret"].as_str().unwrap().len() >= 32);
    assert!(secrets["verify_token"].is_string());
    assert!(secrets["api_token"].as_str().unwrap().starts_with("ll_"));
    let cookie = session_cookie(&done).expect("the new owner is signed in");
    let owner = Browser { cookie: Some(cookie), ..browser.clone() };
    assert_eq!(owner.call("me", &[]).await.expect(StatusCode::OK)["role"], "owner");
    // Once only.
    call(form(PASSWORD, token.clone())).await.expect(StatusCode::FORBIDDEN);
    assert_eq!(browser.call("setup/status", &[("token", &token)]).await.expect(StatusCode::OK), &Value::Bool(false));
    // And the owner can sign in with the password.
    Browser::sign_in_at(&browser.base_url, "sari@warung.example", PASSWORD).await;
}

/// Without JavaScript the setup form and the rotate buttons post plain forms; the
/// browser follows a redirect, and the page it lands on shows the new secrets, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_new_secrets_are_shown_once_after_the_redirect() {
    use sqlx::Row;
    let (_database, db, browser, token) = fresh_install().await;
    let setup = browser
        .submit_form(
            "/api/setup/complete",
            &[
                ("token", token.as_str()),
                ("workspace_name", "Warung Sari"),
                ("phone_number_id", "777000111"),
                ("region", "ID"),
                ("time_zone", "Asia/Jakarta"),
                ("email", "sari@warung.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(setup.status.is_redirection(), "{}: {}", setup.status, setup.body);
    assert_eq!(setup.headers["location"], "/setup/done");
    let owner =
        Browser { cookie: Some(session_cookie(&setup).expect("the new owner is signed in")), ..browser.clone() };
    let webhook_secret: String =
        sqlx::query("SELECT webhook_secret FROM workspaces").fetch_one(&db.pool).await.unwrap().get("webhook_secret");

    let done = owner.get("/setup/done").await;
    assert_eq!(done.status, StatusCode::OK);
    let page = done.body.as_str().unwrap().to_string();
    assert!(page.contains(&webhook_secret), "the webhook secret is on the page");
    assert!(page.contains("data-testid=\"verify-token\"") && page.contains("value=\"ll_"), "verify and API tokens too");
    let shown_for = leadline::server::web::RevealedOnce::SHOWN_FOR + std::time::Duration::from_millis(300);
    tokio::time::sleep(shown_for).await;
    let again = owner.get("/setup/done").await;
    let again = again.body.as_str().unwrap();
    assert!(!again.contains(&webhook_secret) && !again.contains("value=\"ll_"), "shown once");
    assert!(again.contains("shown once"));

    let rotated = owner.submit_form("/api/settings/rotate", &[("which", "api_token")]).await;
    assert!(rotated.status.is_redirection(), "{}: {}", rotated.status, rotated.body);
    assert_eq!(rotated.headers["location"], "/settings");
    let settings = owner.get("/settings").await;
    let settings = settings.body.as_str().unwrap();
    let start = settings.find("value=\"ll_").expect("the new API token is on the page") + "value=\"".len();
    let api_token = &settings[start..start + settings[start..].find('"').unwrap()];
    let reply = owner.http.get(format!("{}/api/v1/leads", owner.base_url)).bearer_auth(api_token).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "the token shown is the one that works");
    tokio::time::sleep(shown_for).await;
    assert!(!owner.get("/settings").await.body.as_str().unwrap().contains(api_token), "shown once");
    assert!(!browser.get("/setup/done").await.body.to_string().contains("ll_"), "nothing for anyone else");
}
