//! The `leadline` binary itself: the operator's commands, and several server processes
//! sharing one PostgreSQL database.

use crate::process::*;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::process::{Command, Stdio};

/// A delivery-log row as versions before 0011 wrote it: the body as text, nothing packed.
async fn log_as_text(
    db: &leadline::server::db::Db,
    workspace: &leadline::server::workspaces::Workspace,
    id: &str,
    body: &Value,
) {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, workspace_id, idempotency_key, event, format, raw_body, received_at, outcome) \
         VALUES ($1, $2, NULL, 'whatsapp.message.received', 'kapso_v2', $3, 1, '[]')",
    )
    .bind(id)
    .bind(workspace.id.as_str())
    .bind(serde_json::to_string(body).unwrap())
    .execute(&db.pool)
    .await
    .unwrap();
}

on_both_engines! {
    async fn workspace_commands_print_json_and_secrets_once(app: TestApp) {
        let url = app.database.url.clone();
        let (ok, created, stderr) = leadline(&url, &["workspace", "create", "--name", "Warung Sari", "--phone-number-id", "5550001", "--region", "id", "--time-zone", "Asia/Makassar"]);
        assert!(ok, "{stderr}");
        for field in ["webhook_secret", "verify_token", "api_token"] {
            assert!(created[field].as_str().is_some_and(|v| v.len() >= 32), "{field}: {created}");
        }
        assert!(created["id"].as_str().is_some_and(|id| leadline::server::ids::WorkspaceId::parse(id).is_some_and(|p| p.as_str() == id)), "{created}");
        assert_eq!(created["webhook_path"], "/api/webhook/kapso");
        assert_eq!(created["region"], "ID");
        assert_eq!(created["time_zone"], "Asia/Makassar");

        // The printed token works against the running app.
        let token = created["api_token"].as_str().unwrap();
        app.api_as(token, reqwest::Method::GET, "/api/v1/leads", None).await.expect(StatusCode::OK);

        let (ok, listed, _) = leadline(&url, &["workspace", "list"]);
        assert!(ok);
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2);
        let text = serde_json::to_string(listed).unwrap();
        assert!(!text.contains(created["webhook_secret"].as_str().unwrap()), "list shows no secrets");
        assert!(!text.contains(token));

        let (ok, _, stderr) = leadline(&url, &["workspace", "create", "--name", "Copy", "--phone-number-id", "5550001"]);
        assert!(!ok);
        assert!(stderr.contains("already belongs"), "{stderr}");
        let (ok, _, stderr) = leadline(&url, &["workspace", "create", "--name", "X", "--phone-number-id", "5550002", "--region", "XX"]);
        assert!(!ok);
        assert!(stderr.contains("region"), "{stderr}");
        let (ok, _, stderr) = leadline(&url, &["workspace", "create", "--name", "X", "--phone-number-id", "5550002", "--time-zone", "Mars/Base"]);
        assert!(!ok);
        assert!(stderr.contains("time zone"), "{stderr}");
    }

    async fn rotating_the_secret_takes_effect_at_once(app: TestApp) {
        let body = v2_text("wamid.ROT1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo");
        app.deliver(&body, None).await.expect(StatusCode::OK);
        let (ok, rotated, stderr) = leadline(&app.database.url, &["workspace", "rotate-secret", "--workspace", PHONE_NUMBER_ID]);
        assert!(ok, "{stderr}");
        let new_secret = rotated["webhook_secret"].as_str().unwrap().to_string();
        assert!(rotated.get("api_token").is_none(), "only the webhook secret by default");
        // The running app's cache holds the old secret for at most a second.
        tokio::time::sleep(leadline::server::workspaces::CACHE_TTL + std::time::Duration::from_millis(100)).await;
        let second = v2_text("wamid.ROT2", "+6281234567890", CONVERSATION_ID, Some("Budi"), "lagi");
        app.deliver(&second, None).await.expect(StatusCode::UNAUTHORIZED);
        app.webhook_secret = new_secret;
        app.deliver(&second, None).await.expect(StatusCode::OK);

        let (ok, rotated, _) = leadline(&app.database.url, &["workspace", "rotate-secret", app.workspace.id.as_str(), "--api-token"]);
        assert!(ok);
        app.get("/api/v1/leads").await.expect(StatusCode::UNAUTHORIZED);
        app.api_token = rotated["api_token"].as_str().unwrap().to_string();
        app.get("/api/v1/leads").await.expect(StatusCode::OK);
    }

    async fn deliveries_can_be_listed_and_replayed(app: TestApp) {
        app.deliver(&v2_batch(vec![
            v2_text("wamid.L1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "satu"),
            v2_text("wamid.L2", "+6281234567890", CONVERSATION_ID, Some("Budi"), "dua"),
        ]), None).await.expect(StatusCode::OK);
        let (ok, list, stderr) = leadline(&app.database.url, &["deliveries", "list", "--workspace", PHONE_NUMBER_ID]);
        assert!(ok, "{stderr}");
        let delivery = &list[0];
        assert_eq!(delivery["format"], "kapso_v2_batch");
        assert_eq!(delivery["outcome"][1]["outcome"], "created");
        let id = delivery["id"].as_str().unwrap();
        let (ok, shown, _) = leadline(&app.database.url, &["deliveries", "show", id]);
        assert!(ok);
        assert_eq!(shown["raw_body"]["data"][0]["message"]["id"], "wamid.L1");
        let (ok, replayed, stderr) = leadline(&app.database.url, &["deliveries", "replay", id]);
        assert!(ok, "{stderr}");
        assert_eq!(replayed["results"][0]["outcome"], "duplicate");
        assert_eq!(replayed["results"][1]["outcome"], "duplicate");
        assert_eq!(app.count("messages").await, 2);
        // Old raw deliveries are pruned; what they made stays.
        let logged = app.count("webhook_deliveries").await;
        let future = leadline::server::clock::now_ms() + 1000;
        assert_eq!(leadline::server::webhook::log::prune(&app.db, future).await.unwrap() as i64, logged);
        assert_eq!(app.count("webhook_deliveries").await, 0);
        assert_eq!(app.count("messages").await, 2);
    }

    async fn the_delivery_log_is_kept_packed_and_old_rows_still_replay(app: TestApp) {
        use sqlx::Row;
        let body = v2_text("wamid.P1", "+6281234567890", CONVERSATION_ID, Some("Budi"), &"Halo kak, masih ada stok? ".repeat(10));
        app.deliver(&body, None).await.expect(StatusCode::OK);
        // Stored deflated: the text column is empty and the packed body smaller than the JSON.
        let row = sqlx::query("SELECT raw_body, packed_body FROM webhook_deliveries").fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(row.try_get::<String, _>("raw_body").unwrap(), "");
        let packed: Vec<u8> = row.try_get("packed_body").unwrap();
        assert!(packed.len() < serde_json::to_vec(&body).unwrap().len() / 2, "{} bytes packed", packed.len());

        // A row logged by the version before (text body, nothing packed) is shown and
        // replayed as it always was.
        let old = v2_text("wamid.OLD1", "+6281234567891", "conv-old", Some("Sari"), "dari versi lama");
        let id = "0190a0a0-0000-7000-8000-000000000001";
        log_as_text(&app.db, &app.workspace, id, &old).await;
        let (ok, shown, stderr) = leadline(&app.database.url, &["deliveries", "show", id]);
        assert!(ok, "{stderr}");
        assert_eq!(shown["raw_body"]["message"]["id"], "wamid.OLD1");
        let (ok, replayed, stderr) = leadline(&app.database.url, &["deliveries", "replay", id]);
        assert!(ok, "{stderr}");
        assert_eq!(replayed["results"][0]["outcome"], "created");
        assert_eq!(app.count("messages").await, 2);
    }

    async fn a_delivery_log_made_before_packing_upgrades_and_replays(app: TestApp) {
        let _ = app; // this scenario needs a database made by the version before 0011
        let old = OldDatabase::made_before(app.database.engine, 11).await;
        // A delivery the previous version logged (its body as text; there was no
        // `packed_body` column yet), whose message was never stored.
        let body = v2_text("wamid.PRE11", "+6281234567891", "conv-old", Some("Sari"), "dari versi lama");
        let id = "0190a0a0-0000-7000-8000-0000000000b1";
        log_as_text(&old.db, &old.workspace, id, &body).await;

        // This version migrates the file on start, keeps the row, and replays it.
        let app = old.upgrade().await;
        assert_eq!(app.count("webhook_deliveries").await, 1);
        let (ok, shown, stderr) = leadline(&app.database.url, &["deliveries", "show", id]);
        assert!(ok, "{stderr}");
        assert_eq!(shown["raw_body"]["message"]["id"], "wamid.PRE11");
        let (ok, replayed, stderr) = leadline(&app.database.url, &["deliveries", "replay", id]);
        assert!(ok, "{stderr}");
        assert_eq!(replayed["results"][0]["outcome"], "created");
        assert_eq!(app.count("messages").await, 1);
        // The old row stays as it was written; new deliveries beside it are packed.
        app.deliver(&v2_text("wamid.POST11", "+6281234567892", "conv-new", None, "baru"), None).await.expect(StatusCode::OK);
        let unpacked: Vec<String> = sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE packed_body IS NULL")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(unpacked, vec![id.to_string()]);
        assert!(app.count("webhook_deliveries").await >= 2);
    }
}

on_both_engines! {
    async fn delivery_outcomes_kept_as_objects_or_as_arrays_both_list_and_show(app: TestApp) {
        // A delivery an earlier version logged: its outcome as a list of objects.
        let id = "0190a0a0-0000-7000-8000-0000000000c1";
        let outcome = r#"[{"index":0,"type":"message","outcome":"created","kapso_message_id":"wamid.PRE","lead_id":"0190a0a0-0000-7000-8000-0000000000c2","lead_created":true}]"#;
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, workspace_id, idempotency_key, event, format, raw_body, received_at, outcome) \
             VALUES ($1, $2, NULL, 'whatsapp.message.received', 'kapso_v2', '{}', 1, $3)",
        )
        .bind(id)
        .bind(app.workspace.id.as_str())
        .bind(outcome)
        .execute(&app.db.pool)
        .await
        .unwrap();

        let answer = app.deliver(&v2_text("wamid.POST", "+6281234567893", "conv-14", Some("Rina"), "halo"), None).await;
        let answered = answer.expect(StatusCode::OK)["results"].clone();
        let (new_id, stored): (String, String) = sqlx::query_as("SELECT id, outcome FROM webhook_deliveries WHERE id <> $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        assert!(stored.starts_with("[[0,\"message\",\"created\""), "{stored}");
        let (ok, shown, stderr) = leadline(&app.database.url, &["deliveries", "show", &new_id]);
        assert!(ok, "{stderr}");
        assert_eq!(shown["outcome"], answered, "the log shows what the webhook answered");
        assert_eq!(shown["outcome"][0]["lead_created"], true);
        assert!(stored.len() * 100 < serde_json::to_string(&answered).unwrap().len() * 60, "{stored}");
        let (ok, shown, stderr) = leadline(&app.database.url, &["deliveries", "show", id]);
        assert!(ok, "{stderr}");
        assert_eq!(shown["outcome"], serde_json::from_str::<Value>(outcome).unwrap());
        // The list shows both kinds, newest first.
        let workspace = app.workspace.id.to_string();
        let (ok, listed, stderr) = leadline(&app.database.url, &["deliveries", "list", "--workspace", &workspace]);
        assert!(ok, "{stderr}");
        let messages: Vec<&Value> = listed.as_array().unwrap().iter().map(|d| &d["outcome"][0]["kapso_message_id"]).collect();
        assert_eq!(messages, [&Value::from("wamid.POST"), &Value::from("wamid.PRE")], "{listed}");
    }
}

/// Three server processes behind an imaginary load balancer, one PostgreSQL: 50
/// simultaneous first messages of one number, in five formats, make one lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_postgres_make_one_lead_per_number() {
    let app = TestApp::spawn(Engine::Postgres).await;
    let servers = [
        start_server(&app.database.url, &[]).await,
        start_server(&app.database.url, &[]).await,
        start_server(&app.database.url, &[]).await,
    ];
    let client = reqwest::Client::new();
    let formats = ["+6281234567890", "6281234567890", "+62 812-3456-7890", "62-812-3456-7890", "meta"];
    let sends = (0..50).map(|i| {
        let client = &client;
        let server = &servers[i % servers.len()];
        let secret = &app.webhook_secret;
        async move {
            let wamid = format!("wamid.REP{i}");
            let (body, header) = match formats[i % formats.len()] {
                "meta" => (meta_text(&wamid, "6281234567890", "Budi", "serbu"), "x-hub-signature-256"),
                phone => (v2_text(&wamid, phone, CONVERSATION_ID, Some("Budi"), "serbu"), "x-webhook-signature"),
            };
            let raw = serde_json::to_vec(&body).unwrap();
            let sig = leadline::server::webhook::signature::sign(secret, &raw);
            let sig = if header == "x-hub-signature-256" { format!("sha256={sig}") } else { sig };
            let response = client
                .post(format!("{}/api/webhook/kapso", server.base_url))
                .header("content-type", "application/json")
                .header(header, sig)
                .body(raw)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
        }
    });
    futures::future::join_all(sends).await;
    assert_eq!(app.count("leads").await, 1);
    assert_eq!(app.count("messages").await, 50);
    assert_eq!(app.lead_row("+6281234567890").await["unread"], 50);
}

/// Everything a busy day logs, at debug level, holds no password, token, secret, full
/// phone number or message text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_secrets_or_customer_data() {
    let database = TestDatabase::create(Engine::Sqlite).await;
    let (ok, created, stderr) =
        leadline(&database.url, &["workspace", "create", "--name", "Toko", "--phone-number-id", PHONE_NUMBER_ID]);
    assert!(ok, "{stderr}");
    let secret = created["webhook_secret"].as_str().unwrap().to_string();
    let token = created["api_token"].as_str().unwrap().to_string();
    let verify = created["verify_token"].as_str().unwrap().to_string();
    let mut create_user = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["user", "create", "--workspace", PHONE_NUMBER_ID, "--email", "owner@toko.example", "--role", "owner"])
        .env("DATABASE_URL", &database.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    create_user.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    assert!(create_user.wait().unwrap().success());

    let log_path = std::env::temp_dir().join(format!("leadline-log-{}.txt", std::process::id()));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let rust_log = [("RUST_LOG", "debug,leadline=trace".to_string())];
    let server = start_server_logging(&database.url, &rust_log, log_file.into()).await;
    let client = reqwest::Client::new();
    let text = "Rahasia: alamat saya Jalan Melati 7";
    let raw = serde_json::to_vec(&v2_text("wamid.LOG1", "+6281234567890", CONVERSATION_ID, Some("Budi Santoso"), text))
        .unwrap();
    let delivered = client
        .post(format!("{}/api/webhook/kapso", server.base_url))
        .header("content-type", "application/json")
        .header("x-webhook-signature", leadline::server::webhook::signature::sign(&secret, &raw))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), StatusCode::OK);
    // A refused signature, a sign-in (right and wrong), the API, the handshake.
    client
        .post(format!("{}/api/webhook/kapso", server.base_url))
        .header("content-type", "application/json")
        .header("x-webhook-signature", "00")
        .body("{}")
        .send()
        .await
        .unwrap();
    let browser = Browser::sign_in_at(&server.base_url, "owner@toko.example", PASSWORD).await;
    browser.post_form("/login", &[("email", "owner@toko.example"), ("password", "wrong password 123")]).await;
    browser.get("/leads").await;
    client.get(format!("{}/api/v1/leads?q=0812", server.base_url)).bearer_auth(&token).send().await.unwrap();
    client
        .get(format!(
            "{}/api/webhook/kapso?hub.mode=subscribe&hub.verify_token={verify}&hub.challenge=1",
            server.base_url
        ))
        .send()
        .await
        .unwrap();
    drop(server);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(logs.contains("delivery stored"), "the log is not empty: {logs}");
    for (what, needle) in [
        ("password", PASSWORD),
        ("wrong password", "wrong password 123"),
        ("webhook secret", secret.as_str()),
        ("API token", token.as_str()),
        ("verify token", verify.as_str()),
        ("phone number", "6281234567890"),
        ("message text", "Jalan Melati"),
        ("session cookie", browser.cookie.as_deref().unwrap().trim_start_matches("leadline_session=")),
    ] {
        assert!(!logs.contains(needle), "the log contains the {what}");
    }
}
