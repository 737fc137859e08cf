//! How the data is laid out on disk, checked from outside: what a database made by an
//! older version becomes after an upgrade, on both engines.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

/// The indexes migration 0012 turned from descending to ascending (issue 15).
const TIME_INDEXES: [&str; 6] = [
    "leads_by_activity",
    "leads_by_created",
    "leads_by_status_activity",
    "leads_by_status_created",
    "conversations_by_last_message",
    "webhook_deliveries_by_time",
];

/// An index's definition as the engine reports it.
async fn index_definition(db: &leadline::server::db::Db, engine: Engine, name: &str) -> String {
    let sql = match engine {
        Engine::Sqlite => "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
        Engine::Postgres => "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
    };
    sqlx::query_scalar(sql).bind(name).fetch_one(&db.pool).await.unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every lead of one listing, page by page, as (display name) in the order served.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/leads?limit=2&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let body = app.get(&path).await.expect(StatusCode::OK).clone();
        names.extend(body["leads"].as_array().unwrap().iter().map(|l| l["display_name"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return names,
        }
    }
}

on_both_engines! {
    async fn a_database_with_descending_indexes_upgrades_and_lists_in_the_same_orders(app: TestApp) {
        let _ = app; // this scenario needs a database made by the version before 0012
        let old = OldDatabase::made_before(app.database.engine, 12).await;
        // Five leads as the previous version stored them: activity, creation and status
        // deliberately in different orders; one never wrote (sinks in activity order).
        let leads = [
            ("Ani", 5_000, Some(1_000), "hot"),
            ("Budi", 1_000, Some(5_000), "new"),
            ("Citra", 3_000, Some(3_000), "hot"),
            ("Dewi", 4_000, None, "new"),
            ("Eko", 2_000, Some(4_000), "hot"),
        ];
        for (i, (name, created, activity, status)) in leads.iter().enumerate() {
            sqlx::query(
                "INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_valid, name, lead_status, \
                 source, created_at, updated_at, last_activity_at) VALUES ($1, $2, $3, $3, 1, $4, $5, 'manual', $6, $6, $7)",
            )
            .bind(format!("0190a0a0-0000-7000-8000-00000000000{i}"))
            .bind(old.workspace.id.as_str())
            .bind(format!("+62812345678{i:02}"))
            .bind(*name)
            .bind(*status)
            .bind(*created)
            .bind(*activity)
            .execute(&old.db.pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO lead_identities (workspace_id, kind, value, lead_id, is_primary, created_at) \
                 VALUES ($1, 'phone', $2, $3, 1, $4)",
            )
            .bind(old.workspace.id.as_str())
            .bind(format!("+62812345678{i:02}"))
            .bind(format!("0190a0a0-0000-7000-8000-00000000000{i}"))
            .bind(*created)
            .execute(&old.db.pool)
            .await
            .unwrap();
        }
        for name in TIME_INDEXES {
            let before = index_definition(&old.db, old.database.engine, name).await;
            assert!(before.contains("DESC"), "the older schema's {name}: {before}");
        }

        let app = old.upgrade().await;
        for name in TIME_INDEXES {
            let now = index_definition(&app.db, app.database.engine, name).await;
            assert!(!now.to_uppercase().contains("DESC"), "{name} after the upgrade: {now}");
        }
        // The same rows, the same orders, one cursor page of two at a time.
        assert_eq!(listed(&app, "").await, ["Budi", "Eko", "Citra", "Ani", "Dewi"]);
        assert_eq!(listed(&app, "sort=last_activity&order=asc").await, ["Dewi", "Ani", "Citra", "Eko", "Budi"]);
        assert_eq!(listed(&app, "sort=created&order=desc").await, ["Ani", "Dewi", "Citra", "Eko", "Budi"]);
        assert_eq!(listed(&app, "sort=created&order=asc").await, ["Budi", "Eko", "Citra", "Dewi", "Ani"]);
        assert_eq!(listed(&app, "status=hot").await, ["Eko", "Citra", "Ani"]);
        assert_eq!(listed(&app, "status=hot&sort=created&order=desc").await, ["Ani", "Citra", "Eko"]);

        // New arrivals after the upgrade go where they belong.
        app.deliver(&v2_text("wamid.POST12", "+6281234567899", "conv-new", None, "halo"), None)
            .await
            .expect(StatusCode::OK);
        let first: Value = app.get("/api/v1/leads?limit=1").await.expect(StatusCode::OK).clone();
        assert_eq!(first["leads"][0]["phone_normalized"], "+6281234567899", "{first}");
        assert_eq!(first["total"], 6);
    }
}

// Newest-first pages, with and without a status filter, walk the ascending index
// backwards and never sort. SQLite only: its plans follow from the schema, while
// PostgreSQL's follow from its statistics.
#[tokio::test]
async fn newest_first_pages_walk_the_ascending_index_backwards_without_sorting() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    for (sort, index) in [("l.activity_sort", "leads_by_activity"), ("l.created_at", "leads_by_created")] {
        for (status, index) in
            [("", index.to_string()), (" AND l.lead_status = 'hot'", index.replace("by_", "by_status_"))]
        {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT l.id FROM leads l WHERE l.workspace_id = $1 AND l.merged_into IS NULL{status} \
                 ORDER BY {sort} DESC, l.id DESC LIMIT 51"
            );
            let plan: Vec<String> = sqlx::query(&sql)
                .bind(app.workspace.id.as_str())
                .fetch_all(&app.db.pool)
                .await
                .unwrap()
                .iter()
                .map(|row| sqlx::Row::get::<String, _>(row, "detail"))
                .collect();
            assert!(plan.iter().any(|step| step.contains(&*index)), "{sort}{status}: {plan:?}");
            assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{sort}{status} sorts: {plan:?}");
        }
    }
}

on_both_engines! {
    // A lead row that holds a number's key without the identity that should come with
    // it (a database edited by hand, or restored half-way) cannot take that number's
    // message. That delivery is refused alone, and the writer goes on: on SQLite the
    // retry of such an item used to end the writer thread, after which every delivery
    // was refused with 503 until a restart.
    async fn a_delivery_that_cannot_be_written_fails_alone_and_ingest_goes_on(app: TestApp) {
        sqlx::query(
            "INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_valid, lead_status, source, \
             created_at, updated_at) VALUES ('0190a0a0-0000-7000-8000-0000000000f1', $1, 'x', '+6281234567801', 1, \
             'new', 'manual', 0, 0)",
        )
        .bind(app.workspace.id.as_str())
        .execute(&app.db.pool)
        .await
        .unwrap();
        let refused = app.deliver(&v2_text("wamid.ORPHAN", "+6281234567801", "conv-o", None, "halo"), None).await;
        assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", refused.body);
        assert!(refused.body["message"].is_string(), "{}", refused.body);
        for i in 0..3 {
            app.deliver(&v2_text(&format!("wamid.AFTER{i}"), &format!("+62812345679{i:02}"), "conv-a", None, "halo"), None)
                .await
                .expect(StatusCode::OK);
        }
        assert_eq!(app.count("messages").await, 3);
    }
}

// The reply sender polls the outbox every second. On SQLite an `UPDATE` takes the one
// write lock even when nothing is due, so every poll made the ingest writer wait; an
// idle poll now only reads. Shown by holding the write lock elsewhere: the idle claim
// still answers (empty) instead of waiting out the busy timeout and failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_reply_poll_takes_no_write_lock() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let path = app.database.url.trim_start_matches("sqlite://").to_string();
    let (locked, release) = std::sync::mpsc::channel::<()>();
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        hold.send(()).unwrap();
        release.recv().unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    held.recv().unwrap();
    let claimed = leadline::server::replies::store::claim(&app.db, "test-sender", 8).await;
    locked.send(()).unwrap();
    holder.join().unwrap();
    assert!(claimed.expect("an idle poll reads; it does not wait for the write lock").is_empty());
}

/// Every table with a `workspace_id` column (migration 0013 rewrote all of them).
const WORKSPACE_TABLES: [&str; 13] = [
    "leads",
    "conversations",
    "messages",
    "webhook_deliveries",
    "memberships",
    "sessions",
    "lead_changes",
    "invitations",
    "lead_identities",
    "lead_merges",
    "webhook_health",
    "csv_imports",
    "outbox",
];

/// Rows per table, and rows whose workspace id is not the new twelve-digit kind.
async fn workspace_rows(app: &TestApp) -> Vec<(&'static str, i64, i64)> {
    let mut counts = Vec::new();
    for table in WORKSPACE_TABLES {
        let sql = format!("SELECT COUNT(*), COUNT(CASE WHEN LENGTH(workspace_id) <> 12 THEN 1 END) FROM {table}");
        let (rows, old): (i64, i64) = sqlx::query_as(&sql).fetch_one(&app.db.pool).await.unwrap();
        counts.push((table, rows, old));
    }
    counts
}

on_both_engines! {
    async fn workspaces_with_uuid_ids_upgrade_to_short_ids_keeping_every_row_and_sign_in(app: TestApp) {
        let _ = app; // this scenario needs a database made by the version before 0013
        let old = OldDatabase::made_before(app.database.engine, 13).await;
        let before = old.served_without_its_migration().await;
        assert_eq!(before.workspace.id.as_str().len(), 36, "the older version's workspace id");
        // A second workspace, with the same customer's number as a manual lead.
        let (other, _, other_token) = before.second_workspace("555000999").await;
        let other = with_uuid_id(&before.db, other).await;
        before
            .api_as(&other_token, reqwest::Method::POST, "/api/v1/leads", Some(serde_json::json!({ "phone": "081234567890", "name": "Budi (toko lain)" })))
            .await
            .expect(StatusCode::CREATED);
        // What the older version stored for the first: deliveries, a lead renamed by a
        // member who is signed in (membership, session, change history), webhook health.
        before.deliver(&v2_text("wamid.OLD1", "+6281234567890", "conv-1", Some("Budi"), "halo"), None).await.expect(StatusCode::OK);
        before.deliver(&v2_text("wamid.OLD2", "+6281298765432", "conv-2", Some("Sari"), "pagi"), None).await.expect(StatusCode::OK);
        before.deliver(&v2_text("wamid.OLD3", "+6281234567890", "conv-1", Some("Budi"), "lagi"), None).await.expect(StatusCode::OK);
        let mut owner = before.member("owner@toko.example", leadline::model::Role::Owner, None).await;
        let ours = before.all_leads().await;
        let budi = ours.iter().find(|l| l["phone_normalized"] == "+6281234567890").unwrap()["id"].as_str().unwrap().to_string();
        before
            .api(reqwest::Method::PATCH, &format!("/api/v1/leads/{budi}"), Some(serde_json::json!({ "name": "Pak Budi" })))
            .await
            .expect(StatusCode::OK);
        let forged = serde_json::to_vec(&v2_text("wamid.FORGED", "+6281200000000", "conv-9", None, "x")).unwrap();
        let refused = before.http.post(before.url("/api/webhook/kapso")).header("content-type", "application/json")
            .header("x-webhook-signature", "0".repeat(64)).body(forged).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let leads_before = before.all_leads().await;
        let counts_before: Vec<(&str, i64)> = workspace_rows(&before).await.into_iter().map(|(t, n, _)| (t, n)).collect();
        for table in ["leads", "messages", "webhook_deliveries", "memberships", "sessions", "lead_changes", "lead_identities"] {
            assert!(counts_before.iter().any(|&(t, n)| t == table && n > 0), "{table} has no row to migrate: {counts_before:?}");
        }
        let old_id = before.workspace.id.as_str().to_string();

        let app = before.upgrade().await;
        // Every row kept, every one now naming the workspace by its twelve digits.
        let after = workspace_rows(&app).await;
        assert_eq!(after.iter().map(|&(t, n, _)| (t, n)).collect::<Vec<_>>(), counts_before);
        assert!(after.iter().all(|&(_, _, old)| old == 0), "rows left with an old id: {after:?}");
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id").fetch_all(&app.db.pool).await.unwrap();
        let mut expected = vec![old_id[24..].to_string(), other.id.as_str()[24..].to_string()];
        expected.sort();
        assert_eq!(ids, expected);
        assert_eq!(app.workspace.id.as_str(), &old_id[24..]);
        // The workspaces kept their numbers, tokens and secrets: the same leads through the
        // same tokens, the other workspace's lead still its own.
        assert_eq!(app.all_leads().await, leads_before);
        let theirs = app.api_as(&other_token, reqwest::Method::GET, "/api/v1/leads", None).await.expect(StatusCode::OK).clone();
        assert_eq!(theirs["total"], 1);
        assert_eq!(theirs["leads"][0]["name"], "Budi (toko lain)");
        // A retried delivery is still a duplicate; a new message joins its lead.
        app.deliver(&v2_text("wamid.OLD3", "+6281234567890", "conv-1", Some("Budi"), "lagi"), None).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.NEW1", "+6281234567890", "conv-1", Some("Budi"), "baru"), None).await.expect(StatusCode::OK);
        assert_eq!(app.count("messages").await, counts_before.iter().find(|(t, _)| *t == "messages").unwrap().1 + 1);
        let leads = app.all_leads().await;
        assert_eq!(leads.len(), 2);
        assert_eq!(leads[0]["name"], "Pak Budi", "the staff-typed name survives and the lead is on top: {leads:?}");
        // The member's session from before the upgrade still opens the Database (the same
        // cookie, sent to the upgraded server).
        owner.base_url = app.base_url.clone();
        let page = owner.get("/leads").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.to_string().contains("Pak Budi"), "{}", page.body);
        // An operator's old reference to the workspace still finds it.
        let found = leadline::server::workspaces::find_by_reference(&app.db, &old_id).await.unwrap().unwrap();
        assert_eq!(found.id, app.workspace.id);
        // Webhook health kept its refusal for the workspace.
        let health: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_health WHERE workspace_id = $1")
            .bind(app.workspace.id.as_str()).fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(health, 1);
    }
}
