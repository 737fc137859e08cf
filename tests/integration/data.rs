//! Data in and out (issue 12): online backup and restore, `/metrics`, CSV export and
//! CSV import — driven through the binary, the API and the pages' plain forms.

use crate::process::*;
use crate::support::*;
use leadline::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "leadline-data-{}-{}",
        std::process::id(),
        leadline::server::secrets::random_hex(4)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The messy file of the acceptance criteria: BOM, semicolons, CRLF, a quoted comma and
/// quotes, national / international / `tel:` numbers, a blank row, invalid rows and an
/// in-file duplicate. Line 11's number is already a lead ("Pak Joko").
const MESSY: &str = "\u{feff}Nama;Nomor HP;Status\r\n\
\"Budi, Santoso\";0812-3456-7890;hot\r\n\
Siti;+62 812 1111 2222;\r\n\
Agus;tel:+62-812-2222-3333;Warm\r\n\
;;\r\n\
Budi lagi;6281234567890;cold\r\n\
Rina;12;new\r\n\
Dewi;0812abc;new\r\n\
Eka;;hot\r\n\
Fajar;0812 7777 8888;vip\r\n\
Existing;0812-1234-5678;\r\n\
\"Quoted \"\"name\"\"\";081299990000;\r\n";

async fn leads_snapshot(app: &TestApp) -> Vec<Value> {
    use sqlx::Row;
    sqlx::query(
        "SELECT id, phone_normalized, name, kapso_name, lead_status, source, updated_at, last_activity_at FROM leads \
         WHERE workspace_id = $1 ORDER BY phone_normalized",
    )
    .bind(app.workspace.id.as_str())
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        json!({
            "id": row.try_get::<String, _>("id").unwrap(),
            "phone": row.try_get::<String, _>("phone_normalized").unwrap(),
            "name": row.try_get::<Option<String>, _>("name").unwrap(),
            "kapso_name": row.try_get::<Option<String>, _>("kapso_name").unwrap(),
            "status": row.try_get::<String, _>("lead_status").unwrap(),
            "source": row.try_get::<String, _>("source").unwrap(),
            "updated_at": row.try_get::<i64, _>("updated_at").unwrap(),
            "last_activity_at": row.try_get::<Option<i64>, _>("last_activity_at").unwrap(),
        })
    })
    .collect()
}

fn lead_by_phone<'a>(snapshot: &'a [Value], phone: &str) -> &'a Value {
    snapshot.iter().find(|l| l["phone"] == phone).unwrap_or_else(|| panic!("no lead {phone}"))
}

/// Uploads a file through the page's multipart form; returns the import page's path.
async fn upload(browser: &Browser, file_name: &str, content: &[u8]) -> Reply {
    let boundary = "leadlinetestboundary7MA4YWxk";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = browser
        .http
        .post(format!("{}/import/upload", browser.base_url))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("origin", browser.base_url.clone())
        .header("sec-fetch-site", "same-origin")
        .body(body);
    if let Some(cookie) = &browser.cookie {
        request = request.header("cookie", cookie.clone());
    }
    Reply::from(request.send().await.unwrap()).await
}

fn location(reply: &Reply) -> String {
    reply.headers.get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

fn csv_records(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

on_both_engines! {
    async fn a_backup_taken_during_ingest_restores_every_acknowledged_message(app: TestApp) {
        // Customers keep writing while the backup runs.
        let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let before_backup = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut writers = Vec::new();
        let app = std::sync::Arc::new(app);
        for writer in 0..4 {
            let (app, acknowledged, stop) = (app.clone(), acknowledged.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let wamid = format!("wamid.BK{writer}_{n}");
                    let phone = format!("+62812{:04}{:04}", writer, n % 50);
                    let body = v2_text(&wamid, &phone, &format!("conv-{writer}-{}", n % 50), Some("Pelanggan"), "halo");
                    if app.deliver(&body, None).await.status == StatusCode::OK {
                        acknowledged.lock().unwrap().push(wamid);
                    }
                    n += 1;
                }
            }));
        }
        while acknowledged.lock().unwrap().len() < 40 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        before_backup.store(acknowledged.lock().unwrap().len(), std::sync::atomic::Ordering::SeqCst);
        let acked_before: Vec<String> = acknowledged.lock().unwrap().clone();
        let file = temp_file("leadline.backup");
        let (ok, summary, stderr) = leadline_async(&app.database.url, &["backup", "--to", file.to_str().unwrap()]).await;
        assert!(ok, "{stderr}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for writer in writers {
            writer.await.unwrap();
        }
        assert!(summary["messages"].as_i64().unwrap() >= acked_before.len() as i64, "{summary}");
        assert!(file.exists());

        // A backup never overwrites a file.
        let (ok, _, stderr) = leadline_async(&app.database.url, &["backup", "--to", file.to_str().unwrap()]).await;
        assert!(!ok);
        assert!(stderr.contains("already exists"), "{stderr}");

        // The running database is in use and not empty: a restore onto it is refused.
        let (ok, _, stderr) = leadline_async(&app.database.url, &["restore", "--from", file.to_str().unwrap()]).await;
        assert!(!ok);
        assert!(stderr.contains("in use") || stderr.contains("--force"), "{stderr}");

        // Restore into a fresh database and serve it.
        let fresh = TestDatabase::create(app.database.engine).await;
        // (--force: the fresh file is nobody's; the refusal is tested on the running one above.)
        let (ok, restored, stderr) =
            leadline_async(&fresh.url, &["restore", "--from", file.to_str().unwrap(), "--force"]).await;
        assert!(ok, "{stderr}");
        // SQLite counts what is in the file; PostgreSQL counted just before pg_dump began.
        if app.database.engine == Engine::Sqlite {
            assert_eq!(restored["messages"], summary["messages"]);
        } else {
            assert!(restored["messages"].as_i64() >= summary["messages"].as_i64(), "{restored} {summary}");
        }
        let server = start_server(&fresh.url, &[]).await;
        let restored_db = leadline::server::db::Db::open(&fresh.url).await.unwrap();
        for wamid in &acked_before {
            let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE kapso_message_id = $1")
                .bind(wamid)
                .fetch_one(&restored_db.pool)
                .await
                .unwrap();
            assert_eq!(found, 1, "acknowledged {wamid} is in the backup");
        }
        // The restored server answers with the same API token and the same leads.
        let leads = reqwest::Client::new()
            .get(format!("{}/api/v1/leads?limit=1", server.base_url))
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap();
        assert_eq!(leads.status(), StatusCode::OK);
        let body: Value = leads.json().await.unwrap();
        assert!(body["total"].as_i64().unwrap() >= 1);
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    async fn csv_export_streams_the_filtered_view_in_e164_and_local_time(app: TestApp) {
        for (phone, name, status) in [
            ("0812-3456-7890", Some("Budi, \"Pak\" Santoso"), "hot"),
            ("+62 812 1111 2222", Some("=HYPERLINK(\"http://x\")"), "hot"),
            ("081233334444", None, "cold"),
        ] {
            let mut body = json!({"phone": phone, "lead_status": status});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            app.api(reqwest::Method::POST, "/api/v1/leads", Some(body)).await.expect(StatusCode::CREATED);
        }
        app.deliver(&v2_text("wamid.EX1", "+6281255556666", CONVERSATION_ID, Some("Ani"), "halo"), None).await.expect(StatusCode::OK);

        // The token API: every lead, header first.
        let response = app.http.get(app.url("/api/v1/leads.csv")).bearer_auth(&app.api_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = response.text().await.unwrap();
        assert!(!text.starts_with('\u{feff}'));
        let rows = csv_records(&text);
        assert_eq!(rows[0], ["id", "phone", "name", "whatsapp_name", "status", "source", "last_activity_at", "created_at", "updated_at"]);
        assert_eq!(rows.len(), 5);
        // Most recently active first: the WhatsApp lead.
        assert_eq!(rows[1][1], "+6281255556666");
        assert_eq!(rows[1][3], "Ani");
        assert_eq!(rows[1][5], "whatsapp");
        assert!(rows[1][6].ends_with("+07:00") && rows[1][6].contains('T'), "{}", rows[1][6]);
        let budi = rows.iter().find(|r| r[1] == "+6281234567890").unwrap();
        assert_eq!(budi[2], "Budi, \"Pak\" Santoso");
        assert!(budi[6].is_empty(), "never active");
        let formula = rows.iter().find(|r| r[1] == "+6281211112222").unwrap();
        assert!(formula[2].starts_with("'="), "a formula is not run by a spreadsheet: {}", formula[2]);

        // The Database view's filter and search apply; BOM on request.
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        let page = agent.get("/leads.csv?status=hot&sort=name&order=asc&bom=1").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let text = page.body.as_str().unwrap().to_string();
        assert!(text.starts_with('\u{feff}'), "BOM requested");
        let rows = csv_records(&text);
        assert_eq!(rows.len(), 3);
        assert!(rows[1..].iter().all(|r| r[4] == "hot"));
        let searched = csv_records(agent.get("/leads.csv?q=0812%203456").await.body.as_str().unwrap());
        assert_eq!(searched.len(), 2);
        assert_eq!(searched[1][1], "+6281234567890");
        assert_eq!(agent.get("/leads.csv?status=nope").await.status, StatusCode::BAD_REQUEST);

        // Neither a session nor a token: nothing.
        let anonymous = Browser::anonymous(&app).get("/leads.csv").await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert!(location(&anonymous).starts_with("/login?next="));
        assert_eq!(app.http.get(app.url("/api/v1/leads.csv")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        // Another workspace's token exports only its own (no) leads.
        let (_, _, other_token) = app.second_workspace("999000111").await;
        let other = app.http.get(app.url("/api/v1/leads.csv")).bearer_auth(other_token).send().await.unwrap();
        assert_eq!(csv_records(&other.text().await.unwrap()).len(), 1);
    }

    async fn a_large_export_pages_through_every_lead_once(app: TestApp) {
        // 1,234 leads through the import (three pages of the export and a bit).
        let mut file = String::from("phone,name\n");
        for i in 0..1234 {
            file.push_str(&format!("0812{:08},Pelanggan {i}\n", 10_000_000 + i));
        }
        let path = temp_file("many.csv");
        std::fs::write(&path, &file).unwrap();
        let (ok, report, stderr) = leadline_async(&app.database.url, &["leads", "import", path.to_str().unwrap(), "--workspace", PHONE_NUMBER_ID]).await;
        assert!(ok, "{stderr}");
        assert_eq!(report["new"], 1234);
        let text = app.http.get(app.url("/api/v1/leads.csv?sort=name")).bearer_auth(&app.api_token).send().await.unwrap().text().await.unwrap();
        let rows = csv_records(&text);
        assert_eq!(rows.len(), 1235);
        let mut ids: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1234, "no lead twice");
        assert!(rows[1..].iter().all(|r| r[5] == "import"));
        // A phone search over several pages: numbers beginning with the digits, and (no
        // number begins with `21000`) digits found anywhere in the numbers.
        for search in ["0812%201000", "21000"] {
            let url = app.url(&format!("/api/v1/leads.csv?q={search}"));
            let text = app.http.get(url).bearer_auth(&app.api_token).send().await.unwrap().text().await.unwrap();
            let rows = csv_records(&text);
            let mut ids: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
            ids.sort();
            ids.dedup();
            assert_eq!((rows.len(), ids.len()), (1235, 1234), "{search}: every lead once");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    async fn a_messy_csv_gets_exact_counts_and_line_numbered_reasons(app: TestApp) {
        app.api(reqwest::Method::POST, "/api/v1/leads", Some(json!({"phone": "+6281212345678", "name": "Pak Joko"}))).await.expect(StatusCode::CREATED);
        let path = temp_file("messy.csv");
        std::fs::write(&path, MESSY).unwrap();
        let file = path.to_str().unwrap();
        let before = leads_snapshot(&app).await;

        let (ok, dry, stderr) = leadline_async(&app.database.url, &["leads", "import", file, "--workspace", PHONE_NUMBER_ID, "--dry-run"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(dry["delimiter"], ";");
        assert_eq!(dry["columns"], json!({"phone": "Nomor HP", "name": "Nama", "status": "Status"}));
        assert_eq!((dry["rows"].as_i64(), dry["new"].as_i64(), dry["matching"].as_i64()), (Some(10), Some(4), Some(1)));
        assert_eq!((dry["duplicates"].as_i64(), dry["invalid"].as_i64(), dry["blank"].as_i64()), (Some(1), Some(4), Some(1)));
        let rejected: Vec<(i64, String)> = dry["rejected"].as_array().unwrap().iter()
            .map(|r| (r["line"].as_i64().unwrap(), r["reason"].as_str().unwrap().to_string()))
            .collect();
        let lines: Vec<i64> = rejected.iter().map(|r| r.0).collect();
        assert_eq!(lines, [6, 7, 8, 9, 10]);
        assert!(rejected[0].1.contains("duplicate") && rejected[0].1.contains("line 2"), "{:?}", rejected[0]);
        assert!(rejected[1].1.contains("too short"), "{:?}", rejected[1]);
        assert!(rejected[2].1.contains("letters"), "{:?}", rejected[2]);
        assert!(rejected[3].1.contains("required"), "{:?}", rejected[3]);
        assert!(rejected[4].1.contains("unknown status `vip`"), "{:?}", rejected[4]);
        assert_eq!(leads_snapshot(&app).await, before, "a dry run changes nothing");

        let (ok, done, stderr) = leadline_async(&app.database.url, &["leads", "import", file, "--workspace", PHONE_NUMBER_ID]).await;
        assert!(ok, "{stderr}");
        assert_eq!((done["new"].as_i64(), done["imported"].as_bool()), (Some(4), Some(true)));
        let after = leads_snapshot(&app).await;
        assert_eq!(after.len(), before.len() + 4);
        let budi = lead_by_phone(&after, "+6281234567890");
        assert_eq!((budi["name"].as_str(), budi["status"].as_str(), budi["source"].as_str()), (Some("Budi, Santoso"), Some("hot"), Some("import")));
        assert!(budi["last_activity_at"].is_null(), "imported leads have no activity");
        assert_eq!(lead_by_phone(&after, "+6281222223333")["status"], "warm");
        assert_eq!(lead_by_phone(&after, "+6281299990000")["name"], "Quoted \"name\"");
        assert_eq!(lead_by_phone(&after, "+6281212345678")["name"], "Pak Joko", "an existing name wins");

        // The same file again changes nothing.
        let (ok, again, stderr) = leadline_async(&app.database.url, &["leads", "import", file, "--workspace", PHONE_NUMBER_ID, "--fill-empty-names"]).await;
        assert!(ok, "{stderr}");
        assert_eq!((again["new"].as_i64(), again["matching"].as_i64(), again["updated"].as_i64()), (Some(0), Some(5), Some(0)));
        assert_eq!(leads_snapshot(&app).await, after);

        // Imported leads sort after active ones; the person's first WhatsApp message
        // lands on the imported lead, and the imported name stays.
        app.deliver(&v2_text("wamid.IMP1", "+6281234567890", CONVERSATION_ID, Some("budi_wa"), "halo"), None).await.expect(StatusCode::OK);
        let now = leads_snapshot(&app).await;
        assert_eq!(now.len(), after.len(), "no second lead");
        let budi_now = lead_by_phone(&now, "+6281234567890");
        assert_eq!(budi_now["id"], budi["id"]);
        assert_eq!(budi_now["name"], "Budi, Santoso");
        assert_eq!(budi_now["kapso_name"], "budi_wa");
        let listed = app.get("/api/v1/leads?limit=2").await;
        assert_eq!(listed.body["leads"][0]["phone_normalized"], "+6281234567890");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    async fn matching_leads_change_only_when_asked(app: TestApp) {
        // One lead wrote on WhatsApp (no manual name); one has a typed name.
        app.deliver(&v2_text("wamid.M1", "+6281234567890", CONVERSATION_ID, Some("profil"), "halo"), None).await.expect(StatusCode::OK);
        app.api(reqwest::Method::POST, "/api/v1/leads", Some(json!({"phone": "081211112222", "name": "Typed"}))).await.expect(StatusCode::CREATED);
        let path = temp_file("update.tsv");
        std::fs::write(&path, "phone\tname\tstatus\n+6281234567890\tFrom file\tclient\n0812-1111-2222\tOther\tlost\n").unwrap();
        let file = path.to_str().unwrap();
        let (ok, plain, stderr) = leadline_async(&app.database.url, &["leads", "import", file, "--workspace", PHONE_NUMBER_ID]).await;
        assert!(ok, "{stderr}");
        assert_eq!((plain["matching"].as_i64(), plain["updated"].as_i64()), (Some(2), Some(0)));
        let unchanged = leads_snapshot(&app).await;
        assert!(lead_by_phone(&unchanged, "+6281234567890")["name"].is_null());

        let (ok, asked, stderr) = leadline_async(&app.database.url, &["leads", "import", file, "--workspace", PHONE_NUMBER_ID, "--fill-empty-names", "--set-status"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(asked["updated"], 2);
        let now = leads_snapshot(&app).await;
        let whatsapp = lead_by_phone(&now, "+6281234567890");
        assert_eq!((whatsapp["name"].as_str(), whatsapp["status"].as_str()), (Some("From file"), Some("client")));
        let typed = lead_by_phone(&now, "+6281211112222");
        assert_eq!((typed["name"].as_str(), typed["status"].as_str()), (Some("Typed"), Some("lost")), "a typed name is never overwritten");
        // Each change is in the lead's history, by the import.
        let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lead_changes WHERE actor_label LIKE '%CSV import%'")
            .fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(history, 3);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    async fn an_import_reports_its_progress_to_the_page_until_done(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let mut file = String::from("nama,nomor\n");
        for i in 0..20_000 {
            file.push_str(&format!("Pelanggan {i},0813{:08}\n", 30_000_000 + i));
        }
        let page = location(&upload(&owner, "besar.csv", file.as_bytes()).await);
        let stream = |browser: &Browser| {
            browser
                .http
                .get(format!("{}{page}/progress", browser.base_url))
                .header("cookie", browser.cookie.clone().unwrap_or_default())
                .send()
        };
        // Only the workspace's importers may follow it.
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        assert_eq!(stream(&agent).await.unwrap().status(), StatusCode::FORBIDDEN);
        let (other, _, _) = app.second_workspace("999000333").await;
        let stranger = app.member("stranger@lain.example", Role::Owner, Some(&other)).await;
        assert_eq!(stream(&stranger).await.unwrap().status(), StatusCode::NOT_FOUND);

        // The page opens the stream as it posts the form: waiting, progress, done.
        let mut events = stream(&owner).await.unwrap();
        assert_eq!(events.status(), StatusCode::OK);
        assert_eq!(events.headers()["content-type"], "text/event-stream");
        let waiting = read_stream_until(&mut events, "event: waiting", Duration::from_secs(5)).await;
        assert!(waiting.is_some(), "the stream waits for the import to start");
        let confirm_path = format!("{page}/confirm");
        let confirm = owner.post_form(&confirm_path, &[("phone", "1"), ("name", "0")]);
        let (confirmed, heard) = tokio::join!(confirm, read_stream_until(&mut events, "event: done", Duration::from_secs(120)));
        assert_eq!(confirmed.status, StatusCode::SEE_OTHER, "{}", confirmed.body);
        let heard = heard.expect("the stream ends with done");
        let progress: Vec<Value> = heard
            .split("\n\n")
            .filter_map(|frame| frame.strip_prefix("event: progress\ndata: "))
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        assert!(!progress.is_empty(), "{heard}");
        let stages: Vec<&str> = progress.iter().map(|p| p["stage"].as_str().unwrap()).collect();
        let order = ["matching", "creating", "updating", "saving"];
        let ranks: Vec<usize> = stages.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "steps only move forward: {stages:?}");
        for p in &progress {
            assert!(p["done"].as_u64().unwrap() <= p["total"].as_u64().unwrap(), "{p}");
            if p["stage"] == "creating" {
                assert_eq!(p["total"], 20_000);
            }
        }
        assert_eq!(app.count("leads").await, 20_000);
        // Afterwards the stream says done at once.
        let mut again = stream(&owner).await.unwrap();
        assert!(read_stream_until(&mut again, "event: done", Duration::from_secs(5)).await.is_some());
    }

    async fn the_import_pages_map_check_import_and_report(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let uploaded = upload(&owner, "messy.csv", MESSY.as_bytes()).await;
        assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
        let page = location(&uploaded);
        assert!(page.starts_with("/import/"), "{page}");

        // Mapping with a preview of the first rows.
        let mapping = owner.get(&page).await;
        assert_eq!(mapping.status, StatusCode::OK);
        let html = mapping.body.as_str().unwrap();
        assert!(html.contains("Nomor HP") && html.contains("Budi, Santoso"), "preview shows the first rows");
        // The dry run, with the mapping chosen (status ignored here).
        let checked = owner.get(&format!("{page}?phone=1&name=0&status=&check=1")).await;
        let html = checked.body.as_str().unwrap();
        assert!(html.contains(r#"data-count="new">6<"#), "{html}");
        assert!(html.contains(r#"data-count="duplicates">1<"#));
        assert!(html.contains(r#"data-count="invalid">3<"#), "status ignored: `vip` is no longer invalid");
        assert_eq!(app.count("leads").await, 0, "nothing imported before confirming");

        // Another workspace's member cannot see the upload; an agent may not import.
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        assert_eq!(agent.post_form(&format!("{page}/confirm"), &[("phone", "1")]).await.status, StatusCode::FORBIDDEN);
        assert_eq!(upload(&agent, "x.csv", b"phone\n081234567890\n").await.status, StatusCode::FORBIDDEN);
        assert_eq!(upload(&Browser::anonymous(&app), "x.csv", b"phone\n081234567890\n").await.status, StatusCode::UNAUTHORIZED);
        let (other, _, _) = app.second_workspace("999000222").await;
        let stranger = app.member("stranger@lain.example", Role::Owner, Some(&other)).await;
        assert_eq!(stranger.get(&format!("{page}/rejected.csv")).await.status, StatusCode::NOT_FOUND);

        let confirmed = owner.post_form(&format!("{page}/confirm"), &[("phone", "1"), ("name", "0"), ("status", "")]).await;
        assert_eq!(confirmed.status, StatusCode::SEE_OTHER, "{}", confirmed.body);
        assert_eq!(app.count("leads").await, 6);
        let result = owner.get(&page).await;
        assert!(result.body.as_str().unwrap().contains("data-testid=\"import-result\""));
        // A second click changes nothing.
        owner.post_form(&format!("{page}/confirm"), &[("phone", "1"), ("name", "0")]).await;
        assert_eq!(app.count("leads").await, 6);

        let report = owner.get(&format!("{page}/rejected.csv")).await;
        assert_eq!(report.status, StatusCode::OK);
        let rows = csv_records(report.body.as_str().unwrap());
        assert_eq!(rows[0], ["line", "phone", "name", "reason"]);
        let lines: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(lines, ["6", "7", "8", "9"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_private_and_count_deliveries() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    // Not on the public router unless a token is configured.
    assert_eq!(app.http.get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let metrics_port = free_port();
    let token = "metrics-token-0123456789abcdef";
    let server = start_server(
        &app.database.url,
        &[("METRICS_TOKEN", token.to_string()), ("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))],
    )
    .await;
    let client = reqwest::Client::new();
    let public = format!("{}/metrics", server.base_url);
    assert_eq!(client.get(&public).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client.get(&public).bearer_auth("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let scrape = |url: String, bearer: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut request = client.get(url);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap()
        }
    };
    let private = format!("http://127.0.0.1:{metrics_port}/metrics");
    let stored = |text: &str| -> f64 {
        text.lines()
            .find(|l| {
                l.starts_with("leadline_webhook_deliveries_total")
                    && l.contains("format=\"kapso_v2\"")
                    && l.contains("outcome=\"stored\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let before = stored(&scrape(private.clone(), None).await);

    // A delivery to that server increments the counter; a forged one counts as unauthorized.
    let body =
        serde_json::to_vec(&v2_text("wamid.MET1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo")).unwrap();
    let sent = client
        .post(format!("{}/api/webhook/kapso", server.base_url))
        .header("content-type", "application/json")
        .header("x-webhook-signature", leadline::server::webhook::signature::sign(&app.webhook_secret, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let forged = client
        .post(format!("{}/api/webhook/kapso", server.base_url))
        .header("content-type", "application/json")
        .header("x-webhook-signature", "00")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let text = scrape(public, Some(token)).await;
    assert_eq!(stored(&text), before + 1.0, "{text}");
    assert!(text.contains("outcome=\"unauthorized\""), "{text}");
    assert!(text.contains("leadline_webhook_duration_seconds_bucket"), "{text}");
    assert!(text.contains("leadline_commit_group_size"), "{text}");
    assert!(text.contains("leadline_writer_queue_depth"), "{text}");
    // The private listener serves nothing else.
    assert_eq!(
        client.get(format!("http://127.0.0.1:{metrics_port}/api/v1/leads")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
